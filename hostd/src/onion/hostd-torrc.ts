import { readFile } from 'node:fs/promises';
import { ServiceError } from '../service/service-error.js';

/** Where hostd's own tor keeps its files. */
export interface OwnTorPaths {
  /** `<stateDir>/tor`: tor's DataDirectory (keys, cached consensus, cookie); 0700, owned by tor's user. */
  readonly dataDirectory: string;
  /** `<runDir>/tor`: holds the control socket; tor wants it private to its user. */
  readonly socketDirectory: string;
  readonly controlSocket: string;
  /** `<runDir>/tor-config`: the torrc hostd writes at every start, an empty defaults file, tor's PID. */
  readonly configDirectory: string;
  readonly torrc: string;
  readonly defaultsTorrc: string;
  readonly pidFile: string;
}

/** A TransPort/DNSPort pair an onion device needs on its host address (tor restarted: the same ports again). */
export interface DeviceListener {
  readonly hostAddress: string;
  readonly transPort: number;
  readonly dnsPort: number;
}

export interface HostdTorrc {
  readonly paths: OwnTorPaths;
  /** hostd's PID: tor exits by itself when hostd is gone, so a killed hostd leaves no tor publishing for it. */
  readonly owningProcessId: number;
  /** The unprivileged user tor switches to after opening its files (Debian: debian-tor); undefined: stays root. */
  readonly user: string | undefined;
  readonly deviceListeners: readonly DeviceListener[];
  /** The lines of MULTIVERSE_TORRC_EXTRA, already checked. */
  readonly extraLines: readonly string[];
  readonly extraSource: string | null;
}

/** Options whose value hostd decides: an extra file setting them would cut hostd off from its tor. */
const RESERVED_OPTIONS = new Set(
  [
    'DataDirectory',
    'ControlSocket',
    'ControlPort',
    'ControlPortWriteToFile',
    'ControlSocketsGroupWritable',
    'CookieAuthentication',
    'CookieAuthFile',
    'CookieAuthFileGroupReadable',
    'HashedControlPassword',
    'User',
    'RunAsDaemon',
    'PidFile',
    '__OwningControllerProcess',
    '__DisablePredictedCircuits',
    '__ReloadTorrcOnSIGHUP',
    '%include',
  ].map((name) => name.toLowerCase()),
);
const EXTRA_MAX_BYTES = 64 * 1024;
const OPTION_NAME = /^[A-Za-z_%][A-Za-z0-9_]*$/;

/** The torrc of hostd's own tor. Rewritten at every start, so the device listeners match what is up now. */
export function buildHostdTorrc(settings: HostdTorrc): string {
  const { paths } = settings;
  const lines = [
    '# Written by hostd at every start of its tor; changes here are lost. Add lines with MULTIVERSE_TORRC_EXTRA.',
    `DataDirectory ${paths.dataDirectory}`,
    `ControlSocket unix:${paths.controlSocket}`,
    'CookieAuthentication 1',
    'SocksPort 127.0.0.1:auto',
    'RunAsDaemon 0',
    'Log notice stdout',
    `__OwningControllerProcess ${settings.owningProcessId}`,
    ...(settings.user === undefined ? [] : [`User ${settings.user}`]),
  ];
  if (settings.deviceListeners.length > 0) {
    lines.push(
      '# onion devices that are up (mvctl onion status): the same ports their nftables rules redirect to',
      'AutomapHostsOnResolve 1',
      // A loopback range would be each namespace's own loopback (see the onion package's README).
      'VirtualAddrNetworkIPv4 10.192.0.0/10',
      ...settings.deviceListeners.flatMap((listener) => [
        `TransPort ${listener.hostAddress}:${listener.transPort}`,
        `DNSPort ${listener.hostAddress}:${listener.dnsPort}`,
      ]),
    );
  }
  if (settings.extraLines.length > 0) {
    lines.push(`# from MULTIVERSE_TORRC_EXTRA (${settings.extraSource ?? ''})`, ...settings.extraLines);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Reads MULTIVERSE_TORRC_EXTRA: torrc lines (bridges, a private test network's DirAuthority lines…), blank
 * lines and comments. Refuses a line that sets an option hostd owns, names no option, or holds a control
 * character, with the line number.
 */
export async function readTorrcExtra(path: string): Promise<string[]> {
  let text: string;
  try {
    const bytes = await readFile(path);
    if (bytes.length > EXTRA_MAX_BYTES) {
      throw extraError(path, `it is larger than ${EXTRA_MAX_BYTES} bytes`);
    }
    text = bytes.toString('utf8');
  } catch (error) {
    if (error instanceof ServiceError) throw error;
    throw extraError(path, `it cannot be read (${(error as NodeJS.ErrnoException).code ?? String(error)})`);
  }
  return checkTorrcExtraLines(text, path);
}

export function checkTorrcExtraLines(text: string, source: string): string[] {
  const kept: string[] = [];
  text.split('\n').forEach((raw, index) => {
    const line = raw.replace(/\r$/, '');
    const trimmed = line.trim();
    if (trimmed === '' || trimmed.startsWith('#')) return;
    const where = `line ${index + 1}`;
    // eslint-disable-next-line no-control-regex
    if (/[\u0000-\u0008\u000a-\u001f\u007f]/.test(line)) {
      throw extraError(source, `${where} holds a control character`);
    }
    const option = trimmed.split(/\s+/)[0] ?? '';
    if (!OPTION_NAME.test(option)) throw extraError(source, `${where} does not start with a tor option`);
    if (RESERVED_OPTIONS.has(option.toLowerCase())) {
      throw extraError(source, `${where} sets ${option}, which hostd decides for its own tor`);
    }
    kept.push(trimmed);
  });
  return kept;
}

function extraError(source: string, problem: string): ServiceError {
  return new ServiceError(
    'unavailable',
    'TORRC_EXTRA_INVALID',
    `MULTIVERSE_TORRC_EXTRA ${source}: ${problem}`,
    'fix the file (torrc lines, one option per line, not DataDirectory/ControlSocket/User/… which hostd sets) and restart hostd',
  );
}

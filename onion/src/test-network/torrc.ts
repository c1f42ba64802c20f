import { join } from 'node:path';

export type TestNodeRole = 'authority' | 'relay' | 'exit' | 'client';

/** What every node's `DirAuthority` line needs to know about one authority. */
export interface DirectoryAuthority {
  readonly nickname: string;
  readonly address: string;
  readonly orPort: number;
  readonly dirPort: number;
  /** Fingerprint of the authority's v3 identity key (from tor-gencert's certificate). */
  readonly v3Identity: string;
  /** Fingerprint of the authority's relay (RSA) identity key (from `tor --list-fingerprint`). */
  readonly fingerprint: string;
}

export interface NodeTorrc {
  readonly role: TestNodeRole;
  readonly nickname: string;
  readonly dataDirectory: string;
  /** The address relays and authorities bind and advertise. */
  readonly address: string;
  readonly orPort?: number;
  readonly dirPort?: number;
  readonly authorities: readonly DirectoryAuthority[];
  /** tor exits by itself when this process does, so a killed test run leaves no tor behind. */
  readonly owningProcessId: number;
  /** Clients: the SOCKS port to open on 127.0.0.1 (plus a unix socket). An onion-service host needs none. */
  readonly socksPort?: number;
  /** Seconds between consensus votes; short so a network forms quickly. */
  readonly votingIntervalSeconds: number;
  /** Start with DisableNetwork 1, so a test can watch bootstrap from the beginning. */
  readonly networkDisabled?: boolean;
  /**
   * Also log onion-service events at info level (NODE_FILES.onionServiceLog): only there does tor say why
   * it is not uploading a descriptor ("Intro circuits aren't yet all established (2/3)", …).
   */
  readonly onionServiceLog?: boolean;
}

/** Files every node's torrc names, relative to its data directory. */
export const NODE_FILES = {
  controlSocket: 'control.sock',
  socksSocket: 'socks.sock',
  pidFile: 'tor.pid',
  noticeLog: 'notice.log',
  onionServiceLog: 'onion-service.log',
} as const;

export function formatDirAuthorityLine(authority: DirectoryAuthority): string {
  return (
    `DirAuthority ${authority.nickname} orport=${authority.orPort} v3ident=${authority.v3Identity} ` +
    `${authority.address}:${authority.dirPort} ${authority.fingerprint}`
  );
}

/** What every node of the network sets, whatever its role. */
const NETWORK_SETTINGS = [
  'TestingTorNetwork 1',
  'AssumeReachable 1',
  'PathsNeededToBuildCircuits 0.67',
  'TestingDirAuthVoteExit *',
  'TestingDirAuthVoteHSDir *',
  'TestingDirAuthVoteGuard *',
  'TestingMinExitFlagThreshold 0',
  'V3AuthNIntervalsValid 2',
  'AddressDisableIPv6 1',
] as const;

/**
 * The lines a tor the harness does not start (hostd's own, in a test) adds to its torrc to join the network
 * as a client: the network's settings and its authorities. It keeps its own DataDirectory, ports and control.
 */
export function clientTorrcLines(authorities: readonly DirectoryAuthority[]): string[] {
  return [...NETWORK_SETTINGS, 'ClientUseIPv6 0', ...authorities.map(formatDirAuthorityLine)];
}

/**
 * The torrc of one node of a private network on one machine, in the settings found to bootstrap
 * reliably with Debian's tor 0.4.9 (see the package README).
 */
export function buildTorrc(node: NodeTorrc): string {
  const file = (name: string): string => join(node.dataDirectory, name);
  const lines = [
    `Nickname ${node.nickname}`,
    `DataDirectory ${node.dataDirectory}`,
    'RunAsDaemon 0',
    `__OwningControllerProcess ${node.owningProcessId}`,
    `PidFile ${file(NODE_FILES.pidFile)}`,
    `Log notice file ${file(NODE_FILES.noticeLog)}`,
    ...(node.onionServiceLog ? [`Log [rend]info file ${file(NODE_FILES.onionServiceLog)}`] : []),
    'SafeLogging 0',
    'ShutdownWaitLength 0',
    ...NETWORK_SETTINGS,
    `ControlSocket ${file(NODE_FILES.controlSocket)}`,
    'CookieAuthentication 1',
    ...node.authorities.map(formatDirAuthorityLine),
  ];

  if (node.role === 'client') {
    lines.push('ClientUseIPv6 0');
    if (node.networkDisabled) lines.push('DisableNetwork 1');
    if (node.socksPort !== undefined) {
      lines.push(
        `SocksPort 127.0.0.1:${node.socksPort} ExtendedErrors`,
        `SocksPort unix:${file(NODE_FILES.socksSocket)} ExtendedErrors`,
        'ControlPort auto',
      );
    } else {
      lines.push('SocksPort 0');
    }
    return `${lines.join('\n')}\n`;
  }

  if (node.orPort === undefined) throw new Error(`relay ${node.nickname} needs an ORPort`);
  lines.push(
    'SocksPort 0',
    `Address ${node.address}`,
    `ORPort ${node.address}:${node.orPort} IPv4Only`,
    `ContactInfo ${node.nickname}@test.invalid`,
  );
  if (node.role === 'authority') {
    if (node.dirPort === undefined) throw new Error(`authority ${node.nickname} needs a DirPort`);
    const interval = node.votingIntervalSeconds;
    lines.push(
      `DirPort ${node.address}:${node.dirPort} IPv4Only`,
      'AuthoritativeDirectory 1',
      'V3AuthoritativeDirectory 1',
      `TestingV3AuthInitialVotingInterval ${interval}`,
      'TestingV3AuthInitialVoteDelay 4',
      'TestingV3AuthInitialDistDelay 4',
      `V3AuthVotingInterval ${interval}`,
      'V3AuthVoteDelay 4',
      'V3AuthDistDelay 4',
    );
  }
  if (node.role === 'exit') {
    // Microdescriptor policy summaries leave out private ranges, so an exit accepting only 127.0.0.0/8
    // is not seen as an exit at all: accept everything. The machine has no other network and tests
    // only ever address loopback.
    lines.push(
      'ExitRelay 1',
      'IPv6Exit 0',
      'ExitPolicyRejectPrivate 0',
      'ExitPolicyRejectLocalInterfaces 0',
      'ExitPolicy accept *:*',
    );
  } else {
    lines.push('ExitRelay 0', 'ExitPolicy reject *:*');
  }
  return `${lines.join('\n')}\n`;
}

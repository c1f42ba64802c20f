import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type {
  CallHomeClientGrant,
  CallHomeReport,
  OnionDeviceReport,
  TorStatusReport,
} from '../onion/index.js';
import type { VerbName, VerbOutput } from '../service/index.js';
import type { ArgumentSpec, Command, ParsedValues } from './commands.js';
import type { OptionSpec } from './command-options.js';
import { formatTime } from './human-units.js';
import { formatFields } from './table.js';
import { UsageError } from './usage-error.js';

const CLIENT_NAME_ARGUMENT: ArgumentSpec = {
  name: 'NAME',
  description: 'the device’s name (1-32 of A-Z a-z 0-9 _ -), e.g. phone',
};

const DEVICE_OPTIONS: readonly OptionSpec[] = [
  {
    name: 'name',
    type: 'string',
    value: 'IF',
    description: 'the device’s interface name (default onion0)',
  },
  {
    name: 'subnet',
    type: 'string',
    value: 'CIDR',
    description: 'the /30 for the pair (default 10.153.0.0/30)',
  },
];

/** Like commands.ts's `remote`, with what `receive` returns being what is printed; the one cast is here. */
function onionCommand<Name extends VerbName, Shown = VerbOutput<Name>>(command: {
  group: 'callhome' | 'onion';
  name: string;
  verb: Name;
  summary: string;
  arguments: readonly ArgumentSpec[];
  options: readonly OptionSpec[];
  input(positionals: readonly string[], values: ParsedValues): Record<string, unknown>;
  receive?(result: VerbOutput<Name>, values: ParsedValues): Promise<Shown>;
  render(shown: Shown): string;
}): Command {
  return { kind: 'remote', ...command } as unknown as Command;
}

function noArguments(positionals: readonly string[], command: string): void {
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`, command);
}

function clientNameArgument(positionals: readonly string[], command: string): { name: string } {
  const [name, ...extra] = positionals;
  if (name === undefined) throw new UsageError('missing the device NAME', command);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`, command);
  return { name };
}

function stringOption(values: ParsedValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

function deviceInput(positionals: readonly string[], values: ParsedValues, command: string) {
  noArguments(positionals, command);
  return { name: stringOption(values, 'name'), subnet: stringOption(values, 'subnet') };
}

export function describeTor(tor: TorStatusReport): string {
  const parts: string[] = [tor.mode === 'own' ? 'hostd’s own' : tor.mode, tor.state];
  if (tor.pid !== null) parts.push(`pid ${tor.pid}`);
  if (tor.bootstrap !== null)
    parts.push(`bootstrapped ${tor.bootstrap.progress}% (${tor.bootstrap.summary})`);
  if (tor.socksListeners.length > 0) parts.push(`SOCKS ${tor.socksListeners.join(' ')}`);
  if (tor.restarts > 0) parts.push(`restarted ${tor.restarts} time(s)`);
  if (tor.usedBy.length > 0) parts.push(`used by ${tor.usedBy.join(', ')}`);
  return parts.join(', ');
}

const STATE_TEXT: Record<CallHomeReport['state'], string> = {
  disabled: 'disabled: not published',
  starting: 'starting: waiting for tor',
  connecting: 'connecting to tor',
  publishing: 'tor has the service; its descriptor is not uploaded yet',
  published: 'published: authorized devices can reach it',
  reconnecting: 'tor went away; publishing again when it is back',
  withdrawn: 'withdrawn: no device is authorized, so nothing is published (`mvctl callhome add-client NAME`)',
};

function callHomeFields(report: CallHomeReport): string {
  const clients =
    report.clients.length === 0
      ? 'none'
      : report.clients.map((client) => `${client.name} (since ${formatTime(client.addedAt)})`).join(', ');
  return formatFields([
    ['state', STATE_TEXT[report.state]],
    ['address', report.onionAddress ?? 'none yet (made at the first enable or add-client)'],
    [
      'port',
      `${report.virtualPort} → ${report.target === null ? 'nothing: the SSH jail is off' : `${report.target} (the SSH jail)`}`,
    ],
    [
      'client auth',
      report.clientAuth
        ? `on: ${report.clients.length} device(s)`
        : report.allowWithoutClientAuth
          ? 'OFF: anyone who learns the address reaches the jail’s login'
          : 'on (no device yet)',
    ],
    ['devices', clients],
    [
      'uploads',
      `${report.uploads}${report.lastUploadAt === null ? '' : `, last ${formatTime(report.lastUploadAt)}`}; reconnects ${report.reconnects}`,
    ],
    ['tor', describeTor(report.tor)],
    ...(report.lastError === null ? [] : [['last error', report.lastError] as const]),
    ...(report.tor.lastError === null ? [] : [['tor error', report.tor.lastError] as const]),
  ]);
}

function deviceFields(report: OnionDeviceReport): string {
  const device = report.device;
  const peer =
    device.namespace === null
      ? `${device.interfaceName}p here`
      : `${device.interfaceName} in namespace ${device.namespace}`;
  const dropped = Object.entries(device.dropped)
    .map(([reason, count]) => `${reason} ${count.packets} (${count.bytes} B)`)
    .join(', ');
  return formatFields([
    [
      'device',
      `${device.interfaceName}: ${device.state}${device.state === 'partial' ? ' (run `mvctl onion down`)' : ''}`,
    ],
    ['peer', device.state === 'down' ? '-' : peer],
    ['addresses', `${device.hostAddress} (here) ↔ ${device.peerAddress} (peer), ${device.subnet}`],
    [
      'tor ports',
      device.transPort === undefined || device.dnsPort === undefined
        ? '-'
        : `TransPort ${device.hostAddress}:${device.transPort}, DNSPort ${device.hostAddress}:${device.dnsPort}`,
    ],
    ['dropped', dropped],
    ['tor', describeTor(report.tor)],
    ...(report.tor.lastError === null ? [] : [['tor error', report.tor.lastError] as const]),
  ]);
}

interface ShownGrant extends CallHomeClientGrant {
  /** Where `--svg FILE` put the QR code. */
  readonly svgFile?: string;
  readonly svgError?: string;
}

function renderGrant(grant: ShownGrant): string {
  return [
    `${grant.name} may now reach ${grant.onionAddress} (port 22).`,
    'Below is its private key: give it to that device only. hostd keeps only the public half and will not show it again.',
    '',
    `tor (ClientOnionAuthDir): a file ${grant.name}.auth_private in that directory holding the line`,
    `  ${grant.authLine}`,
    `Tor Browser (asks when you open the address): ${grant.privateKeyBase32}`,
    `ssh through tor: ssh -o ProxyCommand='nc -X 5 -x 127.0.0.1:9050 %h %p' USER@${grant.onionAddress}`,
    '',
    'The auth line as a QR code, for a phone:',
    grant.qr.terminal.trimEnd(),
    ...(grant.svgFile === undefined ? [] : [`(also written to ${grant.svgFile})`]),
    ...(grant.svgError === undefined ? [] : [`warning: the SVG was not written: ${grant.svgError}`]),
    '',
  ].join('\n');
}

export const ONION_COMMANDS: readonly Command[] = [
  onionCommand({
    group: 'callhome',
    name: 'enable',
    verb: 'callhome.enable',
    summary: 'publish the SSH jail as an onion service with client authorization (again at every start)',
    arguments: [],
    options: [
      {
        name: 'allow-without-client-auth',
        type: 'boolean',
        description:
          'publish even with no device authorized: anyone who learns the address reaches the login',
      },
    ],
    input(positionals, values) {
      noArguments(positionals, 'callhome enable');
      return { allowWithoutClientAuth: values['allow-without-client-auth'] === true };
    },
    render: (report) =>
      `${callHomeFields(report)}${report.published ? '' : 'It is reachable once published: `mvctl callhome status` shows when.\n'}`,
  }),
  onionCommand({
    group: 'callhome',
    name: 'disable',
    verb: 'callhome.disable',
    summary: 'withdraw the onion service; the address and the authorized devices are kept',
    arguments: [],
    options: [],
    input(positionals) {
      noArguments(positionals, 'callhome disable');
      return {};
    },
    render: (report) =>
      `call-home is disabled: nothing is published, also after a restart. The address and ${report.clients.length} ` +
      'device(s) are kept for `mvctl callhome enable`.\n',
  }),
  onionCommand({
    group: 'callhome',
    name: 'status',
    verb: 'callhome.status',
    summary: 'the onion address, whether it is published, the authorized devices, tor',
    arguments: [],
    options: [],
    input(positionals) {
      noArguments(positionals, 'callhome status');
      return {};
    },
    render: (report) => `${report.enabled ? '' : 'call-home is disabled\n'}${callHomeFields(report)}`,
  }),
  onionCommand({
    group: 'callhome',
    name: 'add-client',
    verb: 'callhome.add-client',
    summary: 'authorize a device: prints the address, its auth line (shown once) and a QR code',
    arguments: [CLIENT_NAME_ARGUMENT],
    options: [
      {
        name: 'svg',
        type: 'string',
        value: 'FILE',
        description: 'also write the QR code as SVG to FILE (0600; not replacing a file)',
      },
    ],
    input(positionals, values) {
      const svg = stringOption(values, 'svg');
      // Checked before hostd makes the key: the private half is shown only this once.
      if (svg !== undefined && existsSync(svg)) {
        throw new UsageError(`${svg} exists; --svg does not replace a file`, 'callhome add-client');
      }
      return clientNameArgument(positionals, 'callhome add-client');
    },
    async receive(grant, values): Promise<ShownGrant> {
      const svg = stringOption(values, 'svg');
      if (svg === undefined) return grant;
      try {
        await writeFile(svg, grant.qr.svg, { mode: 0o600, flag: 'wx' });
        return { ...grant, svgFile: svg };
      } catch (error) {
        return { ...grant, svgError: (error as Error).message };
      }
    },
    render: renderGrant,
  }),
  onionCommand({
    group: 'callhome',
    name: 'remove-client',
    verb: 'callhome.remove-client',
    summary: 'revoke a device; the service is published again without it',
    arguments: [CLIENT_NAME_ARGUMENT],
    options: [],
    input: (positionals) => clientNameArgument(positionals, 'callhome remove-client'),
    render: (report) =>
      report.clients.length === 0 && !report.allowWithoutClientAuth
        ? `revoked; no device is left, so nothing is published (state ${report.state})\n`
        : `revoked; ${report.clients.length} device(s) remain\n`,
  }),
  onionCommand({
    group: 'onion',
    name: 'up',
    verb: 'onion.up',
    summary: 'bring up an onion device: its TCP goes through tor, DNS to tor, everything else is dropped',
    arguments: [],
    options: [
      ...DEVICE_OPTIONS,
      {
        name: 'namespace',
        type: 'string',
        value: 'NS',
        description: 'the network namespace its peer end moves into (default: the peer stays here)',
      },
    ],
    input: (positionals, values) => ({
      ...deviceInput(positionals, values, 'onion up'),
      namespace: stringOption(values, 'namespace'),
    }),
    render: deviceFields,
  }),
  onionCommand({
    group: 'onion',
    name: 'down',
    verb: 'onion.down',
    summary: 'take an onion device down (rules, both ends, tor’s listeners for it)',
    arguments: [],
    options: DEVICE_OPTIONS,
    input: (positionals, values) => deviceInput(positionals, values, 'onion down'),
    render: deviceFields,
  }),
  onionCommand({
    group: 'onion',
    name: 'status',
    verb: 'onion.status',
    summary: 'an onion device (state, tor ports, packets dropped by reason) and hostd’s tor',
    arguments: [],
    options: DEVICE_OPTIONS,
    input: (positionals, values) => deviceInput(positionals, values, 'onion status'),
    render: deviceFields,
  }),
];

import { parseReplyArguments } from './arguments.js';
import type { ControlReply } from './reply-parser.js';

/**
 * Open string unions: tor may add values at any time and control-spec requires controllers to accept
 * them, so the known values are listed for readers and editors but any string is allowed.
 */
type OpenUnion<Known extends string> = Known | (string & Record<never, never>);

export type CircuitStatus = OpenUnion<'LAUNCHED' | 'BUILT' | 'GUARD_WAIT' | 'EXTENDED' | 'FAILED' | 'CLOSED'>;
export type StreamStatus = OpenUnion<
  | 'NEW'
  | 'NEWRESOLVE'
  | 'REMAP'
  | 'SENTCONNECT'
  | 'SENTRESOLVE'
  | 'SUCCEEDED'
  | 'FAILED'
  | 'CLOSED'
  | 'DETACHED'
>;
export type HsDescriptorAction = OpenUnion<
  'REQUESTED' | 'UPLOAD' | 'RECEIVED' | 'UPLOADED' | 'IGNORE' | 'FAILED' | 'CREATED'
>;

/** A relay as tor names it in events: `$FINGERPRINT~nickname`, a bare fingerprint, or a bare nickname. */
export interface RelayName {
  /** 40 upper-case hex digits, when tor gave one. */
  readonly fingerprint?: string;
  readonly nickname?: string;
}

export interface BootstrapEvent {
  readonly type: 'bootstrap';
  /** NOTICE for normal progress, WARN when tor reports a bootstrap problem. */
  readonly severity: string;
  /** 0..100 */
  readonly progress: number;
  readonly tag: string;
  readonly summary: string;
  readonly warning?: string;
  readonly reason?: string;
}

export interface StatusEvent {
  readonly type: 'status';
  readonly statusType: OpenUnion<'STATUS_CLIENT' | 'STATUS_GENERAL' | 'STATUS_SERVER'>;
  readonly severity: string;
  readonly action: string;
  readonly arguments: ReadonlyMap<string, string>;
}

export interface CircuitEvent {
  readonly type: 'circuit';
  readonly circuitId: string;
  readonly status: CircuitStatus;
  readonly path: readonly RelayName[];
  readonly buildFlags: readonly string[];
  readonly purpose?: string;
  readonly hsState?: string;
  readonly rendQuery?: string;
  readonly timeCreated?: string;
  readonly reason?: string;
  readonly remoteReason?: string;
  readonly socksUsername?: string;
  readonly socksPassword?: string;
}

export interface StreamEvent {
  readonly type: 'stream';
  readonly streamId: string;
  readonly status: StreamStatus;
  /** "0" while the stream is not attached to a circuit. */
  readonly circuitId: string;
  readonly targetHost: string;
  readonly targetPort: number;
  readonly reason?: string;
  readonly remoteReason?: string;
  readonly source?: string;
  readonly sourceAddress?: string;
  readonly purpose?: string;
  readonly socksUsername?: string;
  readonly socksPassword?: string;
  readonly clientProtocol?: string;
}

export interface HsDescriptorEvent {
  readonly type: 'hsDescriptor';
  readonly action: HsDescriptorAction;
  /** The onion address without ".onion", or "UNKNOWN". */
  readonly address: string;
  readonly authType: string;
  readonly hsDir: RelayName | null;
  readonly descriptorId?: string;
  readonly reason?: string;
}

/** Any other event, kept whole so a caller subscribed to it still gets everything tor said. */
export interface OtherEvent {
  readonly type: 'other';
  readonly name: string;
  /** The first line's text after the event name. */
  readonly text: string;
  readonly reply: ControlReply;
}

export type TorEvent =
  BootstrapEvent | StatusEvent | CircuitEvent | StreamEvent | HsDescriptorEvent | OtherEvent;

/** Event names this client can subscribe to with SETEVENTS (tor accepts more; they arrive as `other`). */
export type TorEventName = OpenUnion<
  | 'STATUS_CLIENT'
  | 'STATUS_GENERAL'
  | 'STATUS_SERVER'
  | 'CIRC'
  | 'STREAM'
  | 'HS_DESC'
  | 'NOTICE'
  | 'WARN'
  | 'ERR'
>;

/** Turns one asynchronous (6xx) reply into a typed event. Unknown fields and lines are tolerated. */
export function parseTorEvent(reply: ControlReply): TorEvent {
  const [first, ...rest] = reply.lines;
  const firstText = first?.text ?? '';
  const space = firstText.indexOf(' ');
  const name = space === -1 ? firstText : firstText.slice(0, space);
  const text = space === -1 ? '' : firstText.slice(space + 1);
  const args = parseReplyArguments(text);
  // Extended events may carry more KEY=VALUE arguments on following lines (control-spec §4.1).
  const keywords = new Map(args.keywords);
  for (const line of rest) {
    if (line.kind === 'data') continue;
    for (const [key, value] of parseReplyArguments(line.text).keywords) keywords.set(key, value);
  }
  const at = (index: number): string => args.positional[index] ?? '';

  switch (name) {
    case 'STATUS_CLIENT':
    case 'STATUS_GENERAL':
    case 'STATUS_SERVER': {
      if (name === 'STATUS_CLIENT' && at(1) === 'BOOTSTRAP') return bootstrapEvent(at(0), keywords);
      return { type: 'status', statusType: name, severity: at(0), action: at(1), arguments: keywords };
    }
    case 'CIRC':
      return circuitEvent(args.positional, keywords);
    case 'STREAM': {
      const target = splitTarget(at(3));
      return {
        type: 'stream',
        streamId: at(0),
        status: at(1),
        circuitId: at(2),
        targetHost: target.host,
        targetPort: target.port,
        ...optional('reason', keywords.get('REASON')),
        ...optional('remoteReason', keywords.get('REMOTE_REASON')),
        ...optional('source', keywords.get('SOURCE')),
        ...optional('sourceAddress', keywords.get('SOURCE_ADDR')),
        ...optional('purpose', keywords.get('PURPOSE')),
        ...optional('socksUsername', keywords.get('SOCKS_USERNAME')),
        ...optional('socksPassword', keywords.get('SOCKS_PASSWORD')),
        ...optional('clientProtocol', keywords.get('CLIENT_PROTOCOL')),
      };
    }
    case 'HS_DESC': {
      const hsDir = at(3);
      return {
        type: 'hsDescriptor',
        action: at(0),
        address: at(1),
        authType: at(2),
        hsDir: hsDir === '' || hsDir === 'UNKNOWN' ? null : parseRelayName(hsDir),
        ...optional('descriptorId', args.positional[4]),
        ...optional('reason', keywords.get('REASON')),
      };
    }
    default:
      return { type: 'other', name, text, reply };
  }
}

function circuitEvent(positional: readonly string[], keywords: ReadonlyMap<string, string>): CircuitEvent {
  // The path is the third word when present; a just-launched circuit has none.
  const pathWord = positional[2];
  return {
    type: 'circuit',
    circuitId: positional[0] ?? '',
    status: positional[1] ?? '',
    path: pathWord ? pathWord.split(',').map(parseRelayName) : [],
    buildFlags: keywords.get('BUILD_FLAGS')?.split(',') ?? [],
    ...optional('purpose', keywords.get('PURPOSE')),
    ...optional('hsState', keywords.get('HS_STATE')),
    ...optional('rendQuery', keywords.get('REND_QUERY')),
    ...optional('timeCreated', keywords.get('TIME_CREATED')),
    ...optional('reason', keywords.get('REASON')),
    ...optional('remoteReason', keywords.get('REMOTE_REASON')),
    ...optional('socksUsername', keywords.get('SOCKS_USERNAME')),
    ...optional('socksPassword', keywords.get('SOCKS_PASSWORD')),
  };
}

/** Parses `GETINFO circuit-status`: one line per circuit, in the CIRC event's format without "650 CIRC". */
export function parseCircuitStatus(value: string): CircuitEvent[] {
  return value
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const args = parseReplyArguments(line);
      return circuitEvent(args.positional, args.keywords);
    });
}

function bootstrapEvent(severity: string, keywords: ReadonlyMap<string, string>): BootstrapEvent {
  const progress = Number(keywords.get('PROGRESS'));
  return {
    type: 'bootstrap',
    severity,
    progress: Number.isInteger(progress) && progress >= 0 && progress <= 100 ? progress : 0,
    tag: keywords.get('TAG') ?? '',
    summary: keywords.get('SUMMARY') ?? '',
    ...optional('warning', keywords.get('WARNING')),
    ...optional('reason', keywords.get('REASON')),
  };
}

/** Parses the value of `GETINFO status/bootstrap-phase` (the same words as a BOOTSTRAP status event). */
export function parseBootstrapPhase(value: string): BootstrapEvent {
  const args = parseReplyArguments(value);
  return bootstrapEvent(args.positional[0] ?? '', args.keywords);
}

/** `$FP~nick`, `$FP=nick` (tor before 0.3.1), `$FP`, `FP` or `nick`. */
export function parseRelayName(word: string): RelayName {
  const match = /^\$?([0-9A-Fa-f]{40})(?:[~=](.+))?$/.exec(word);
  if (match) {
    return { fingerprint: (match[1] as string).toUpperCase(), ...optional('nickname', match[2]) };
  }
  return { nickname: word };
}

/** `host:port`, `[v6]:port`, or `(Tor_internal):0`. */
function splitTarget(target: string): { host: string; port: number } {
  const colon = target.lastIndexOf(':');
  if (colon === -1) return { host: target, port: 0 };
  const host = target.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  const port = Number(target.slice(colon + 1));
  return { host, port: Number.isInteger(port) ? port : 0 };
}

function optional<K extends string>(key: K, value: string | undefined): { [P in K]?: string } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: string };
}

import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createConnection, type Socket } from 'node:net';
import {
  assertBareWord,
  assertConfigKeyword,
  parseReplyArguments,
  quoteString,
  readQuoted,
} from './arguments.js';
import { TorControlError } from './errors.js';
import {
  parseBootstrapPhase,
  parseCircuitStatus,
  parseTorEvent,
  type BootstrapEvent,
  type CircuitEvent,
  type TorEvent,
  type TorEventName,
} from './events.js';
import {
  formatAddOnion,
  formatOnionClientAuthAdd,
  parseAddOnionReply,
  toOnionServiceId,
  type AddOnionRequest,
  type AddOnionResult,
} from './onion-service.js';
import { parseProtocolInfo, type ProtocolInfo, type TorAuthMethod } from './protocol-info.js';
import { ControlReplyParser, type ControlReply } from './reply-parser.js';

/** Where tor's control port listens: TCP (`ControlPort`) or a unix socket (`ControlSocket`). */
export type TorControlEndpoint =
  { readonly host?: string; readonly port: number } | { readonly path: string };

export interface TorControlClientOptions {
  /** Limit for connecting and for each command's reply; the connection is closed when it is exceeded. */
  readonly timeoutMs?: number;
}

export interface TorCredentials {
  /** The password whose hash is tor's HashedControlPassword. */
  readonly password?: string;
  /** Read the cookie here instead of where PROTOCOLINFO says (e.g. tor runs in another mount namespace). */
  readonly cookieFile?: string;
  /** Use this method even if tor offers a better one (default: the best one offered). */
  readonly method?: 'HASHEDPASSWORD' | 'SAFECOOKIE' | 'COOKIE' | 'NULL';
}

export type TorSignal =
  | 'RELOAD'
  | 'SHUTDOWN'
  | 'DUMP'
  | 'DEBUG'
  | 'HALT'
  | 'NEWNYM'
  | 'CLEARDNSCACHE'
  | 'HEARTBEAT'
  | 'ACTIVE'
  | 'DORMANT';

/** A configuration value for SETCONF/RESETCONF: one value, several (repeated lines), or null for "unset". */
export type TorConfigValue = string | number | boolean | readonly string[] | null;

type EventOfType<K extends TorEvent['type']> = Extract<TorEvent, { type: K }>;
type EventListener<K extends TorEvent['type']> = (event: EventOfType<K>) => void;

interface PendingCommand {
  readonly command: string;
  readonly resolve: (reply: ControlReply) => void;
  readonly reject: (error: Error) => void;
  readonly timer: NodeJS.Timeout;
}

const DEFAULT_TIMEOUT_MS = 30_000;
const SAFECOOKIE_SERVER_KEY = 'Tor safe cookie authentication server-to-controller hash';
const SAFECOOKIE_CLIENT_KEY = 'Tor safe cookie authentication controller-to-server hash';
const COOKIE_LENGTH = 32;

/**
 * A client of tor's control protocol (control-spec.txt). Commands may be issued concurrently: they are
 * pipelined and answered in order. Asynchronous events arrive at any time, also while commands are in
 * flight, and are delivered to `onEvent` listeners as typed objects.
 */
export class TorControlClient {
  private readonly parser = new ControlReplyParser();
  private readonly pending: PendingCommand[] = [];
  private readonly listeners = new Map<TorEvent['type'], Set<(event: TorEvent) => void>>();
  private readonly closeListeners = new Set<(error: Error | null) => void>();
  private closedWith: Error | null | undefined;

  private constructor(
    private readonly socket: Socket,
    private readonly timeoutMs: number,
  ) {
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('error', (error) => this.shutDown(closedError('the control connection failed', error)));
    socket.on('close', () => this.shutDown(null));
  }

  /** Opens the control connection. Authenticate next: tor accepts nothing else first. */
  static connect(
    endpoint: TorControlEndpoint,
    options: TorControlClientOptions = {},
  ): Promise<TorControlClient> {
    const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const where = 'path' in endpoint ? endpoint.path : `${endpoint.host ?? '127.0.0.1'}:${endpoint.port}`;
    return new Promise((resolve, reject) => {
      const socket =
        'path' in endpoint
          ? createConnection({ path: endpoint.path })
          : createConnection({ host: endpoint.host ?? '127.0.0.1', port: endpoint.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(
          new TorControlError(
            'TOR_CONTROL_TIMEOUT',
            `connecting to tor's control port at ${where} timed out`,
          ),
        );
      }, timeoutMs);
      socket.once('error', (error) => {
        clearTimeout(timer);
        reject(
          closedError(
            `could not connect to tor's control port at ${where}; is tor running with ControlPort?`,
            error,
          ),
        );
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new TorControlClient(socket, timeoutMs));
      });
    });
  }

  /** Connects and authenticates in one step. */
  static async open(
    endpoint: TorControlEndpoint,
    credentials: TorCredentials = {},
    options: TorControlClientOptions = {},
  ): Promise<TorControlClient> {
    const client = await TorControlClient.connect(endpoint, options);
    try {
      await client.authenticate(credentials);
      return client;
    } catch (error) {
      client.close();
      throw error;
    }
  }

  /**
   * Sends one command line and resolves with tor's reply; a 4xx/5xx reply rejects with TorControlError
   * (code TOR_CONTROL_REPLY). The line must not contain line breaks: use the typed methods for values.
   */
  sendCommand(line: string): Promise<ControlReply> {
    if (/[\r\n\0]/.test(line)) {
      return Promise.reject(
        new TorControlError(
          'TOR_CONTROL_INVALID_ARGUMENT',
          'a control command must be one line without NUL bytes',
        ),
      );
    }
    if (this.closedWith !== undefined) {
      return Promise.reject(
        this.closedWith ?? new TorControlError('TOR_CONTROL_CLOSED', 'the control connection is closed'),
      );
    }
    const verb = line.split(' ', 1)[0] ?? line;
    return new Promise<ControlReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.shutDown(
          new TorControlError(
            'TOR_CONTROL_TIMEOUT',
            `tor did not answer ${verb} within ${this.timeoutMs} ms`,
          ),
        );
      }, this.timeoutMs);
      this.pending.push({ command: verb, resolve, reject, timer });
      this.socket.write(`${line}\r\n`);
    });
  }

  async protocolInfo(): Promise<ProtocolInfo> {
    return parseProtocolInfo(await this.sendCommand('PROTOCOLINFO 1'));
  }

  /**
   * Authenticates with the best method tor offers: HASHEDPASSWORD when a password is given, else
   * SAFECOOKIE (tor proves it knows the cookie too), else COOKIE, else NULL.
   */
  async authenticate(credentials: TorCredentials = {}): Promise<void> {
    const info = await this.protocolInfo();
    const offered = new Set(info.authMethods);
    const cookieFile = credentials.cookieFile ?? info.cookieFile;
    const usable = (method: TorAuthMethod): boolean =>
      offered.has(method) &&
      (credentials.method === undefined || credentials.method === method) &&
      (method !== 'HASHEDPASSWORD' || credentials.password !== undefined) &&
      ((method !== 'SAFECOOKIE' && method !== 'COOKIE') || cookieFile !== undefined);

    if (usable('HASHEDPASSWORD')) {
      await this.sendCommand(`AUTHENTICATE ${quoteString(credentials.password as string)}`);
    } else if (usable('SAFECOOKIE')) {
      await this.authenticateSafeCookie(await readCookie(cookieFile as string));
    } else if (usable('COOKIE')) {
      await this.sendCommand(`AUTHENTICATE ${(await readCookie(cookieFile as string)).toString('hex')}`);
    } else if (usable('NULL')) {
      await this.sendCommand('AUTHENTICATE');
    } else {
      const wanted = credentials.method ? `${credentials.method} was asked for` : 'none of them can be used';
      const hint = offered.has('HASHEDPASSWORD')
        ? 'pass the control password'
        : 'enable CookieAuthentication or HashedControlPassword in its torrc';
      throw new TorControlError(
        'TOR_CONTROL_AUTH_UNAVAILABLE',
        `tor offers ${info.authMethods.join(', ') || 'no authentication methods'} and ${wanted}: ${hint}`,
      );
    }
  }

  private async authenticateSafeCookie(cookie: Buffer): Promise<void> {
    const clientNonce = randomBytes(32);
    const reply = await this.sendCommand(`AUTHCHALLENGE SAFECOOKIE ${clientNonce.toString('hex')}`);
    const text = reply.lines[0]?.text ?? '';
    const args = parseReplyArguments(text.replace(/^AUTHCHALLENGE ?/, ''));
    const serverHash = Buffer.from(args.keywords.get('SERVERHASH') ?? '', 'hex');
    const serverNonce = Buffer.from(args.keywords.get('SERVERNONCE') ?? '', 'hex');
    if (serverHash.length !== 32 || serverNonce.length !== 32) {
      throw new TorControlError(
        'TOR_CONTROL_UNEXPECTED_REPLY',
        `tor's AUTHCHALLENGE reply is malformed: ${text}`,
      );
    }
    const message = Buffer.concat([cookie, clientNonce, serverNonce]);
    const expected = createHmac('sha256', SAFECOOKIE_SERVER_KEY).update(message).digest();
    if (!timingSafeEqual(expected, serverHash)) {
      this.close();
      throw new TorControlError(
        'TOR_CONTROL_AUTH_SERVER_MISMATCH',
        'the control port did not prove it knows the cookie: it is not the tor that wrote the cookie file',
      );
    }
    const clientHash = createHmac('sha256', SAFECOOKIE_CLIENT_KEY).update(message).digest();
    await this.sendCommand(`AUTHENTICATE ${clientHash.toString('hex')}`);
  }

  /** GETINFO: one value per key (multi-line values joined with "\n"). */
  async getInfo(keys: readonly string[]): Promise<Map<string, string>> {
    if (keys.length === 0)
      throw new TorControlError('TOR_CONTROL_INVALID_ARGUMENT', 'GETINFO needs at least one key');
    for (const key of keys) assertBareWord(key, 'GETINFO key');
    const reply = await this.sendCommand(`GETINFO ${keys.join(' ')}`);
    const values = new Map<string, string>();
    for (const line of reply.lines) {
      const equals = line.text.indexOf('=');
      if (equals === -1) continue;
      const key = line.text.slice(0, equals);
      values.set(key, line.kind === 'data' ? (line.data ?? '') : line.text.slice(equals + 1));
    }
    for (const key of keys) {
      if (!values.has(key)) {
        throw new TorControlError(
          'TOR_CONTROL_UNEXPECTED_REPLY',
          `tor's GETINFO reply has no value for ${key}`,
        );
      }
    }
    return values;
  }

  async getInfoValue(key: string): Promise<string> {
    return (await this.getInfo([key])).get(key) as string;
  }

  /** GETCONF: every (key, value) line in order; null means the option is at a default with no value. */
  async getConf(keys: readonly string[]): Promise<Array<{ key: string; value: string | null }>> {
    if (keys.length === 0)
      throw new TorControlError('TOR_CONTROL_INVALID_ARGUMENT', 'GETCONF needs at least one key');
    for (const key of keys) assertConfigKeyword(key);
    const reply = await this.sendCommand(`GETCONF ${keys.join(' ')}`);
    return reply.lines.map((line) => {
      const equals = line.text.indexOf('=');
      if (equals === -1) return { key: line.text, value: null };
      const raw = line.text.slice(equals + 1);
      const value = raw.startsWith('"') ? readQuoted(raw, 0).value : raw;
      return { key: line.text.slice(0, equals), value };
    });
  }

  /** SETCONF: all-or-nothing; values are quoted so no value can end the command or add another. */
  async setConf(settings: Readonly<Record<string, TorConfigValue>>): Promise<void> {
    await this.sendCommand(`SETCONF ${formatConfigSettings(settings)}`);
  }

  /** RESETCONF: back to defaults (null), or to the defaults plus the values given. */
  async resetConf(settings: Readonly<Record<string, TorConfigValue>>): Promise<void> {
    await this.sendCommand(`RESETCONF ${formatConfigSettings(settings)}`);
  }

  async signal(signal: TorSignal): Promise<void> {
    await this.sendCommand(`SIGNAL ${signal}`);
  }

  /** Replaces the set of events tor sends on this connection (an empty list turns them all off). */
  async setEvents(events: readonly TorEventName[]): Promise<void> {
    for (const event of events) {
      if (!/^[A-Z_]+$/.test(event)) {
        throw new TorControlError(
          'TOR_CONTROL_INVALID_ARGUMENT',
          `${JSON.stringify(event)} is not a tor event name`,
        );
      }
    }
    await this.sendCommand(['SETEVENTS', ...events].join(' '));
  }

  async addOnion(request: AddOnionRequest): Promise<AddOnionResult> {
    return parseAddOnionReply(await this.sendCommand(formatAddOnion(request)));
  }

  async delOnion(address: string): Promise<void> {
    await this.sendCommand(`DEL_ONION ${toOnionServiceId(address)}`);
  }

  /** Gives this tor the x25519 private key that lets it reach an onion service with client authorization. */
  async onionClientAuthAdd(address: string, privateKeyBase64: string, nickname?: string): Promise<void> {
    await this.sendCommand(formatOnionClientAuthAdd(address, privateKeyBase64, nickname));
  }

  async onionClientAuthRemove(address: string): Promise<void> {
    await this.sendCommand(`ONION_CLIENT_AUTH_REMOVE ${toOnionServiceId(address)}`);
  }

  /** The current bootstrap phase (`GETINFO status/bootstrap-phase`). */
  async bootstrapStatus(): Promise<BootstrapEvent> {
    return parseBootstrapPhase(await this.getInfoValue('status/bootstrap-phase'));
  }

  /** Every circuit tor has open (`GETINFO circuit-status`), with the same fields as CIRC events. */
  async circuits(): Promise<CircuitEvent[]> {
    return parseCircuitStatus(await this.getInfoValue('circuit-status'));
  }

  /** Subscribes to one kind of typed event (after SETEVENTS); returns the unsubscribe function. */
  onEvent<K extends TorEvent['type']>(type: K, listener: EventListener<K>): () => void {
    let set = this.listeners.get(type);
    if (!set) {
      set = new Set();
      this.listeners.set(type, set);
    }
    const untyped = listener as (event: TorEvent) => void;
    set.add(untyped);
    return () => set.delete(untyped);
  }

  /** Resolves with the first event of `type` that satisfies `matches`, or rejects after `timeoutMs`. */
  waitForEvent<K extends TorEvent['type']>(
    type: K,
    matches: (event: EventOfType<K>) => boolean,
    timeoutMs: number,
  ): Promise<EventOfType<K>> {
    if (this.closedWith !== undefined) {
      return Promise.reject(
        this.closedWith ?? new TorControlError('TOR_CONTROL_CLOSED', 'the control connection is closed'),
      );
    }
    return new Promise((resolve, reject) => {
      const finish = (): void => {
        clearTimeout(timer);
        unsubscribe();
        stopWatchingClose();
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new TorControlError(
            'TOR_CONTROL_TIMEOUT',
            `no matching ${type} event from tor within ${timeoutMs} ms`,
          ),
        );
      }, timeoutMs);
      const unsubscribe = this.onEvent(type, (event) => {
        if (!matches(event)) return;
        finish();
        resolve(event);
      });
      const stopWatchingClose = this.onClose((error) => {
        finish();
        reject(
          error ??
            new TorControlError('TOR_CONTROL_CLOSED', `the control connection closed before a ${type} event`),
        );
      });
    });
  }

  /** Called once when the connection ends: null for an orderly close, the error otherwise. */
  onClose(listener: (error: Error | null) => void): () => void {
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** Closes the connection; commands still in flight reject with TOR_CONTROL_CLOSED. */
  close(): void {
    this.shutDown(null);
  }

  private receive(chunk: Buffer): void {
    let replies: ControlReply[];
    try {
      replies = this.parser.push(chunk);
    } catch (error) {
      this.shutDown(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    for (const reply of replies) {
      if (reply.status >= 600 && reply.status < 700) this.dispatchEvent(parseTorEvent(reply));
      else this.settle(reply);
    }
  }

  private settle(reply: ControlReply): void {
    const command = this.pending.shift();
    if (!command) {
      this.shutDown(
        new TorControlError('TOR_CONTROL_PROTOCOL', `tor sent a ${reply.status} reply to no command`),
      );
      return;
    }
    clearTimeout(command.timer);
    if (reply.status >= 200 && reply.status < 300) {
      command.resolve(reply);
      return;
    }
    const text = reply.lines.map((line) => line.text).join('\n');
    command.reject(
      new TorControlError(
        'TOR_CONTROL_REPLY',
        `tor refused ${command.command}: ${reply.status} ${text}`,
        reply.status,
        text,
      ),
    );
  }

  private dispatchEvent(event: TorEvent): void {
    const set = this.listeners.get(event.type);
    if (!set) return;
    for (const listener of [...set]) listener(event);
  }

  private shutDown(error: Error | null): void {
    if (this.closedWith !== undefined) return;
    this.closedWith = error;
    this.socket.destroy();
    const reason =
      error ?? new TorControlError('TOR_CONTROL_CLOSED', 'the control connection closed before tor answered');
    for (const command of this.pending.splice(0)) {
      clearTimeout(command.timer);
      command.reject(reason);
    }
    for (const listener of [...this.closeListeners]) listener(error);
    this.closeListeners.clear();
  }
}

function formatConfigSettings(settings: Readonly<Record<string, TorConfigValue>>): string {
  const words: string[] = [];
  for (const [key, value] of Object.entries(settings)) {
    assertConfigKeyword(key);
    if (value === null) {
      words.push(key);
      continue;
    }
    const values = Array.isArray(value) ? (value as readonly string[]) : [value as string | number | boolean];
    for (const one of values) {
      const text = typeof one === 'boolean' ? (one ? '1' : '0') : String(one);
      words.push(`${key}=${quoteString(text)}`);
    }
  }
  if (words.length === 0) {
    throw new TorControlError('TOR_CONTROL_INVALID_ARGUMENT', 'SETCONF/RESETCONF needs at least one setting');
  }
  return words.join(' ');
}

async function readCookie(path: string): Promise<Buffer> {
  let cookie: Buffer;
  try {
    cookie = await readFile(path);
  } catch (error) {
    throw new TorControlError(
      'TOR_CONTROL_AUTH_UNAVAILABLE',
      `cannot read tor's control cookie at ${path}: run as a user that may read it, or pass cookieFile`,
      undefined,
      undefined,
      { cause: error },
    );
  }
  if (cookie.length !== COOKIE_LENGTH) {
    throw new TorControlError(
      'TOR_CONTROL_AUTH_UNAVAILABLE',
      `tor's control cookie at ${path} is ${cookie.length} bytes, expected ${COOKIE_LENGTH}`,
    );
  }
  return cookie;
}

function closedError(message: string, cause: Error): TorControlError {
  return new TorControlError('TOR_CONTROL_CLOSED', `${message}: ${cause.message}`, undefined, undefined, {
    cause,
  });
}

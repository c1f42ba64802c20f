import type { AddressInfo } from 'node:net';
import ssh2 from 'ssh2';
import type {
  AuthContext,
  Connection,
  KeyboardAuthContext,
  PublicKeyAuthContext,
  ServerChannel,
  Session,
} from 'ssh2';
import { verify as verifyTotp } from 'otplib';
import type { JailAuditAction, JailAuditSink } from './audit.js';
import { AuthThrottle, DEFAULT_AUTH_THROTTLE_POLICY, type AuthThrottlePolicy } from './auth-throttle.js';
import { JailShellError } from './errors.js';
import type { JailSessionLauncher, JailSessionRequest } from './session-launcher.js';
import type { JailSessionProcess, TerminalRequest } from './session-process.js';
import type { JailUser, JailUserStore } from './user-store.js';

const { Server, utils } = ssh2;

export interface JailServerOptions {
  /** OpenSSH private key text, from `loadOrCreateHostKey`. */
  readonly hostKey: Buffer;
  readonly users: JailUserStore;
  /** Starts each session's interpreter (hostd's: sandboxed, with the session's own API socket). */
  readonly sessions: JailSessionLauncher;
  readonly audit: JailAuditSink;
  readonly throttle?: AuthThrottlePolicy;
  /** A session with no input for this long is closed. */
  readonly idleTimeoutMs?: number;
  /** A session is closed this long after login whatever it does. */
  readonly sessionTimeoutMs?: number;
  /** A connection that has not authenticated within this time is closed. */
  readonly loginGraceMs?: number;
  /** Sessions (shell or exec) open at once over all connections; more are refused. */
  readonly maxSessions?: number;
}

const VERIFICATION_PROMPT = 'Verification code: ';
const ALLOWED_ENVIRONMENT = new Set(['TERM', 'LANG']);
const MAX_SESSIONS_PER_CONNECTION = 4;
const DEFAULT_MAX_SESSIONS = 256;
/** Exit codes with which the interpreter refuses a line: unknown command, or a line it will not run. */
const REFUSED_LINE_EXIT_CODES = new Set([2, 127]);
const TERMINAL_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
const LANGUAGE_PATTERN = /^[A-Za-z0-9_.@-]{1,64}$/;
const MAX_TERMINAL_SIZE = 1000;
const TOTP_PERIOD_SECONDS = 30;
const EXIT_CODE_TIMED_OUT = 124;
const CHANNEL_CLOSE_GRACE_MS = 1000;

interface ConnectionState {
  readonly address: string;
  readonly source: string;
  keyVerifiedUser?: JailUser;
  user?: JailUser;
  openSessions: number;
  /** Releases the session count of sessions still open (when the connection drops). */
  readonly releases: Set<() => void>;
  /** Session processes running, killed when the connection drops. */
  readonly processes: Set<JailSessionProcess>;
  /** Ends the connection's sessions with a message; set once the connection exists. */
  endFor?: (reason: string) => void;
}

/**
 * The jail's SSH door. A user gets in with a listed public key *and* a fresh TOTP code, and then
 * only gets session channels running the limited shell: every forwarding, agent, X11 and
 * subsystem request is refused and audited.
 */
export class JailSshServer {
  private readonly server: InstanceType<typeof Server>;
  private readonly throttle: AuthThrottle;
  private readonly connections = new Map<Connection, ConnectionState>();
  private openSessions = 0;
  private readonly maxSessions: number;
  private readonly idleTimeoutMs: number;
  private readonly sessionTimeoutMs: number;
  private readonly loginGraceMs: number;

  constructor(private readonly options: JailServerOptions) {
    this.throttle = new AuthThrottle(options.throttle ?? DEFAULT_AUTH_THROTTLE_POLICY);
    this.idleTimeoutMs = positiveDuration('idleTimeoutMs', options.idleTimeoutMs ?? 15 * 60_000);
    this.sessionTimeoutMs = positiveDuration('sessionTimeoutMs', options.sessionTimeoutMs ?? 8 * 3600_000);
    this.loginGraceMs = positiveDuration('loginGraceMs', options.loginGraceMs ?? 60_000);
    this.maxSessions = positiveWholeNumber(
      'maxSessions',
      options.maxSessions ?? DEFAULT_MAX_SESSIONS,
      'sessions',
    );
    this.server = new Server({ hostKeys: [options.hostKey], ident: 'multiverse-jail' }, (client, info) =>
      this.handleConnection(client, info.ip, `${info.ip}:${info.port}`),
    );
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        if (address === null || typeof address === 'string') {
          reject(
            new JailShellError('SERVER_NOT_LISTENING', `The SSH server did not bind a TCP port on ${host}`),
          );
        } else resolve(address);
      });
    });
  }

  close(): Promise<void> {
    for (const connection of this.connections.keys()) connection.end();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  /** Lifts a brute-force lockout of a user (an owner's action); says whether one was in force. */
  unlockUser(name: string): boolean {
    return this.throttle.unlockUser(name);
  }

  unlockSource(address: string): boolean {
    return this.throttle.unlockSource(address);
  }

  lockedOut(): { users: string[]; sources: string[] } {
    return this.throttle.lockedOut();
  }

  /** Ends every session of a user (locked or deleted by the owner); returns how many connections. */
  endSessionsOf(name: string, reason: string): number {
    let ended = 0;
    for (const state of this.connections.values()) {
      if (state.user?.name !== name) continue;
      state.endFor?.(reason);
      ended += 1;
    }
    return ended;
  }

  /** Sessions open now, over all connections. */
  get sessionCount(): number {
    return this.openSessions;
  }

  private report(
    state: ConnectionState,
    action: JailAuditAction,
    outcome: 'accepted' | 'refused',
    detail?: string,
  ): void {
    const user = state.user ?? state.keyVerifiedUser;
    this.options.audit({
      time: new Date().toISOString(),
      action,
      outcome,
      source: state.source,
      ...(user !== undefined ? { user: user.name, role: user.role } : {}),
      ...(detail !== undefined ? { detail } : {}),
    });
  }

  private handleConnection(client: Connection, address: string, source: string): void {
    const state: ConnectionState = {
      address,
      source,
      openSessions: 0,
      releases: new Set(),
      processes: new Set(),
    };
    this.connections.set(client, state);
    const loginTimer = setTimeout(() => client.end(), this.loginGraceMs);
    let idleTimer: NodeJS.Timeout | undefined;
    let sessionTimer: NodeJS.Timeout | undefined;
    const channels = new Set<ServerChannel>();
    const endFor = (reason: string): void => {
      this.report(state, 'session.close', 'accepted', reason);
      // Closing each channel first lets the client print the reason; a bare disconnect can race
      // ahead of the channel's last bytes in OpenSSH's output.
      for (const channel of channels) {
        channel.stderr.write(`\r\njail-shell: ${reason}; closing.\r\n`);
        channel.exit(EXIT_CODE_TIMED_OUT);
        channel.end();
      }
      setTimeout(() => client.end(), CHANNEL_CLOSE_GRACE_MS).unref();
    };
    state.endFor = endFor;
    const touch = (): void => {
      if (idleTimer) idleTimer.refresh();
    };

    client.on('authentication', (context) => {
      this.authenticate(context, state).catch((error: unknown) => {
        this.report(state, 'auth.method', 'refused', `internal error: ${String(error)}`);
        context.reject([]);
      });
    });
    client.on('ready', () => {
      clearTimeout(loginTimer);
      this.report(state, 'session.open', 'accepted', `role ${state.user?.role ?? 'unknown'}`);
      idleTimer = setTimeout(() => endFor('idle timeout'), this.idleTimeoutMs);
      sessionTimer = setTimeout(() => endFor('session time limit reached'), this.sessionTimeoutMs);
    });
    client.on('session', (accept, reject) => {
      if (!state.user || state.openSessions >= MAX_SESSIONS_PER_CONNECTION) {
        this.report(state, 'channel.session', 'refused', 'too many sessions on one connection');
        reject();
        return;
      }
      if (this.openSessions >= this.maxSessions) {
        this.report(
          state,
          'channel.session',
          'refused',
          `the jail is at its limit of ${this.maxSessions} sessions`,
        );
        reject();
        return;
      }
      state.openSessions += 1;
      this.openSessions += 1;
      this.handleSession(accept(), state, state.user, channels, touch);
    });
    client.on('tcpip', (_accept, reject, info) => {
      this.report(state, 'channel.direct-tcpip', 'refused', `to ${info.destIP}:${info.destPort}`);
      reject();
    });
    client.on('openssh.streamlocal', (_accept, reject, info) => {
      this.report(state, 'channel.streamlocal', 'refused', `to ${info.socketPath}`);
      reject();
    });
    client.on('request', (_accept, reject, name) => {
      this.report(state, 'request.global', 'refused', name);
      reject?.();
    });
    client.on('error', () => {
      // A peer that vanishes mid-handshake surfaces here; the 'close' below does the cleanup.
    });
    client.on('close', () => {
      clearTimeout(loginTimer);
      clearTimeout(idleTimer);
      clearTimeout(sessionTimer);
      for (const release of [...state.releases]) release();
      for (const process of state.processes) process.kill();
      this.connections.delete(client);
    });
  }

  private async authenticate(context: AuthContext, state: ConnectionState): Promise<void> {
    if (this.throttle.isSourceLockedOut(state.address)) {
      this.report(state, 'auth.method', 'refused', `source ${state.address} is locked out`);
      context.reject([]);
      return;
    }
    if (context.method === 'publickey') return this.authenticateKey(context, state);
    if (context.method === 'keyboard-interactive') return this.authenticateCode(context, state);
    if (context.method !== 'none') this.report(state, 'auth.method', 'refused', `method ${context.method}`);
    context.reject(['publickey']);
  }

  private async authenticateKey(context: PublicKeyAuthContext, state: ConnectionState): Promise<void> {
    const user = await this.options.users.findUser(context.username);
    const refuse = (reason: string): void => {
      this.options.audit({
        time: new Date().toISOString(),
        action: 'auth.publickey',
        outcome: 'refused',
        source: state.source,
        user: context.username,
        detail: reason,
      });
      const delay = this.throttle.recordFailure({ source: state.address });
      setTimeout(() => context.reject(['publickey']), delay);
    };
    if (!user || !isListedKey(user, context.key.algo, context.key.data))
      return refuse('key not listed for user');
    if (user.locked) return refuse('user is locked');
    if (user.totpSecret === null) return refuse('no verification code enrolled (mvctl user otp-enroll)');
    if (this.throttle.isUserLockedOut(user.name)) return refuse('user is locked out after failed codes');
    if (!context.signature || !context.blob) {
      context.accept(); // the client only asked whether this key would do
      return;
    }
    const parsed = utils.parseKey(context.key.data);
    if (parsed instanceof Error || Array.isArray(parsed)) return refuse('unparsable key');
    if (parsed.verify(context.blob, context.signature, context.hashAlgo) !== true)
      return refuse('bad signature');
    state.keyVerifiedUser = user;
    this.report(state, 'auth.publickey', 'accepted', context.key.algo);
    context.reject(['keyboard-interactive'], true);
  }

  private async authenticateCode(context: KeyboardAuthContext, state: ConnectionState): Promise<void> {
    const keyUser = state.keyVerifiedUser;
    if (!keyUser || keyUser.name !== context.username) {
      this.report(state, 'auth.totp', 'refused', 'no verified public key for this user yet');
      context.reject(['publickey']);
      return;
    }
    const answers = await new Promise<string[] | Error>((resolve) =>
      context.prompt([{ prompt: VERIFICATION_PROMPT, echo: false }], 'Multiverse jail', '', (responses) =>
        resolve(responses),
      ),
    );
    if (answers instanceof Error) return;
    const user = await this.options.users.findUser(keyUser.name);
    if (!user || user.locked || this.throttle.isUserLockedOut(user.name)) {
      this.report(state, 'auth.totp', 'refused', 'user is locked');
      context.reject([]);
      return;
    }
    const code = answers[0]?.trim() ?? '';
    const verdict = await this.checkCode(user, code);
    if (verdict === 'accepted') {
      this.throttle.recordSuccess(user.name, state.address);
      state.user = user;
      this.report(state, 'auth.totp', 'accepted');
      context.accept();
      return;
    }
    this.report(state, 'auth.totp', 'refused', verdict);
    const delay = this.throttle.recordFailure({ source: state.address, user: user.name });
    const lockedOut =
      this.throttle.isUserLockedOut(user.name) || this.throttle.isSourceLockedOut(state.address);
    setTimeout(() => context.reject(lockedOut ? [] : ['keyboard-interactive'], !lockedOut), delay);
  }

  private async checkCode(
    user: JailUser,
    code: string,
  ): Promise<'accepted' | 'malformed code' | 'wrong code' | 'code already used'> {
    if (!/^[0-9]{6}$/.test(code)) return 'malformed code';
    if (user.totpSecret === null) return 'wrong code';
    const result = await verifyTotp({
      secret: user.totpSecret,
      token: code,
      epochTolerance: TOTP_PERIOD_SECONDS,
    });
    // The combined verifier's result type also covers HOTP, whose result has no time step.
    if (!result.valid || !('timeStep' in result)) return 'wrong code';
    const fresh = await this.options.users.claimTotpTimeStep(user.name, result.timeStep);
    return fresh ? 'accepted' : 'code already used';
  }

  private handleSession(
    session: Session,
    state: ConnectionState,
    user: JailUser,
    channels: Set<ServerChannel>,
    touch: () => void,
  ): void {
    let terminal: TerminalRequest | undefined;
    let language: string | undefined;
    let running: JailSessionProcess | undefined;
    let started = false;
    const release = (): void => {
      if (!state.releases.delete(release)) return;
      state.openSessions -= 1;
      this.openSessions -= 1;
    };
    state.releases.add(release);
    session.on('close', release);
    session.on('pty', (accept, reject, info) => {
      const size = terminalSize(info.cols, info.rows);
      terminal = {
        term: TERMINAL_NAME_PATTERN.test(info.term) ? info.term : 'xterm',
        columns: size.columns,
        rows: size.rows,
      };
      this.report(state, 'request.pty', 'accepted', `${terminal.term} ${size.columns}x${size.rows}`);
      accept?.();
    });
    session.on('window-change', (accept, _reject, info) => {
      const size = terminalSize(info.cols, info.rows);
      running?.resize(size.columns, size.rows);
      accept?.();
    });
    session.on('env', (accept, reject, info) => {
      if (!ALLOWED_ENVIRONMENT.has(info.key)) {
        this.report(state, 'request.env', 'refused', info.key);
        reject?.();
        return;
      }
      if (info.key === 'LANG' && LANGUAGE_PATTERN.test(info.val)) language = info.val;
      accept?.();
    });
    session.on('x11', (_accept, reject) => {
      this.report(state, 'request.x11', 'refused');
      reject?.();
    });
    session.on('auth-agent', (_accept, reject) => {
      this.report(state, 'request.auth-agent', 'refused');
      reject?.();
    });
    session.on('sftp', (_accept, reject) => {
      this.report(state, 'request.subsystem', 'refused', 'sftp');
      reject?.();
    });
    session.on('subsystem', (_accept, reject, info) => {
      this.report(state, 'request.subsystem', 'refused', info.name);
      reject?.();
    });
    const start = (channel: ServerChannel, kind: 'shell' | 'exec', command?: string): void => {
      started = true;
      channels.add(channel);
      channel.on('close', () => channels.delete(channel));
      const request: JailSessionRequest = {
        user: { name: user.name, role: user.role },
        source: state.source,
        ...(command === undefined ? {} : { command }),
        ...(terminal === undefined ? {} : { terminal }),
        ...(language === undefined ? {} : { language }),
      };
      this.runSessionProcess(channel, request, state, touch, kind, (process) => {
        running = process;
      });
    };
    session.on('shell', (accept, reject) => {
      if (started || terminal === undefined) {
        this.report(
          state,
          'request.shell',
          'refused',
          started ? 'session already running' : 'no pty requested',
        );
        reject?.();
        return;
      }
      this.report(state, 'request.shell', 'accepted');
      start(accept(), 'shell');
    });
    session.on('exec', (accept, reject, info) => {
      if (started) {
        this.report(state, 'request.exec', 'refused', 'session already running');
        reject?.();
        return;
      }
      this.report(state, 'request.exec', 'accepted', info.command);
      start(accept(), 'exec', info.command);
    });
  }

  /**
   * Pipes a channel to its session process: raw bytes both ways (with flow control when the client
   * reads slowly), the exit code back, the process killed when the channel goes.
   */
  private runSessionProcess(
    channel: ServerChannel,
    request: JailSessionRequest,
    state: ConnectionState,
    touch: () => void,
    kind: 'shell' | 'exec',
    onStarted: (process: JailSessionProcess) => void,
  ): void {
    let process: JailSessionProcess | undefined;
    let channelClosed = false;
    const pendingInput: Buffer[] = [];
    let inputEnded = false;
    // A new pty starts in cooked mode with echo: keys typed before the interpreter has switched it to
    // raw mode (and printed its banner) would be echoed by the tty and held for a whole line. So input
    // waits for the process's first output.
    let acceptsInput = request.terminal === undefined;
    const flushInput = (): void => {
      if (!process || !acceptsInput) return;
      for (const data of pendingInput.splice(0)) process.write(data);
      if (inputEnded) process.endInput();
    };
    channel.on('data', (data: Buffer) => {
      touch();
      pendingInput.push(data);
      flushInput();
    });
    channel.on('end', () => {
      inputEnded = true;
      flushInput();
    });
    channel.on('close', () => {
      channelClosed = true;
      process?.kill();
    });
    this.options.sessions.launch(request).then(
      (started) => {
        if (channelClosed) {
          started.kill();
          return;
        }
        process = started;
        state.processes.add(started);
        onStarted(started);
        started.onOutput((data, stream) => {
          if (!acceptsInput) {
            acceptsInput = true;
            flushInput();
          }
          const target = stream === 'stderr' ? channel.stderr : channel;
          if (!target.write(data)) {
            started.pause();
            target.once('drain', () => started.resume());
          }
        });
        started.onExit((exitCode) => {
          state.processes.delete(started);
          const outcome = kind === 'exec' && REFUSED_LINE_EXIT_CODES.has(exitCode) ? 'refused' : 'accepted';
          this.report(state, 'session.exit', outcome, `${kind} exited with code ${exitCode}`);
          if (channelClosed) return;
          channel.exit(exitCode);
          channel.end();
        });
        flushInput();
      },
      (error: unknown) => {
        const message = error instanceof Error ? error.message : String(error);
        this.report(state, 'session.exit', 'refused', `${kind} could not start: ${message}`);
        if (channelClosed) return;
        channel.stderr.write(`jail-shell: your session could not start (${message}); try again later\r\n`);
        channel.exit(1);
        channel.end();
      },
    );
  }
}

function terminalSize(columns: number, rows: number): { columns: number; rows: number } {
  const clamp = (value: number, fallback: number): number =>
    Number.isInteger(value) && value > 0 ? Math.min(value, MAX_TERMINAL_SIZE) : fallback;
  return { columns: clamp(columns, 80), rows: clamp(rows, 24) };
}

function isListedKey(user: JailUser, algo: string, data: Buffer): boolean {
  return user.authorizedKeys.some((line) => {
    const parsed = utils.parseKey(line);
    if (parsed instanceof Error || Array.isArray(parsed)) return false;
    return parsed.type === algo && parsed.getPublicSSH().equals(data);
  });
}

function positiveDuration(name: string, value: number): number {
  return positiveWholeNumber(name, value, 'milliseconds');
}

function positiveWholeNumber(name: string, value: number, unit: string): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new JailShellError(
      'CONFIG_INVALID',
      `${name} must be a positive whole number of ${unit}, got ${value}`,
    );
  }
  return value;
}

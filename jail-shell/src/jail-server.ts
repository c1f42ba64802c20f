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
import { JailCommandRunner, runInteractiveShell } from './limited-shell.js';
import type { ShellCommandHandler, ShellCommandOutput } from './shell-commands.js';
import type { JailUser, JailUserStore } from './user-store.js';

const { Server, utils } = ssh2;

export interface JailServerOptions {
  /** OpenSSH private key text, from `loadOrCreateHostKey`. */
  readonly hostKey: Buffer;
  readonly users: JailUserStore;
  readonly commands: ShellCommandHandler;
  readonly audit: JailAuditSink;
  readonly throttle?: AuthThrottlePolicy;
  /** A session with no input for this long is closed. */
  readonly idleTimeoutMs?: number;
  /** A session is closed this long after login whatever it does. */
  readonly sessionTimeoutMs?: number;
  /** A connection that has not authenticated within this time is closed. */
  readonly loginGraceMs?: number;
}

const VERIFICATION_PROMPT = 'Verification code: ';
const ALLOWED_ENVIRONMENT = new Set(['TERM', 'LANG']);
const MAX_SESSIONS_PER_CONNECTION = 4;
const TOTP_PERIOD_SECONDS = 30;
const EXIT_CODE_TIMED_OUT = 124;
const CHANNEL_CLOSE_GRACE_MS = 1000;

interface ConnectionState {
  readonly address: string;
  readonly source: string;
  keyVerifiedUser?: JailUser;
  user?: JailUser;
  openSessions: number;
}

/**
 * The jail's SSH door. A user gets in with a listed public key *and* a fresh TOTP code, and then
 * only gets session channels running the limited shell: every forwarding, agent, X11 and
 * subsystem request is refused and audited.
 */
export class JailSshServer {
  private readonly server: InstanceType<typeof Server>;
  private readonly throttle: AuthThrottle;
  private readonly connections = new Set<Connection>();
  private readonly idleTimeoutMs: number;
  private readonly sessionTimeoutMs: number;
  private readonly loginGraceMs: number;

  constructor(private readonly options: JailServerOptions) {
    this.throttle = new AuthThrottle(options.throttle ?? DEFAULT_AUTH_THROTTLE_POLICY);
    this.idleTimeoutMs = positiveDuration('idleTimeoutMs', options.idleTimeoutMs ?? 15 * 60_000);
    this.sessionTimeoutMs = positiveDuration('sessionTimeoutMs', options.sessionTimeoutMs ?? 8 * 3600_000);
    this.loginGraceMs = positiveDuration('loginGraceMs', options.loginGraceMs ?? 60_000);
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
    for (const connection of this.connections) connection.end();
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

  private report(
    state: ConnectionState,
    action: JailAuditAction,
    outcome: 'accepted' | 'refused',
    detail?: string,
  ): void {
    const user = state.user?.name ?? state.keyVerifiedUser?.name;
    this.options.audit({
      time: new Date().toISOString(),
      action,
      outcome,
      source: state.source,
      ...(user !== undefined ? { user } : {}),
      ...(detail !== undefined ? { detail } : {}),
    });
  }

  private handleConnection(client: Connection, address: string, source: string): void {
    const state: ConnectionState = { address, source, openSessions: 0 };
    this.connections.add(client);
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
      state.openSessions += 1;
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
    let hasPty = false;
    const runner = new JailCommandRunner(this.options.commands, user, (line, outcome, detail) =>
      this.report(state, 'command', outcome, detail === undefined ? line : `${line} (${detail})`),
    );
    const attach = (channel: ServerChannel): void => {
      channels.add(channel);
      channel.on('data', touch);
      channel.on('close', () => channels.delete(channel));
    };
    session.on('close', () => {
      state.openSessions -= 1;
    });
    session.on('pty', (accept, _reject, info) => {
      hasPty = true;
      this.report(state, 'request.pty', 'accepted', `${info.cols}x${info.rows}`);
      accept?.();
    });
    session.on('window-change', (accept) => accept?.());
    session.on('env', (accept, reject, info) => {
      if (ALLOWED_ENVIRONMENT.has(info.key)) {
        accept?.();
      } else {
        this.report(state, 'request.env', 'refused', info.key);
        reject?.();
      }
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
    session.on('shell', (accept, reject) => {
      if (!hasPty) {
        this.report(state, 'request.shell', 'refused', 'no pty requested');
        reject?.();
        return;
      }
      this.report(state, 'request.shell', 'accepted');
      const channel = accept();
      attach(channel);
      runInteractiveShell(channel, user, runner, (exitCode) => {
        channel.exit(exitCode);
        channel.end();
      });
    });
    session.on('exec', (accept, _reject, info) => {
      this.report(state, 'request.exec', 'accepted', info.command);
      const channel = accept();
      attach(channel);
      const newline = hasPty ? '\r\n' : '\n';
      const output: ShellCommandOutput = {
        writeLine: (line) => channel.write(`${line}${newline}`),
        writeErrorLine: (line) => channel.stderr.write(`jail-shell: ${line}${newline}`),
      };
      void runner
        .runLine(info.command, output)
        .catch((error: unknown) => {
          output.writeErrorLine(`command failed: ${String(error)}`);
          return { exitCode: 1 };
        })
        .then(({ exitCode }) => {
          channel.exit(exitCode);
          channel.end();
        });
    });
  }
}

function isListedKey(user: JailUser, algo: string, data: Buffer): boolean {
  return user.authorizedKeys.some((line) => {
    const parsed = utils.parseKey(line);
    if (parsed instanceof Error || Array.isArray(parsed)) return false;
    return parsed.type === algo && parsed.getPublicSSH().equals(data);
  });
}

function positiveDuration(name: string, value: number): number {
  if (!Number.isInteger(value) || value <= 0) {
    throw new JailShellError(
      'CONFIG_INVALID',
      `${name} must be a positive whole number of milliseconds, got ${value}`,
    );
  }
  return value;
}

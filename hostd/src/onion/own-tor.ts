import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { access, chmod, chown, lstat, mkdir, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { TorControlClient } from '@multiverse/onion';
import type { Logger } from '../log.js';
import { ServiceError } from '../service/service-error.js';
import { buildHostdTorrc, readTorrcExtra } from './hostd-torrc.js';
import type { DeviceListener, OwnTorPaths } from './hostd-torrc.js';
import { readTorFacts } from './host-tor.js';
import type { HostTor, TorState, TorStatusReport } from './host-tor.js';
import { torUnavailableError } from './onion-errors.js';
import type { TorMode } from './tor-mode.js';

export interface OwnTorOptions {
  readonly stateDir: string;
  readonly runDir: string;
  /** MULTIVERSE_TORRC_EXTRA; null: none. Read (and checked) at every start. */
  readonly torrcExtraPath: string | null;
  readonly logger: Logger;
  /** The listeners of the onion devices that are up, asked at every start of tor. */
  readonly deviceListeners: () => Promise<readonly DeviceListener[]>;
  /**
   * The user tor drops to after opening its files. Default: `debian-tor` (made by Debian's tor package) when it
   * exists; null: tor stays root.
   */
  readonly user?: string | null;
  /** Back-off between starts after tor exited: first delay, doubling up to the most. */
  readonly restartDelayMs?: { readonly initial: number; readonly max: number };
  /** How long a starting tor may take to open its control socket. */
  readonly startTimeoutMs?: number;
}

/** A tor that ran this long before exiting starts again after the shortest delay. */
const STABLE_RUN_MS = 60_000;
const LOG_TAIL_LINES = 30;
const STOP_GRACE_MS = 10_000;
const DEFAULT_TOR_USER = 'debian-tor';

export function ownTorPaths(stateDir: string, runDir: string): OwnTorPaths {
  const socketDirectory = join(runDir, 'tor');
  const configDirectory = join(runDir, 'tor-config');
  return {
    dataDirectory: join(stateDir, 'tor'),
    socketDirectory,
    controlSocket: join(socketDirectory, 'control.sock'),
    configDirectory,
    torrc: join(configDirectory, 'torrc'),
    defaultsTorrc: join(configDirectory, 'torrc-defaults'),
    pidFile: join(configDirectory, 'tor.pid'),
  };
}

/**
 * hostd's own tor (MULTIVERSE_TOR=own): started when call-home or an onion device first needs it, started
 * again with back-off whenever it exits while needed, stopped when nothing needs it or hostd stops. Its
 * torrc is written at every start; it drops to an unprivileged user, and exits by itself if hostd dies
 * (`__OwningControllerProcess`).
 */
export class OwnTor implements HostTor {
  readonly mode: TorMode = { kind: 'own' };
  readonly paths: OwnTorPaths;
  private readonly users = new Set<string>();
  private state: TorState = 'idle';
  private child: ChildProcess | undefined;
  private watch: TorControlClient | undefined;
  private loop: Promise<void> | undefined;
  private wakeFromBackOff: (() => void) | undefined;
  private closing = false;
  private restarts = 0;
  private lastExit: string | null = null;
  private lastError: string | null = null;
  /** A start failed on hostd's configuration (MULTIVERSE_TORRC_EXTRA): waiting for tor would not help. */
  private configProblem: ServiceError | undefined;
  private readonly logTail: string[] = [];
  private readonly stateListeners = new Set<() => void>();
  private readonly restartDelayMs: { readonly initial: number; readonly max: number };
  private readonly startTimeoutMs: number;

  constructor(private readonly options: OwnTorOptions) {
    this.paths = ownTorPaths(options.stateDir, options.runDir);
    this.restartDelayMs = options.restartDelayMs ?? { initial: 1_000, max: 30_000 };
    this.startTimeoutMs = options.startTimeoutMs ?? 60_000;
  }

  acquire(user: string): void {
    if (this.closing) throw torUnavailableError('hostd is stopping');
    this.users.add(user);
    this.ensureSupervised();
  }

  async release(user: string): Promise<void> {
    this.users.delete(user);
    if (!this.wanted()) await this.stopTor();
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.stopTor();
    await this.loop;
  }

  async connect(timeoutMs = 30_000): Promise<TorControlClient> {
    if (!this.wanted()) throw torUnavailableError('hostd’s tor is not running: nothing needs it');
    await this.waitForRunning(timeoutMs);
    try {
      return await TorControlClient.open({ path: this.paths.controlSocket });
    } catch (error) {
      throw torUnavailableError(
        `its control socket ${this.paths.controlSocket} did not answer: ${(error as Error).message}`,
        error,
      );
    }
  }

  async status(): Promise<TorStatusReport> {
    const watch = this.state === 'running' ? this.watch : undefined;
    const facts = watch ? await readTorFacts(watch).catch(() => undefined) : undefined;
    return {
      mode: 'own',
      state: this.state,
      pid: this.child?.pid ?? null,
      version: facts?.version ?? null,
      bootstrap: facts?.bootstrap ?? null,
      socksListeners: facts?.socksListeners ?? [],
      restarts: this.restarts,
      lastExit: this.lastExit,
      lastError: this.lastError,
      usedBy: [...this.users].sort(),
    };
  }

  /** The last lines tor printed, for error messages and tests. */
  recentLog(): string {
    return this.logTail.join('\n');
  }

  private wanted(): boolean {
    return this.users.size > 0 && !this.closing;
  }

  private ensureSupervised(): void {
    if (this.loop !== undefined || !this.wanted()) return;
    this.loop = this.superviseWhileNeeded().finally(() => {
      this.loop = undefined;
      // acquire() may have come in while the loop was winding down.
      this.ensureSupervised();
    });
  }

  private async superviseWhileNeeded(): Promise<void> {
    let attempt = 0;
    while (this.wanted()) {
      const startedAt = Date.now();
      try {
        await this.runTorOnce();
      } catch (error) {
        if (!this.wanted()) break;
        if (error instanceof ServiceError) this.configProblem = error;
        this.lastError = error instanceof Error ? error.message : String(error);
        this.options.logger.error('hostd’s tor could not start', { error: this.lastError });
      }
      if (!this.wanted()) break;
      attempt = Date.now() - startedAt >= STABLE_RUN_MS ? 1 : attempt + 1;
      const delay = Math.min(this.restartDelayMs.max, this.restartDelayMs.initial * 2 ** (attempt - 1));
      this.restarts += 1;
      this.setState('restarting');
      this.options.logger.warn('starting tor again', { inMs: delay, restarts: this.restarts });
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delay);
        this.wakeFromBackOff = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeFromBackOff = undefined;
    }
    this.setState('idle');
  }

  /** Starts tor, waits until its control socket answers, and resolves when it exits. */
  private async runTorOnce(): Promise<void> {
    this.configProblem = undefined;
    this.setState('starting');
    await this.prepareFiles();
    if (!this.wanted()) return;
    const child = spawn('tor', ['-f', this.paths.torrc, '--defaults-torrc', this.paths.defaultsTorrc], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    const exited = new Promise<string>((resolve) => {
      child.once('error', (error: NodeJS.ErrnoException) =>
        resolve(error.code === 'ENOENT' ? 'tor is not installed (apt-get install tor)' : error.message),
      );
      child.once('exit', (code, signal) =>
        resolve(signal === null ? `exited with code ${code ?? '?'}` : `was killed by ${signal}`),
      );
    });
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => this.torSaid(line));
    }
    if (child.pid !== undefined) {
      await writeFile(this.paths.pidFile, `${child.pid}\n`, { mode: 0o600 });
      this.options.logger.info('tor started', { pid: child.pid, torrc: this.paths.torrc });
    }
    let exitReason: string | undefined;
    void exited.then((reason) => (exitReason = reason));
    try {
      this.watch = await this.openWhenReady(() => exitReason);
    } catch (error) {
      if (exitReason === undefined) await this.terminate(child);
      throw error;
    }
    this.watch.onClose(() => (this.watch = undefined));
    this.lastError = null;
    this.configProblem = undefined;
    this.setState('running');
    const reason = await exited;
    this.watch?.close();
    this.watch = undefined;
    this.child = undefined;
    await rm(this.paths.pidFile, { force: true });
    this.lastExit = `${reason} at ${new Date().toISOString()}`;
    if (this.wanted()) {
      this.lastError = `tor ${reason}; its last words: ${this.logTail.slice(-3).join(' | ')}`;
      this.options.logger.warn('hostd’s tor exited', { reason, tail: this.logTail.slice(-3).join(' | ') });
    } else {
      this.options.logger.info('tor stopped', { reason });
    }
  }

  /** Directories (tor's user owns the data and socket ones), a fresh torrc, and no tor left from a killed hostd. */
  private async prepareFiles(): Promise<void> {
    const owner = await this.torUser();
    for (const directory of [this.paths.dataDirectory, this.paths.socketDirectory]) {
      await mkdir(directory, { recursive: true, mode: 0o700 });
      await chmod(directory, 0o700);
      // A data directory an earlier root-run tor wrote must be readable by tor's user now.
      if (owner) await chownTree(directory, owner.uid, owner.gid);
    }
    await mkdir(this.paths.configDirectory, { recursive: true, mode: 0o700 });
    await this.stopLeftoverTor();
    await rm(this.paths.controlSocket, { force: true });
    const extraLines =
      this.options.torrcExtraPath === null ? [] : await readTorrcExtra(this.options.torrcExtraPath);
    const torrc = buildHostdTorrc({
      paths: this.paths,
      owningProcessId: process.pid,
      user: owner?.name,
      deviceListeners: await this.options.deviceListeners(),
      extraLines,
      extraSource: this.options.torrcExtraPath,
    });
    await writeFile(this.paths.torrc, torrc, { mode: 0o600 });
    await writeFile(this.paths.defaultsTorrc, '', { mode: 0o600 });
  }

  /** A tor an earlier (killed) hostd started from this torrc still holds the data directory's lock. */
  private async stopLeftoverTor(): Promise<void> {
    const pid = Number((await readFile(this.paths.pidFile, 'utf8').catch(() => '')).trim());
    if (!Number.isInteger(pid) || pid <= 1) return;
    const commandLine = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    if (!commandLine.split('\0').includes(this.paths.torrc)) return;
    this.options.logger.warn('stopping the tor an earlier hostd left running', { pid });
    signalPid(pid, 'SIGTERM');
    const deadline = Date.now() + STOP_GRACE_MS;
    while (await pathExists(`/proc/${pid}`)) {
      if (Date.now() > deadline) signalPid(pid, 'SIGKILL');
      await sleep(100);
    }
  }

  private async openWhenReady(exitReason: () => string | undefined): Promise<TorControlClient> {
    const deadline = Date.now() + this.startTimeoutMs;
    for (;;) {
      const reason = exitReason();
      if (reason !== undefined) {
        throw new Error(
          `tor ${reason} before it opened its control socket: ${this.logTail.slice(-5).join(' | ')}`,
        );
      }
      if (await pathExists(this.paths.controlSocket)) {
        try {
          return await TorControlClient.open({ path: this.paths.controlSocket });
        } catch (error) {
          if (Date.now() > deadline) throw error;
        }
      }
      if (Date.now() > deadline) {
        throw new Error(
          `tor did not open its control socket within ${this.startTimeoutMs} ms: ${this.logTail.slice(-5).join(' | ')}`,
        );
      }
      await sleep(100);
    }
  }

  private async stopTor(): Promise<void> {
    this.wakeFromBackOff?.();
    const child = this.child;
    if (child) await this.terminate(child);
  }

  private async terminate(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    const exited = once(child, 'exit');
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), STOP_GRACE_MS);
    await exited;
    clearTimeout(killer);
  }

  private waitForRunning(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (this.state === 'running' && this.watch) {
          finish();
          resolve();
        } else if (this.configProblem !== undefined) {
          finish();
          reject(this.configProblem);
        } else if (!this.wanted()) {
          finish();
          reject(torUnavailableError('hostd’s tor was stopped'));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          torUnavailableError(
            `hostd’s tor is not up after ${timeoutMs} ms (state ${this.state}` +
              `${this.lastError === null ? '' : `; last error: ${this.lastError}`})`,
          ),
        );
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.stateListeners.delete(check);
      };
      this.stateListeners.add(check);
      check();
    });
  }

  private setState(state: TorState): void {
    this.state = state;
    for (const listener of [...this.stateListeners]) listener();
  }

  private torSaid(line: string): void {
    // "Nov 23 13:16:47.671 [notice] Opening Socks listener on 127.0.0.1:0"
    const match = /^\w{3} \d{1,2} [\d:.]+ \[(\w+)\] (.*)$/.exec(line);
    const level = match?.[1] ?? 'notice';
    const message = match?.[2] ?? line;
    this.logTail.push(message);
    if (this.logTail.length > LOG_TAIL_LINES) this.logTail.shift();
    if (level === 'err') this.options.logger.error(`tor: ${message}`);
    else if (level === 'warn') this.options.logger.warn(`tor: ${message}`);
    else this.options.logger.info(`tor: ${message}`);
  }

  private async torUser(): Promise<{ name: string; uid: number; gid: number } | undefined> {
    const name = this.options.user === undefined ? DEFAULT_TOR_USER : this.options.user;
    if (name === null) return undefined;
    const entry = await lookUpUser(name);
    if (entry === undefined && this.options.user !== undefined) {
      throw new Error(`the user ${name} that tor is to run as does not exist`);
    }
    return entry;
  }
}

/** The passwd entry of `name` (Node has no getpwnam). */
async function lookUpUser(name: string): Promise<{ name: string; uid: number; gid: number } | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8').catch(() => '');
  for (const line of passwd.split('\n')) {
    const [user, , uid, gid] = line.split(':');
    if (user === name && uid !== undefined && gid !== undefined) {
      return { name, uid: Number(uid), gid: Number(gid) };
    }
  }
  return undefined;
}

async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  const stats = await lstat(path);
  if (stats.isSymbolicLink()) return;
  if (stats.uid !== uid || stats.gid !== gid) await chown(path, uid, gid);
  if (!stats.isDirectory()) return;
  for (const entry of await readdir(path)) await chownTree(join(path, entry), uid, gid);
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Gone already.
  }
}

async function pathExists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

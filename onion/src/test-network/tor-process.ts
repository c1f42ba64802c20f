import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestTorNetworkError } from './errors.js';
import { NODE_FILES } from './torrc.js';

/**
 * Every tor this process started and has not yet seen exit. The exit and signal hooks below kill them
 * synchronously, so a test that fails, throws or is interrupted leaves no tor running; a test run that is
 * SIGKILLed is covered by `__OwningControllerProcess` in each torrc instead.
 */
const liveProcesses = new Set<ChildProcess>();
let hooksInstalled = false;

function installExitHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on('exit', killAllNow);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      killAllNow();
      // Keep the signal's default meaning (terminate) unless someone else decided to handle it.
      if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
    });
  }
}

function killAllNow(): void {
  for (const child of liveProcesses) {
    if (child.pid !== undefined) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  liveProcesses.clear();
}

export interface TorNodeProcess {
  readonly nickname: string;
  readonly dataDirectory: string;
  readonly pid: number;
  /** Settles when tor exits, with its exit code (null when killed by a signal). */
  readonly exited: Promise<number | null>;
  readonly hasExited: () => boolean;
  /** SIGTERM (tor exits at once), then SIGKILL after `graceMs`; resolves when the process is gone. */
  readonly stop: (graceMs?: number) => Promise<void>;
  /** The last lines of tor's log and stdout, for error messages. */
  readonly logTail: (lines?: number) => Promise<string>;
}

/**
 * Starts `tor -f torrc` for one node. `commandPrefix` runs it through another program first, e.g.
 * `['ip', 'netns', 'exec', 'ns1']` to put the node in a network namespace (it execs tor, so the PID
 * stays tor's).
 */
export function spawnTorNode(options: {
  readonly nickname: string;
  readonly dataDirectory: string;
  readonly torrcPath: string;
  readonly emptyTorrc: string;
  readonly commandPrefix?: readonly string[];
}): TorNodeProcess {
  installExitHooks();
  const stdoutPath = join(options.dataDirectory, 'stdout.log');
  const output = openSync(stdoutPath, 'a', 0o600);
  const torArgs = ['-f', options.torrcPath, '--defaults-torrc', options.emptyTorrc];
  const [command, ...args] = [...(options.commandPrefix ?? []), 'tor', ...torArgs] as [string, ...string[]];
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ['ignore', output, output] });
  } finally {
    closeSync(output);
  }
  liveProcesses.add(child);
  // A forgotten stop() must not keep the test process alive: the exit hook kills what is left.
  child.unref();

  let exitedFlag = false;
  const exited = new Promise<number | null>((resolve, reject) => {
    child.once('error', (error) => {
      exitedFlag = true;
      liveProcesses.delete(child);
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new TestTorNetworkError(
          missing ? 'TOR_NETWORK_TOR_MISSING' : 'TOR_NETWORK_NODE_EXITED',
          missing
            ? `${command} is not installed: apt-get install tor`
            : `could not start tor: ${error.message}`,
          { cause: error },
        ),
      );
    });
    child.once('exit', (code) => {
      exitedFlag = true;
      liveProcesses.delete(child);
      resolve(code);
    });
  });
  // The rejection is also observed by whoever awaits `exited`; this keeps an unawaited one from crashing.
  exited.catch(() => undefined);
  if (child.pid === undefined) {
    throw new TestTorNetworkError('TOR_NETWORK_NODE_EXITED', `tor for ${options.nickname} did not start`);
  }
  writeFileSync(join(options.dataDirectory, 'launcher.pid'), `${child.pid}\n`);

  const logTail = async (lines = 20): Promise<string> => {
    const read = (path: string): Promise<string> => readFile(path, 'utf8').catch(() => '');
    const text = `${await read(stdoutPath)}${await read(join(options.dataDirectory, NODE_FILES.noticeLog))}`;
    return text.trimEnd().split('\n').slice(-lines).join('\n');
  };

  const stop = async (graceMs = 5_000): Promise<void> => {
    if (exitedFlag) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
    await exited.catch(() => null);
    clearTimeout(timer);
  };

  return {
    nickname: options.nickname,
    dataDirectory: options.dataDirectory,
    pid: child.pid,
    exited,
    hasExited: () => exitedFlag,
    stop,
    logTail,
  };
}

/** Marker file naming the process that owns a network directory. */
export const OWNER_FILE = 'owner.pid';

/**
 * Removes what a test process that died without cleaning up left behind: for each network directory whose
 * owner is gone, SIGKILLs any tor still running from it (checked by its command line, so a reused PID is
 * never hit) and deletes the directory.
 */
export function sweepAbandonedNetworks(parentDirectory: string, prefix: string): void {
  let entries: string[];
  try {
    entries = readdirSync(parentDirectory).filter((name) => name.startsWith(prefix));
  } catch {
    return;
  }
  for (const entry of entries) {
    const directory = join(parentDirectory, entry);
    const owner = readPid(join(directory, OWNER_FILE));
    if (owner === null || isAlive(owner)) continue;
    let nodes: string[];
    try {
      nodes = readdirSync(directory);
    } catch {
      continue;
    }
    for (const node of nodes) {
      const pid = readPid(join(directory, node, 'launcher.pid'));
      if (pid !== null && commandLineOf(pid).includes(join(directory, node))) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Exited meanwhile.
        }
      }
    }
    rmSync(directory, { recursive: true, force: true });
  }
}

function readPid(path: string): number | null {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  } catch {
    return null;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function commandLineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}

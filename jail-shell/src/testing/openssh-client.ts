import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn as spawnPty, type IPty } from 'node-pty';
import { TerminalScreen } from './terminal-screen.js';

// Drives OpenSSH's own client (`ssh` from Debian's openssh-client) against a jail, for tests and the
// benchmark. The verification code reaches `ssh` through an SSH_ASKPASS script (SSH_ASKPASS_REQUIRE=
// force), so no terminal prompt is involved.

export interface OpenSshLogin {
  readonly port: number;
  readonly user: string;
  /** The private key file (`-i`). */
  readonly keyPath: string;
  /** Answer to every keyboard-interactive prompt; omit for a server that asks none (sshd). */
  readonly code?: string;
  /** A private directory for the askpass script; also the client's HOME. */
  readonly workDir: string;
  /** Client options, placed before the destination and before the defaults, which they override (ssh keeps the first value of each `-o`). */
  readonly options?: readonly string[];
  /** The remote command, placed after the destination. */
  readonly command?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
}

export interface OpenSshResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let askpassCount = 0;

async function askpassScript(workDir: string, code: string): Promise<string> {
  if (!/^[0-9]*$/.test(code)) throw new Error(`a verification code is digits, not ${code}`);
  askpassCount += 1;
  const path = join(workDir, `askpass-${process.pid}-${askpassCount}.sh`);
  await writeFile(path, `#!/bin/sh\nprintf '%s\\n' '${code}'\n`, { mode: 0o700 });
  return path;
}

export function openSshArguments(login: OpenSshLogin): string[] {
  return [
    '-F',
    '/dev/null',
    '-p',
    String(login.port),
    '-i',
    login.keyPath,
    ...(login.options ?? []),
    '-o',
    'IdentitiesOnly=yes',
    '-o',
    'PreferredAuthentications=publickey,keyboard-interactive',
    '-o',
    'StrictHostKeyChecking=no',
    '-o',
    'UserKnownHostsFile=/dev/null',
    '-o',
    'BatchMode=no',
    '-o',
    'NumberOfPasswordPrompts=1',
    '-o',
    'LogLevel=ERROR',
    '-o',
    'ConnectTimeout=20',
    `${login.user}@127.0.0.1`,
    ...(login.command ?? []),
  ];
}

async function openSshEnvironment(login: OpenSshLogin): Promise<Record<string, string>> {
  // No SSH_AUTH_SOCK unless asked, so the client offers only the key given with -i.
  return {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: login.workDir,
    ...(login.code === undefined
      ? {}
      : { SSH_ASKPASS: await askpassScript(login.workDir, login.code), SSH_ASKPASS_REQUIRE: 'force' }),
    ...login.env,
  };
}

/** Runs `ssh` with pipes (no local terminal), writes `input` if given, and collects its output. */
export async function runOpenSsh(
  login: OpenSshLogin,
  input?: string,
  timeoutMs = 30_000,
): Promise<OpenSshResult> {
  return collectOpenSsh(await startOpenSsh(login), input, timeoutMs);
}

export async function startOpenSsh(login: OpenSshLogin): Promise<ChildProcess> {
  return spawn('ssh', openSshArguments(login), {
    env: await openSshEnvironment(login),
    stdio: ['pipe', 'pipe', 'pipe'],
  });
}

export function collectOpenSsh(
  child: ChildProcess,
  input?: string,
  timeoutMs = 30_000,
): Promise<OpenSshResult> {
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`ssh did not finish within ${timeoutMs} ms; stdout=${stdout} stderr=${stderr}`));
    }, timeoutMs);
    child.on('close', (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
    if (input === undefined) child.stdin?.end();
    else child.stdin?.write(input);
  });
}

/** `ssh -tt` on a local pty, as a user at a terminal runs it; the screen shows what they would see. */
export class OpenSshTerminal {
  readonly screen: TerminalScreen;
  private output = '';
  private readonly exitCode: Promise<number>;
  private readonly watchers = new Set<() => void>();

  private constructor(
    private readonly pty: IPty,
    columns: number,
  ) {
    this.screen = new TerminalScreen(columns);
    pty.onData((data) => {
      this.output += data;
      this.screen.write(data);
      for (const watcher of this.watchers) watcher();
    });
    this.exitCode = new Promise((resolve) => pty.onExit(({ exitCode }) => resolve(exitCode)));
  }

  static async start(
    login: OpenSshLogin,
    size: { columns: number; rows: number } = { columns: 100, rows: 30 },
  ): Promise<OpenSshTerminal> {
    const env = await openSshEnvironment(login);
    const pty = spawnPty('ssh', ['-tt', ...openSshArguments(login)], {
      name: 'xterm-256color',
      cols: size.columns,
      rows: size.rows,
      cwd: login.workDir,
      env: { ...env, TERM: 'xterm-256color' },
    });
    return new OpenSshTerminal(pty, size.columns);
  }

  /** Everything received so far. */
  get received(): string {
    return this.output;
  }

  type(keys: string): void {
    this.pty.write(keys);
  }

  resize(columns: number, rows: number): void {
    this.pty.resize(columns, rows);
  }

  /** Waits until the received text (from `since`, an offset into it) matches. */
  waitFor(pattern: RegExp, timeoutMs = 20_000, since = 0): Promise<RegExpMatchArray> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const match = this.output.slice(since).match(pattern);
        if (match === null) return false;
        this.watchers.delete(watcher);
        clearTimeout(timer);
        resolve(match);
        return true;
      };
      const watcher = (): void => void check();
      const timer = setTimeout(() => {
        this.watchers.delete(watcher);
        reject(
          new Error(`timed out waiting for ${pattern}; received ${JSON.stringify(this.output.slice(-2000))}`),
        );
      }, timeoutMs);
      this.watchers.add(watcher);
      check();
    });
  }

  /** Waits until the row with the cursor reads `text` (trailing blanks ignored). */
  async waitForCurrentLine(text: string, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.screen.currentLine() !== text.trimEnd()) {
      if (Date.now() > deadline) {
        throw new Error(
          `timed out waiting for the line ${JSON.stringify(text)}; it reads ${JSON.stringify(this.screen.currentLine())}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
  }

  exited(timeoutMs = 20_000): Promise<number> {
    return Promise.race([
      this.exitCode,
      new Promise<number>((_resolve, reject) =>
        setTimeout(() => reject(new Error(`ssh did not exit within ${timeoutMs} ms`)), timeoutMs).unref(),
      ),
    ]);
  }

  kill(): void {
    try {
      this.pty.kill('SIGKILL');
    } catch {
      // already gone
    }
  }
}

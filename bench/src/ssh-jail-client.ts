import { spawn, type ChildProcess } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/** One login with OpenSSH's `ssh -tt`, the same client and options for the jail and for sshd. */
export interface SshLogin {
  readonly port: number;
  readonly user: string;
  readonly keyPath: string;
  /** The verification code, answered through SSH_ASKPASS; absent for sshd (public key only). */
  readonly code?: string;
  readonly workDir: string;
  /** More client options (`-o KexAlgorithms=…`), placed before the destination. */
  readonly options?: readonly string[];
}

/** What the user sees when the shell is ready: the jail's `NAME@jail> `, or bash's `…# `. */
export type PromptPattern = RegExp;

let askpassCount = 0;

/**
 * An interactive `ssh -tt` session: the remote side gets a pty, the local side pipes, so the bench sees
 * exactly the bytes a terminal would.
 */
export class SshSession {
  private output = '';
  private readonly waiters = new Set<() => void>();
  readonly exited: Promise<number | null>;

  private constructor(private readonly child: ChildProcess) {
    child.stdout?.on('data', (chunk: Buffer) => this.receive(chunk));
    child.stderr?.on('data', (chunk: Buffer) => this.receive(chunk));
    this.exited = new Promise((resolve) => child.on('close', (code) => resolve(code)));
    void this.exited.then(() => {
      for (const waiter of this.waiters) waiter();
    });
  }

  static async open(login: SshLogin): Promise<SshSession> {
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: login.workDir };
    if (login.code !== undefined) {
      askpassCount += 1;
      const askpass = join(login.workDir, `askpass-${askpassCount}.sh`);
      await writeFile(askpass, `#!/bin/sh\nprintf '%s\\n' '${login.code}'\n`, { mode: 0o700 });
      Object.assign(env, { SSH_ASKPASS: askpass, SSH_ASKPASS_REQUIRE: 'force' });
    }
    const child = spawn(
      'ssh',
      [
        '-tt',
        '-F',
        '/dev/null',
        '-p',
        String(login.port),
        '-i',
        login.keyPath,
        '-o',
        'IdentitiesOnly=yes',
        '-o',
        'StrictHostKeyChecking=no',
        '-o',
        'UserKnownHostsFile=/dev/null',
        '-o',
        'LogLevel=ERROR',
        '-o',
        'ConnectTimeout=60',
        '-o',
        'NumberOfPasswordPrompts=1',
        ...(login.options ?? []),
        `${login.user}@127.0.0.1`,
      ],
      { env, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    return new SshSession(child);
  }

  get received(): string {
    return this.output;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  type(text: string): void {
    this.child.stdin?.write(text);
  }

  /** Resolves when the output from `since` matches; rejects on exit or after the timeout. */
  waitFor(pattern: RegExp, timeoutMs: number, since = 0): Promise<void> {
    return new Promise((resolve, reject) => {
      const check = (): void => {
        // Bash switches bracketed paste on after its prompt; the escape is not part of what the user reads.
        // eslint-disable-next-line no-control-regex
        if (pattern.test(this.output.slice(since).replace(/\x1b\[\?2004[hl]/g, ''))) done(undefined);
        else if (!this.running)
          done(new Error(`ssh exited before ${pattern}: ${JSON.stringify(this.output.slice(-300))}`));
      };
      const done = (error: Error | undefined): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(
        () =>
          done(new Error(`no ${pattern} within ${timeoutMs} ms: ${JSON.stringify(this.output.slice(-300))}`)),
        timeoutMs,
      );
      this.waiters.add(check);
      check();
    });
  }

  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }

  private receive(chunk: Buffer): void {
    this.output += chunk.toString('utf8');
    for (const waiter of this.waiters) waiter();
  }
}

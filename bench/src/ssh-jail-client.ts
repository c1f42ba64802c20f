import type { ChildProcess } from 'node:child_process';
import { startOpenSsh, type OpenSshLogin } from '@multiverse/jail-shell';

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

  /** `ssh -tt` with the jail tests' client and defaults; the bench allows a slow connect on a loaded machine. */
  static async open(login: OpenSshLogin): Promise<SshSession> {
    const options = ['-tt', '-o', 'ConnectTimeout=60', ...(login.options ?? [])];
    return new SshSession(await startOpenSsh({ ...login, options }));
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

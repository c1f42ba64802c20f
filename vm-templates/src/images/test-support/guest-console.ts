import type { Duplex } from 'node:stream';
import { ConsoleLineSplitter } from '../serial-protocol.js';

/** A console wait found nothing within its bound, or the stream ended first; the message quotes the output. */
export class ConsoleTimeoutError extends Error {
  override readonly name = 'ConsoleTimeoutError';
}

/**
 * Line-oriented waits over a guest's serial console. Each wait looks only at output after what the
 * previous wait matched, and fails after a bound with the console's recent output in the message,
 * so a hung boot explains itself.
 */
export class GuestConsole {
  private readonly splitter = new ConsoleLineSplitter();
  private readonly lines: string[] = [];
  private cursor = 0;
  private readonly listeners = new Set<() => void>();
  private closedReason: string | undefined;

  constructor(private readonly stream: Duplex) {
    stream.on('data', (chunk: Buffer) => {
      this.lines.push(...this.splitter.push(chunk));
      this.wake();
    });
    const close = (reason: string): void => {
      this.closedReason ??= reason;
      this.wake();
    };
    stream.once('end', () => close('the console stream ended'));
    stream.once('close', () => close('the console stream closed'));
    stream.once('error', (error: Error) => close(`the console stream failed: ${error.message}`));
  }

  /** The last lines received, for diagnostics. */
  tail(count = 30): string {
    return [...this.lines.slice(-count), this.splitter.partialLine].join('\n');
  }

  /** Everything received so far, for diagnostics. */
  get transcript(): string {
    return [...this.lines, this.splitter.partialLine].join('\n');
  }

  /** Waits for a complete line for which `match` returns a value, and returns that value. */
  waitForLine<T>(description: string, timeoutMs: number, match: (line: string) => T | undefined): Promise<T> {
    return this.waitFor(description, timeoutMs, () => {
      for (let index = this.cursor; index < this.lines.length; index += 1) {
        const found = match(this.lines[index] as string);
        if (found !== undefined) {
          this.cursor = index + 1;
          return { found };
        }
      }
      return undefined;
    });
  }

  /** Waits for output without a line end yet (a shell prompt) that contains or matches `prompt`. */
  waitForPrompt(description: string, timeoutMs: number, prompt: string | RegExp): Promise<void> {
    const seen = (partial: string): boolean =>
      typeof prompt === 'string' ? partial.includes(prompt) : prompt.test(partial);
    return this.waitFor(description, timeoutMs, () => {
      if (!seen(this.splitter.partialLine)) return undefined;
      this.cursor = this.lines.length;
      return { found: undefined };
    });
  }

  /**
   * Types a shell command and returns the line it prints between two markers, so the echo of the
   * command itself (the tty echoes what is typed) is never mistaken for its output.
   */
  async run(command: string, timeoutMs: number): Promise<string> {
    const marker = `mv${Math.random().toString(36).slice(2, 10)}`;
    await this.send(`echo ${marker}-begin; ${command}; echo ${marker}-end $?\n`);
    await this.waitForLine(`start of output of ${JSON.stringify(command)}`, timeoutMs, (line) =>
      line === `${marker}-begin` ? true : undefined,
    );
    const firstOutputLine = this.cursor;
    const status = await this.waitForLine(
      `end of output of ${JSON.stringify(command)}`,
      timeoutMs,
      (line) => {
        const end = new RegExp(`^${marker}-end ([0-9]+)$`).exec(line);
        return end === null ? undefined : Number(end[1]);
      },
    );
    const output = this.lines.slice(firstOutputLine, this.cursor - 1);
    if (status !== 0) {
      throw new Error(`${JSON.stringify(command)} exited with ${status}; output:\n${output.join('\n')}`);
    }
    return output.join('\n');
  }

  async send(text: string): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.stream.write(text, (error) => (error ? reject(error) : resolve())),
    );
  }

  private waitFor<T>(
    description: string,
    timeoutMs: number,
    attempt: () => { found: T } | undefined,
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const started = Date.now();
      const settle = (): void => {
        clearTimeout(timer);
        this.listeners.delete(check);
      };
      const fail = (why: string): void => {
        settle();
        reject(new ConsoleTimeoutError(`no ${description} ${why}; last console output:\n${this.tail()}`));
      };
      const check = (): void => {
        const result = attempt();
        if (result !== undefined) {
          settle();
          resolve(result.found);
        } else if (this.closedReason !== undefined) {
          fail(`(${this.closedReason})`);
        }
      };
      const timer = setTimeout(() => fail(`within ${Date.now() - started} ms`), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  private wake(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

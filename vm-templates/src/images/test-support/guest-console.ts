import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { ConsoleLineSplitter } from '../serial-protocol.js';

/** A console wait found nothing within its bound, or the stream ended first; the message quotes the output. */
export class ConsoleTimeoutError extends Error {
  override readonly name = 'ConsoleTimeoutError';

  constructor(
    /** `timeout`: the bound passed; `closed`: the stream can bring no more output (or the reader was detached). */
    readonly reason: 'timeout' | 'closed',
    message: string,
  ) {
    super(message);
  }
}

/** What a shell command typed on the console printed (stdout and stderr: one terminal), and its exit status. */
export interface ConsoleCommandResult {
  readonly lines: readonly string[];
  readonly exitCode: number;
}

// eslint-disable-next-line no-control-regex -- terminal control sequences are what is removed
const TERMINAL_ESCAPES = /\u001b\[[0-?]*[ -/]*[@-~]|\u001b[@-_]/g;

function withoutTerminalEscapes(line: string): string {
  return line.replace(TERMINAL_ESCAPES, '');
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
  private readonly onData = (chunk: Buffer): void => {
    this.lines.push(...this.splitter.push(chunk));
    this.wake();
  };
  private readonly onEnd = (): void => this.close('the console stream ended');
  private readonly onClose = (): void => this.close('the console stream closed');
  private readonly onError = (error: Error): void =>
    this.close(`the console stream failed: ${error.message}`);

  constructor(private readonly stream: Duplex) {
    stream.on('data', this.onData);
    stream.once('end', this.onEnd);
    stream.once('close', this.onClose);
    stream.once('error', this.onError);
  }

  /** Stops reading the stream, which stays open for another reader; waits still pending fail. */
  detach(): void {
    this.stream.off('data', this.onData);
    this.stream.off('end', this.onEnd);
    this.stream.off('close', this.onClose);
    this.stream.off('error', this.onError);
    this.close('the console reader was detached');
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
   * Types a one-line shell command framed by two marker lines the guest's shell prints, so the terminal's echo
   * of what is typed is never taken for output. Returns the lines between the markers (terminal escapes
   * removed) and the command's exit status; each of the two waits (start, end) has `timeoutMs`.
   */
  async runCommand(command: string, timeoutMs: number): Promise<ConsoleCommandResult> {
    if (/[\r\n]/.test(command)) throw new RangeError('a console shell command must be one line');
    const marker = `mv${randomBytes(6).toString('hex')}`;
    const end = new RegExp(`^${marker}-end ([0-9]{1,3})$`);
    await this.send(`echo ${marker}-begin; ${command}; echo ${marker}-end $?\n`);
    await this.waitForLine(`start of output of ${JSON.stringify(command)}`, timeoutMs, (line) =>
      withoutTerminalEscapes(line) === `${marker}-begin` ? true : undefined,
    );
    const firstOutputLine = this.cursor;
    const exitCode = await this.waitForLine(
      `end of output of ${JSON.stringify(command)}`,
      timeoutMs,
      (line) => {
        const ended = end.exec(withoutTerminalEscapes(line));
        return ended === null ? undefined : Number(ended[1]);
      },
    );
    const lines = this.lines.slice(firstOutputLine, this.cursor - 1).map(withoutTerminalEscapes);
    return { lines, exitCode };
  }

  /** As `runCommand`, and the command must exit 0; returns its output. */
  async run(command: string, timeoutMs: number): Promise<string> {
    const { lines, exitCode } = await this.runCommand(command, timeoutMs);
    if (exitCode !== 0) {
      throw new Error(`${JSON.stringify(command)} exited with ${exitCode}; output:\n${lines.join('\n')}`);
    }
    return lines.join('\n');
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
      const fail = (reason: ConsoleTimeoutError['reason'], why: string): void => {
        settle();
        reject(
          new ConsoleTimeoutError(reason, `no ${description} ${why}; last console output:\n${this.tail()}`),
        );
      };
      const check = (): void => {
        const result = attempt();
        if (result !== undefined) {
          settle();
          resolve(result.found);
        } else if (this.closedReason !== undefined) {
          fail('closed', `(${this.closedReason})`);
        }
      };
      const timer = setTimeout(() => fail('timeout', `within ${Date.now() - started} ms`), timeoutMs);
      this.listeners.add(check);
      check();
    });
  }

  private wake(): void {
    for (const listener of [...this.listeners]) listener();
  }

  private close(reason: string): void {
    this.closedReason ??= reason;
    this.wake();
  }
}

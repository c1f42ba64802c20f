import { spawn as spawnChild } from 'node:child_process';
import { spawn as spawnPty } from 'node-pty';

/** What the client asked for with `pty-req`. */
export interface TerminalRequest {
  readonly term: string;
  readonly columns: number;
  readonly rows: number;
}

export interface ProcessCommand {
  readonly file: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/**
 * One running session interpreter as the SSH server drives it: raw bytes both ways, window changes,
 * flow control. With a pty the output is one stream (`stdout`); without, stdout and stderr stay apart
 * so `ssh host 'vm list' 2>/dev/null` works as with any command.
 */
export interface JailSessionProcess {
  write(data: Buffer): void;
  /** The client sent EOF: close the process's input (a pty has no EOF of its own; it ignores this). */
  endInput(): void;
  resize(columns: number, rows: number): void;
  onOutput(listener: (data: Buffer, stream: 'stdout' | 'stderr') => void): void;
  /** Called once, after the last output, with the exit code (128 + signal when killed). */
  onExit(listener: (exitCode: number) => void): void;
  /** Stop reading output until `resume` (the SSH window is full). */
  pause(): void;
  resume(): void;
  kill(): void;
}

const SIGNAL_NUMBERS: Readonly<Record<string, number>> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

/** Starts `command` in a new pty (when the client asked for one) or with pipes. */
export function spawnSessionProcess(command: ProcessCommand, terminal?: TerminalRequest): JailSessionProcess {
  return terminal === undefined ? spawnWithPipes(command) : spawnInPty(command, terminal);
}

function spawnInPty(command: ProcessCommand, terminal: TerminalRequest): JailSessionProcess {
  // encoding null: output arrives as the bytes the program wrote, so a console can pass anything.
  const pty = spawnPty(command.file, [...command.args], {
    name: terminal.term,
    cols: terminal.columns,
    rows: terminal.rows,
    cwd: '/',
    env: { ...command.env },
    encoding: null,
  });
  const exit = new ExitLatch();
  pty.onExit(({ exitCode, signal }) => exit.settle(signal ? 128 + signal : exitCode));
  return {
    write: (data) => pty.write(data),
    endInput: () => undefined,
    resize: (columns, rows) => {
      if (!exit.settled) pty.resize(columns, rows);
    },
    onOutput: (listener) => {
      // With `encoding: null` node-pty hands out Buffers although its typings say string.
      pty.onData((data: string | Buffer) =>
        listener(typeof data === 'string' ? Buffer.from(data) : data, 'stdout'),
      );
    },
    onExit: (listener) => exit.listen(listener),
    pause: () => pty.pause(),
    resume: () => pty.resume(),
    kill: () => {
      if (!exit.settled) pty.kill('SIGKILL');
    },
  };
}

function spawnWithPipes(command: ProcessCommand): JailSessionProcess {
  const child = spawnChild(command.file, [...command.args], {
    cwd: '/',
    env: { ...command.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const exit = new ExitLatch();
  child.on('close', (code, signal) =>
    exit.settle(code ?? 128 + (signal === null ? 0 : (SIGNAL_NUMBERS[signal] ?? 0))),
  );
  child.on('error', () => exit.settle(127));
  child.stdin.on('error', () => undefined); // the process may exit before reading all input
  return {
    write: (data) => {
      if (child.stdin.writable) child.stdin.write(data);
    },
    endInput: () => child.stdin.end(),
    resize: () => undefined,
    onOutput: (listener) => {
      child.stdout.on('data', (data: Buffer) => listener(data, 'stdout'));
      child.stderr.on('data', (data: Buffer) => listener(data, 'stderr'));
    },
    onExit: (listener) => exit.listen(listener),
    pause: () => {
      child.stdout.pause();
      child.stderr.pause();
    },
    resume: () => {
      child.stdout.resume();
      child.stderr.resume();
    },
    kill: () => {
      if (!exit.settled) child.kill('SIGKILL');
    },
  };
}

/** The exit code, remembered so a listener added late still hears it, and delivered once. */
class ExitLatch {
  private code: number | undefined;
  private readonly listeners: ((code: number) => void)[] = [];

  get settled(): boolean {
    return this.code !== undefined;
  }

  settle(code: number): void {
    if (this.code !== undefined) return;
    this.code = code;
    for (const listener of this.listeners.splice(0)) listener(code);
  }

  listen(listener: (code: number) => void): void {
    if (this.code === undefined) this.listeners.push(listener);
    else listener(this.code);
  }
}

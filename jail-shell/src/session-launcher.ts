import { interpreterArguments } from './interpreter-arguments.js';
import { sandboxedCommand, type SandboxOptions } from './sandbox.js';
import { spawnSessionProcess, type JailSessionProcess, type TerminalRequest } from './session-process.js';
import type { ShellSessionUser } from './shell-commands.js';

/** One session channel's wish, once its user has logged in. */
export interface JailSessionRequest {
  readonly user: ShellSessionUser;
  /** Address and port of the client, for logs. */
  readonly source: string;
  /** The command line of an `exec` request; absent for a shell. */
  readonly command?: string;
  /** Present when the client asked for a pty. */
  readonly terminal?: TerminalRequest;
  /** The client's LANG, when it sent a well-formed one. */
  readonly language?: string;
}

/**
 * Starts the process that serves one session. The SSH server only pipes bytes to it; what the user
 * may do is decided inside (the interpreter) and behind it (hostd's policy), never in the server.
 */
export interface JailSessionLauncher {
  launch(request: JailSessionRequest): Promise<JailSessionProcess>;
}

export interface InterpreterLauncherOptions {
  /** The program, e.g. `process.execPath`. */
  readonly program: string;
  /** Its first arguments, e.g. the interpreter's entry file; the session's arguments follow. */
  readonly programArguments: readonly string[];
  /** Run it in a bubblewrap sandbox (production); without, it runs as the server's user (tests). */
  readonly sandbox?: Omit<SandboxOptions, 'environment'>;
}

/** Starts an interpreter program per session, in a pty when the client has one, sandboxed when told. */
export class InterpreterLauncher implements JailSessionLauncher {
  constructor(private readonly options: InterpreterLauncherOptions) {}

  launch(request: JailSessionRequest): Promise<JailSessionProcess> {
    const program = {
      file: this.options.program,
      args: [...this.options.programArguments, ...interpreterArguments(request)],
    };
    const environment = {
      PATH: '/usr/bin:/bin',
      HOME: '/',
      TERM: request.terminal?.term ?? 'dumb',
      LANG: request.language ?? 'C.UTF-8',
    };
    const command =
      this.options.sandbox === undefined
        ? { ...program, env: environment }
        : sandboxedCommand(program, { ...this.options.sandbox, environment });
    return Promise.resolve(spawnSessionProcess(command, request.terminal));
  }
}

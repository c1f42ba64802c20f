// The package's second entry, `@multiverse/jail-shell/interpreter`: what a session's interpreter process
// needs, and nothing else. It runs once per SSH session inside the sandbox, so it must not load the
// server's modules (ssh2, SQLite, node-pty — native code the sandbox has no use for) that the main
// entry brings.
export { runInterpreterProcess } from './interpreter-process.js';
export type { InterpreterArguments } from './interpreter-arguments.js';
export type {
  ShellCommandDescription,
  ShellCommandHandler,
  ShellCommandOutput,
  ShellCommandResult,
  ShellQuestion,
  ShellSessionUser,
  TerminalLease,
} from './shell-commands.js';
export type { CompletableOption } from './line-editing/command-completion.js';

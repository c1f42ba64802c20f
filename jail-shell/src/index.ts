export { JailSshServer, type JailServerOptions } from './jail-server.js';
export { loadOrCreateHostKey } from './host-key.js';
export {
  validateJailUser,
  validateUserName,
  validateRole,
  parseAuthorizedKey,
  JAIL_ROLES,
  JAIL_USER_NAME_PATTERN,
  type JailRole,
  type JailUser,
  type JailUserStore,
  type PublicKeySummary,
} from './user-store.js';
export { SqliteJailUserStore, type JailUserSummary, type NewJailUser } from './sqlite-user-store.js';
export { describeTotpEnrollment, type TotpEnrollment } from './totp-enrollment.js';
export { AuthThrottle, DEFAULT_AUTH_THROTTLE_POLICY, type AuthThrottlePolicy } from './auth-throttle.js';
export type { JailAuditAction, JailAuditEvent, JailAuditSink } from './audit.js';
export type {
  ShellCommandDescription,
  ShellCommandHandler,
  ShellCommandOutput,
  ShellCommandResult,
  ShellQuestion,
  ShellSessionUser,
  TerminalLease,
} from './shell-commands.js';
export {
  JailCommandRunner,
  EXIT_CODE_REFUSED_LINE,
  EXIT_CODE_UNKNOWN_COMMAND,
  type CommandLineOutcome,
} from './command-runner.js';
export { runInteractiveShell, type ShellTerminal } from './interactive-shell.js';
export { runInterpreterProcess } from './interpreter-process.js';
export {
  interpreterArguments,
  readInterpreterArguments,
  type InterpreterArguments,
} from './interpreter-arguments.js';
export {
  InterpreterLauncher,
  type InterpreterLauncherOptions,
  type JailSessionLauncher,
  type JailSessionRequest,
} from './session-launcher.js';
export {
  spawnSessionProcess,
  type JailSessionProcess,
  type ProcessCommand,
  type TerminalRequest,
} from './session-process.js';
export { sandboxedCommand, lookupSandboxUser, type SandboxOptions, type SandboxUser } from './sandbox.js';
export { parseCommandLine, type CommandLineParse } from './command-line.js';
export {
  completeCommandLine,
  type CompletableCommand,
  type CompletableOption,
} from './line-editing/command-completion.js';
export { KeyDecoder, type Key, type NamedKeyKind } from './line-editing/key-decoder.js';
export {
  LineEditor,
  type Completer,
  type Completion,
  type LineEditorEvent,
  type LineEditorOptions,
  type LineEditorStep,
} from './line-editing/line-editor.js';
export { TerminalScreen } from './testing/terminal-screen.js';
export { freeLoopbackPort } from './testing/loopback-port.js';
export {
  OpenSshTerminal,
  collectOpenSsh,
  openSshArguments,
  runOpenSsh,
  startOpenSsh,
  type OpenSshLogin,
  type OpenSshResult,
} from './testing/openssh-client.js';
export { JailShellError, type JailShellErrorCode } from './errors.js';

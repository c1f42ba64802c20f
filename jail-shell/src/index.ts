export { JailSshServer, type JailServerOptions } from './jail-server.js';
export { loadOrCreateHostKey } from './host-key.js';
export {
  InMemoryUserStore,
  validateJailUser,
  JAIL_ROLES,
  type JailRole,
  type JailUser,
  type JailUserStore,
} from './user-store.js';
export { AuthThrottle, DEFAULT_AUTH_THROTTLE_POLICY, type AuthThrottlePolicy } from './auth-throttle.js';
export type { JailAuditAction, JailAuditEvent, JailAuditSink } from './audit.js';
export {
  IdentityCommandHandler,
  type ShellCommandHandler,
  type ShellCommandOutput,
  type ShellCommandResult,
  type ShellSessionUser,
  type ShellVerb,
} from './shell-commands.js';
export { parseCommandLine, type CommandLineParse } from './command-line.js';
export { JailShellError, type JailShellErrorCode } from './errors.js';

import type { JailRole } from './user-identity.js';

/** What the jail did, reported for every attempt and every refusal; hostd appends it to its audit log. */
export type JailAuditAction =
  | 'auth.publickey'
  | 'auth.totp'
  | 'auth.method'
  | 'session.open'
  | 'session.close'
  | 'channel.session'
  | 'channel.direct-tcpip'
  | 'channel.streamlocal'
  | 'request.global'
  | 'request.pty'
  | 'request.env'
  | 'request.shell'
  | 'request.exec'
  | 'request.subsystem'
  | 'request.x11'
  | 'request.auth-agent'
  | 'session.exit';

export interface JailAuditEvent {
  readonly time: string;
  readonly action: JailAuditAction;
  readonly outcome: 'accepted' | 'refused';
  /** Remote address and port of the TCP connection. */
  readonly source: string;
  readonly user?: string;
  /** The user's role, once their key has been verified. */
  readonly role?: JailRole;
  /** Why it was refused, or what was accepted (a command line, a requested name). */
  readonly detail?: string;
}

export type JailAuditSink = (event: JailAuditEvent) => void;

import type { JailUserSummary, TotpEnrollment } from '@multiverse/jail-shell';

/** A jail user as the `user.*` verbs show it: the stored record, and whether the throttle locked it out. */
export interface JailUserView extends JailUserSummary {
  /** Locked out by the throttle after wrong codes (lifted by `user unlock`), apart from `locked`. */
  readonly lockedOut: boolean;
}

/**
 * What the `user.*` verbs may do with the jail's users. hostd's {@link JailFrontDoor} implements it over
 * the SQLite user store and the running SSH server (whose sessions end when a user is locked or deleted).
 */
export interface JailUserAdministration {
  addUser(user: { name: string; role: string; authorizedKeys: readonly string[] }): JailUserView;
  /** A fresh TOTP secret for the user, as the URI and QR code to hand over (shown once). */
  enrollTotp(name: string): Promise<TotpEnrollment & { readonly name: string }>;
  listUsers(): JailUserView[];
  /** Locks the user and ends their sessions; returns how many connections were ended. */
  lockUser(name: string): { user: JailUserView; sessionsEnded: number };
  /** Unlocks the user and lifts a throttle lockout. */
  unlockUser(name: string): { user: JailUserView; lockoutLifted: boolean };
  deleteUser(name: string): { sessionsEnded: number };
}

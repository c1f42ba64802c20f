import { mkdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  JailSshServer,
  SqliteJailUserStore,
  describeTotpEnrollment,
  loadOrCreateHostKey,
  lookupSandboxUser,
} from '@multiverse/jail-shell';
import type { JailUserSummary, TotpEnrollment } from '@multiverse/jail-shell';
import type { AuditLog } from '../audit/index.js';
import type { Logger } from '../log.js';
import type { HostService } from '../service/index.js';
import { jailAuditSink } from './jail-audit.js';
import { HostdJailSessionLauncher } from './jail-session-launcher.js';
import type { JailUserAdministration, JailUserView } from './jail-users.js';

/** The system user every session's sandbox runs as; scripts/setup.sh creates it. */
export const JAIL_SANDBOX_USER = 'multiverse-jail';
export const JAIL_USERS_FILE = 'jail-users.sqlite';
const TOTP_ISSUER = 'Multiverse';

export interface JailFrontDoorOptions {
  readonly stateDir: string;
  readonly runDir: string;
  readonly audit: AuditLog;
  readonly logger: Logger;
}

/**
 * The SSH jail as hostd runs it: the user store (`<stateDir>/jail-users.sqlite`), the host key
 * (`<stateDir>/jail/ssh_host_ed25519_key`, outside the vault: the jail is where the owner unseals it),
 * the SSH server with every event in hostd's audit log, and the `user.*` verbs' administration.
 * The store opens with hostd; the listener only when configured.
 */
export class JailFrontDoor implements JailUserAdministration {
  private server: JailSshServer | undefined;

  private constructor(
    private readonly options: JailFrontDoorOptions,
    private readonly store: SqliteJailUserStore,
  ) {}

  static open(options: JailFrontDoorOptions): JailFrontDoor {
    return new JailFrontDoor(options, SqliteJailUserStore.open(join(options.stateDir, JAIL_USERS_FILE)));
  }

  /** Starts the SSH server; its sessions call `service` through per-session sockets. */
  async listen(address: { host: string; port: number }, service: HostService): Promise<AddressInfo> {
    const { stateDir, runDir, audit, logger } = this.options;
    const keyDirectory = join(stateDir, 'jail');
    await mkdir(keyDirectory, { recursive: true, mode: 0o700 });
    const sessionsDirectory = join(runDir, 'jail-sessions');
    // Sessions of a hostd that died left their directories; their processes died with it.
    await rm(sessionsDirectory, { recursive: true, force: true });
    await mkdir(sessionsDirectory, { mode: 0o711 });
    const server = new JailSshServer({
      hostKey: await loadOrCreateHostKey(join(keyDirectory, 'ssh_host_ed25519_key')),
      users: this.store,
      sessions: new HostdJailSessionLauncher({
        service,
        logger: logger.child('session'),
        sessionsDirectory,
        sandboxUser: lookupSandboxUser(JAIL_SANDBOX_USER),
      }),
      audit: jailAuditSink(audit, logger),
    });
    const bound = await server.listen(address.host, address.port);
    this.server = server;
    logger.info('SSH jail listening', { address: `${bound.address}:${bound.port}` });
    return bound;
  }

  async close(): Promise<void> {
    await this.server?.close();
    this.server = undefined;
    this.store.close();
  }

  addUser(user: { name: string; role: string; authorizedKeys: readonly string[] }): JailUserView {
    return this.view(this.store.addUser(user));
  }

  async enrollTotp(name: string): Promise<TotpEnrollment & { readonly name: string }> {
    const secret = this.store.enrollTotp(name);
    return {
      name,
      ...(await describeTotpEnrollment({ issuer: TOTP_ISSUER, account: `${name}@${hostname()}`, secret })),
    };
  }

  listUsers(): JailUserView[] {
    return this.store.listUsers().map((user) => this.view(user));
  }

  lockUser(name: string): { user: JailUserView; sessionsEnded: number } {
    const user = this.view(this.store.setLocked(name, true));
    return { user, sessionsEnded: this.server?.endSessionsOf(name, 'your account was locked') ?? 0 };
  }

  unlockUser(name: string): { user: JailUserView; lockoutLifted: boolean } {
    this.store.setLocked(name, false);
    const lockoutLifted = this.server?.unlockUser(name) ?? false;
    return { user: this.view(this.store.summary(name)), lockoutLifted };
  }

  deleteUser(name: string): { sessionsEnded: number } {
    this.store.deleteUser(name);
    this.server?.unlockUser(name);
    return { sessionsEnded: this.server?.endSessionsOf(name, 'your account was deleted') ?? 0 };
  }

  private view(user: JailUserSummary): JailUserView {
    return { ...user, lockedOut: this.server?.lockedOut().users.includes(user.name) ?? false };
  }
}

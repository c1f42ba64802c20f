import { setTimeout as sleep } from 'node:timers/promises';
import { CallHome, CallHomeError } from '@multiverse/onion';
import type { CallHomeClient, CallHomeNewClient, CallHomeState } from '@multiverse/onion';
import type { Logger } from '../log.js';
import type { CallHomeSettingsRecord, CallHomeStore } from './callhome-store.js';
import type { HostTor, TorStatusReport } from './host-tor.js';
import { callHomeNoJailError, onionServiceError, torOffError } from './onion-errors.js';

/** The port a client dials on the .onion address: SSH's, so `ssh user@….onion` needs no -p. */
export const CALLHOME_VIRTUAL_PORT = 22;
const TOR_USER = 'callhome';

/**
 * disabled: not published and not published at the next start. starting: enabled, waiting for tor (retried
 * with back-off). withdrawn: enabled, but no device is authorized, so nothing is published (adding one
 * publishes). Otherwise the library's state: connecting, publishing (tor has the service, descriptor not
 * uploaded yet), published, reconnecting (tor went away; back on its own).
 */
export type CallHomeReportState = 'disabled' | 'starting' | Exclude<CallHomeState, 'stopped'>;

export interface CallHomeReport {
  readonly enabled: boolean;
  readonly state: CallHomeReportState;
  /** The descriptor has been uploaded: authorized devices can reach the address. */
  readonly published: boolean;
  /** Known once the service key exists (first enable or add-client); the same from then on. */
  readonly onionAddress: string | null;
  readonly virtualPort: number;
  /** Where tor forwards connections: the SSH jail's address; null when the jail is off. */
  readonly target: string | null;
  /** Client authorization is on (it is whenever a device is authorized). */
  readonly clientAuth: boolean;
  readonly allowWithoutClientAuth: boolean;
  readonly clients: readonly { readonly name: string; readonly addedAt: string }[];
  readonly uploads: number;
  readonly reconnects: number;
  readonly lastUploadAt: string | null;
  readonly lastError: string | null;
  readonly tor: TorStatusReport;
}

/** What add-client hands out, once: hostd keeps only the public key. */
export type CallHomeClientGrant = Pick<
  CallHomeNewClient,
  'name' | 'onionAddress' | 'authLine' | 'privateKeyBase32' | 'qr'
>;

export interface HostCallHomeOptions {
  readonly store: CallHomeStore;
  readonly tor: HostTor;
  /** Where the SSH jail listens; null: the jail is off, so there is nothing to publish. */
  readonly jail: { readonly host: string; readonly port: number } | null;
  readonly logger: Logger;
  /** Passed to the library: re-publish when no upload was reported this long after publishing. */
  readonly republishAfterMs?: number;
  /** How long `enable` waits for tor to accept the service before it answers (it keeps trying after). */
  readonly enableWaitMs?: number;
}

/** Back-off between attempts to publish while tor is not reachable. */
const RETRY_DELAY_MS = { initial: 1_000, max: 30_000 };

/**
 * hostd's call-home: publishes the SSH jail as a v3 onion service with client authorization, through
 * hostd's tor. Enabled state and the authorized devices persist (CallHomeStore); hostd publishes again at
 * every start. The library (`CallHome`) reconnects and re-publishes by itself after tor restarts.
 */
export class HostCallHome {
  private settings: CallHomeSettingsRecord | undefined;
  private damaged: unknown;
  private home: CallHome | undefined;
  /** Bumped by every enable/disable/close: an older publishing loop stops at its next look. */
  private generation = 0;
  /** The loop that keeps trying to publish while tor is not there yet; only the current generation's counts. */
  private publishing: { readonly generation: number; readonly done: Promise<void> } | undefined;
  private readonly retry = new AbortController();
  private lastAttemptError: string | null = null;
  private attempts = 0;
  private lastLoggedState: string | undefined;

  constructor(private readonly options: HostCallHomeOptions) {}

  /** Reads the saved state and, if call-home was enabled, publishes again (in the background). */
  async open(): Promise<void> {
    try {
      await this.options.store.prepare();
      this.settings = await this.options.store.readSettings();
    } catch (error) {
      this.damaged = error;
      this.options.logger.error('call-home’s state cannot be read; call-home is off', {
        error: (error as Error).message,
      });
      return;
    }
    if (this.settings.enabled) {
      if (this.options.jail === null) {
        this.options.logger.error('call-home is enabled but the SSH jail is off: nothing is published');
      } else {
        this.startPublishing();
      }
    }
  }

  async enable(request: { readonly allowWithoutClientAuth: boolean }): Promise<CallHomeReport> {
    const settings = this.usableSettings();
    if (this.options.tor.mode.kind === 'off') throw torOffError();
    if (settings.clients.length === 0 && !request.allowWithoutClientAuth) {
      throw onionServiceError(
        new CallHomeError(
          'CALLHOME_NO_CLIENTS',
          'refusing to publish the SSH jail without client authorization: no device is authorized yet',
        ),
      );
    }
    if (settings.allowWithoutClientAuth !== request.allowWithoutClientAuth && this.home) {
      // The library takes this at construction: a new one, with the same key and clients.
      this.generation += 1;
      await this.home.stop();
      this.home = undefined;
    }
    await this.saveSettings({
      ...settings,
      enabled: true,
      allowWithoutClientAuth: request.allowWithoutClientAuth,
    });
    const attemptsBefore = this.attempts;
    if (!this.isPublishing() && this.libraryState() === 'stopped') this.startPublishing();
    await this.waitForAttempt(attemptsBefore, this.options.enableWaitMs ?? 45_000);
    return this.status();
  }

  async disable(): Promise<CallHomeReport> {
    const settings = this.usableSettings();
    this.generation += 1;
    await this.saveSettings({ ...settings, enabled: false });
    await this.home?.stop();
    await this.options.tor.release(TOR_USER);
    return this.status();
  }

  async addClient(name: string): Promise<CallHomeClientGrant> {
    this.usableSettings();
    let client: CallHomeNewClient;
    try {
      client = await this.callHome().addClient(name);
    } catch (error) {
      throw onionServiceError(error);
    }
    // Enabled with no device (a restart after the last was removed): the first one publishes.
    if (this.settings?.enabled && !this.isPublishing() && this.libraryState() === 'stopped') {
      this.startPublishing();
    }
    return {
      name: client.name,
      onionAddress: client.onionAddress,
      authLine: client.authLine,
      privateKeyBase32: client.privateKeyBase32,
      qr: client.qr,
    };
  }

  async removeClient(name: string): Promise<CallHomeReport> {
    this.usableSettings();
    try {
      await this.callHome().removeClient(name);
    } catch (error) {
      throw onionServiceError(error);
    }
    return this.status();
  }

  async status(): Promise<CallHomeReport> {
    const tor = await this.options.tor.status();
    const settings = this.settings;
    const library = this.home?.status();
    const address =
      library?.onionAddress ??
      (this.damaged === undefined
        ? await this.options.store.load().then(
            (key) => (key === undefined ? undefined : `${key.serviceId}.onion`),
            () => undefined,
          )
        : undefined);
    const enabled = settings?.enabled ?? false;
    const clients = settings?.clients ?? [];
    return {
      enabled,
      state: this.reportState(enabled),
      published: library?.state === 'published',
      onionAddress: address ?? null,
      virtualPort: CALLHOME_VIRTUAL_PORT,
      target: this.options.jail === null ? null : formatTarget(jailTarget(this.options.jail)),
      clientAuth: clients.length > 0,
      allowWithoutClientAuth: settings?.allowWithoutClientAuth ?? false,
      clients: clients.map(({ name, addedAt }) => ({ name, addedAt })),
      uploads: library?.uploads ?? 0,
      reconnects: library?.reconnects ?? 0,
      lastUploadAt: library?.lastUploadAt ?? null,
      lastError:
        this.damaged !== undefined
          ? (this.damaged as Error).message
          : (library?.lastError ?? this.lastAttemptError),
      tor,
    };
  }

  /** hostd stops: the service is withdrawn (tor would drop it anyway), the enabled setting stays. */
  async close(): Promise<void> {
    this.generation += 1;
    this.retry.abort();
    await this.home?.stop();
  }

  private isPublishing(): boolean {
    return this.publishing?.generation === this.generation;
  }

  private reportState(enabled: boolean): CallHomeReportState {
    if (!enabled) return 'disabled';
    const state = this.libraryState();
    if (state !== 'stopped') return state;
    const settings = this.settings;
    if (settings && settings.clients.length === 0 && !settings.allowWithoutClientAuth) return 'withdrawn';
    return 'starting';
  }

  private libraryState(): CallHomeState {
    return this.home?.status().state ?? 'stopped';
  }

  /** Keeps trying to publish until tor takes the service, call-home is disabled, or hostd stops. */
  private startPublishing(): void {
    const generation = ++this.generation;
    try {
      this.options.tor.acquire(TOR_USER);
    } catch (error) {
      this.lastAttemptError = (error as Error).message;
      return;
    }
    const still = (): boolean =>
      generation === this.generation && this.settings?.enabled === true && !this.retry.signal.aborted;
    const done = (async () => {
      for (let attempt = 1; still(); attempt += 1) {
        const settings = this.settings;
        if (settings && settings.clients.length === 0 && !settings.allowWithoutClientAuth) return;
        if (this.libraryState() !== 'stopped') return;
        try {
          await this.callHome().start();
          this.lastAttemptError = null;
          this.attempts += 1;
          return;
        } catch (error) {
          this.attempts += 1;
          if (error instanceof CallHomeError && error.code === 'CALLHOME_STATE') return;
          this.lastAttemptError = (error as Error).message;
          const delay = Math.min(RETRY_DELAY_MS.max, RETRY_DELAY_MS.initial * 2 ** (attempt - 1));
          this.options.logger.warn('call-home could not publish yet; trying again', {
            error: this.lastAttemptError,
            inMs: delay,
          });
          await sleep(delay, undefined, { signal: this.retry.signal }).catch(() => undefined);
        }
      }
    })().finally(() => {
      if (this.publishing?.done === done) this.publishing = undefined;
    });
    this.publishing = { generation, done };
  }

  private async waitForAttempt(attemptsBefore: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const waiting = (): boolean =>
      (this.attempts === attemptsBefore && this.isPublishing()) || this.libraryState() === 'connecting';
    while (waiting() && Date.now() < deadline) await sleep(100);
  }

  private callHome(): CallHome {
    if (this.options.jail === null) throw callHomeNoJailError();
    const settings = this.usableSettings();
    this.home ??= new CallHome({
      connect: () => this.options.tor.connect(30_000),
      keyStore: this.options.store,
      ports: [{ virtualPort: CALLHOME_VIRTUAL_PORT, target: jailTarget(this.options.jail) }],
      clients: settings.clients.map(({ name, publicKeyBase32 }) => ({ name, publicKeyBase32 })),
      allowWithoutClientAuth: settings.allowWithoutClientAuth,
      reconnectDelayMs: { initial: 500, max: 10_000 },
      ...(this.options.republishAfterMs === undefined
        ? {}
        : { republishAfterMs: this.options.republishAfterMs }),
      onClientsChanged: (clients) => this.saveClients(clients),
      onStateChange: (status) => {
        if (status.state === this.lastLoggedState) return;
        this.lastLoggedState = status.state;
        this.options.logger.info('call-home', {
          state: status.state,
          address: status.onionAddress,
          clients: status.clients.length,
          error: status.lastError,
        });
      },
    });
    return this.home;
  }

  private async saveClients(clients: readonly CallHomeClient[]): Promise<void> {
    const settings = this.usableSettings();
    const addedAt = new Map(settings.clients.map((client) => [client.name, client.addedAt]));
    const now = new Date().toISOString();
    await this.saveSettings({
      ...settings,
      clients: clients.map(({ name, publicKeyBase32 }) => ({
        name,
        publicKeyBase32,
        addedAt: addedAt.get(name) ?? now,
      })),
    });
  }

  private async saveSettings(settings: CallHomeSettingsRecord): Promise<void> {
    await this.options.store.writeSettings(settings);
    this.settings = settings;
  }

  private usableSettings(): CallHomeSettingsRecord {
    if (this.damaged !== undefined) throw onionServiceError(this.damaged);
    if (this.settings === undefined) throw new Error('call-home was used before open()');
    return this.settings;
  }
}

/** A jail listening on every address is reached on loopback: tor runs on this host. */
function jailTarget(jail: { readonly host: string; readonly port: number }): { host: string; port: number } {
  const host =
    jail.host === '0.0.0.0' || jail.host === 'localhost'
      ? '127.0.0.1'
      : jail.host === '::'
        ? '::1'
        : jail.host;
  return { host, port: jail.port };
}

function formatTarget(target: { host: string; port: number }): string {
  return target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`;
}

import type { TorControlClient } from '../control/client.js';
import type { HsDescriptorEvent } from '../control/events.js';
import {
  CallHomeSettingsSchema,
  parseCallHomeInput,
  reconnectDelay,
  type CallHomePort,
  type CallHomeSettings,
  type ParsedCallHomeSettings,
} from './callhome-config.js';
import { clientAuthQr } from './client-auth-qr.js';
import {
  CallHomeClientNameSchema,
  createClientCredentials,
  type CallHomeClient,
  type CallHomeClientCredentials,
} from './client-credentials.js';
import { CallHomeError } from './errors.js';
import {
  OnionServiceKeySchema,
  generateOnionServiceKey,
  type OnionServiceKey,
  type OnionServiceKeyStore,
} from './service-key.js';

export interface CallHomeOptions extends Omit<CallHomeSettings, 'ports' | 'clients'> {
  /** What the service offers: the port clients dial on the .onion address, and where tor connects. */
  readonly ports: readonly CallHomePort[];
  /** The devices allowed to see the service, as onClientsChanged last reported them. */
  readonly clients?: readonly CallHomeClient[];
  /** Opens a new, authenticated control connection to the tor that publishes the service. */
  readonly connect: () => Promise<TorControlClient>;
  /** Keeps the service key across runs, so the address stays the same. */
  readonly keyStore: OnionServiceKeyStore;
  /** Called with the new client list before a client is added or removed; a rejection cancels the change. */
  readonly onClientsChanged?: (clients: readonly CallHomeClient[]) => void | Promise<void>;
  /** Called after every state change. */
  readonly onStateChange?: (status: CallHomeStatus) => void;
}

/**
 * stopped: not started, or stopped. connecting: opening the control connection and publishing.
 * publishing: tor accepted the service, its descriptor is not uploaded yet. published: uploaded at least
 * once. reconnecting: the control connection was lost (tor restarted?); retrying with back-off.
 * withdrawn: running, but the last client was removed, so nothing is published.
 */
export type CallHomeState =
  'stopped' | 'connecting' | 'publishing' | 'published' | 'reconnecting' | 'withdrawn';

export interface CallHomeStatus {
  readonly state: CallHomeState;
  /** Known once the key exists (after start() or addClient()). */
  readonly onionAddress?: string;
  readonly clientAuth: boolean;
  readonly clients: readonly CallHomeClient[];
  readonly ports: readonly CallHomePort[];
  /** When tor last reported the descriptor uploaded (ISO 8601). */
  readonly lastUploadAt?: string;
  /** Descriptor uploads tor reported since start(). */
  readonly uploads: number;
  /** Times the service was published again on a new control connection. */
  readonly reconnects: number;
  readonly lastError?: string;
}

/** What addClient() hands out once: the credentials and the same as a QR code. */
export interface CallHomeNewClient extends CallHomeClientCredentials {
  readonly qr: { readonly svg: string; readonly terminal: string };
}

interface Publication {
  readonly control: TorControlClient;
  readonly attempt: number;
  watchdog?: NodeJS.Timeout;
}

/**
 * Publishes a v3 onion service through a tor control connection: client authorization on unless told
 * otherwise, the same address on every run (the key lives in `keyStore`), and back on its own after tor
 * restarts (connection lost → back-off → ADD_ONION again with the same key). The service is not Detached:
 * if this process goes away, tor withdraws it.
 */
export class CallHome {
  private readonly settings: ParsedCallHomeSettings;
  private clientList: CallHomeClient[];
  private key: OnionServiceKey | undefined;
  private control: TorControlClient | undefined;
  private publication: Publication | undefined;
  private state: CallHomeState = 'stopped';
  private running = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private uploads = 0;
  private reconnects = 0;
  private lastUploadAt: Date | undefined;
  private lastError: string | undefined;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly stateListeners = new Set<() => void>();

  constructor(private readonly options: CallHomeOptions) {
    const {
      connect: _connect,
      keyStore: _keyStore,
      onClientsChanged: _changed,
      onStateChange: _state,
      ...rest
    } = options;
    this.settings = parseCallHomeInput(CallHomeSettingsSchema, rest, 'call-home options');
    this.clientList = [...this.settings.clients];
  }

  /** Connects to tor and publishes; resolves once tor accepted the service (see waitUntilPublished). */
  async start(): Promise<CallHomeStatus> {
    if (this.running) throw new CallHomeError('CALLHOME_STATE', 'call-home is already running');
    this.assertMayPublish(this.clientList);
    await this.ensureKey();
    this.running = true;
    try {
      await this.exclusive(() => this.connectAndPublish());
    } catch (error) {
      this.running = false;
      this.dropConnection();
      this.setState('stopped');
      throw error;
    }
    return this.status();
  }

  /** Withdraws the service (DEL_ONION), closes the connection and stops reconnecting; safe to call twice. */
  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.reconnectTimer);
    await this.exclusive(async () => {
      const publication = this.publication;
      const control = this.control;
      if (publication && control && this.key)
        await control.delOnion(this.key.serviceId).catch(() => undefined);
      this.dropConnection();
      this.setState('stopped');
    });
  }

  /** Resolves when the descriptor has been uploaded (state `published`). */
  waitUntilPublished(timeoutMs = 120_000): Promise<CallHomeStatus> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        if (this.state === 'published') {
          finish();
          resolve(this.status());
          return true;
        }
        if (!this.running) {
          finish();
          reject(new CallHomeError('CALLHOME_STOPPED', 'call-home stopped before the service was published'));
          return true;
        }
        return false;
      };
      const timer = setTimeout(() => {
        finish();
        reject(
          new CallHomeError(
            'CALLHOME_PUBLISH_TIMEOUT',
            `the descriptor was not uploaded within ${timeoutMs} ms (state ${this.state}` +
              `${this.lastError ? `, last error: ${this.lastError}` : ''}); is tor bootstrapped?`,
          ),
        );
      }, timeoutMs);
      const finish = (): void => {
        clearTimeout(timer);
        this.stateListeners.delete(listener);
      };
      const listener = (): void => void check();
      this.stateListeners.add(listener);
      check();
    });
  }

  /**
   * Authorizes a new device: makes its x25519 key pair, keeps the public half, publishes again if running,
   * and returns the private half once (auth line and QR code). Works before start() too.
   */
  async addClient(name: string): Promise<CallHomeNewClient> {
    const clientName = parseCallHomeInput(CallHomeClientNameSchema, name, 'client name');
    const key = await this.ensureKey();
    const credentials = createClientCredentials(clientName, key.serviceId);
    await this.exclusive(async () => {
      if (this.clientList.some((client) => client.name === clientName)) {
        throw new CallHomeError(
          'CALLHOME_CLIENT_EXISTS',
          `a client named ${clientName} is already authorized`,
        );
      }
      const next = [...this.clientList, { name: clientName, publicKeyBase32: credentials.publicKeyBase32 }];
      await this.options.onClientsChanged?.(next);
      this.clientList = next;
      await this.republishIfConnected();
    });
    return { ...credentials, qr: await clientAuthQr(credentials.authLine) };
  }

  /**
   * Revokes a device and publishes again without it. Removing the last one withdraws the service unless
   * allowWithoutClientAuth: call-home never turns client authorization off by itself.
   */
  async removeClient(name: string): Promise<void> {
    await this.exclusive(async () => {
      if (!this.clientList.some((client) => client.name === name)) {
        throw new CallHomeError(
          'CALLHOME_CLIENT_UNKNOWN',
          `no client named ${JSON.stringify(name)} is authorized`,
        );
      }
      const next = this.clientList.filter((client) => client.name !== name);
      await this.options.onClientsChanged?.(next);
      this.clientList = next;
      await this.republishIfConnected();
    });
  }

  status(): CallHomeStatus {
    return {
      state: this.state,
      ...(this.key ? { onionAddress: `${this.key.serviceId}.onion` } : {}),
      clientAuth: this.clientList.length > 0,
      clients: [...this.clientList],
      ports: this.settings.ports,
      ...(this.lastUploadAt ? { lastUploadAt: this.lastUploadAt.toISOString() } : {}),
      uploads: this.uploads,
      reconnects: this.reconnects,
      ...(this.lastError ? { lastError: this.lastError } : {}),
    };
  }

  /** Loads the stored key, or makes one and stores it before anything is published with it. */
  private async ensureKey(): Promise<OnionServiceKey> {
    if (this.key) return this.key;
    let stored: unknown;
    try {
      stored = await this.options.keyStore.load();
    } catch (error) {
      throw keyStoreError('load', error);
    }
    if (stored !== undefined) {
      this.key = parseCallHomeInput(OnionServiceKeySchema, stored, 'stored onion service key');
      return this.key;
    }
    const created = generateOnionServiceKey();
    try {
      await this.options.keyStore.save(created);
    } catch (error) {
      throw keyStoreError('save', error);
    }
    this.key = created;
    return created;
  }

  private assertMayPublish(clients: readonly CallHomeClient[]): void {
    if (clients.length === 0 && !this.settings.allowWithoutClientAuth) {
      throw new CallHomeError(
        'CALLHOME_NO_CLIENTS',
        'refusing to publish without client authorization (anyone who learns the address could reach the ' +
          'service): add a client first, or pass allowWithoutClientAuth',
      );
    }
  }

  private async connectAndPublish(): Promise<void> {
    this.setState('connecting');
    const control = await this.options.connect();
    this.control = control;
    control.onClose((error) => this.connectionLost(control, error));
    control.onEvent('hsDescriptor', (event) => this.descriptorEvent(control, event));
    await control.setEvents(['HS_DESC']);
    await this.publish(control, 1);
  }

  /** ADD_ONION with the stored key and the current clients; arms the republish watchdog. */
  private async publish(control: TorControlClient, attempt: number): Promise<void> {
    this.clearPublication();
    if (this.clientList.length === 0 && !this.settings.allowWithoutClientAuth) {
      this.setState('withdrawn');
      return;
    }
    const key = this.key as OnionServiceKey;
    const result = await control.addOnion({
      key: { type: 'ed25519-v3', privateKey: key.privateKey },
      ports: this.settings.ports,
      clientAuthV3: this.clientList.map((client) => client.publicKeyBase32),
    });
    if (result.serviceId !== key.serviceId) {
      await control.delOnion(result.serviceId).catch(() => undefined);
      throw new CallHomeError(
        'CALLHOME_KEY_MISMATCH',
        `tor published the stored key as ${result.serviceId}.onion, but it is stored for ${key.serviceId}.onion: ` +
          'the key store holds a damaged or mismatched key',
      );
    }
    const publication: Publication = { control, attempt };
    publication.watchdog = setTimeout(() => {
      void this.exclusive(async () => {
        if (this.publication !== publication || this.control !== control) return;
        await control.delOnion(key.serviceId).catch(() => undefined);
        await this.publish(control, attempt + 1);
      }).catch((error: unknown) => this.recordError(error));
    }, this.settings.republishAfterMs * attempt);
    publication.watchdog.unref();
    this.publication = publication;
    this.setState('publishing');
  }

  private async republishIfConnected(): Promise<void> {
    const control = this.control;
    if (!this.running || !control) return;
    if (this.publication && this.key) await control.delOnion(this.key.serviceId);
    await this.publish(control, 1);
  }

  private descriptorEvent(control: TorControlClient, event: HsDescriptorEvent): void {
    const publication = this.publication;
    if (!publication || publication.control !== control || event.action !== 'UPLOADED') return;
    if (event.address !== this.key?.serviceId) return;
    clearTimeout(publication.watchdog);
    this.uploads += 1;
    this.lastUploadAt = new Date();
    this.setState('published');
  }

  private connectionLost(control: TorControlClient, error: Error | null): void {
    if (control !== this.control) return;
    this.clearPublication();
    this.control = undefined;
    if (!this.running) return;
    this.recordError(error ?? new Error("tor's control connection closed"));
    this.setState('reconnecting');
    this.scheduleReconnect(1);
  }

  private scheduleReconnect(attempt: number): void {
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(
      () => {
        void this.exclusive(async () => {
          if (!this.running || this.control) return;
          try {
            await this.connectAndPublish();
            this.reconnects += 1;
          } catch (error) {
            this.recordError(error);
            this.dropConnection();
            if (this.running) {
              this.setState('reconnecting');
              this.scheduleReconnect(attempt + 1);
            }
          }
        });
      },
      reconnectDelay(attempt, this.settings.reconnectDelayMs),
    );
    this.reconnectTimer.unref();
  }

  /** Forgets the connection without treating its close as a loss. */
  private dropConnection(): void {
    this.clearPublication();
    const control = this.control;
    this.control = undefined;
    control?.close();
  }

  private clearPublication(): void {
    clearTimeout(this.publication?.watchdog);
    this.publication = undefined;
  }

  private recordError(error: unknown): void {
    this.lastError = error instanceof Error ? error.message : String(error);
  }

  private setState(state: CallHomeState): void {
    this.state = state;
    this.options.onStateChange?.(this.status());
    for (const listener of [...this.stateListeners]) listener();
  }

  /** Runs `operation` after every earlier one: publishing, client changes and reconnects never interleave. */
  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const result = this.queue.then(operation);
    this.queue = result.catch(() => undefined);
    return result;
  }
}

function keyStoreError(action: 'load' | 'save', error: unknown): CallHomeError {
  return new CallHomeError(
    'CALLHOME_KEY_STORE_FAILED',
    `the key store could not ${action} the onion service key: ${error instanceof Error ? error.message : String(error)}`,
    { cause: error },
  );
}

import { EventEmitter } from 'node:events';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import type { Logger } from './log.js';

export interface LibvirtSessionOptions {
  uri: string;
  logger: Logger;
  /** First retry delay after a failed connect or a dropped connection; doubles up to `maxBackoffMs`. */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

/**
 * Keeps hostd connected to libvirtd: connects, and when libvirtd goes away (restart, crash) reconnects
 * with exponential backoff. Emits `'connected' (client)` after every successful (re)connect, so whoever
 * registered events re-registers them on the new connection, and `'disconnected' (error?)`.
 */
export class LibvirtSession extends EventEmitter {
  private client: LibvirtClient | undefined;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private backoffMs: number;

  constructor(private readonly options: LibvirtSessionOptions) {
    super();
    this.backoffMs = options.initialBackoffMs ?? 250;
  }

  get current(): LibvirtClient | undefined {
    return this.client;
  }

  start(): void {
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    const client = this.client;
    this.client = undefined;
    await client?.close();
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const { uri, logger } = this.options;
    try {
      const client = await LibvirtClient.connect(uri);
      if (this.stopped) {
        await client.close();
        return;
      }
      this.client = client;
      this.backoffMs = this.options.initialBackoffMs ?? 250;
      client.once('close', (error?: Error) => {
        this.client = undefined;
        if (this.stopped) return;
        logger.warn('lost the connection to libvirtd; reconnecting', { uri, error: error?.message });
        this.emit('disconnected', error);
        this.scheduleRetry();
      });
      this.emit('connected', client);
    } catch (error) {
      logger.warn('cannot connect to libvirtd; retrying', {
        uri,
        error: (error as Error).message,
        retry_in_ms: this.backoffMs,
        hint: 'is libvirtd running? scripts/start-libvirt.sh starts it',
      });
      this.scheduleRetry();
    }
  }

  private scheduleRetry(): void {
    if (this.stopped) return;
    const delay = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.options.maxBackoffMs ?? 10_000);
    this.retryTimer = setTimeout(() => void this.connect(), delay);
  }
}

import type { OnionServiceKey, OnionServiceKeyStore } from './service-key.js';

/**
 * A key store that lives as long as the process: for tests and for a deliberately ephemeral service (a new
 * address every run). hostd's store keeps the key in a file in its state directory instead.
 */
export class MemoryOnionServiceKeyStore implements OnionServiceKeyStore {
  /** Every key saved, oldest first. */
  readonly saved: OnionServiceKey[] = [];

  constructor(private stored: OnionServiceKey | undefined = undefined) {}

  load(): Promise<OnionServiceKey | undefined> {
    return Promise.resolve(this.stored);
  }

  save(key: OnionServiceKey): Promise<void> {
    this.saved.push(key);
    this.stored = key;
    return Promise.resolve();
  }
}

import { TorControlClient } from '@multiverse/onion';
import { torUnavailableError } from './onion-errors.js';
import { readTorFacts } from './host-tor.js';
import type { HostTor, TorStatusReport } from './host-tor.js';
import { describeTorMode } from './tor-mode.js';
import type { TorMode } from './tor-mode.js';

type ControlEndpoint = Extract<TorMode, { kind: 'control' }>['endpoint'];

/**
 * MULTIVERSE_TOR=control:…: a tor someone else runs (the system's tor service, Tor Browser's). hostd only
 * connects to it: it neither starts nor restarts it; call-home reconnects when it comes back.
 */
export class ExistingTor implements HostTor {
  readonly mode: TorMode;
  private readonly users = new Set<string>();
  private lastError: string | null = null;

  constructor(private readonly endpoint: ControlEndpoint) {
    this.mode = { kind: 'control', endpoint };
  }

  acquire(user: string): void {
    this.users.add(user);
  }

  release(user: string): Promise<void> {
    this.users.delete(user);
    return Promise.resolve();
  }

  async connect(timeoutMs = 30_000): Promise<TorControlClient> {
    try {
      return await TorControlClient.open(this.endpoint, {}, { timeoutMs });
    } catch (error) {
      this.lastError = error instanceof Error ? error.message : String(error);
      throw torUnavailableError(`${describeTorMode(this.mode)}: ${this.lastError}`, error);
    }
  }

  async status(): Promise<TorStatusReport> {
    const base = {
      mode: describeTorMode(this.mode),
      pid: null,
      restarts: 0,
      lastExit: null,
      usedBy: [...this.users],
    };
    let control: TorControlClient | undefined;
    try {
      control = await this.connect(5_000);
      return { ...base, state: 'connected', lastError: null, ...(await readTorFacts(control)) };
    } catch {
      return {
        ...base,
        state: 'unreachable',
        version: null,
        bootstrap: null,
        socksListeners: [],
        lastError: this.lastError,
      };
    } finally {
      control?.close();
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

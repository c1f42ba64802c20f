import type { TorControlClient } from '@multiverse/onion';
import { torOffError } from './onion-errors.js';
import type { TorMode } from './tor-mode.js';

/**
 * off: MULTIVERSE_TOR=off. idle: hostd's own tor is not needed, so not running. starting: spawned, its
 * control socket not there yet. running: answering on its control socket. restarting: it exited while
 * needed (or could not start); hostd starts it again after a back-off. connected / unreachable: an
 * existing tor (MULTIVERSE_TOR=control:…) answered, or did not.
 */
export type TorState = 'off' | 'idle' | 'starting' | 'running' | 'restarting' | 'connected' | 'unreachable';

export interface TorStatusReport {
  /** own | off | control:… */
  readonly mode: string;
  readonly state: TorState;
  /** hostd's own tor's PID while it runs. */
  readonly pid: number | null;
  readonly version: string | null;
  /** tor's bootstrap: 100 means it can build circuits and publish. */
  readonly bootstrap: { readonly progress: number; readonly summary: string } | null;
  /** tor's SOCKS listeners on this host (hostd's own: one on 127.0.0.1, port chosen by tor). */
  readonly socksListeners: readonly string[];
  /** Times hostd started its own tor again after it exited. */
  readonly restarts: number;
  readonly lastExit: string | null;
  readonly lastError: string | null;
  /** What needs tor now: `callhome`, `onion0`… */
  readonly usedBy: readonly string[];
}

/** The tor call-home and the onion devices talk to, whichever MULTIVERSE_TOR chose. */
export interface HostTor {
  readonly mode: TorMode;
  /** `user` needs tor from now on: hostd's own tor is started if it is not running. */
  acquire(user: string): void;
  /** `user` no longer needs tor: hostd's own tor stops when nothing does. */
  release(user: string): Promise<void>;
  /** A new authenticated control connection (the caller closes it); waits up to `timeoutMs` for tor. */
  connect(timeoutMs?: number): Promise<TorControlClient>;
  status(): Promise<TorStatusReport>;
  /** hostd stops: its own tor is stopped. */
  close(): Promise<void>;
}

/** What tor says about itself on a control connection, for status. */
export async function readTorFacts(
  control: TorControlClient,
): Promise<Pick<TorStatusReport, 'version' | 'bootstrap' | 'socksListeners'>> {
  const [info, bootstrap] = await Promise.all([
    control.getInfo(['version', 'net/listeners/socks']),
    control.bootstrapStatus(),
  ]);
  return {
    version: info.get('version') ?? null,
    bootstrap: { progress: bootstrap.progress, summary: bootstrap.summary },
    socksListeners: listenerAddresses(info.get('net/listeners/socks') ?? ''),
  };
}

/** `GETINFO net/listeners/*` answers quoted addresses separated by spaces. */
function listenerAddresses(value: string): string[] {
  return value
    .split(/\s+/)
    .map((word) => word.replace(/^"(.*)"$/, '$1'))
    .filter((word) => word !== '');
}

/** MULTIVERSE_TOR=off: every use refuses with TOR_OFF; status says so. */
export class NoTor implements HostTor {
  readonly mode: TorMode = { kind: 'off' };

  acquire(): void {
    throw torOffError();
  }

  release(): Promise<void> {
    return Promise.resolve();
  }

  connect(): Promise<TorControlClient> {
    return Promise.reject(torOffError());
  }

  status(): Promise<TorStatusReport> {
    return Promise.resolve({
      mode: 'off',
      state: 'off',
      pid: null,
      version: null,
      bootstrap: null,
      socksListeners: [],
      restarts: 0,
      lastExit: null,
      lastError: null,
      usedBy: [],
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

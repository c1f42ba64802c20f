/** `keepalive_procedure` of libvirt's keepalive program; both travel as MESSAGE packets with an empty body. */
export const KeepaliveProcedure = { Ping: 1, Pong: 2 } as const;
export type KeepaliveProcedure = (typeof KeepaliveProcedure)[keyof typeof KeepaliveProcedure];

export interface KeepaliveOptions {
  /** Idle time before a ping is sent, and between unanswered pings. libvirt's default: 5000. */
  intervalMs?: number;
  /** Unanswered pings after which the peer is declared dead. libvirt's default: 5. */
  maxMissed?: number;
}

export interface KeepaliveHooks {
  sendPing(): void;
  /** Called once, when `maxMissed` pings in a row went unanswered. */
  onDead(silentForMs: number): void;
  /** While this side has stopped reading the socket, silence is our doing, not the peer's. */
  isReadingPaused(): boolean;
}

/**
 * Detects a dead peer the way libvirt's own client does: any packet from the peer proves it alive; after an
 * idle interval a PING is sent; `maxMissed` intervals later with still nothing received, the peer is dead.
 */
export class KeepaliveMonitor {
  readonly intervalMs: number;
  readonly maxMissed: number;
  private lastTrafficAt = Date.now();
  private trafficSinceTick = false;
  private missed = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    options: KeepaliveOptions,
    private readonly hooks: KeepaliveHooks,
  ) {
    this.intervalMs = options.intervalMs ?? 5000;
    this.maxMissed = options.maxMissed ?? 5;
    if (!Number.isInteger(this.intervalMs) || this.intervalMs < 1) {
      throw new RangeError(`keepalive intervalMs must be a positive integer, got ${options.intervalMs}`);
    }
    if (!Number.isInteger(this.maxMissed) || this.maxMissed < 1) {
      throw new RangeError(`keepalive maxMissed must be a positive integer, got ${options.maxMissed}`);
    }
  }

  start(): void {
    this.lastTrafficAt = Date.now();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    // Keepalive alone must not keep a process running; the socket decides that.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  noteTraffic(): void {
    this.lastTrafficAt = Date.now();
    this.trafficSinceTick = true;
  }

  private tick(): void {
    if (this.trafficSinceTick || this.hooks.isReadingPaused()) {
      this.trafficSinceTick = false;
      this.missed = 0;
      return;
    }
    if (this.missed >= this.maxMissed) {
      this.stop();
      this.hooks.onDead(Date.now() - this.lastTrafficAt);
      return;
    }
    this.missed++;
    this.hooks.sendPing();
  }
}

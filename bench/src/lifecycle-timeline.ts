import type { Domain, EventSubscription, LibvirtClient } from '@multiverse/libvirt-ts';

/** A lifecycle event of a domain (`stopped`, `defined`, `started`, …) and when this process heard it. */
export interface TimedLifecycleEvent {
  readonly event: string;
  readonly detail: string;
  /** Milliseconds since the epoch, as hostd's task timestamps are. */
  readonly atMs: number;
}

/** The lifecycle events of one domain as they arrive, until `stop()`. */
export class LifecycleTimeline {
  readonly events: TimedLifecycleEvent[] = [];
  private subscription: EventSubscription | undefined;

  /** Subscribes and resolves once libvirtd has registered the subscription: nothing after that is missed. */
  static async follow(client: LibvirtClient, domain: Domain): Promise<LifecycleTimeline> {
    const timeline = new LifecycleTimeline();
    timeline.subscription = await client.onDomainLifecycle(
      ({ event, detail }) =>
        timeline.events.push({ event, detail, atMs: performance.timeOrigin + performance.now() }),
      { domain },
    );
    return timeline;
  }

  async stop(): Promise<void> {
    await this.subscription?.close();
  }
}

/** Where the time of a running VM's revert task went, in seconds; `null` where an event did not come. */
export interface RevertPhases {
  /** Task started → the domain stopped (cut off). */
  readonly cutOff: number | null;
  /** Task started → the domain redefined after the stop with the reverted chain: the revert without the restart. */
  readonly withoutRestart: number | null;
  /** That redefinition → the task finished, the guest having reported READY: the restart. */
  readonly restart: number | null;
}

/**
 * Splits a running VM's revert task by the domain's events: hostd cuts the VM off (`stopped`), changes the disk
 * chain, records the checkpoints in a new definition (the first `defined` after the stop), then starts the VM
 * again (another definition, `started`, `resumed`) and waits for its READY line.
 */
export function revertPhases(
  events: readonly TimedLifecycleEvent[],
  task: { readonly startedMs: number; readonly finishedMs: number },
): RevertPhases {
  const stopIndex = events.findIndex((entry) => entry.event === 'stopped' && entry.atMs >= task.startedMs);
  const stopped = stopIndex === -1 ? undefined : events[stopIndex];
  const redefined =
    stopIndex === -1 ? undefined : events.slice(stopIndex + 1).find((entry) => entry.event === 'defined');
  const seconds = (from: number, to: number) => (to - from) / 1000;
  return {
    cutOff: stopped === undefined ? null : seconds(task.startedMs, stopped.atMs),
    withoutRestart: redefined === undefined ? null : seconds(task.startedMs, redefined.atMs),
    restart: redefined === undefined ? null : seconds(redefined.atMs, task.finishedMs),
  };
}

/** A registration of an event listener with libvirtd; `close()` deregisters it (once, however often called). */
export interface EventSubscription {
  /** The daemon's id of this registration. */
  readonly callbackId: number;
  close(): Promise<void>;
}

/** Events arrived faster than the iterator was read and its queue filled up; the stream has ended. */
export class EventOverflowError extends Error {
  override readonly name = 'EventOverflowError';
  readonly code = 'LIBVIRT_EVENT_OVERFLOW';
}

export interface EventStreamOptions {
  /** Events held for a slow reader before the stream fails with {@link EventOverflowError}. Default 1024. */
  maxQueued?: number;
  /** Aborting ends the stream: the pending or next read rejects with the signal's reason. */
  signal?: AbortSignal;
}

type Waiter<T> = { resolve: (result: IteratorResult<T>) => void; reject: (error: Error) => void };

/**
 * Events as an async iterator. The daemon registration starts at construction, so events that happen
 * after `ready` resolves are never missed, even before the first `next()`. Leaving a `for await` loop (or
 * calling `close()`) deregisters. Queued events are delivered before an error ends the stream.
 */
export class EventStream<T> implements AsyncIterableIterator<T> {
  /** Resolves once libvirtd has registered the listener; rejects if it refused. */
  readonly ready: Promise<void>;
  private readonly queue: T[] = [];
  private readonly waiters: Waiter<T>[] = [];
  private readonly maxQueued: number;
  private readonly signal: AbortSignal | undefined;
  private readonly subscription: Promise<EventSubscription | undefined>;
  private unsubscribing: Promise<void> | undefined;
  private failure: Error | undefined;
  private finished = false;

  /**
   * @param subscribe registers `deliver` with the daemon
   * @param onEnd called once when the stream ends, however it ends
   */
  constructor(
    subscribe: (deliver: (event: T) => void) => Promise<EventSubscription>,
    options: EventStreamOptions = {},
    private readonly onEnd?: () => void,
  ) {
    this.maxQueued = options.maxQueued ?? 1024;
    if (!Number.isInteger(this.maxQueued) || this.maxQueued < 1)
      throw new RangeError('maxQueued must be a positive integer');
    this.signal = options.signal;
    const registration = subscribe((event) => this.push(event));
    this.ready = registration.then(() => undefined);
    this.ready.catch((error: Error) => this.fail(error));
    this.subscription = registration.catch(() => undefined);
    if (this.signal?.aborted) this.onAbort();
    else this.signal?.addEventListener('abort', this.onAbort, { once: true });
  }

  /** No more events will come (e.g. the connection was closed by its owner): iteration finishes. */
  end(): void {
    if (this.finished) return;
    this.finished = true;
    this.onEnd?.();
    this.settleWaiters();
    // Deregistration failures matter only to close(), which awaits the same promise.
    this.unsubscribe().catch(() => undefined);
  }

  /** True once the stream has ended; queued events may still be waiting to be read. */
  get ended(): boolean {
    return this.finished;
  }

  /** The stream cannot go on: queued events are still read, then `next()` rejects with `error`. */
  fail(error: Error): void {
    if (this.ended) return;
    this.failure = error;
    this.end();
  }

  async next(): Promise<IteratorResult<T>> {
    if (this.queue.length > 0) return { value: this.queue.shift()!, done: false };
    if (this.failure) {
      const failure = this.failure;
      this.failure = undefined;
      throw failure;
    }
    if (this.ended) return { value: undefined, done: true };
    return new Promise((resolve, reject) => this.waiters.push({ resolve, reject }));
  }

  /** Called when a `for await` loop is left early; deregisters from the daemon. */
  async return(): Promise<IteratorResult<T>> {
    await this.close();
    return { value: undefined, done: true };
  }

  /** Ends the stream and deregisters; queued events are dropped. */
  async close(): Promise<void> {
    this.queue.length = 0;
    this.failure = undefined;
    this.end();
    await this.unsubscribe();
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private push(event: T): void {
    if (this.ended) return;
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter.resolve({ value: event, done: false });
    } else if (this.queue.length >= this.maxQueued) {
      this.fail(
        new EventOverflowError(
          `${this.maxQueued} events were waiting unread, so the event stream was ended; ` +
            'read events faster or raise maxQueued',
        ),
      );
    } else {
      this.queue.push(event);
    }
  }

  private settleWaiters(): void {
    const waiters = this.waiters.splice(0);
    for (const waiter of waiters) {
      if (this.failure) {
        waiter.reject(this.failure);
        this.failure = undefined;
      } else {
        waiter.resolve({ value: undefined, done: true });
      }
    }
  }

  private readonly onAbort = (): void => {
    const reason: unknown = this.signal?.reason;
    this.fail(reason instanceof Error ? reason : new Error(String(reason)));
  };

  private unsubscribe(): Promise<void> {
    this.unsubscribing ??= (async () => {
      this.signal?.removeEventListener('abort', this.onAbort);
      await (await this.subscription)?.close();
    })();
    return this.unsubscribing;
  }
}

import assert from 'node:assert/strict';
import { LibvirtError } from '../../rpc/errors.js';
import type { DomainLifecycleEvent } from '../events.js';

/** Asserts `promise` rejects with a LibvirtError whose code libvirt names `codeName`, and returns it. */
export async function rejectsWithLibvirt(promise: Promise<unknown>, codeName: string): Promise<LibvirtError> {
  let caught: unknown;
  await promise.then(
    () => assert.fail(`expected a LibvirtError ${codeName}`),
    (error: unknown) => (caught = error),
  );
  assert.ok(caught instanceof LibvirtError, `expected a LibvirtError, got ${String(caught)}`);
  assert.equal(caught.codeName, codeName, caught.message);
  return caught;
}

/** Reads `events` until one matches `predicate`, failing after `ms`; the iterator stays open. */
export async function nextMatching(
  events: AsyncIterator<DomainLifecycleEvent>,
  predicate: (event: DomainLifecycleEvent) => boolean,
  ms = 10_000,
): Promise<DomainLifecycleEvent> {
  const deadline = AbortSignal.timeout(ms);
  const timedOut = new Promise<never>((_, reject) =>
    deadline.addEventListener(
      'abort',
      () => reject(new Error('no matching lifecycle event arrived in time')),
      {
        once: true,
      },
    ),
  );
  timedOut.catch(() => undefined);
  for (;;) {
    const next = await Promise.race([events.next(), timedOut]);
    assert.ok(!next.done, 'the event stream ended early');
    if (predicate(next.value)) return next.value;
  }
}

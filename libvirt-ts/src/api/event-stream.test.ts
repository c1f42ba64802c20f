import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { EventOverflowError, EventStream } from './event-stream.js';
import type { EventSubscription } from './event-stream.js';

/** A source the test fires events into, recording whether the stream deregistered. */
function source(options: { refuse?: Error } = {}) {
  const state = { deliver: undefined as ((event: number) => void) | undefined, closed: 0 };
  const subscribe = (deliver: (event: number) => void): Promise<EventSubscription> => {
    if (options.refuse) return Promise.reject(options.refuse);
    state.deliver = deliver;
    return Promise.resolve({
      callbackId: 1,
      close: () => {
        state.closed++;
        return Promise.resolve();
      },
    });
  };
  return { state, subscribe, fire: (event: number) => state.deliver!(event) };
}

describe('EventStream', () => {
  it('queues events that arrive before they are read and deregisters when the loop is left', async () => {
    const { state, subscribe, fire } = source();
    const stream = new EventStream(subscribe);
    await stream.ready;
    fire(1);
    fire(2);
    const seen: number[] = [];
    setImmediate(() => fire(3));
    for await (const event of stream) {
      seen.push(event);
      if (event === 3) break;
    }
    assert.deepEqual(seen, [1, 2, 3]);
    assert.equal(state.closed, 1);
    fire(4);
    assert.deepEqual(await stream.next(), { value: undefined, done: true });
  });

  it('delivers queued events, then the error that ended the stream', async () => {
    const { subscribe, fire } = source();
    const stream = new EventStream(subscribe);
    await stream.ready;
    fire(1);
    stream.fail(new Error('connection lost'));
    assert.deepEqual(await stream.next(), { value: 1, done: false });
    await assert.rejects(stream.next(), /connection lost/);
    assert.deepEqual(await stream.next(), { value: undefined, done: true });
  });

  it('ends with EventOverflowError instead of growing without bound', async () => {
    const { state, subscribe, fire } = source();
    const stream = new EventStream(subscribe, { maxQueued: 2 });
    await stream.ready;
    fire(1);
    fire(2);
    fire(3);
    assert.equal((await stream.next()).value, 1);
    assert.equal((await stream.next()).value, 2);
    await assert.rejects(stream.next(), EventOverflowError);
    await stream.close();
    assert.equal(state.closed, 1, 'deregistered exactly once');
  });

  it('rejects ready and the first read when registration is refused', async () => {
    const { subscribe } = source({ refuse: new Error('no events here') });
    const stream = new EventStream(subscribe);
    await assert.rejects(stream.ready, /no events here/);
    await assert.rejects(stream.next(), /no events here/);
  });

  it('ends a pending read with the abort reason', async () => {
    const { state, subscribe } = source();
    const controller = new AbortController();
    const stream = new EventStream(subscribe, { signal: controller.signal });
    await stream.ready;
    const pending = stream.next();
    controller.abort(new Error('stop waiting'));
    await assert.rejects(pending, /stop waiting/);
    await stream.close();
    assert.equal(state.closed, 1);
  });

  it('ends cleanly when its owner ends it', async () => {
    const { subscribe } = source();
    let ended = 0;
    const stream = new EventStream(subscribe, {}, () => ended++);
    await stream.ready;
    const pending = stream.next();
    stream.end();
    assert.deepEqual(await pending, { value: undefined, done: true });
    stream.end();
    assert.equal(ended, 1);
  });
});

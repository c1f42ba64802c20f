import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { formatReadyLine } from '@multiverse/vm-templates';
import { ReadyWaitError, waitForReadyLine } from './ready-watch.js';

const READY = formatReadyLine({
  protocolVersion: 1,
  bootId: '0f8fad5b-d9cb-469f-a165-70867728950e',
  uptimeSeconds: 1.42,
  hostname: 'mvtest-guest',
});

describe('waitForReadyLine', () => {
  it('finds the READY line among boot output, even when it arrives in pieces with CRLF endings', async () => {
    const console = new PassThrough();
    const ready = waitForReadyLine(console, { timeoutMs: 5000, signal: new AbortController().signal });
    console.write('[    0.000000] Linux version 6.1\r\nMULTIVERSE-READY v1 boot');
    console.write(`${READY.slice('MULTIVERSE-READY v1 boot'.length)}\r\ntiny:/# `);
    assert.deepEqual(await ready, {
      protocolVersion: 1,
      bootId: '0f8fad5b-d9cb-469f-a165-70867728950e',
      uptimeSeconds: 1.42,
      hostname: 'mvtest-guest',
    });
    assert.equal(console.listenerCount('data'), 0, 'stops reading once settled');
  });

  it('ignores a READY-looking line that does not follow the protocol', async () => {
    const console = new PassThrough();
    const ready = waitForReadyLine(console, { timeoutMs: 100, signal: new AbortController().signal });
    console.write('MULTIVERSE-READY v2 boot_id=x uptime=1 hostname=a\n');
    await assert.rejects(ready, (error: unknown) => {
      assert.ok(error instanceof ReadyWaitError);
      assert.equal(error.failure, 'timeout');
      assert.match(error.consoleTail, /MULTIVERSE-READY v2/);
      return true;
    });
  });

  it('fails with the console tail when the console ends first', async () => {
    const console = new PassThrough();
    const ready = waitForReadyLine(console, { timeoutMs: 5000, signal: new AbortController().signal });
    console.end('Kernel panic - not syncing: VFS\n');
    await assert.rejects(ready, (error: unknown) => {
      assert.ok(error instanceof ReadyWaitError);
      assert.equal(error.failure, 'console-closed');
      assert.match(error.consoleTail, /Kernel panic/);
      return true;
    });
  });

  it('gives up when its signal is aborted, before or during the wait', async () => {
    const aborted = AbortSignal.abort();
    await assert.rejects(waitForReadyLine(new PassThrough(), { timeoutMs: 5000, signal: aborted }), {
      failure: 'cancelled',
    });
    const controller = new AbortController();
    const ready = waitForReadyLine(new PassThrough(), { timeoutMs: 5000, signal: controller.signal });
    controller.abort();
    await assert.rejects(ready, { failure: 'cancelled' });
  });
});

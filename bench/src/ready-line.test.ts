import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { describe, it } from 'node:test';
import { formatReadyLine } from '@multiverse/vm-templates';
import { ReadyLineError, readyLineOn } from './ready-line.js';

const READY = formatReadyLine({
  protocolVersion: 2,
  bootId: '9d3cbe2d-8794-4cca-88e6-1cd8b6bcb6be',
  uptimeSeconds: 1.25,
  hostname: 'disp-1',
  disks: ['vdb', 'vdc'],
  nics: [],
});

describe('readyLineOn', () => {
  it('resolves with the announcement, also when the line arrives split across chunks after other output', async () => {
    const console = new PassThrough();
    const ready = readyLineOn(console, 5_000);
    console.write('[    0.512] Run /init as init process\r\n');
    console.write(`${READY.slice(0, 20)}`);
    console.write(`${READY.slice(20)}\r\n# `);
    const announcement = await ready;
    assert.equal(announcement.bootId, '9d3cbe2d-8794-4cca-88e6-1cd8b6bcb6be');
    assert.equal(announcement.hostname, 'disp-1');
    assert.equal(console.listenerCount('data'), 0, 'stops reading once it has the line');
  });

  it('ignores a READY prefix that is not a valid announcement', async () => {
    const console = new PassThrough();
    const ready = readyLineOn(console, 200);
    console.write('MULTIVERSE-READY v2 boot_id=nonsense\n');
    await assert.rejects(ready, (error: unknown) => {
      assert.ok(error instanceof ReadyLineError);
      assert.equal(error.code, 'BENCH_GUEST_NOT_READY');
      assert.match(error.message, /no READY line within 0.2 s/);
      assert.match(error.message, /boot_id=nonsense/, 'quotes the console');
      return true;
    });
  });

  it('fails when the console closes first, quoting its last lines', async () => {
    const console = new PassThrough();
    const ready = readyLineOn(console, 5_000);
    console.write('Kernel panic - not syncing\n');
    console.end();
    console.resume();
    await assert.rejects(ready, /closed before the guest reported ready[^]*Kernel panic/);
  });
});

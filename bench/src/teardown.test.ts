import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, it } from 'node:test';
import { Teardown } from './teardown.js';

describe('Teardown', () => {
  it('undoes steps last first, once, however often it is run', async () => {
    const undone: string[] = [];
    const teardown = new Teardown();
    teardown.defer('first', () => void undone.push('first'));
    teardown.defer('second', async () => {
      await Promise.resolve();
      undone.push('second');
    });
    await Promise.all([teardown.run(), teardown.run()]);
    await teardown.run();
    assert.deepEqual(undone, ['second', 'first']);
  });

  it('runs every step even when one fails, then reports the failure by name', async () => {
    const undone: string[] = [];
    const teardown = new Teardown();
    teardown.defer('close', () => void undone.push('close'));
    teardown.defer('remove domains', () => {
      throw new Error('daemon gone');
    });
    await assert.rejects(teardown.run(), (error: unknown) => {
      assert.ok(error instanceof AggregateError);
      assert.match(String((error.errors[0] as Error).message), /remove domains.*daemon gone/);
      return true;
    });
    assert.deepEqual(undone, ['close']);
  });

  it('stops listening for signals once it has run', async () => {
    const before = process.listenerCount('SIGTERM');
    const teardown = new Teardown();
    assert.equal(process.listenerCount('SIGTERM'), before + 1);
    await teardown.run();
    assert.equal(process.listenerCount('SIGTERM'), before);
    assert.throws(() => teardown.defer('late', () => undefined), /already started/);
  });

  it('undoes everything and exits 143 when the process gets SIGTERM', { timeout: 10_000 }, async (t) => {
    const script = `
      import { Teardown } from ${JSON.stringify(new URL('./teardown.js', import.meta.url).href)};
      const teardown = new Teardown();
      teardown.defer('report', () => console.log('undone'));
      setInterval(() => undefined, 1000);
      console.log('ready');
    `;
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.after(() => child.kill('SIGKILL'));
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      output += text;
      if (output === 'ready\n') child.kill('SIGTERM');
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 143);
    assert.equal(output, 'ready\nundone\n');
  });
});

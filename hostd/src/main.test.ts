import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import type { HostdStatus } from './daemon.js';

const mainScript = new URL('./main.js', import.meta.url).pathname;

async function waitForStatus(path: string, ready: (status: HostdStatus) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  let last: HostdStatus | undefined;
  while (Date.now() < deadline) {
    try {
      last = JSON.parse(await readFile(path, 'utf8')) as HostdStatus;
      if (ready(last)) return last;
    } catch {
      // Not written yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`hostd did not reach the expected status in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
}

describe('hostd process', () => {
  const dirs: string[] = [];
  after(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true });
  });

  it('connects to libvirt, reports versions and the accelerator, and stops cleanly on SIGTERM', async () => {
    const root = await mkdtemp(join(tmpdir(), 'mv-hostd-'));
    dirs.push(root);
    const child = spawn(process.execPath, [mainScript], {
      env: {
        ...process.env,
        MULTIVERSE_STATE_DIR: join(root, 'state'),
        MULTIVERSE_RUN_DIR: join(root, 'run'),
        MULTIVERSE_ACCELERATOR: 'tcg',
        MULTIVERSE_DISPOSABLE_POOL: 'none',
        MULTIVERSE_JAIL_LISTEN: 'off',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    try {
      const status = await waitForStatus(
        join(root, 'run', 'hostd.status.json'),
        (s) => s.connected && s.accelerator !== undefined,
        15_000,
      );
      assert.equal(status.pid, child.pid);
      assert.match(status.libvirtVersion ?? '', /^\d+\.\d+\.\d+$/);
      assert.match(status.hypervisorVersion ?? '', /^\d+\.\d+\.\d+$/);
      assert.deepEqual(status.accelerator, {
        accelerator: 'tcg',
        reason: 'forced by MULTIVERSE_ACCELERATOR=tcg',
      });
      assert.match(log, /connected to libvirtd .*libvirt=\d/);
      assert.match(log, /every domain uses TCG/);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(code, 0, log);
  });

  it('refuses bad settings with a message that names them, before doing anything', async () => {
    const child = spawn(process.execPath, [mainScript], {
      env: { ...process.env, MULTIVERSE_RUN_DIR: 'relative' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    child.stderr.on('data', (chunk: Buffer) => (log += chunk.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.notEqual(code, 0);
    assert.match(log, /MULTIVERSE_RUN_DIR: must be an absolute path/);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { allocateFreePorts } from './free-ports.js';
import { OWNER_FILE, sweepAbandonedNetworks } from './tor-process.js';

/** A harmless long-running process whose command line names `marker`, standing in for a leftover tor. */
function startStandIn(marker: string): { pid: number; exited: Promise<void> } {
  const child = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 120000)', marker], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return { pid: child.pid as number, exited };
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0'], { stdio: 'ignore' });
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid as number;
}

const isRunning = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('sweepAbandonedNetworks', () => {
  it("kills what a dead test run left and deletes its directory, but leaves a live run's alone", async () => {
    const parent = await mkdtemp(join(tmpdir(), 'sweep-test-'));
    const prefix = 'net-';
    const abandoned = join(parent, `${prefix}abandoned`);
    const live = join(parent, `${prefix}live`);
    const standIns: Array<{ pid: number; exited: Promise<void> }> = [];
    try {
      await mkdir(join(abandoned, 'relay1'), { recursive: true });
      await mkdir(join(abandoned, 'relay2'), { recursive: true });
      await mkdir(join(live, 'relay1'), { recursive: true });
      await writeFile(join(abandoned, OWNER_FILE), `${await deadPid()}\n`);
      await writeFile(join(live, OWNER_FILE), `${process.pid}\n`);

      const leftover = startStandIn(join(abandoned, 'relay1', 'torrc'));
      // relay2's PID now belongs to an unrelated process (PID reuse): it must survive the sweep.
      const unrelated = startStandIn('something-else');
      const liveTor = startStandIn(join(live, 'relay1', 'torrc'));
      standIns.push(leftover, unrelated, liveTor);
      await writeFile(join(abandoned, 'relay1', 'launcher.pid'), `${leftover.pid}\n`);
      await writeFile(join(abandoned, 'relay2', 'launcher.pid'), `${unrelated.pid}\n`);
      await writeFile(join(live, 'relay1', 'launcher.pid'), `${liveTor.pid}\n`);

      sweepAbandonedNetworks(parent, prefix);

      await leftover.exited;
      assert.equal(isRunning(unrelated.pid), true);
      assert.equal(isRunning(liveTor.pid), true);
      await assert.rejects(stat(abandoned), { code: 'ENOENT' });
      assert.equal((await stat(live)).isDirectory(), true);
    } finally {
      for (const standIn of standIns) {
        if (isRunning(standIn.pid)) process.kill(standIn.pid, 'SIGKILL');
      }
      await rm(parent, { recursive: true, force: true });
    }
  });
});

describe('allocateFreePorts', () => {
  it('returns distinct, bindable ports', async () => {
    const ports = await allocateFreePorts(12, '127.0.0.1');
    assert.equal(new Set(ports).size, 12);
    assert.ok(ports.every((port) => port > 0 && port < 65536));
  });
});

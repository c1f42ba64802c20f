import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BenchHostd, BenchHostdError } from './bench-hostd.js';

describe(
  'BenchHostd: a real hostd on private directories, driven through mvctl',
  { timeout: 180_000 },
  () => {
    let root: string;
    let hostd: BenchHostd;
    before(async () => {
      root = await mkdtemp(join(tmpdir(), 'mv-bench-hostd-'));
      await chmod(root, 0o711);
      hostd = new BenchHostd(root, { MULTIVERSE_DISPOSABLE_POOL: 'none' });
    });
    after(async () => {
      await hostd.stop();
      await rm(root, { recursive: true, force: true });
    });

    it('starts hostd, answers through mvctl with the wall time of the call, and stops it by its PID', async () => {
      await hostd.start();
      const pid = hostd.pid;
      assert.ok(pid !== undefined);
      const { value, seconds } = await hostd.mvctlJson<{ accelerator: { accelerator: string } | null }>([
        'host',
        'info',
      ]);
      assert.equal(value.accelerator?.accelerator, 'tcg');
      assert.ok(seconds > 0);
      await assert.rejects(hostd.start(), { code: 'BENCH_HOSTD_START_FAILED', message: /already running/ });
      await hostd.stop();
      assert.throws(() => process.kill(pid, 0), { code: 'ESRCH' });
    });

    it('turns a failing mvctl call into an error naming the call and quoting hostd', async () => {
      await hostd.start();
      await assert.rejects(hostd.mvctlJson(['vm', 'info', 'mvbench-no-such-vm']), (error: unknown) => {
        assert.ok(error instanceof BenchHostdError);
        assert.equal(error.code, 'BENCH_MVCTL_FAILED');
        assert.match(error.message, /mvctl vm info mvbench-no-such-vm exited 1/);
        assert.match(error.message, /hostd's last log lines/);
        return true;
      });
      const plain = await hostd.mvctl(['vm', 'info', 'mvbench-no-such-vm']);
      assert.equal(plain.code, 1);
      await hostd.stop();
    });
  },
);

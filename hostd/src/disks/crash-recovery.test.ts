import { after, before, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { cp, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DiskStore } from './disk-store.js';
import { DiskError } from './errors.js';
import { allocatedBytes, makeStoreFixture, run, type StoreFixture } from './testing/fixtures.js';
import { assertView, withWrites, writeRegions, type DiskView } from './testing/guest-view.js';

/**
 * Kills a process running each chain operation at each of its durable steps (SIGKILL, from here), then reopens
 * the store, recovers, and checks with qemu-io and qemu-img that the VM is whole: the operation happened entirely
 * or not at all, every remaining checkpoint and the top read exactly as before, and the chain is clean.
 */
const RUNNER = fileURLToPath(new URL('./testing/crash-runner.js', import.meta.url));
const MiB = 1024 * 1024;
const VM = 'crashy';
const REGIONS = [...Array(6).keys(), 100];

interface RunnerRequest {
  op: 'checkpoint' | 'revert' | 'delete' | 'prune';
  id?: string;
  keep?: number;
}

interface ChainState {
  ids: string[];
  top: DiskView;
}

interface Scenario {
  name: string;
  request: RunnerRequest;
  expectedSteps: string[];
  /** The state after each journaled sub-operation (prune is several deletes), in order. */
  after: ChainState[];
}

/**
 * Runs the operation in a child process. With `pauseAt`, the child stops at that step and is SIGKILLed there
 * (after `whilePaused`). With `killGroup`, once the child has reported `step`, `when` is polled every 2 ms and
 * the child's whole process group — qemu-img included — is SIGKILLed as soon as it returns true.
 */
async function runChild(
  root: string,
  request: RunnerRequest,
  options: {
    pauseAt?: string;
    whilePaused?: () => Promise<void>;
    killGroup?: { step: string; when: () => Promise<boolean> };
  } = {},
): Promise<{ steps: string[]; signal: NodeJS.Signals | null; status: number | null }> {
  const child = spawn(
    process.execPath,
    [
      RUNNER,
      JSON.stringify({ imagesDir: join(root, 'images'), vmsDir: join(root, 'vms'), vm: VM, ...request }),
    ],
    {
      env: { ...process.env, MULTIVERSE_DISKS_PAUSE_AT: options.pauseAt ?? '' },
      stdio: ['ignore', 'pipe', 'inherit'],
      detached: options.killGroup !== undefined,
    },
  );
  const closed = new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('close', (status, signal) => resolve([status, signal])),
  );
  const steps: string[] = [];
  let watching = false;
  let running = true;
  const watchToKill = async (killGroup: { when: () => Promise<boolean> }) => {
    while (running) {
      if (await killGroup.when()) {
        try {
          process.kill(-(child.pid ?? 0), 'SIGKILL');
        } catch (error) {
          // The group may have exited on its own between the check and the kill.
          if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
        }
        return;
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  };
  let watcher: Promise<void> = Promise.resolve();
  for await (const line of createInterface({ input: child.stdout })) {
    if (line.startsWith('step ')) {
      steps.push(line.slice(5));
      if (
        options.killGroup !== undefined &&
        !watching &&
        line.slice(5).startsWith(`${options.killGroup.step}#`)
      ) {
        watching = true;
        watcher = watchToKill(options.killGroup);
      }
    }
    if (line.startsWith('paused ')) {
      await options.whilePaused?.();
      child.kill('SIGKILL');
    }
  }
  const [status, signal] = await closed;
  running = false;
  await watcher;
  return { steps, signal, status };
}

describe('crash recovery: SIGKILL at every step of every chain operation', () => {
  let fixture: StoreFixture;
  let before_: ChainState;
  const viewOf = new Map<string, DiskView>();
  let ids: string[];
  let oldTop: string;

  before(async () => {
    // Template VM: checkpoints A, B (pinned), C, then uncheckpointed writes in the top.
    fixture = await makeStoreFixture();
    const { store, base } = fixture;
    await store.createVm(VM, { base, privateSizeBytes: 16 * MiB, volatileSizeBytes: null });
    let view: DiskView = new Map();
    ids = [];
    for (let k = 0; k < 4; k++) {
      const { private: top } = await store.prepareForStart(VM);
      const writes = new Map([
        [k, 0x10 + k],
        [100, 0x80 + k],
      ]);
      await writeRegions(top ?? '', writes);
      await store.cleanupAfterStop(VM);
      view = withWrites(view, writes);
      if (k === 3) break;
      const checkpoint = await store.checkpoint(VM, { message: `layer ${k}`, pinned: k === 1 });
      ids.push(checkpoint.id);
      viewOf.set(checkpoint.id, view);
    }
    const manifest = await store.manifest(VM);
    oldTop = manifest.private?.top ?? '';
    viewOf.set(oldTop, view);
    before_ = { ids: [...ids], top: view };
  });
  after(() => fixture.cleanup());

  /** A copy of the template VM's store (layer modes included) to run one operation on. */
  async function copyTemplate(name: string): Promise<string> {
    const root = join(fixture.root, 'runs', name);
    for (const dir of ['images', 'vms'])
      await cp(join(fixture.root, dir), join(root, dir), { recursive: true });
    return root;
  }

  async function assertWhole(root: string, expected: ChainState, label: string): Promise<void> {
    const store = new DiskStore({ imagesDir: join(root, 'images'), vmsDir: join(root, 'vms') });
    await store.verifyChain(VM);
    const manifest = await store.manifest(VM);
    const layers = [...(manifest.private?.checkpoints.map((c) => c.id) ?? []), manifest.private?.top ?? ''];
    assert.deepEqual(
      manifest.private?.checkpoints.map((c) => c.id),
      expected.ids,
      `${label}: checkpoints`,
    );
    for (const id of expected.ids) {
      await assertView(
        join(root, 'vms', VM, 'private', `${id}.qcow2`),
        viewOf.get(id) ?? new Map(),
        REGIONS,
        `${label}: checkpoint ${id}`,
      );
    }
    const { private: top } = await store.prepareForStart(VM);
    await assertView(top ?? '', expected.top, REGIONS, `${label}: top`);
    await store.cleanupAfterStop(VM);
    assert.deepEqual(
      (await readdir(join(root, 'vms', VM, 'private'))).sort(),
      layers.map((layer) => `${layer}.qcow2`).sort(),
      `${label}: files in the private directory`,
    );
    await assert.rejects(stat(join(root, 'vms', VM, 'journal.json')), { code: 'ENOENT' });
    // And the VM stays usable: one more checkpoint on the recovered chain.
    await store.checkpoint(VM, { message: 'after recovery' });
    await store.verifyChain(VM);
  }

  async function crashAtEveryStep(t: TestContext, scenario: Scenario): Promise<void> {
    const traceRoot = await copyTemplate(`${scenario.name}-trace`);
    const trace = await runChild(traceRoot, scenario.request);
    assert.equal(trace.status, 0, `${scenario.name} ran to completion`);
    assert.deepEqual([...new Set(trace.steps.map((step) => step.split('#')[0]))], scenario.expectedSteps);
    const states = [before_, ...scenario.after];
    await assertWhole(traceRoot, states.at(-1) ?? before_, `${scenario.name} uninterrupted`);

    let subOperation = 0;
    for (const [index, step] of trace.steps.entries()) {
      if (step.startsWith(scenario.expectedSteps[0] ?? '')) subOperation++;
      const [pre, post] = [states[subOperation - 1] ?? before_, states[subOperation] ?? before_];
      await t.test(`killed after ${step}`, async (subtest) => {
        const root = await copyTemplate(`${scenario.name}-at-${index}`);
        let busyChecked = false;
        const killed = await runChild(root, scenario.request, {
          pauseAt: step,
          whilePaused: async () => {
            if (index !== 0) return;
            // While the paused process holds the VM's lock, another process is turned away.
            const other = new DiskStore({
              imagesDir: join(root, 'images'),
              vmsDir: join(root, 'vms'),
              lockWaitMs: 200,
            });
            await assert.rejects(
              other.listCheckpoints(VM),
              (error) => error instanceof DiskError && error.code === 'CHAIN_BUSY',
            );
            busyChecked = true;
          },
        });
        assert.equal(killed.signal, 'SIGKILL', `the child was killed at ${step}`);
        assert.equal(killed.steps.at(-1), step);
        if (index === 0) assert.ok(busyChecked);

        const store = new DiskStore({ imagesDir: join(root, 'images'), vmsDir: join(root, 'vms') });
        const report = await store.recover(VM);
        const listed = (await store.listCheckpoints(VM)).map((c) => c.id);
        const completed = report === null || report.outcome === 'completed';
        if (report === null)
          assert.ok(step.startsWith(`${scenario.expectedSteps.at(-1) ?? ''}#`), `no journal after ${step}`);
        const expected = completed ? post : pre;
        subtest.diagnostic(`recovery: ${report?.outcome ?? 'nothing to do'}`);
        assert.deepEqual(
          listed,
          expected.ids,
          `checkpoints after recovering from ${step} (${report?.outcome ?? 'nothing to do'})`,
        );
        await assertWhole(root, expected, `${scenario.name} killed after ${step}`);
      });
    }
  }

  it('checkpoint', async (t) => {
    await crashAtEveryStep(t, {
      name: 'checkpoint',
      request: { op: 'checkpoint' },
      expectedSteps: [
        'checkpoint:journal-written',
        'overlay:staged',
        'checkpoint:overlay-created',
        'checkpoint:layer-frozen',
        'checkpoint:manifest-written',
        'checkpoint:journal-cleared',
      ],
      after: [{ ids: [...ids, oldTop], top: before_.top }],
    });
  });

  it('revert', async (t) => {
    await crashAtEveryStep(t, {
      name: 'revert',
      request: { op: 'revert', id: ids[1] ?? '' },
      expectedSteps: [
        'revert:journal-written',
        'overlay:staged',
        'revert:overlay-created',
        'revert:manifest-written',
        'revert:layer-removed',
        'revert:journal-cleared',
      ],
      after: [{ ids: ids.slice(0, 2), top: viewOf.get(ids[1] ?? '') ?? new Map() }],
    });
  });

  it('delete (the bottom checkpoint: its child is rebased onto nothing)', async (t) => {
    await crashAtEveryStep(t, {
      name: 'delete',
      request: { op: 'delete', id: ids[0] ?? '' },
      expectedSteps: [
        'delete:journal-written',
        'delete:child-unfrozen',
        'delete:child-rebased',
        'delete:child-refrozen',
        'delete:manifest-written',
        'delete:layer-removed',
        'delete:journal-cleared',
      ],
      after: [{ ids: ids.slice(1), top: before_.top }],
    });
  });

  it('prune to 0 unpinned (two merges: the bottom, then the newest under the top; the pinned one stays)', async (t) => {
    const pinned = ids[1] ?? '';
    await crashAtEveryStep(t, {
      name: 'prune',
      request: { op: 'prune', keep: 0 },
      expectedSteps: [
        'delete:journal-written',
        'delete:child-unfrozen',
        'delete:child-rebased',
        'delete:child-refrozen',
        'delete:manifest-written',
        'delete:layer-removed',
        'delete:journal-cleared',
      ],
      after: [
        { ids: ids.slice(1), top: before_.top },
        { ids: [pinned], top: before_.top },
      ],
    });
  });
});

describe('crash recovery: SIGKILL of the process group while qemu-img rebase is copying', () => {
  let fixture: StoreFixture;
  let bottom: string;
  let middle: string;
  const bigRegions = 1536; // 96 MiB written into the bottom layer: what the rebase of its child must copy
  const sampled = [...Array(bigRegions + 2).keys()].filter(
    (region) => region % 13 === 0 || region >= bigRegions - 1,
  );
  const bottomView: DiskView = new Map([...Array(bigRegions).keys()].map((region) => [region, 0x41]));
  const middleView = withWrites(bottomView, new Map([[5, 0x42]]));
  const topView = withWrites(middleView, new Map([[6, 0x43]]));

  before(async () => {
    fixture = await makeStoreFixture();
    const { store, base } = fixture;
    await store.createVm(VM, { base, privateSizeBytes: 128 * MiB, volatileSizeBytes: null });
    const top = join(
      fixture.options.vmsDir,
      VM,
      'private',
      `${(await store.manifest(VM)).private?.top ?? ''}.qcow2`,
    );
    await run('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x41 0 ${bigRegions * 64 * 1024}`, top]);
    bottom = (await store.checkpoint(VM)).id;
    const { private: second } = await store.prepareForStart(VM);
    await writeRegions(second ?? '', new Map([[5, 0x42]]));
    await store.cleanupAfterStop(VM);
    middle = (await store.checkpoint(VM)).id;
    const { private: third } = await store.prepareForStart(VM);
    await writeRegions(third ?? '', new Map([[6, 0x43]]));
    await store.cleanupAfterStop(VM);
  });
  after(() => fixture.cleanup());

  async function copyTemplate(name: string): Promise<string> {
    const root = join(fixture.root, 'runs', name);
    for (const dir of ['images', 'vms'])
      await cp(join(fixture.root, dir), join(root, dir), { recursive: true });
    return root;
  }

  it('leaves every checkpoint and the top intact wherever the kill lands', async (t) => {
    const middleBytes = await allocatedBytes(join(fixture.options.vmsDir, VM, 'private', `${middle}.qcow2`));
    let killedMidCopy = 0;
    for (const copiedMiB of [1, 16, 40, 64, 88]) {
      const root = await copyTemplate(`kill-${copiedMiB}`);
      const child = join(root, 'vms', VM, 'private', `${middle}.qcow2`);
      const copiedBytes = async () => (await stat(child)).blocks * 512 - middleBytes;
      const killed = await runChild(
        root,
        { op: 'delete', id: bottom },
        {
          killGroup: {
            step: 'delete:child-unfrozen',
            when: async () => (await copiedBytes()) >= copiedMiB * MiB,
          },
        },
      );
      // A rebase faster than the polling may finish first: then there is nothing to recover, which is checked too.
      assert.ok(
        killed.signal === 'SIGKILL' || killed.status === 0,
        `child ended with ${killed.signal ?? killed.status}`,
      );
      const copied = await copiedBytes();
      if (killed.steps.at(-1) === 'delete:child-unfrozen#1' && copied > 0) killedMidCopy++;

      const store = new DiskStore({ imagesDir: join(root, 'images'), vmsDir: join(root, 'vms') });
      const report = await store.recover(VM);
      t.diagnostic(
        `killed after ${killed.steps.at(-1) ?? 'nothing'} with ${(copied / MiB).toFixed(1)} MiB copied: ${report?.outcome ?? 'nothing to do'}`,
      );
      await store.verifyChain(VM);
      const manifest = await store.manifest(VM);
      const checkpoints = manifest.private?.checkpoints.map((c) => c.id) ?? [];
      const layer = (id: string) => join(root, 'vms', VM, 'private', `${id}.qcow2`);
      if (checkpoints.includes(bottom)) {
        await assertView(layer(bottom), bottomView, sampled, 'bottom checkpoint');
      }
      await assertView(layer(checkpoints.at(-1) ?? ''), middleView, sampled, 'newest checkpoint');
      await assertView(layer(manifest.private?.top ?? ''), topView, sampled, 'top');
    }
    t.diagnostic(`${killedMidCopy} of 5 kills landed while qemu-img was copying`);
    assert.ok(killedMidCopy >= 3, 'most kills must land inside the copy for this test to mean anything');
  });
});

// hostd itself SIGKILLed at every durable step of `vm checkpoint`, `vm revert` and `vm checkpoint-delete`, of a
// stopped VM and of a running one, then restarted on the same state directory. After each restart: the operation
// happened wholly or not at all (`vm checkpoints` and the files on disk agree with one of the two; a live delete,
// which only goes forward, is finished), the private directory holds exactly the manifest's layers (plus a live
// delete's aliases while the VM runs), a running VM's QEMU writes to the layer the manifest names, and
// every checkpoint and the top read back the label written before; each phase ends with the VM booted to READY
// reading its label through the serial console. Steps come from hostd's test-only pause
// (MULTIVERSE_DISKS_PAUSE_AT, disks/crash-test-pause.ts); each phase ends with a traced, uninterrupted run whose
// steps must be exactly the ones the phase killed at (the running revert: its engine steps), so a new step cannot
// go untested. Last, the scenario: A, B, C checkpointed with markers on a running VM, B deleted live.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import type { Checkpoint } from '../disks/index.js';
import { onGuestConsole } from '../testing/guest-console-command.js';
import { HostdProcess, eventually, type MvctlRun } from '../testing/hostd-process.js';
import { removeDomains } from '../testing/libvirt-cleanup.js';
import { prepareTemplates } from '../testing/test-templates.js';
import { readDiskSources } from './domain-facts.js';
import type { VmInfo } from './index.js';

const run = promisify(execFile);
const imagesDir = process.env['MULTIVERSE_TEST_IMAGES_DIR'] || '/var/lib/multiverse/images';
const VM = `mvcrash-${randomBytes(3).toString('hex')}`;
const STEP_LINE = 'MULTIVERSE_DISKS_STEP ';
const PAUSED_LINE = 'MULTIVERSE_DISKS_PAUSED ';
/** Labels are 8 bytes at the start of the private volume: written by the guest (running) or qemu-io (stopped). */
const LABEL_BYTES = 8;
/** The private volume inside the guest: libvirt's target is vdb, but it is the guest's only disk (no root). */
const GUEST_PRIVATE_DEVICE = '/dev/vda';

const STOPPED_CHECKPOINT = [
  'checkpoint:journal-written#1',
  'overlay:staged#1',
  'checkpoint:overlay-created#1',
  'checkpoint:layer-frozen#1',
  'checkpoint:manifest-written#1',
  'checkpoint:journal-cleared#1',
];
const LIVE_CHECKPOINT = [
  'checkpoint:journal-written#1',
  'vm-checkpoint:live-snapshot-taken#1',
  'checkpoint:overlay-created#1',
  'checkpoint:layer-frozen#1',
  'checkpoint:manifest-written#1',
  'checkpoint:journal-cleared#1',
];
/** Reverting to the checkpoint below the newest drops two layers: the newest checkpoint and the top. */
const STOPPED_REVERT = [
  'revert:journal-written#1',
  'overlay:staged#1',
  'revert:overlay-created#1',
  'revert:manifest-written#1',
  'revert:layer-removed#1',
  'revert:layer-removed#2',
  'revert:journal-cleared#1',
];
/** Each of these costs a boot: the disk steps between are killed at in the stopped phase. */
const RUNNING_REVERT = ['vm-revert:running-vm-cut-off#1', 'vm-revert:reverted-before-restart#1'];
/** The steps a full running revert walks: the disk steps killed at in the stopped phase are not repeated. */
const RUNNING_REVERT_TRACE = [
  'vm-revert:running-vm-cut-off#1',
  ...STOPPED_REVERT,
  'vm-revert:reverted-before-restart#1',
];
/** Deleting a checkpoint whose child is a frozen checkpoint (the longest path). */
const STOPPED_DELETE = [
  'delete:journal-written#1',
  'delete:child-unfrozen#1',
  'delete:child-rebased#1',
  'delete:child-refrozen#1',
  'delete:manifest-written#1',
  'delete:layer-removed#1',
  'delete:journal-cleared#1',
];

/** Deleting a checkpoint whose child is a frozen checkpoint: the child is committed into it. */
const LIVE_DELETE_COMMIT = [
  'live-delete:journal-written#1',
  'live-delete:layers-writable#1',
  'vm-delete:merge-job-started#1',
  'live-delete:merged#1',
  'live-delete:child-relinked#1',
  'live-delete:layers-refrozen#1',
  'live-delete:manifest-written#1',
  'live-delete:journal-cleared#1',
];
/** Deleting the newest checkpoint: the top pulls its data. Killed only where it differs from the commit. */
const LIVE_DELETE_PULL_TRACE = [
  'live-delete:journal-written#1',
  'live-delete:layers-writable#1',
  'vm-delete:merge-job-started#1',
  'live-delete:merged#1',
  'live-delete:layers-refrozen#1',
  'live-delete:manifest-written#1',
  'live-delete:layer-removed#1',
  'live-delete:journal-cleared#1',
];

interface ChainState {
  ids: string[];
  top: string;
}

describe('hostd SIGKILLed at every step of checkpoint, revert and delete (TCG)', { timeout: 900_000 }, () => {
  let root: string;
  let templatesDir: string;
  let client: LibvirtClient;
  let hostd: HostdProcess;
  /** What each checkpoint (by id) and the top read at the start of the private volume. */
  const labels = new Map<string, string>();
  let topLabel = '';
  let labelCounter = 0;

  const vmDir = () => join(root, 'state', 'vms', VM);
  const layerPath = (id: string) => join(vmDir(), 'private', `${id}.qcow2`);

  function nextLabel(prefix: string): string {
    labelCounter += 1;
    return `${prefix}${String(labelCounter).padStart(LABEL_BYTES - prefix.length, '0')}`;
  }

  /** A hostd on the test's state directory, armed to pause at `pauseAt` ('' none, 'trace' announce only). */
  async function startHostd(pauseAt: string): Promise<void> {
    hostd = new HostdProcess({
      root,
      env: {
        MULTIVERSE_TEMPLATES_DIR: templatesDir,
        MULTIVERSE_IMAGES_DIR: imagesDir,
        MULTIVERSE_DISPOSABLE_POOL: 'none',
        MULTIVERSE_TOR: 'off',
        MULTIVERSE_MAX_CHAIN_DEPTH: '40',
        MULTIVERSE_DISKS_PAUSE_AT: pauseAt,
      },
    });
    await hostd.start(60_000);
  }

  /** Runs the mvctl command until hostd announces the pause at `pauseAt`, then SIGKILLs hostd there. */
  async function killHostdAt(args: string[], pauseAt: string): Promise<void> {
    const command = hostd.mvctl([...args, '--json']);
    let ended: MvctlRun | undefined;
    void command.then((result) => (ended = result));
    await eventually(
      `hostd to pause at ${pauseAt}`,
      () => {
        if (hostd.log.includes(`${PAUSED_LINE}${pauseAt}\n`)) return Promise.resolve(true);
        // A command that ended never reached the step: no point waiting.
        if (ended !== undefined) {
          assert.fail(`${args.join(' ')} ended without pausing at ${pauseAt}: ${ended.stdout}\n${hostd.log}`);
        }
        return Promise.resolve(undefined);
      },
      120_000,
    );
    assert.equal(await hostd.stop('SIGKILL'), null);
    const cutOff = await command;
    assert.notEqual(cutOff.code, 0, 'mvctl reports the operation as not finished when hostd dies under it');
  }

  /** The steps hostd announced since `from` (an offset in its log), occurrences counted from there. */
  function announcedSteps(from: number): string[] {
    const seen = new Map<string, number>();
    return hostd.log
      .slice(from)
      .split('\n')
      .filter((line) => line.startsWith(STEP_LINE))
      .map((line) => {
        const name = line.slice(STEP_LINE.length).split('#')[0] ?? '';
        seen.set(name, (seen.get(name) ?? 0) + 1);
        return `${name}#${seen.get(name)}`;
      });
  }

  async function manifestChain(): Promise<ChainState> {
    const manifest = JSON.parse(await readFile(join(vmDir(), 'disks.json'), 'utf8')) as {
      private: { checkpoints: { id: string }[]; top: string };
    };
    return { ids: manifest.private.checkpoints.map((c) => c.id), top: manifest.private.top };
  }

  /**
   * `vm checkpoints` lists what the manifest holds, no journal is left, the private directory holds exactly
   * the manifest's layers, and qemu-img sees the manifest's chain from its top down. While the VM runs after a
   * live delete, a layer may also have its old name (an alias, hard link, that QEMU's headers still use).
   */
  async function assertConsistent(options: { aliasesAllowed?: boolean } = {}): Promise<ChainState> {
    const chain = await manifestChain();
    const listed = await hostd.mvctlJson<{ checkpoints: Checkpoint[] }>(['vm', 'checkpoints', VM]);
    assert.deepEqual(
      listed.checkpoints.map((c) => c.id),
      chain.ids,
    );
    const files = await readdir(vmDir());
    assert.ok(!files.includes('journal.json'), `no journal left after recovery: ${files.join(', ')}`);
    const layers = [...chain.ids, chain.top];
    const inodes = await Promise.all(layers.map(async (id) => (await stat(layerPath(id))).ino));
    const present = (await readdir(join(vmDir(), 'private'))).sort();
    const aliases = present.filter((file) => !layers.some((id) => file === `${id}.qcow2`));
    if (options.aliasesAllowed === true) {
      for (const alias of aliases) {
        const inode = (await stat(join(vmDir(), 'private', alias))).ino;
        assert.ok(inodes.includes(inode), `${alias} is another name of a layer, not a leftover`);
      }
    } else {
      assert.deepEqual(aliases, [], 'the private directory holds only the layers of the manifest');
    }
    const { stdout } = await run('qemu-img', [
      'info',
      '-U',
      '--backing-chain',
      '--output=json',
      layerPath(chain.top),
    ]);
    const onDisk = await Promise.all(
      (JSON.parse(stdout) as { filename: string }[]).map(async (image) => (await stat(image.filename)).ino),
    );
    assert.deepEqual(onDisk, inodes.reverse(), 'the chain on disk is the manifest’s');
    return chain;
  }

  /** A killed live delete is finished by the restarted hostd once it is connected to libvirt. */
  async function journalGone(): Promise<void> {
    await eventually(
      'the interrupted live delete to be finished',
      async () => ((await readdir(vmDir())).includes('journal.json') ? undefined : true),
      120_000,
    ).catch((error: unknown) => {
      assert.fail(`${error instanceof Error ? error.message : String(error)}\n${hostd.log}`);
    });
  }

  /** The label a layer reads (through its backing chain), from the host; -U: QEMU may hold it open. */
  async function hostLabel(id: string): Promise<string> {
    const out = join(root, 'label.raw');
    await run('qemu-img', [
      'dd',
      '-U',
      '-f',
      'qcow2',
      '-O',
      'raw',
      `if=${layerPath(id)}`,
      `of=${out}`,
      `bs=${LABEL_BYTES}`,
      'count=1',
    ]);
    return (await readFile(out)).subarray(0, LABEL_BYTES).toString('latin1');
  }

  /** Writes a label into the top layer of the stopped VM, as the guest would have. */
  async function writeHostLabel(): Promise<string> {
    const label = String.fromCharCode(0x41 + (labelCounter++ % 26)).repeat(LABEL_BYTES);
    const { top } = await manifestChain();
    await run('qemu-io', [
      '-f',
      'qcow2',
      '-c',
      `write -P 0x${label.charCodeAt(0).toString(16)} 0 8`,
      layerPath(top),
    ]);
    topLabel = label;
    return label;
  }

  async function writeGuestLabel(prefix: string): Promise<string> {
    const label = nextLabel(prefix);
    await onGuestConsole(
      client,
      VM,
      `printf %s ${label} | dd of=${GUEST_PRIVATE_DEVICE} bs=${LABEL_BYTES} count=1 conv=notrunc,fsync status=none`,
    );
    topLabel = label;
    return label;
  }

  async function guestLabel(): Promise<string> {
    return (
      await onGuestConsole(
        client,
        VM,
        `dd if=${GUEST_PRIVATE_DEVICE} bs=${LABEL_BYTES} count=1 status=none; echo`,
      )
    ).trim();
  }

  async function vmState(): Promise<string> {
    return (await hostd.mvctlJson<VmInfo>(['vm', 'info', VM])).state;
  }

  async function startVm(): Promise<void> {
    const started = await hostd.mvctl(['vm', 'start', VM]);
    assert.equal(started.code, 0, `${started.stdout}${started.stderr}\n${hostd.log}`);
  }

  /** The running VM's QEMU writes to the layer the manifest names as the top. */
  async function assertQemuWritesTop(chain: ChainState): Promise<void> {
    const xml = await client.domainGetXmlDesc(await client.domainLookupByName(VM));
    const files = readDiskSources(xml).map((disk) => disk.file);
    assert.ok(
      files.includes(layerPath(chain.top)),
      `QEMU writes to ${files.join(', ')}, the manifest's top is ${chain.top}`,
    );
  }

  /** Boots the stopped VM to READY and checks the label it reads; leaves it running. */
  async function bootAndRead(): Promise<void> {
    assert.equal(await vmState(), 'shutoff');
    await startVm();
    assert.equal(await guestLabel(), topLabel);
  }

  /**
   * For each step: `seed` (with the hostd armed for that step), then the command killed there, then a hostd for
   * the next step, whose start-up recovery `check` judges. Last, a traced uninterrupted run must walk exactly
   * `trace` (default: the steps). `seedWalks` are steps the seed itself walks before the command (their count is
   * added to the occurrence the pause waits for).
   */
  async function crashAtEveryStep(phase: {
    steps: string[];
    trace?: string[];
    seedWalks?: string[];
    seed: () => Promise<void>;
    command: () => string[];
    check: (before: ChainState) => Promise<void>;
    /**
     * The restarted hostd finishes the operation after it armed its pause (live deletes are resumed once it is
     * connected to libvirt): check on an unarmed hostd, then restart it armed for the next step.
     */
    recoveredAfterArming?: boolean;
    /** The VM runs on through live deletes, so layers may have aliases (see assertConsistent). */
    aliasesAllowed?: boolean;
  }): Promise<void> {
    const armFor = (step: string) => {
      const [name = '', occurrence = '1'] = step.split('#');
      const seeded = (phase.seedWalks ?? []).filter((walked) => walked === name).length;
      return `${name}#${Number(occurrence) + seeded}`;
    };
    for (const [index, step] of phase.steps.entries()) {
      if (index === 0) {
        await hostd.stop();
        await startHostd(armFor(step));
      }
      await phase.seed();
      const before = await assertConsistent({ aliasesAllowed: phase.aliasesAllowed === true });
      await killHostdAt(phase.command(), armFor(step));
      const next = phase.steps[index + 1];
      const armNext = next === undefined ? 'trace' : armFor(next);
      if (phase.recoveredAfterArming === true) {
        await startHostd('');
        await phase.check(before);
        await hostd.stop();
        await startHostd(armNext);
      } else {
        await startHostd(armNext);
        await phase.check(before);
      }
    }
    await phase.seed();
    const before = await assertConsistent({ aliasesAllowed: phase.aliasesAllowed === true });
    const from = hostd.log.length;
    await hostd.finishedTask(phase.command());
    assert.deepEqual(announcedSteps(from), phase.trace ?? phase.steps, 'the steps the operation walks');
    await phase.check(before);
    await hostd.stop();
    await startHostd('');
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-hostd-crash-'));
    await chmod(root, 0o711);
    templatesDir = await prepareTemplates(root, [
      { name: 'crashy', privateSize: '64MiB', readyTimeout: '180s' },
    ]);
    client = await LibvirtClient.connect('qemu:///system');
    await startHostd('');
    await hostd.mvctlJson(['vm', 'create', VM, '--template', 'crashy']);
  });

  after(async () => {
    await hostd.stop('SIGKILL').catch(() => undefined);
    await removeDomains(client, [VM]);
    await client.close();
    await rm(root, { recursive: true, force: true });
  });

  it('stopped VM: checkpoint, revert and delete killed at each step leave the VM whole', async () => {
    // Checkpoint: happened iff the old top became a checkpoint.
    await crashAtEveryStep({
      steps: STOPPED_CHECKPOINT,
      seed: async () => void (await writeHostLabel()),
      command: () => ['vm', 'checkpoint', VM, '-m', 'stopped'],
      check: async (before) => {
        const chain = await assertConsistent();
        if (chain.ids.length === before.ids.length) {
          assert.deepEqual(chain, before, 'not happened: the chain is as before');
        } else {
          assert.deepEqual(
            chain.ids,
            [...before.ids, before.top],
            'happened: the old top is the new checkpoint',
          );
          labels.set(before.top, topLabel);
          assert.equal(await hostLabel(before.top), topLabel);
        }
        assert.equal(await hostLabel(chain.top), topLabel);
      },
    });
    // Revert to the checkpoint below the newest: happened iff the chain ends at the target.
    let target = '';
    await crashAtEveryStep({
      steps: STOPPED_REVERT,
      seedWalks: STOPPED_CHECKPOINT.map((step) => step.split('#')[0] ?? ''),
      seed: async () => {
        const { ids } = await manifestChain();
        target = ids[ids.length - 1] ?? '';
        await writeHostLabel();
        const checkpoint = (await hostd.finishedTask(['vm', 'checkpoint', VM])).result as { id: string };
        labels.set(checkpoint.id, topLabel);
      },
      command: () => ['vm', 'revert', VM, target],
      check: async (before) => {
        const chain = await assertConsistent();
        if (chain.top === before.top) {
          assert.deepEqual(chain, before, 'not happened: the chain is as before');
        } else {
          assert.deepEqual(chain.ids, before.ids.slice(0, before.ids.indexOf(target) + 1), 'happened');
          topLabel = labels.get(target) ?? '';
        }
        assert.equal(await hostLabel(chain.top), topLabel);
      },
    });
    // Delete the checkpoint below the newest (its child is frozen): happened iff it is gone; nothing else changed.
    let doomed = '';
    await crashAtEveryStep({
      steps: STOPPED_DELETE,
      seed: async () => {
        await writeHostLabel();
        const checkpoint = (await hostd.finishedTask(['vm', 'checkpoint', VM])).result as { id: string };
        labels.set(checkpoint.id, topLabel);
        const { ids } = await manifestChain();
        doomed = ids[ids.length - 2] ?? '';
      },
      command: () => ['vm', 'checkpoint-delete', VM, doomed],
      check: async (before) => {
        const chain = await assertConsistent();
        if (chain.ids.includes(doomed))
          assert.deepEqual(chain, before, 'not happened: the chain is as before');
        else
          assert.deepEqual(
            chain.ids,
            before.ids.filter((id) => id !== doomed),
            'happened',
          );
        assert.equal(chain.top, before.top);
        for (const id of chain.ids) assert.equal(await hostLabel(id), labels.get(id), `checkpoint ${id}`);
        assert.equal(await hostLabel(chain.top), topLabel);
      },
    });
    await bootAndRead();
  });

  it('running VM: live checkpoint and revert (cut off, revert, restart) killed at each step', async () => {
    if ((await vmState()) !== 'running') await startVm();
    await crashAtEveryStep({
      steps: LIVE_CHECKPOINT,
      seed: async () => {
        assert.equal(await vmState(), 'running');
        await writeGuestLabel('live');
      },
      command: () => ['vm', 'checkpoint', VM, '-m', 'live'],
      check: async (before) => {
        assert.equal(await vmState(), 'running', 'killing hostd leaves the VM running');
        const chain = await assertConsistent();
        if (chain.ids.length === before.ids.length) {
          assert.deepEqual(chain, before, 'not happened: the chain is as before');
        } else {
          assert.deepEqual(
            chain.ids,
            [...before.ids, before.top],
            'happened: the old top is the new checkpoint',
          );
          labels.set(before.top, topLabel);
          assert.equal(await hostLabel(before.top), topLabel);
        }
        await assertQemuWritesTop(chain);
        assert.equal(await guestLabel(), topLabel);
      },
    });
    let target = '';
    await crashAtEveryStep({
      steps: RUNNING_REVERT,
      trace: RUNNING_REVERT_TRACE,
      seed: async () => {
        if ((await vmState()) !== 'running') await startVm();
        const { ids } = await manifestChain();
        target = ids[ids.length - 1] ?? '';
        await writeGuestLabel('rvrt');
        const checkpoint = (await hostd.finishedTask(['vm', 'checkpoint', VM])).result as { id: string };
        labels.set(checkpoint.id, topLabel);
        await writeGuestLabel('rtop');
      },
      command: () => ['vm', 'revert', VM, target],
      check: async (before) => {
        const chain = await assertConsistent();
        if (chain.top === before.top) {
          assert.deepEqual(chain, before, 'not happened: the chain is as before');
        } else {
          assert.deepEqual(chain.ids, before.ids.slice(0, before.ids.indexOf(target) + 1), 'happened');
          topLabel = labels.get(target) ?? '';
        }
        // Cut off or not yet restarted: the VM boots on whatever the chain now is.
        if ((await vmState()) !== 'running') await startVm();
        await assertQemuWritesTop(chain);
        assert.equal(await guestLabel(), topLabel);
      },
    });
    assert.deepEqual(await hostd.mvctlJson(['vm', 'kill', VM]), { name: VM });
    await bootAndRead();
  });
  it('running VM: live checkpoint-delete (block commit or pull) killed at each step is finished after restart', async () => {
    if ((await vmState()) !== 'running') await startVm();
    let doomed = '';
    const seedCheckpoint = async (prefix: string) => {
      assert.equal(await vmState(), 'running');
      await writeGuestLabel(prefix);
      const checkpoint = (await hostd.finishedTask(['vm', 'checkpoint', VM])).result as { id: string };
      labels.set(checkpoint.id, topLabel);
      await writeGuestLabel(`${prefix.slice(0, 3)}t`);
      return (await manifestChain()).ids;
    };
    const check = async (before: ChainState) => {
      await journalGone();
      assert.equal(await vmState(), 'running', 'killing hostd leaves the VM running');
      const chain = await assertConsistent({ aliasesAllowed: true });
      assert.deepEqual(
        chain.ids,
        before.ids.filter((id) => id !== doomed),
        'a live delete, once begun, is finished',
      );
      assert.equal(chain.top, before.top);
      for (const id of chain.ids) assert.equal(await hostLabel(id), labels.get(id), `checkpoint ${id}`);
      await assertQemuWritesTop(chain);
      assert.equal(await guestLabel(), topLabel);
    };
    await crashAtEveryStep({
      steps: LIVE_DELETE_COMMIT,
      recoveredAfterArming: true,
      aliasesAllowed: true,
      seed: async () => {
        let ids = await seedCheckpoint('dcmt');
        if (ids.length < 2) ids = await seedCheckpoint('dcmt');
        doomed = ids[ids.length - 2] ?? '';
      },
      command: () => ['vm', 'checkpoint-delete', VM, doomed],
      check,
    });
    await crashAtEveryStep({
      steps: ['vm-delete:merge-job-started#1', 'live-delete:layer-removed#1'],
      trace: LIVE_DELETE_PULL_TRACE,
      recoveredAfterArming: true,
      aliasesAllowed: true,
      seed: async () => {
        const ids = await seedCheckpoint('dpul');
        doomed = ids[ids.length - 1] ?? '';
      },
      command: () => ['vm', 'checkpoint-delete', VM, doomed],
      check,
    });
    // Stopped, the aliases a live commit left are settled: the strict check holds again.
    assert.deepEqual(await hostd.mvctlJson(['vm', 'kill', VM]), { name: VM });
    await assertConsistent();
    await bootAndRead();
  });

  it('running VM: checkpoints A, B, C; deleting B live keeps A and C, reverts read them back', async () => {
    if ((await vmState()) !== 'running') await startVm();
    const checkpointWith = async (label: string) => {
      await onGuestConsole(
        client,
        VM,
        `printf %s ${label} | dd of=${GUEST_PRIVATE_DEVICE} bs=${LABEL_BYTES} count=1 conv=notrunc,fsync status=none`,
      );
      return ((await hostd.finishedTask(['vm', 'checkpoint', VM, '-m', label])).result as { id: string }).id;
    };
    const a = await checkpointWith('dataA001');
    const b = await checkpointWith('dataB002');
    const c = await checkpointWith('dataC003');
    topLabel = await writeGuestLabel('dataT');
    const deleted = await hostd.finishedTask(['vm', 'checkpoint-delete', VM, b]);
    assert.deepEqual(deleted.result, { name: VM, deleted: b });
    const ids = (await assertConsistent({ aliasesAllowed: true })).ids;
    assert.ok(!ids.includes(b) && ids.includes(a) && ids.includes(c), ids.join(', '));
    assert.equal(await vmState(), 'running', 'the VM ran on through the delete');
    assert.equal(await guestLabel(), topLabel, 'the top reads as before');
    assert.equal(await hostLabel(c), 'dataC003');
    assert.equal(await hostLabel(a), 'dataA001');
    const toC = await hostd.finishedTask(['vm', 'revert', VM, c]);
    assert.ok(
      (toC.result as { restarted?: unknown }).restarted !== undefined,
      'the running VM was restarted',
    );
    assert.equal(await guestLabel(), 'dataC003');
    await assertConsistent();
    await hostd.finishedTask(['vm', 'revert', VM, a]);
    assert.equal(await guestLabel(), 'dataA001');
    assert.deepEqual(await hostd.mvctlJson(['vm', 'kill', VM]), { name: VM });
  });
  it('running VM: after a live commit leaves an alias, deleting the newest checkpoint live (pull) removes both names', async () => {
    if ((await vmState()) !== 'running') await startVm();
    const checkpointWith = async (label: string) => {
      await onGuestConsole(
        client,
        VM,
        `printf %s ${label} | dd of=${GUEST_PRIVATE_DEVICE} bs=${LABEL_BYTES} count=1 conv=notrunc,fsync status=none`,
      );
      return ((await hostd.finishedTask(['vm', 'checkpoint', VM, '-m', label])).result as { id: string }).id;
    };
    const a = await checkpointWith('pullA001');
    const b = await checkpointWith('pullB002');
    const c = await checkpointWith('pullC003');
    topLabel = await writeGuestLabel('pullT');
    await hostd.finishedTask(['vm', 'checkpoint-delete', VM, b]);
    // c's file is now b's (an alias the top's header names); the pull below switches the top to a.
    await hostd.finishedTask(['vm', 'checkpoint-delete', VM, c]);
    const chain = await assertConsistent();
    assert.deepEqual(chain.ids.slice(-1), [a], 'no alias is left and a is the newest checkpoint');
    assert.equal(await guestLabel(), topLabel);
    await hostd.finishedTask(['vm', 'revert', VM, a]);
    assert.equal(await guestLabel(), 'pullA001');
    assert.deepEqual(await hostd.mvctlJson(['vm', 'kill', VM]), { name: VM });
  });
});

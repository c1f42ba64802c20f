// End to end through the real daemon: mvctl → API → HostService → VmEngine → libvirtd/QEMU (TCG), with a
// tiny guest that has to report READY on its console.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorNumber, LibvirtClient, LibvirtError } from '@multiverse/libvirt-ts';
import { readVmMetadata } from '@multiverse/vm-templates';
import type { AuditEntry, AuditVerification } from '../audit/index.js';
import type { HostInfo, VmSummary } from '../service/index.js';
import type { TaskRecord } from '../tasks/index.js';
import { DiskStore } from '../disks/index.js';
import type { Checkpoint } from '../disks/index.js';
import { prepareTemplates } from '../testing/test-templates.js';
import type { CreatedVm, VmInfo } from './index.js';
import { readDiskSources } from './domain-facts.js';
import { fallbackNameOf } from './vm-engine.js';

const hostdScript = new URL('../main.js', import.meta.url).pathname;
const mvctlScript = new URL('../cli/mvctl.js', import.meta.url).pathname;

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

describe('vm create/start/stop/delete through a real hostd (TCG)', { timeout: 300_000 }, () => {
  const suffix = randomBytes(4).toString('hex');
  const vmName = `mvtest-${suffix}`;
  const otherName = `mvtest-${suffix}-x`;
  const volumesName = `mvtest-${suffix}-v`;
  const checkpointsName = `mvtest-${suffix}-c`;
  const ephemeralName = `mvtest-${suffix}-e`;
  let root: string;
  let runDir: string;
  let hostd: ChildProcess | undefined;
  let hostdLog = '';
  let client: LibvirtClient;

  function mvctl(args: string[]): Promise<Run> {
    return new Promise((resolve) => {
      execFile(
        process.execPath,
        [mvctlScript, ...args],
        { env: { ...process.env, MULTIVERSE_RUN_DIR: runDir } },
        (error, stdout, stderr) => {
          const code = error === null ? 0 : typeof error.code === 'number' ? error.code : -1;
          resolve({ code, stdout, stderr });
        },
      );
    });
  }

  async function mvctlJson<T>(args: string[]): Promise<T> {
    const run = await mvctl([...args, '--json']);
    assert.equal(run.code, 0, `mvctl ${args.join(' ')}: ${run.stderr}\nhostd log:\n${hostdLog}`);
    return JSON.parse(run.stdout) as T;
  }

  async function vmSummary(name: string): Promise<VmSummary | undefined> {
    const { vms } = await mvctlJson<{ vms: VmSummary[] }>(['vm', 'list']);
    return vms.find((vm) => vm.name === name);
  }

  async function removeDomain(name: string): Promise<void> {
    try {
      const domain = await client.domainLookupByName(name);
      if (await client.domainIsActive(domain)) await client.domainDestroy(domain);
      await client.domainUndefine(domain);
    } catch (error) {
      if (!(error instanceof LibvirtError && error.code === ErrorNumber.ERR_NO_DOMAIN)) throw error;
    }
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-vm-engine-'));
    // mkdtemp makes it 0700; QEMU (user libvirt-qemu) must traverse it to the guest image under the state dir.
    await chmod(root, 0o711);
    runDir = join(root, 'run');
    // The shipped templates, and ones the tiny image can run with volumes: kernel boot, no root volume.
    const templatesDir = await prepareTemplates(root, [
      { name: 'scratch', privateSize: '64MiB', volatileSize: '32MiB' },
      { name: 'throwaway', privateSize: '64MiB', volatileSize: '32MiB', ephemeral: true },
    ]);
    client = await LibvirtClient.connect('qemu:///system');
    hostd = spawn(process.execPath, [hostdScript], {
      env: {
        ...process.env,
        MULTIVERSE_STATE_DIR: join(root, 'state'),
        MULTIVERSE_RUN_DIR: runDir,
        MULTIVERSE_ACCELERATOR: 'tcg',
        MULTIVERSE_TEMPLATES_DIR: templatesDir,
        MULTIVERSE_DISPOSABLE_POOL: 'none',
        MULTIVERSE_JAIL_LISTEN: 'off',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    hostd.stderr?.on('data', (chunk: Buffer) => (hostdLog += chunk.toString()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      assert.equal(hostd.exitCode, null, `hostd exited at start:\n${hostdLog}`);
      const run = await mvctl(['host', 'info', '--json']);
      if (run.code === 0 && (JSON.parse(run.stdout) as HostInfo).accelerator !== null) break;
      assert.ok(Date.now() < deadline, `hostd did not answer in time:\n${hostdLog}`);
      await sleep(100);
    }
  });

  after(async () => {
    const failures: unknown[] = [];
    // With the fallback VM a failed start would have booted for each.
    for (const name of [vmName, otherName, volumesName, checkpointsName, ephemeralName].flatMap((vm) => [
      vm,
      fallbackNameOf(vm),
    ]))
      await removeDomain(name).catch((error) => failures.push(error));
    const child = hostd;
    if (child !== undefined && child.exitCode === null) {
      child.kill('SIGTERM');
      await once(child, 'exit');
    }
    await client.close();
    await rm(root, { recursive: true, force: true });
    if (failures.length > 0) throw new AggregateError(failures, 'cleaning up the test VMs failed');
  });

  it('creates a fallback VM, boots it to READY, lists it running, stops and deletes it', async () => {
    const created = await mvctlJson<CreatedVm>(['vm', 'create', vmName, '--template', 'fallback']);
    assert.equal(created.name, vmName);
    assert.equal(created.role, 'fallback');
    assert.match(created.image, /^tiny@[0-9a-f]{64}$/);

    // libvirt holds the VM, with our metadata and the accelerator hostd decided (TCG → type qemu).
    const domain = await client.domainLookupByName(vmName);
    const xml = await client.domainGetXmlDesc(domain);
    assert.match(xml, /<domain type='qemu'/);
    assert.equal(readVmMetadata(xml)?.template, 'fallback');

    const stopped = await vmSummary(vmName);
    assert.equal(stopped?.state, 'shutoff');
    assert.equal(stopped?.role, 'fallback');
    assert.equal(stopped?.template, 'fallback');

    const start = await mvctl(['vm', 'start', vmName]);
    assert.equal(start.code, 0, `${start.stdout}\n${start.stderr}\nhostd log:\n${hostdLog}`);
    assert.match(start.stderr, /waiting for the guest's READY line/);
    assert.match(start.stdout, /state\s+succeeded/);

    const [startTask] = (await mvctlJson<{ tasks: TaskRecord[] }>(['task', 'list', '--limit', '1'])).tasks;
    assert.equal(startTask?.kind, 'vm.start');
    assert.equal(startTask?.target, vmName);
    assert.equal(startTask?.state, 'succeeded');
    const result = startTask?.result as {
      bootId: string;
      guestUptimeSeconds: number;
      readyAfterSeconds: number;
    };
    assert.match(result.bootId, /^[0-9a-f-]{36}$/);
    assert.ok(result.guestUptimeSeconds > 0 && result.readyAfterSeconds > 0);

    const running = await vmSummary(vmName);
    assert.equal(running?.state, 'running');
    assert.equal(running?.role, 'fallback');

    // A running VM can be neither started again nor deleted.
    const again = await mvctl(['vm', 'start', vmName, '--json']);
    assert.equal(again.code, 1);
    assert.equal((JSON.parse(again.stdout) as { error: { code: string } }).error.code, 'VM_ALREADY_RUNNING');
    const deleteRunning = await mvctl(['vm', 'delete', vmName]);
    assert.equal(deleteRunning.code, 1);
    assert.match(deleteRunning.stderr, /VM_RUNNING/);

    // vm info tells the whole VM: the fallback template is offline (no networks) and shared.
    const info = await mvctlJson<VmInfo>(['vm', 'info', vmName]);
    assert.equal(info.state, 'running');
    assert.equal(info.template, 'fallback');
    assert.deepEqual(info.interfaces, []);
    assert.deepEqual(info.pinning, { class: 'shared', cpus: null });
    assert.equal(info.disposable, false);

    // The tiny guest ignores ACPI: a stop asks, waits the timeout, then cuts it off and says so.
    const stop = await mvctl(['vm', 'stop', vmName, '--timeout', '1']);
    assert.equal(stop.code, 0, stop.stderr);
    assert.equal(stop.stdout, `VM ${vmName} did not power off in time and was cut off\n`);
    assert.equal((await vmSummary(vmName))?.state, 'shutoff');
    const stopAgain = await mvctl(['vm', 'stop', vmName]);
    assert.equal(stopAgain.code, 1);
    assert.match(stopAgain.stderr, /VM_NOT_RUNNING/);

    const deleted = await mvctl(['vm', 'delete', vmName]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.equal(deleted.stdout, `VM ${vmName} deleted\n`);
    assert.equal(await vmSummary(vmName), undefined);

    const { entries } = await mvctlJson<{ entries: AuditEntry[] }>(['audit', 'list', '--limit', '1000']);
    const actions = entries.filter((entry) => entry.target === vmName).map((e) => `${e.action}:${e.result}`);
    for (const expected of [
      'vm.create:ok',
      'vm.start:ok',
      'vm.start:failed',
      'vm.info:ok',
      'vm.stop:ok',
      'vm.delete:ok',
    ]) {
      assert.ok(actions.includes(expected), `audit has ${expected}: ${actions.join(', ')}`);
    }
    const verification = await mvctlJson<AuditVerification>(['audit', 'verify']);
    assert.equal(verification.ok, true);
  });

  it('gives a VM private and volatile volumes on the tiny image: attached while it runs, volatile gone at stop', async () => {
    const vmsDir = join(root, 'state', 'vms');
    await mvctlJson<CreatedVm>(['vm', 'create', volumesName, '--template', 'scratch']);
    const privateDir = join(vmsDir, volumesName, 'private');
    const [firstLayer, ...moreLayers] = await readdir(privateDir);
    assert.ok(firstLayer !== undefined && moreLayers.length === 0, 'one private layer after create');
    const privateTop = join(privateDir, firstLayer);
    const volatile = join(vmsDir, volumesName, 'run', 'volatile.qcow2');

    const start = await mvctl(['vm', 'start', volumesName]);
    assert.equal(start.code, 0, `${start.stdout}\n${start.stderr}\nhostd log:\n${hostdLog}`);
    assert.equal((await vmSummary(volumesName))?.state, 'running');
    // The running domain has both volumes attached from the disk store's files (the tiny kernel loads no
    // virtio driver, so the guest itself does not see them).
    const xml = await client.domainGetXmlDesc(await client.domainLookupByName(volumesName));
    assert.ok(xml.includes(`<source file='${privateTop}'`), xml);
    assert.ok(xml.includes(`<source file='${volatile}'`), xml);
    assert.ok((await stat(privateTop)).isFile());
    assert.ok((await stat(volatile)).isFile());

    assert.deepEqual(await mvctlJson(['vm', 'kill', volumesName]), { name: volumesName });
    await assert.rejects(stat(volatile), { code: 'ENOENT' });
    assert.ok((await stat(privateTop)).isFile(), 'the private volume outlives a stop');

    assert.equal((await mvctl(['vm', 'delete', volumesName])).code, 0);
    await assert.rejects(stat(join(vmsDir, volumesName)), { code: 'ENOENT' });
    assert.equal(await vmSummary(volumesName), undefined);
  });

  it('gives an ephemeral VM a fresh private volume at every start and refuses to checkpoint it', async () => {
    const privateDir = join(root, 'state', 'vms', ephemeralName, 'private');
    await mvctlJson<CreatedVm>(['vm', 'create', ephemeralName, '--template', 'throwaway']);
    const checkpoint = await mvctl(['vm', 'checkpoint', ephemeralName, '--json']);
    assert.equal(checkpoint.code, 1);
    assert.equal((JSON.parse(checkpoint.stdout) as { error: { code: string } }).error.code, 'VM_EPHEMERAL');

    const start = await mvctl(['vm', 'start', ephemeralName]);
    assert.equal(start.code, 0, `${start.stderr}\nhostd log:\n${hostdLog}`);
    const whileRunning = await readdir(privateDir);
    assert.equal(whileRunning.length, 1);
    const xml = await client.domainGetXmlDesc(await client.domainLookupByName(ephemeralName));
    assert.ok(xml.includes(join(privateDir, whileRunning[0] ?? '')), 'the fresh private layer is attached');
    assert.deepEqual(await mvctlJson(['vm', 'kill', ephemeralName]), { name: ephemeralName });
    const afterStop = await readdir(privateDir);
    assert.equal(afterStop.length, 1);
    assert.notEqual(afterStop[0], whileRunning[0], 'the private layer the VM wrote is gone');
    assert.equal((await mvctl(['vm', 'delete', ephemeralName])).code, 0);
  });

  it('checkpoints, lists, reverts and deletes checkpoints, live while the VM runs and stopped', async () => {
    const errorCode = (run: Run): string =>
      (JSON.parse(run.stdout) as { error: { code: string } }).error.code;
    const checkpoints = async () =>
      (await mvctlJson<{ checkpoints: Checkpoint[] }>(['vm', 'checkpoints', checkpointsName])).checkpoints;
    const finishedTask = async (args: string[]): Promise<TaskRecord> => {
      const run = await mvctl([...args, '--json']);
      const { task } = JSON.parse(run.stdout) as { task: TaskRecord };
      assert.equal(run.code, task.state === 'succeeded' ? 0 : 1, run.stderr);
      return task;
    };
    const domainXml = async () => client.domainGetXmlDesc(await client.domainLookupByName(checkpointsName));

    await mvctlJson<CreatedVm>(['vm', 'create', checkpointsName, '--template', 'scratch']);
    assert.deepEqual(await checkpoints(), []);
    assert.match((await mvctl(['vm', 'checkpoints', checkpointsName])).stdout, /has no checkpoints/);

    const start = await mvctl(['vm', 'start', checkpointsName]);
    assert.equal(start.code, 0, `${start.stderr}\nhostd log:\n${hostdLog}`);
    assert.deepEqual(await checkpoints(), [], 'listing works while the VM runs');
    // A live checkpoint: QEMU goes on writing in a new top layer on the frozen one.
    const liveTask = await finishedTask(['vm', 'checkpoint', checkpointsName, '-m', 'while running']);
    assert.equal(liveTask.state, 'succeeded', JSON.stringify(liveTask.error));
    const live = liveTask.result as Checkpoint;
    const privateDir = join(root, 'state', 'vms', checkpointsName, 'private');
    const attached = readDiskSources(await domainXml()).map((disk) => disk.file);
    assert.ok(
      !attached.includes(join(privateDir, `${live.id}.qcow2`)),
      `the frozen layer is not written: ${attached.join(', ')}`,
    );
    assert.ok(
      attached.some((file) => file.startsWith(privateDir)),
      'the new top is attached',
    );
    assert.equal((await vmSummary(checkpointsName))?.state, 'running');
    // Reverting a running VM restarts it on the checkpoint (deleting one live: hostd-crash.test.ts).
    const liveRevert = await finishedTask(['vm', 'revert', checkpointsName, live.id]);
    assert.equal(liveRevert.state, 'succeeded', JSON.stringify(liveRevert.error));
    const restarted = (liveRevert.result as { restarted: { bootId: string } }).restarted;
    assert.match(restarted.bootId, /^[0-9a-f-]{36}$/);
    assert.equal((await vmSummary(checkpointsName))?.state, 'running');
    assert.deepEqual(await mvctlJson(['vm', 'kill', checkpointsName]), { name: checkpointsName });
    const liveDeleted = await finishedTask(['vm', 'checkpoint-delete', checkpointsName, live.id]);
    assert.equal(liveDeleted.state, 'succeeded', JSON.stringify(liveDeleted.error));
    assert.deepEqual(await checkpoints(), []);

    const firstTask = await finishedTask(['vm', 'checkpoint', checkpointsName, '--message', 'first <&>']);
    assert.equal(firstTask.kind, 'vm.checkpoint');
    assert.equal(firstTask.state, 'succeeded', JSON.stringify(firstTask.error));
    const first = firstTask.result as Checkpoint;
    assert.match(first.id, /^[0-9a-f]{16}$/);
    assert.equal(first.message, 'first <&>');
    const second = (await finishedTask(['vm', 'checkpoint', checkpointsName, '--message', 'second', '--pin']))
      .result as Checkpoint;
    const listed = await checkpoints();
    assert.deepEqual(
      listed.map((c) => [c.id, c.message, c.pinned]),
      [
        [first.id, 'first <&>', false],
        [second.id, 'second', true],
      ],
    );
    assert.ok(listed.every((c) => Number.isSafeInteger(c.sizeBytes) && c.sizeBytes >= 0));
    const table = (await mvctl(['vm', 'checkpoints', checkpointsName])).stdout;
    assert.match(table, /^ID\s+CREATED\s+SIZE\s+PINNED\s+MESSAGE/);
    assert.match(table, new RegExp(`${second.id}.*yes\\s+second`));

    // The domain's Multiverse metadata mirrors the list, and the private disk is the new top layer.
    const xml = await domainXml();
    assert.deepEqual(
      readVmMetadata(xml)?.checkpoints.map((c) => c.id),
      [first.id, second.id],
    );
    assert.ok(!xml.includes(`${second.id}.qcow2`) && !xml.includes(`${first.id}.qcow2`), 'top is attached');

    // Reverting past a pinned checkpoint is refused; deleting a pinned one too.
    const pinnedAbove = await finishedTask(['vm', 'revert', checkpointsName, first.id]);
    assert.equal(pinnedAbove.error?.code, 'CHECKPOINT_PINNED_ABOVE');
    const pinnedDelete = await finishedTask(['vm', 'checkpoint-delete', checkpointsName, second.id]);
    assert.equal(pinnedDelete.error?.code, 'CHECKPOINT_PINNED');
    // Pinning is a flag on the checkpoint, changed in place and mirrored into the domain's metadata.
    assert.deepEqual(await mvctlJson(['vm', 'checkpoint-pin', checkpointsName, first.id]), {
      name: checkpointsName,
      id: first.id,
      pinned: true,
    });
    assert.equal(readVmMetadata(await domainXml())?.checkpoints[0]?.pinned, true);
    await mvctlJson(['vm', 'checkpoint-pin', checkpointsName, first.id, '--unpin']);
    assert.deepEqual(
      (await checkpoints()).map((c) => c.pinned),
      [false, true],
    );

    const deleted = await finishedTask(['vm', 'checkpoint-delete', checkpointsName, first.id]);
    assert.equal(deleted.state, 'succeeded', JSON.stringify(deleted.error));
    assert.deepEqual(
      (await checkpoints()).map((c) => c.id),
      [second.id],
    );
    const reverted = await finishedTask(['vm', 'revert', checkpointsName, second.id]);
    assert.equal(reverted.state, 'succeeded', JSON.stringify(reverted.error));
    assert.deepEqual(reverted.result, { name: checkpointsName, revertedTo: second.id });
    assert.deepEqual(
      readVmMetadata(await domainXml())?.checkpoints.map((c) => c.id),
      [second.id],
    );

    // Refused at the edge: a malformed id (mvctl), a message with a newline (hostd).
    assert.equal((await mvctl(['vm', 'revert', checkpointsName, 'nope'])).code, 2);
    const newline = await mvctl(['vm', 'checkpoint', checkpointsName, '--message', 'a\nb', '--json']);
    assert.equal(newline.code, 2);
    assert.equal(errorCode(newline), 'INPUT_INVALID');

    // The VM still boots on its reverted chain.
    const restart = await mvctl(['vm', 'start', checkpointsName]);
    assert.equal(restart.code, 0, `${restart.stderr}\nhostd log:\n${hostdLog}`);
    assert.deepEqual(await mvctlJson(['vm', 'kill', checkpointsName]), { name: checkpointsName });
    assert.equal((await mvctl(['vm', 'delete', checkpointsName])).code, 0);

    const { entries } = await mvctlJson<{ entries: AuditEntry[] }>(['audit', 'list', '--limit', '1000']);
    const actions = entries.filter((e) => e.target === checkpointsName).map((e) => `${e.action}:${e.result}`);
    for (const expected of [
      'vm.checkpoint:ok',
      'vm.checkpoint-delete:ok',
      'vm.checkpoints:ok',
      'vm.revert:ok',
    ]) {
      assert.ok(actions.includes(expected), `audit has ${expected}: ${actions.join(', ')}`);
    }
  });

  it('cleans up fresh disks a crashed create left, and keeps disks that hold data', async () => {
    // What a create cut off between making the disks and defining the domain leaves behind.
    const store = new DiskStore({
      imagesDir: join(root, 'state', 'disk-images'),
      vmsDir: join(root, 'state', 'vms'),
    });
    await store.createVm(otherName, {
      base: null,
      privateSizeBytes: 16 * 1024 * 1024,
      volatileSizeBytes: null,
    });
    const created = await mvctl(['vm', 'create', otherName, '--template', 'scratch']);
    assert.equal(created.code, 0, `${created.stderr}\nhostd log:\n${hostdLog}`);
    assert.match(hostdLog, /removing the fresh disks an interrupted create left behind/);
    assert.equal((await mvctl(['vm', 'delete', otherName])).code, 0);

    // Disks with a checkpoint may be a VM whose domain was undefined by hand: kept, and the name refused.
    await store.createVm(otherName, {
      base: null,
      privateSizeBytes: 16 * 1024 * 1024,
      volatileSizeBytes: null,
    });
    await store.checkpoint(otherName, { message: 'keep me' });
    const refused = await mvctl(['vm', 'create', otherName, '--template', 'scratch', '--json']);
    assert.equal(refused.code, 1);
    assert.equal((JSON.parse(refused.stdout) as { error: { code: string } }).error.code, 'VM_DISKS_ORPHANED');
    assert.equal((await store.listCheckpoints(otherName))[0]?.message, 'keep me');
    await store.deleteVm(otherName);
  });

  it('refuses an unknown template, a taken name and VMs that do not exist, with codes and exit codes', async () => {
    const errorOf = async (args: string[]): Promise<{ code: number; error: string }> => {
      const run = await mvctl([...args, '--json']);
      return { code: run.code, error: (JSON.parse(run.stdout) as { error: { code: string } }).error.code };
    };
    assert.deepEqual(await errorOf(['vm', 'create', otherName, '--template', 'no-such-template']), {
      code: 1,
      error: 'TEMPLATE_NOT_FOUND',
    });
    await mvctlJson(['vm', 'create', otherName, '--template', 'fallback']);
    assert.deepEqual(await errorOf(['vm', 'create', otherName, '--template', 'fallback']), {
      code: 1,
      error: 'VM_EXISTS',
    });
    // The Debian image is never built behind the owner's back (it takes minutes): build it first.
    assert.deepEqual(await errorOf(['vm', 'create', `${otherName}-d`, '--template', 'app']), {
      code: 1,
      error: 'IMAGE_NOT_BUILT',
    });
    assert.deepEqual(await errorOf(['vm', 'checkpoint', otherName]), { code: 1, error: 'NO_PRIVATE_VOLUME' });
    assert.deepEqual(await errorOf(['vm', 'checkpoints', otherName]), {
      code: 1,
      error: 'NO_PRIVATE_VOLUME',
    });
    assert.deepEqual(await errorOf(['vm', 'start', `${otherName}-none`]), { code: 1, error: 'VM_NOT_FOUND' });
    assert.deepEqual(await errorOf(['vm', 'stop', `${otherName}-none`]), { code: 1, error: 'VM_NOT_FOUND' });
    assert.deepEqual(await errorOf(['vm', 'delete', `${otherName}-none`]), {
      code: 1,
      error: 'VM_NOT_FOUND',
    });
    assert.deepEqual(await errorOf(['vm', 'create', 'disp-12', '--template', 'fallback']), {
      code: 2,
      error: 'VM_NAME_RESERVED',
    });
    assert.deepEqual(await errorOf(['vm', 'kill', otherName]), { code: 1, error: 'VM_NOT_RUNNING' });
    assert.deepEqual(await errorOf(['vm', 'create', 'Bad_Name', '--template', 'fallback']), {
      code: 2,
      error: 'INPUT_INVALID',
    });
    const missingTemplate = await mvctl(['vm', 'create', otherName]);
    assert.equal(missingTemplate.code, 2);
    assert.match(missingTemplate.stderr, /missing --template T/);

    assert.equal((await mvctl(['vm', 'delete', otherName])).code, 0);
    assert.equal((await mvctlJson<AuditVerification>(['audit', 'verify'])).ok, true);
  });
});

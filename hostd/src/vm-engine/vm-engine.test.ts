// End to end through the real daemon: mvctl → API → HostService → VmEngine → libvirtd/QEMU (TCG), with a
// tiny guest that has to report READY on its console.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ErrorNumber, LibvirtClient, LibvirtError } from '@multiverse/libvirt-ts';
import { readVmMetadata } from '@multiverse/vm-templates';
import type { AuditEntry, AuditVerification } from '../audit/index.js';
import type { HostInfo, VmSummary } from '../service/index.js';
import type { TaskRecord } from '../tasks/index.js';
import type { CreatedVm } from './index.js';

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
    client = await LibvirtClient.connect('qemu:///system');
    hostd = spawn(process.execPath, [hostdScript], {
      env: {
        ...process.env,
        MULTIVERSE_STATE_DIR: join(root, 'state'),
        MULTIVERSE_RUN_DIR: runDir,
        MULTIVERSE_ACCELERATOR: 'tcg',
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
    for (const name of [vmName, otherName]) await removeDomain(name).catch((error) => failures.push(error));
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

    assert.deepEqual(await mvctlJson(['vm', 'stop', vmName]), { name: vmName });
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
    for (const expected of ['vm.create:ok', 'vm.start:ok', 'vm.start:failed', 'vm.stop:ok', 'vm.delete:ok']) {
      assert.ok(actions.includes(expected), `audit has ${expected}: ${actions.join(', ')}`);
    }
    const verification = await mvctlJson<AuditVerification>(['audit', 'verify']);
    assert.equal(verification.ok, true);
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
    // Volumes need a qcow2 base the disk store can layer on; the tiny image is not one.
    assert.deepEqual(await errorOf(['vm', 'create', `${otherName}-d`, '--template', 'disposable']), {
      code: 1,
      error: 'TEMPLATE_VOLUMES_UNSUPPORTED',
    });
    assert.deepEqual(await errorOf(['vm', 'start', `${otherName}-none`]), { code: 1, error: 'VM_NOT_FOUND' });
    assert.deepEqual(await errorOf(['vm', 'stop', `${otherName}-none`]), { code: 1, error: 'VM_NOT_FOUND' });
    assert.deepEqual(await errorOf(['vm', 'delete', `${otherName}-none`]), {
      code: 1,
      error: 'VM_NOT_FOUND',
    });
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

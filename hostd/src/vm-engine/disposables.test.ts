// Disposable VMs through a real hostd on TCG: `vm run` from the preloaded pool and cold, commands on the
// console, deletion when the VM stops however it stops (also while hostd is down), networks and the CPU plan.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import type { CpuPlanJson } from '../cpu-plan/index.js';
import type { VmSummary } from '../service/index.js';
import type { TaskRecord } from '../tasks/index.js';
import { HostdProcess, eventually } from '../testing/hostd-process.js';
import { existingNetworks, fileGone, removeNetworks } from '../testing/libvirt-cleanup.js';
import { prepareTemplates } from '../testing/test-templates.js';
import type { DisposableRun, VmInfo } from './index.js';
import { insideNetworkOf } from './vm-networks.js';

describe('disposable VMs through a real hostd (TCG)', { timeout: 600_000 }, () => {
  let root: string;
  let hostd: HostdProcess;
  let client: LibvirtClient;
  let networksBefore = new Set<string>();
  const sysTorInside = insideNetworkOf('sys-tor');

  async function vms(): Promise<VmSummary[]> {
    return (await hostd.mvctlJson<{ vms: VmSummary[] }>(['vm', 'list'])).vms;
  }

  /**
   * Only this hostd's (other hostds on the same libvirtd may keep pools), and only those whose preload task
   * succeeded: a booting VM is briefly paused too, while hostd attaches its console.
   */
  async function pooledDisposables(): Promise<VmSummary[]> {
    const { tasks } = await hostd.mvctlJson<{ tasks: TaskRecord[] }>(['task', 'list', '--limit', '100']);
    const preloaded = new Set(
      tasks
        .filter((task) => task.kind === 'vm.preload' && task.state === 'succeeded')
        .map((task) => task.target),
    );
    return (await vms()).filter(
      (vm) => vm.managed && vm.role === 'disposable' && vm.state === 'paused' && preloaded.has(vm.name),
    );
  }

  async function gone(name: string): Promise<boolean> {
    if ((await vms()).some((vm) => vm.name === name)) return false;
    try {
      await stat(join(hostd.stateDir, 'vms', name));
      return false;
    } catch (error) {
      return (error as NodeJS.ErrnoException).code === 'ENOENT';
    }
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-disposables-'));
    await chmod(root, 0o711);
    const templatesDir = await prepareTemplates(root, [
      { name: 'scratch', privateSize: '64MiB', volatileSize: '32MiB' },
    ]);
    client = await LibvirtClient.connect('qemu:///system');
    networksBefore = await existingNetworks(client, [sysTorInside]);
    hostd = new HostdProcess({
      root,
      env: { MULTIVERSE_TEMPLATES_DIR: templatesDir, MULTIVERSE_DISPOSABLE_POOL: 'disposable=1' },
    });
    await hostd.start();
  });

  after(async () => {
    await hostd.stop();
    // Whatever this test's hostd made: its VMs (disposables are named disp-N) and, if it made it, the network.
    for (const domain of await client.listAllDomains()) {
      const xml = await client.domainGetXmlDesc(domain).catch(() => '');
      if (!xml.includes(join(root, 'state'))) continue;
      if (await client.domainIsActive(domain).catch(() => false))
        await client.domainDestroy(domain).catch(() => {});
      await client.domainUndefine(domain).catch(() => {});
    }
    await removeNetworks(client, [sysTorInside], networksBefore);
    await client.close();
    await rm(root, { recursive: true, force: true });
  });

  it('keeps a preloaded disposable paused, and `vm run -- CMD` resumes it, runs the command and deletes it', async () => {
    const [pooled] = await eventually('a preloaded disposable', async () => {
      const paused = await pooledDisposables();
      return paused.length > 0 ? paused : undefined;
    });
    assert.ok(pooled !== undefined);
    assert.match(pooled.name, /^disp-\d+$/);
    const info = await hostd.mvctlJson<VmInfo>(['vm', 'info', pooled.name]);
    assert.equal(info.disposable, true);
    // Behind the (absent) sys-tor router: one interface on that router's isolated inside network.
    assert.deepEqual(
      info.interfaces.map((entry) => entry.network),
      [sysTorInside],
    );
    const network = await client.networkLookupByName(sysTorInside);
    const networkXml = await client.networkGetXmlDesc(network);
    assert.ok(!networkXml.includes('<forward') && !networkXml.includes('<ip'), networkXml);

    const run = await hostd.mvctlJson<DisposableRun>([
      'vm',
      'run',
      'disposable',
      '--',
      'echo',
      'hello from',
      "it's",
    ]);
    assert.equal(run.name, pooled.name, `the pooled VM was not used; hostd log:\n${hostd.log}`);
    assert.equal(run.preloaded, true);
    assert.deepEqual(run.command, { output: "hello from it's\n", exitCode: 0, truncated: false });
    await eventually(`${run.name} deleted`, async () => ((await gone(run.name)) ? true : undefined));

    // The pool refills in the background with a new VM (its own name, MAC and boot).
    const [refilled] = await eventually('the pool refilled', async () => {
      const paused = await pooledDisposables();
      return paused.length > 0 ? paused : undefined;
    });
    assert.ok(refilled !== undefined && refilled.name !== pooled.name);
    const refilledInfo = await hostd.mvctlJson<VmInfo>(['vm', 'info', refilled.name]);
    assert.notEqual(refilledInfo.interfaces[0]?.mac, info.interfaces[0]?.mac);
  });

  it('passes the command’s exit status on and keeps shell syntax in arguments literal', async () => {
    const failing = await hostd.mvctl(['vm', 'run', 'disposable', '--json', '--', 'sh', '-c', 'exit 3']);
    assert.equal(failing.code, 1, failing.stderr);
    const result = JSON.parse(failing.stdout) as DisposableRun;
    assert.equal(result.command?.exitCode, 3);
    const literal = await hostd.mvctlJson<DisposableRun>([
      'vm',
      'run',
      'disposable',
      '--',
      'echo',
      '$HOME;',
      '`id`',
    ]);
    assert.equal(literal.command?.output, '$HOME; `id`\n');
    const refused = await hostd.mvctl(['vm', 'run', 'disposable', '--json', '--', 'echo', 'two\nlines']);
    assert.equal(refused.code, 2);
    assert.equal((JSON.parse(refused.stdout) as { error: { code: string } }).error.code, 'COMMAND_INVALID');
    const notDisposable = await hostd.mvctlError(['vm', 'run', 'scratch']);
    assert.deepEqual(notDisposable, { code: 2, error: 'TEMPLATE_NOT_DISPOSABLE' });
  });

  it('deletes a disposable that powers itself off, and one that stopped while hostd was down', async () => {
    const first = await hostd.mvctlJson<DisposableRun>(['vm', 'run', 'disposable']);
    assert.equal(first.command, null);
    assert.equal((await hostd.mvctlJson<VmInfo>(['vm', 'info', first.name])).state, 'running');
    const console = await client.domainOpenConsole(await client.domainLookupByName(first.name), { flags: 1 });
    console.write('poweroff -f\n');
    await eventually(`${first.name} deleted after powering off`, async () =>
      (await gone(first.name)) ? true : undefined,
    );
    console.destroy();

    const second = await hostd.mvctlJson<DisposableRun>(['vm', 'run', 'disposable']);
    await hostd.stop('SIGKILL');
    await client.domainDestroy(await client.domainLookupByName(second.name));
    await hostd.start();
    await eventually(`${second.name} deleted by the reconcile at start`, async () =>
      (await gone(second.name)) ? true : undefined,
    );
  });

  it('drops the volatile volume of a VM whose guest powers itself off', async () => {
    await hostd.mvctlJson(['vm', 'create', 'mvtest-selfstop', '--template', 'scratch']);
    const start = await hostd.mvctl(['vm', 'start', 'mvtest-selfstop']);
    assert.equal(start.code, 0, `${start.stderr}\n${hostd.log}`);
    const volatile = join(hostd.stateDir, 'vms', 'mvtest-selfstop', 'run', 'volatile.qcow2');
    assert.ok((await stat(volatile)).isFile());
    const console = await client.domainOpenConsole(await client.domainLookupByName('mvtest-selfstop'));
    console.write('poweroff -f\n');
    await eventually('the volatile volume removed', () => fileGone(volatile));
    console.destroy();
    assert.equal((await vms()).find((vm) => vm.name === 'mvtest-selfstop')?.state, 'shutoff');
    assert.equal((await hostd.mvctl(['vm', 'delete', 'mvtest-selfstop'])).code, 0);
  });

  it('shows the CPU plan, with the disposables in the shared pool', async () => {
    const plan = await hostd.mvctlJson<CpuPlanJson>(['host', 'cpus']);
    assert.equal(plan.version, 1);
    assert.ok(plan.host.onlineCpus.length >= 1);
    for (const vm of plan.vms) assert.equal(vm.placement, 'shared');
    assert.ok(plan.vms.some((vm) => vm.role === 'disposable'));
    const text = await hostd.mvctl(['host', 'cpus']);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /shared pool: /);
  });
});

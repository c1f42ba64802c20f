// Every Debian role's shipped template booted through a real hostd on TCG — router (sys-tor), controller, app
// behind the router, utility — on the Debian image built by `mvctl image build` (reused from the shared images
// directory when a build of the same inputs is there), and a running controller checkpointed and reverted with
// real data on its private volume.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import type { ListedImage } from '@multiverse/vm-templates';
import type { TaskRecord } from '../tasks/index.js';
import { HostdProcess } from '../testing/hostd-process.js';
import { existingNetworks, removeDomains, removeNetworks } from '../testing/libvirt-cleanup.js';
import { prepareTemplates } from '../testing/test-templates.js';
import { runConsoleCommand } from './console-command.js';
import type { VmInfo } from './index.js';
import { UPLINK_NETWORK, insideNetworkOf } from './vm-networks.js';

/** Shared with vm-templates' image tests, so the Debian image is built once per change of its recipe. */
const imagesDir = process.env['MULTIVERSE_TEST_IMAGES_DIR'] || '/var/lib/multiverse/images';
const ROLE_VMS = [
  { name: 'sys-tor', template: 'router-tor', networks: [UPLINK_NETWORK, insideNetworkOf('sys-tor')] },
  { name: 'mvtest-ctl', template: 'controller', networks: [] },
  { name: 'mvtest-app', template: 'app', networks: [insideNetworkOf('sys-tor')] },
  { name: 'mvtest-util', template: 'utility', networks: [] },
] as const;
const NETWORKS = [UPLINK_NETWORK, insideNetworkOf('sys-tor')];

describe('Debian roles through a real hostd (TCG)', { timeout: 1_200_000 }, () => {
  let root: string;
  let hostd: HostdProcess;
  let client: LibvirtClient;
  let networksBefore = new Set<string>();

  async function finishedTask(args: string[]): Promise<TaskRecord> {
    const run = await hostd.mvctl([...args, '--json']);
    const { task } = JSON.parse(run.stdout) as { task: TaskRecord };
    assert.equal(
      task.state,
      'succeeded',
      `${args.join(' ')}: ${JSON.stringify(task.error)}\n${run.stderr}\n${hostd.log}`,
    );
    return task;
  }

  async function onConsole(vm: string, command: string): Promise<string> {
    const console = await client.domainOpenConsole(await client.domainLookupByName(vm), { flags: 1 });
    try {
      const result = await runConsoleCommand(console, command, { timeoutMs: 60_000 });
      assert.equal(result.exitCode, 0, result.output);
      return result.output;
    } finally {
      console.destroy();
    }
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-debian-roles-'));
    await chmod(root, 0o711);
    client = await LibvirtClient.connect('qemu:///system');
    networksBefore = await existingNetworks(client, NETWORKS);
    hostd = new HostdProcess({
      root,
      env: {
        MULTIVERSE_TEMPLATES_DIR: await prepareTemplates(root, []),
        MULTIVERSE_IMAGES_DIR: imagesDir,
        MULTIVERSE_DISPOSABLE_POOL: 'none',
      },
    });
    await hostd.start();
  });

  after(async () => {
    await hostd.stop();
    await removeDomains(
      client,
      ROLE_VMS.map((vm) => vm.name),
    );
    await removeNetworks(client, NETWORKS, networksBefore);
    await client.close();
    await rm(root, { recursive: true, force: true });
  });

  it('builds (or reuses) the tiny and Debian images, lists and verifies them', async () => {
    const tiny = await finishedTask(['image', 'build', 'tiny']);
    const debian = await finishedTask(['image', 'build', 'debian']);
    const debianRef = (debian.result as { ref: string }).ref;
    assert.match(debianRef, /^debian@[0-9a-f]{64}$/);
    assert.match((tiny.result as { ref: string }).ref, /^tiny@[0-9a-f]{64}$/);
    const { images } = await hostd.mvctlJson<{ images: ListedImage[] }>(['image', 'list']);
    assert.ok(images.some((image) => image.ref === debianRef && image.problem === null));
    const verified = await hostd.mvctlJson<{ verified: boolean; files: number }>([
      'image',
      'verify',
      debianRef,
    ]);
    assert.deepEqual([verified.verified, verified.files >= 3], [true, true]);
    const unknown = await hostd.mvctl(['image', 'build', 'windows', '--json']);
    assert.equal(unknown.code, 2);
  });

  it('boots every Debian role to READY with its volumes and networks', async () => {
    for (const vm of ROLE_VMS) {
      await hostd.mvctlJson(['vm', 'create', vm.name, '--template', vm.template]);
      const started = await finishedTask(['vm', 'start', vm.name]);
      assert.ok((started.result as { readyAfterSeconds: number }).readyAfterSeconds > 0);
      const info = await hostd.mvctlJson<VmInfo>(['vm', 'info', vm.name]);
      assert.equal(info.state, 'running');
      assert.match(info.image, /^debian@/);
      assert.ok(info.disks.root !== null, `${vm.name} has a root overlay`);
      assert.deepEqual(
        info.interfaces.map((entry) => entry.network),
        [...vm.networks],
      );
      // The guest sees its root overlay grown to the template's size (4 GiB or more) and mounted as /.
      const rootSize = await onConsole(vm.name, 'df --output=size -B1G / | tail -n 1');
      assert.ok(Number(rootSize.trim()) >= 3, `root of ${vm.name}: ${rootSize}`);
      if (vm.name !== 'mvtest-ctl') await hostd.mvctlJson(['vm', 'kill', vm.name]);
    }
  });

  it('checkpoints a running controller with data on its private volume and reverts to it', async () => {
    const vm = 'mvtest-ctl';
    const info = await hostd.mvctlJson<VmInfo>(['vm', 'info', vm]);
    assert.equal(info.state, 'running');
    const writeMarker = (marker: string) =>
      onConsole(
        vm,
        `printf ${marker} | dd of=/dev/vdb bs=512 count=1 conv=notrunc,fsync status=none && sync`,
      );
    const readMarker = async () =>
      (await onConsole(vm, 'dd if=/dev/vdb bs=7 count=1 status=none; echo')).trim();
    await writeMarker('before1');
    const checkpoint = (await finishedTask(['vm', 'checkpoint', vm, '-m', 'before'])).result as {
      id: string;
    };
    await writeMarker('after22');
    assert.equal(await readMarker(), 'after22');
    await finishedTask(['vm', 'revert', vm, checkpoint.id]);
    assert.equal((await hostd.mvctlJson<VmInfo>(['vm', 'info', vm])).state, 'running');
    assert.equal(await readMarker(), 'before1');
    await hostd.mvctlJson(['vm', 'kill', vm]);
    for (const { name } of ROLE_VMS) assert.equal((await hostd.mvctl(['vm', 'delete', name])).code, 0);
  });
});

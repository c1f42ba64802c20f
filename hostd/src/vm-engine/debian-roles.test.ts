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
import { onGuestConsole } from '../testing/guest-console-command.js';
import { HostdProcess } from '../testing/hostd-process.js';
import { existingNetworks, removeDomains, removeNetworks } from '../testing/libvirt-cleanup.js';
import { prepareTemplates } from '../testing/test-templates.js';
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
    const tiny = await hostd.finishedTask(['image', 'build', 'tiny']);
    const debian = await hostd.finishedTask(['image', 'build', 'debian']);
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
      const started = await hostd.finishedTask(['vm', 'start', vm.name]);
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
      const rootSize = await onGuestConsole(client, vm.name, 'df --output=size -B1G / | tail -n 1');
      assert.ok(Number(rootSize.trim()) >= 3, `root of ${vm.name}: ${rootSize}`);
      if (vm.name !== 'mvtest-ctl') await hostd.mvctlJson(['vm', 'kill', vm.name]);
    }
  });

  it('checkpoints a running controller with data on its private volume and reverts to it', async () => {
    const vm = 'mvtest-ctl';
    const info = await hostd.mvctlJson<VmInfo>(['vm', 'info', vm]);
    assert.equal(info.state, 'running');
    const writeMarker = (marker: string) =>
      onGuestConsole(
        client,
        vm,
        `printf ${marker} | dd of=/dev/vdb bs=512 count=1 conv=notrunc,fsync status=none && sync`,
      );
    const readMarker = async () =>
      (await onGuestConsole(client, vm, 'dd if=/dev/vdb bs=7 count=1 status=none; echo')).trim();
    await writeMarker('before1');
    const checkpoint = (await hostd.finishedTask(['vm', 'checkpoint', vm, '-m', 'before'])).result as {
      id: string;
    };
    await writeMarker('after22');
    assert.equal(await readMarker(), 'after22');
    await hostd.finishedTask(['vm', 'revert', vm, checkpoint.id]);
    assert.equal((await hostd.mvctlJson<VmInfo>(['vm', 'info', vm])).state, 'running');
    assert.equal(await readMarker(), 'before1');
    await hostd.mvctlJson(['vm', 'kill', vm]);

    // A reverted VM gets a new network identity: its NIC's MAC changes (stopped here: the revert is quick).
    const app = 'mvtest-app'; // stopped since its boot test
    const macOf = async () => (await hostd.mvctlJson<VmInfo>(['vm', 'info', app])).interfaces[0]?.mac;
    const macBefore = await macOf();
    assert.match(macBefore ?? '', /^52:54:00:/);
    const appCheckpoint = (await hostd.finishedTask(['vm', 'checkpoint', app])).result as { id: string };
    assert.equal(await macOf(), macBefore, 'a checkpoint keeps the MAC');
    await hostd.finishedTask(['vm', 'revert', app, appCheckpoint.id]);
    const macAfter = await macOf();
    assert.match(macAfter ?? '', /^52:54:00:/);
    assert.notEqual(macAfter, macBefore, 'the revert gave the VM a new MAC');
    for (const { name } of ROLE_VMS) assert.equal((await hostd.mvctl(['vm', 'delete', name])).code, 0);
  });
});

// An encrypted VM made by `mvctl vm create` through a real hostd: its disks are LUKS layers keyed by the vault.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { chmod, mkdtemp, readFile, readdir, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import { onGuestConsole } from '../testing/guest-console-command.js';
import { HostdProcess, eventually } from '../testing/hostd-process.js';
import { removeDomains } from '../testing/libvirt-cleanup.js';
import { prepareTemplates } from '../testing/test-templates.js';
import type { CreatedVm, VmInfo } from '../vm-engine/index.js';

const run = promisify(execFile);
const ENCRYPTED_VM = 'mvtest-vault-enc';
const FLAGGED_VM = 'mvtest-vault-flag';
const PLAIN_VM = 'mvtest-vault-plain';
const DEBIAN_VM = 'mvtest-vault-deb';
const EPHEMERAL_VM = 'mvtest-vault-eph';
const ROOT_MARKER = 'MVROOTMARKER-3e5d';
/** Shared with the other image tests, so the Debian image is built once per change of its recipe. */
const imagesDir = process.env['MULTIVERSE_TEST_IMAGES_DIR'] || '/var/lib/multiverse/images';
const FIRST_MARKER = 'MVFIRSTMARKER-7c1e';
const SECOND_MARKER = 'MVSECONDMARKER-9d2f';
const VOLATILE_MARKER = 'MVVOLATILEMARKER-4a8b';
// The tiny image has no root volume: the guest names the private disk (libvirt's vdb) vda, the volatile one vdb.
const PRIVATE_DEVICE = '/dev/vda';
const VOLATILE_DEVICE = '/dev/vdb';

describe('encrypted VMs through a real hostd (qemu:///system, TCG, tiny image)', { timeout: 900_000 }, () => {
  let root: string;
  let hostd: HostdProcess;
  let client: LibvirtClient;
  const secretUuids = new Set<string>();

  const writeMarker = (device: string, marker: string) =>
    onGuestConsole(
      client,
      ENCRYPTED_VM,
      `printf ${marker} | dd of=${device} bs=512 count=1 conv=notrunc,fsync 2>/dev/null && sync`,
    );
  const readMarker = async () =>
    (
      await onGuestConsole(
        client,
        ENCRYPTED_VM,
        `dd if=${PRIVATE_DEVICE} bs=${FIRST_MARKER.length} count=1 2>/dev/null; echo`,
      )
    ).trim();

  function vmDirectory(vm: string): string {
    return join(hostd.stateDir, 'vms', vm);
  }

  async function secretOf(vm: string): Promise<string> {
    const manifest = JSON.parse(await readFile(join(vmDirectory(vm), 'disks.json'), 'utf8')) as {
      encryption?: { secretUuid: string } | null;
    };
    const uuid = manifest.encryption?.secretUuid;
    assert.ok(uuid !== undefined, `${vm} is encrypted`);
    secretUuids.add(uuid);
    return uuid;
  }

  async function libvirtHasSecret(uuid: string): Promise<boolean> {
    return client.secretLookupByUuid(uuid).then(
      () => true,
      () => false,
    );
  }

  async function vaultEntries(): Promise<string[]> {
    const { entries } = await hostd.mvctlJson<{ entries: { name: string }[] }>(['vault', 'list']);
    return entries.map((entry) => entry.name);
  }

  async function qemuImgInfo(path: string): Promise<{ encrypted?: boolean; 'backing-filename'?: string }> {
    const { stdout } = await run('qemu-img', ['info', '-U', '--output=json', '-f', 'qcow2', path]);
    return JSON.parse(stdout) as { encrypted?: boolean; 'backing-filename'?: string };
  }

  async function assertNoMarkerIn(path: string, ...markers: string[]): Promise<void> {
    const content = await readFile(path);
    for (const marker of markers) {
      assert.equal(content.indexOf(marker), -1, `${path} holds ${marker} in clear`);
    }
  }

  async function expectError(args: string[], code: string): Promise<string> {
    const result = await hostd.mvctl(args);
    assert.equal(result.code, 1, `${args.join(' ')}: ${result.stdout}${result.stderr}`);
    assert.match(result.stderr, new RegExp(`^mvctl: ${code}: `, 'm'), result.stderr);
    return result.stderr;
  }

  let hostdEnv: NodeJS.ProcessEnv;

  async function unsealWithTestShares(): Promise<void> {
    for (const share of ['share-1-1-alice.txt', 'share-1-2-bob.txt']) {
      const unseal = await hostd.mvctl(['vault', 'unseal', join('shares', share)], { cwd: root });
      assert.equal(unseal.code, 0, unseal.stderr);
    }
  }

  /** hostd stopped (SIGTERM) and started again on the same state, with `extraEnv`; the vault is sealed then. */
  async function restartHostd(extraEnv: NodeJS.ProcessEnv = {}): Promise<void> {
    await hostd.stop();
    hostd = new HostdProcess({ root, env: { ...hostdEnv, ...extraEnv } });
    await hostd.start();
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-encrypted-vm-'));
    await chmod(root, 0o711);
    client = await LibvirtClient.connect('qemu:///system');
    // Domains a killed earlier run left would make every create here fail.
    await removeDomains(client, [ENCRYPTED_VM, FLAGGED_VM, PLAIN_VM, DEBIAN_VM, EPHEMERAL_VM]);
    hostdEnv = {
      MULTIVERSE_TEMPLATES_DIR: await prepareTemplates(root, [
        { name: 'enc-tiny', privateSize: '64MiB', volatileSize: '32MiB', encrypted: true },
        { name: 'plain-tiny', privateSize: '32MiB', volatileSize: '16MiB' },
        { name: 'enc-eph', privateSize: '16MiB', ephemeral: true, encrypted: true },
      ]),
      MULTIVERSE_DISPOSABLE_POOL: 'none',
      MULTIVERSE_VAULT_AUTOSEAL_S: '0',
      MULTIVERSE_IMAGES_DIR: imagesDir,
    };
    hostd = new HostdProcess({ root, env: hostdEnv });
    await hostd.start();
  });

  after(async () => {
    await hostd.stop();
    await removeDomains(client, [ENCRYPTED_VM, FLAGGED_VM, PLAIN_VM, DEBIAN_VM, EPHEMERAL_VM]);
    for (const uuid of secretUuids) {
      const secret = await client.secretLookupByUuid(uuid).catch(() => undefined);
      if (secret !== undefined) await client.secretUndefine(secret).catch(() => undefined);
    }
    await client.close();
    await rm(root, { recursive: true, force: true });
  });

  it('refuses an encrypted VM while there is no vault, leaving nothing behind', async () => {
    const hint = await expectError(
      ['vm', 'create', ENCRYPTED_VM, '--template', 'enc-tiny'],
      'VAULT_NOT_INITIALISED',
    );
    assert.match(hint, /mvctl vault init/);
    assert.equal(await client.domainLookupByName(ENCRYPTED_VM).catch(() => undefined), undefined);
    await assert.rejects(stat(vmDirectory(ENCRYPTED_VM)), { code: 'ENOENT' });
  });

  it('makes the VM’s private and volatile volumes LUKS layers keyed by one vault entry and libvirt secret', async () => {
    const init = await hostd.mvctl(['vault', 'init', 'alice', 'bob', '--threshold', '2', '--out', 'shares'], {
      cwd: root,
    });
    assert.equal(init.code, 0, init.stderr);
    const created = await hostd.mvctlJson<CreatedVm>([
      'vm',
      'create',
      ENCRYPTED_VM,
      '--template',
      'enc-tiny',
    ]);
    assert.equal(created.encrypted, true);
    const uuid = await secretOf(ENCRYPTED_VM);
    assert.deepEqual(await vaultEntries(), [`luks/${uuid}`]);
    assert.ok(await libvirtHasSecret(uuid), 'libvirt has the key while unsealed');
    // --encrypted on a plain template: its own key.
    const flagged = await hostd.mvctlJson<CreatedVm>([
      'vm',
      'create',
      FLAGGED_VM,
      '--template',
      'plain-tiny',
      '--encrypted',
    ]);
    assert.equal(flagged.encrypted, true);
    assert.notEqual(await secretOf(FLAGGED_VM), uuid);
    const plain = await hostd.mvctlJson<CreatedVm>(['vm', 'create', PLAIN_VM, '--template', 'plain-tiny']);
    assert.equal(plain.encrypted, false);
    const xml = await client.domainGetXmlDesc(await client.domainLookupByName(ENCRYPTED_VM));
    assert.match(
      xml,
      new RegExp(`<encryption format=.luks.[^>]*>\\s*<secret type=.passphrase. uuid=.${uuid}./>`),
    );
  });

  it('boots, checkpoints live into an encrypted layer, keeps no marker in clear, reverts and merges', async () => {
    await hostd.finishedTask(['vm', 'start', ENCRYPTED_VM]);
    await writeMarker(PRIVATE_DEVICE, FIRST_MARKER);
    await writeMarker(VOLATILE_DEVICE, VOLATILE_MARKER);
    assert.equal(await readMarker(), FIRST_MARKER);
    const volatilePath = join(vmDirectory(ENCRYPTED_VM), 'run', 'volatile.qcow2');
    assert.equal((await qemuImgInfo(volatilePath)).encrypted, true, 'the volatile volume is encrypted');
    await assertNoMarkerIn(volatilePath, VOLATILE_MARKER);

    const checkpoint = (await hostd.finishedTask(['vm', 'checkpoint', ENCRYPTED_VM, '-m', 'first']))
      .result as {
      id: string;
    };
    const running = await hostd.mvctlJson<VmInfo>(['vm', 'info', ENCRYPTED_VM]);
    assert.equal(running.encrypted, true);
    assert.equal((await hostd.mvctlJson<VmInfo>(['vm', 'info', PLAIN_VM])).encrypted, false);
    assert.match((await hostd.mvctl(['vm', 'info', ENCRYPTED_VM])).stdout, /encrypted +yes: LUKS volumes/);
    assert.ok(running.disks.private?.endsWith('.qcow2'));
    assert.ok(!running.disks.private?.includes(checkpoint.id), 'QEMU writes a new top layer');
    assert.equal(
      (await qemuImgInfo(running.disks.private ?? '')).encrypted,
      true,
      'the live top is encrypted',
    );
    await writeMarker(PRIVATE_DEVICE, SECOND_MARKER);
    assert.equal(await readMarker(), SECOND_MARKER.slice(0, FIRST_MARKER.length));
    await hostd.mvctlJson(['vm', 'stop', ENCRYPTED_VM, '--timeout', '1']);

    const privateDir = join(vmDirectory(ENCRYPTED_VM), 'private');
    const layers = await readdir(privateDir);
    assert.equal(layers.length, 2, layers.join(', '));
    for (const layer of layers) {
      assert.equal((await qemuImgInfo(join(privateDir, layer))).encrypted, true, `${layer} is encrypted`);
      await assertNoMarkerIn(join(privateDir, layer), FIRST_MARKER, SECOND_MARKER);
    }

    await hostd.finishedTask(['vm', 'revert', ENCRYPTED_VM, checkpoint.id]);
    await hostd.finishedTask(['vm', 'start', ENCRYPTED_VM]);
    assert.equal(await readMarker(), FIRST_MARKER, 'the reverted VM reads the checkpoint’s marker');
    await hostd.mvctlJson(['vm', 'stop', ENCRYPTED_VM, '--timeout', '1']);

    // Merging the only checkpoint away rebases the top onto nothing; the data stays.
    await hostd.finishedTask(['vm', 'checkpoint-delete', ENCRYPTED_VM, checkpoint.id]);
    const remaining = await readdir(privateDir);
    assert.equal(remaining.length, 1, remaining.join(', '));
    const top = await qemuImgInfo(join(privateDir, remaining[0] ?? ''));
    assert.deepEqual([top.encrypted, top['backing-filename']], [true, undefined]);
    await hostd.finishedTask(['vm', 'start', ENCRYPTED_VM]);
    assert.equal(await readMarker(), FIRST_MARKER, 'the marker survives the merge');
    await hostd.mvctlJson(['vm', 'stop', ENCRYPTED_VM, '--timeout', '1']);
  });

  it('switches QEMU to the encrypted top a live checkpoint made before hostd was killed, and keeps the checkpoint true', async () => {
    await hostd.finishedTask(['vm', 'start', ENCRYPTED_VM]);
    assert.equal(await readMarker(), FIRST_MARKER);
    await restartHostd({ MULTIVERSE_DISKS_PAUSE_AT: 'vm-checkpoint:encrypted-top-made#1' });
    await unsealWithTestShares();
    // Killed after hostd made the new encrypted top and before QEMU was switched to it: the disk store finishes
    // the checkpoint at recovery (its top exists), while QEMU still writes the layer below.
    const cutOff = hostd.mvctl(['vm', 'checkpoint', ENCRYPTED_VM, '-m', 'cut off', '--json']);
    await eventually('hostd to pause with the new top made', () =>
      Promise.resolve(
        hostd.log.includes('MULTIVERSE_DISKS_PAUSED vm-checkpoint:encrypted-top-made#1') ? true : undefined,
      ),
    );
    assert.equal(await hostd.stop('SIGKILL'), null);
    assert.notEqual((await cutOff).code, 0);

    await restartHostd();
    await unsealWithTestShares();
    const after = (await hostd.finishedTask(['vm', 'checkpoint', ENCRYPTED_VM, '-m', 'after'])).result as {
      id: string;
    };
    const { checkpoints } = await hostd.mvctlJson<{ checkpoints: { id: string; message: string }[] }>([
      'vm',
      'checkpoints',
      ENCRYPTED_VM,
    ]);
    assert.deepEqual(
      checkpoints.map((checkpoint) => checkpoint.message),
      ['cut off', 'after'],
    );
    assert.equal(checkpoints[1]?.id, after.id);
    const manifest = JSON.parse(await readFile(join(vmDirectory(ENCRYPTED_VM), 'disks.json'), 'utf8')) as {
      private: { top: string };
    };
    const liveXml = await client.domainGetXmlDesc(await client.domainLookupByName(ENCRYPTED_VM));
    assert.ok(liveXml.includes(`${manifest.private.top}.qcow2`), 'QEMU writes the layer the manifest names');
    assert.match(hostd.log, /switched a running VM to the top layer its cut-off checkpoint recorded/);

    await writeMarker(PRIVATE_DEVICE, SECOND_MARKER);
    await hostd.mvctlJson(['vm', 'stop', ENCRYPTED_VM, '--timeout', '1']);
    await hostd.finishedTask(['vm', 'revert', ENCRYPTED_VM, checkpoints[0]?.id ?? '']);
    await hostd.finishedTask(['vm', 'start', ENCRYPTED_VM]);
    assert.equal(await readMarker(), FIRST_MARKER, 'the cut-off checkpoint holds what was written before it');
    await hostd.mvctlJson(['vm', 'stop', ENCRYPTED_VM, '--timeout', '1']);
    // The revert dropped the later checkpoint; the one left is merged away for the tests after this one.
    const left = await hostd.mvctlJson<{ checkpoints: { id: string }[] }>([
      'vm',
      'checkpoints',
      ENCRYPTED_VM,
    ]);
    assert.deepEqual(
      left.checkpoints.map((checkpoint) => checkpoint.id),
      [checkpoints[0]?.id],
    );
    await hostd.finishedTask(['vm', 'checkpoint-delete', ENCRYPTED_VM, checkpoints[0]?.id ?? '']);
  });

  it('while sealed: refuses to start, checkpoint or delete encrypted VMs; plain VMs and the list work', async () => {
    const uuid = await secretOf(ENCRYPTED_VM);
    await hostd.mvctlJson(['vault', 'seal']);
    assert.equal(await libvirtHasSecret(uuid), false, 'libvirt lost the key at seal');
    const refused = await expectError(['vm', 'start', ENCRYPTED_VM], 'VAULT_SEALED');
    assert.match(refused, new RegExp(`VM ${ENCRYPTED_VM} has encrypted disks`));
    assert.match(refused, /^hint: unseal it: `mvctl vault unseal SHARE-FILE`/m);
    await expectError(['vm', 'checkpoint', ENCRYPTED_VM], 'VAULT_SEALED');
    await expectError(['vm', 'delete', FLAGGED_VM], 'VAULT_SEALED');
    assert.ok(await client.domainLookupByName(FLAGGED_VM), 'the refused delete left the VM');

    const { vms } = await hostd.mvctlJson<{ vms: { name: string; state: string }[] }>(['vm', 'list']);
    assert.deepEqual(
      vms.filter((vm) => vm.name.startsWith('mvtest-vault-')).map((vm) => vm.name),
      [ENCRYPTED_VM, FLAGGED_VM, PLAIN_VM],
    );
    await hostd.finishedTask(['vm', 'start', PLAIN_VM]);
    await hostd.mvctlJson(['vm', 'kill', PLAIN_VM]);

    for (const share of ['share-1-1-alice.txt', 'share-1-2-bob.txt']) {
      const unseal = await hostd.mvctl(['vault', 'unseal', join('shares', share)], { cwd: root });
      assert.equal(unseal.code, 0, unseal.stderr);
    }
    assert.ok(await libvirtHasSecret(uuid), 'libvirt has the key again');
    await hostd.finishedTask(['vm', 'start', ENCRYPTED_VM]);
    assert.equal(await readMarker(), FIRST_MARKER);
    await hostd.mvctlJson(['vm', 'stop', ENCRYPTED_VM, '--timeout', '1']);
  });

  it('boots a Debian controller whose root overlay is encrypted over the plain base; root writes stay unreadable', async () => {
    const built = await hostd.finishedTask(['image', 'build', 'debian']);
    assert.match((built.result as { ref: string }).ref, /^debian@[0-9a-f]{64}$/);
    const created = await hostd.mvctlJson<CreatedVm>([
      'vm',
      'create',
      DEBIAN_VM,
      '--template',
      'controller',
      '--encrypted',
    ]);
    assert.equal(created.encrypted, true);
    await secretOf(DEBIAN_VM);
    await hostd.finishedTask(['vm', 'start', DEBIAN_VM]);
    const onDebian = (command: string) => onGuestConsole(client, DEBIAN_VM, command, 120_000);
    // The root file system grew into the overlay and takes writes (a 64 KiB file, flushed to QEMU).
    const rootSize = await onDebian('df --output=size -B1G / | tail -n 1');
    assert.ok(Number(rootSize.trim()) >= 3, `root: ${rootSize}`);
    await onDebian(
      `yes ${ROOT_MARKER} | head -c 65536 > /root/marker && sync && grep -c ${ROOT_MARKER} /root/marker`,
    );
    const info = await hostd.mvctlJson<VmInfo>(['vm', 'info', DEBIAN_VM]);
    const rootOverlay = info.disks.root ?? '';
    const header = await qemuImgInfo(rootOverlay);
    assert.equal(header.encrypted, true, 'the root overlay is encrypted');
    assert.match(header['backing-filename'] ?? '', /disk-images\/debian@[0-9a-f]{64}\.qcow2$/);
    const base = await qemuImgInfo(
      join(hostd.stateDir, 'disk-images', (header['backing-filename'] ?? '').split('/').pop() ?? ''),
    );
    assert.notEqual(base.encrypted, true, 'the base image stays plain');
    await assertNoMarkerIn(rootOverlay, ROOT_MARKER);
    await hostd.mvctlJson(['vm', 'kill', DEBIAN_VM]);
    await hostd.mvctlJson(['vm', 'delete', DEBIAN_VM]);
  });

  it('remakes an ephemeral encrypted VM’s disks encrypted, also after a stop while sealed', async () => {
    const privateLayers = async () => {
      const directory = join(vmDirectory(EPHEMERAL_VM), 'private');
      return (await readdir(directory)).map((layer) => join(directory, layer));
    };
    const readFirstBytes = async () =>
      (
        await onGuestConsole(
          client,
          EPHEMERAL_VM,
          `dd if=${PRIVATE_DEVICE} bs=${FIRST_MARKER.length} count=1 2>/dev/null | od -An -c`,
        )
      )
        .replace(/\s+/g, ' ')
        .trim();
    await hostd.mvctlJson<CreatedVm>(['vm', 'create', EPHEMERAL_VM, '--template', 'enc-eph']);
    const uuid = await secretOf(EPHEMERAL_VM);
    await hostd.finishedTask(['vm', 'start', EPHEMERAL_VM]);
    await onGuestConsole(
      client,
      EPHEMERAL_VM,
      `printf ${FIRST_MARKER} | dd of=${PRIVATE_DEVICE} bs=512 count=1 conv=notrunc,fsync 2>/dev/null && sync`,
    );
    // Stopped while sealed: the written disk goes; new encrypted ones cannot be made without the key.
    await hostd.mvctlJson(['vault', 'seal']);
    await hostd.mvctlJson(['vm', 'kill', EPHEMERAL_VM]);
    await assert.rejects(stat(vmDirectory(EPHEMERAL_VM)), { code: 'ENOENT' });
    await expectError(['vm', 'start', EPHEMERAL_VM], 'VAULT_SEALED');
    for (const share of ['share-1-1-alice.txt', 'share-1-2-bob.txt']) {
      assert.equal((await hostd.mvctl(['vault', 'unseal', join('shares', share)], { cwd: root })).code, 0);
    }
    await hostd.finishedTask(['vm', 'start', EPHEMERAL_VM]);
    assert.equal(await secretOf(EPHEMERAL_VM), uuid, 'the same key');
    for (const layer of await privateLayers()) {
      assert.equal((await qemuImgInfo(layer)).encrypted, true, `${layer} is encrypted again`);
    }
    assert.equal(
      await readFirstBytes(),
      Array(FIRST_MARKER.length).fill('\\0').join(' '),
      'a fresh private disk',
    );
    // A stop while unsealed remakes them at once, encrypted.
    await hostd.mvctlJson(['vm', 'kill', EPHEMERAL_VM]);
    const remade = await privateLayers();
    assert.equal(remade.length, 1);
    assert.equal((await qemuImgInfo(remade[0] ?? '')).encrypted, true);
    await hostd.mvctlJson(['vm', 'delete', EPHEMERAL_VM]);
    assert.equal(await libvirtHasSecret(uuid), false);
  });

  it('deletes an encrypted VM’s disks, then its vault entry and libvirt secret', async () => {
    const uuid = await secretOf(ENCRYPTED_VM);
    const flaggedUuid = await secretOf(FLAGGED_VM);
    await hostd.mvctlJson(['vm', 'delete', ENCRYPTED_VM]);
    await hostd.mvctlJson(['vm', 'delete', FLAGGED_VM]);
    await assert.rejects(stat(vmDirectory(ENCRYPTED_VM)), { code: 'ENOENT' });
    assert.deepEqual(await vaultEntries(), []);
    assert.equal(await libvirtHasSecret(uuid), false);
    assert.equal(await libvirtHasSecret(flaggedUuid), false);
    await hostd.mvctlJson(['vm', 'delete', PLAIN_VM]);
  });
});

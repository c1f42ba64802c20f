// The Debian image: built (or reused from the shared images directory when one was already built from
// the same recipe and tools), inspected without mounting, booted under TCG on qemu:///system with its
// root as a qcow2 overlay (as hostd runs it), and verified by hash.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, chown, copyFile, mkdir, open, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { LibvirtClient } from '@multiverse/libvirt-ts';
import type { Network } from '@multiverse/libvirt-ts';
import { ImageError } from '../image-error.js';
import { buildImageByName, listImages, verifyImageRef } from '../image-catalog.js';
import type { BuiltImage } from '../image-catalog.js';
import type { ImageBuildProgress } from '../image-store.js';
import { TcgGuest, createIsolatedNetwork, removeNetwork } from '../test-support/tcg-guest.js';
import {
  guestScratchDirectory,
  testImageCacheDirectory,
  testImagesDirectory,
} from '../test-support/test-directories.js';
import { DEBIAN_KERNEL_ARGUMENTS, DEBIAN_ROOT_DISK_FILE } from './debian-recipe.js';

const execFileAsync = promisify(execFile);

/** A cold build took 45 s here (packages cached: less); the bound allows a slow mirror and a loaded machine. */
const BUILD_TIMEOUT_MS = 15 * 60_000;
/** Resume to READY took about 20 s here under TCG; the machine is shared, so the bound is far above that. */
const READY_TIMEOUT_MS = 300_000;
const COMMAND_TIMEOUT_MS = 60_000;
const ROOT_VOLUME_BYTES = 2 * 1024 ** 3;

describe('debian image', { timeout: BUILD_TIMEOUT_MS + 2 * READY_TIMEOUT_MS }, () => {
  const suffix = randomBytes(4).toString('hex');
  const name = `mvtpl-deb-${suffix}`;
  const progress: ImageBuildProgress[] = [];
  let image: BuiltImage;
  let buildSeconds: number;
  let scratch: string | undefined;
  let client: LibvirtClient | undefined;
  let network: Network | undefined;
  let guest: TcgGuest | undefined;
  /** libvirt chowns a backing file to its QEMU user and does not give it back; the shared image gets its owner back. */
  let rootDiskOwner: { path: string; uid: number; gid: number } | undefined;

  before(async () => {
    const started = performance.now();
    image = await buildImageByName({
      name: 'debian',
      imagesDirectory: await testImagesDirectory(),
      cacheDirectory: await testImageCacheDirectory(),
      onProgress: (step) => progress.push(step),
    });
    buildSeconds = (performance.now() - started) / 1000;
    scratch = await guestScratchDirectory('mvtpl-debian');
  });

  after(async () => {
    const failures: unknown[] = [];
    const attempt = async (step: () => Promise<unknown>): Promise<void> => {
      try {
        await step();
      } catch (error) {
        failures.push(error);
      }
    };
    await attempt(async () => guest?.destroy());
    if (rootDiskOwner !== undefined) {
      const { path, uid, gid } = rootDiskOwner;
      await attempt(() => chown(path, uid, gid));
    }
    if (client !== undefined && network !== undefined) {
      const connection = client;
      const leftover = network;
      await attempt(() => removeNetwork(connection, leftover));
    }
    await attempt(async () => client?.close());
    if (scratch !== undefined) await attempt(() => rm(scratch as string, { recursive: true, force: true }));
    if (failures.length > 0) throw new AggregateError(failures, `cleaning up after ${name} failed`);
  });

  it('records its build inputs and what debootstrap and apt installed', async (t) => {
    t.diagnostic(
      image.reused
        ? `reused ${image.ref} (built ${image.manifest.builtAt}); lookup took ${buildSeconds.toFixed(1)} s`
        : `built ${image.ref} in ${buildSeconds.toFixed(1)} s`,
    );
    const { manifest } = image;
    assert.equal(manifest.name, 'debian');
    assert.equal(image.ref, `debian@${manifest.id}`);
    assert.equal(manifest.boot.kernelArguments, DEBIAN_KERNEL_ARGUMENTS);
    assert.equal(manifest.boot.rootDisk?.file, DEBIAN_ROOT_DISK_FILE);
    assert.equal(image.rootDiskPath, join(image.directory, DEBIAN_ROOT_DISK_FILE));
    for (const file of await readdir(image.directory)) {
      assert.equal((await stat(join(image.directory, file))).mode & 0o777, 0o444, `${file} is read-only`);
    }

    const inputs = manifest.inputs as {
      suite: string;
      mirror: string;
      tools: Record<string, string>;
      kernelRelease: string;
      packages: { name: string; version: string; architecture: string }[];
      mirrorReleases: { suite: string; date: string }[];
    };
    assert.equal(inputs.suite, 'bookworm');
    assert.equal(inputs.mirror, 'http://deb.debian.org/debian');
    for (const tool of ['debootstrap', 'e2fsprogs', 'qemu-utils']) {
      assert.match(inputs.tools[tool] ?? '', /^[0-9]/, `the version of ${tool} is recorded`);
    }
    const packages = new Map(inputs.packages.map((entry) => [entry.name, entry.version]));
    for (const needed of ['systemd', 'systemd-sysv', 'udev', 'linux-image-cloud-amd64', 'e2fsprogs']) {
      assert.match(packages.get(needed) ?? '', /^[0-9]/, `${needed} is installed, with its version`);
    }
    assert.ok(packages.has(`linux-image-${inputs.kernelRelease}`));
    assert.deepEqual(
      inputs.mirrorReleases.map((release) => release.suite).sort(),
      ['oldstable', 'oldstable-security', 'oldstable-updates'].sort(),
    );

    // Image files are at most what a minbase with systemd and a kernel needs.
    const qcow2 = await stat(image.rootDiskPath);
    assert.ok(qcow2.size < 400 * 1024 ** 2, `root.qcow2 is ${qcow2.size} bytes`);
    const listed = await listImages(dirname(image.directory));
    assert.ok(listed.some((entry) => entry.ref === image.ref && entry.problem === null));

    if (!image.reused) {
      const fractions = progress.map((step) => step.fraction);
      assert.ok(
        fractions.every((fraction, index) => index === 0 || fraction >= (fractions[index - 1] as number)),
      );
      for (const phase of [
        /debootstrap: fetching/,
        /debootstrap: configuring/,
        /apt-get install/,
        /mkfs\.ext4/,
        /qemu-img/,
      ]) {
        assert.ok(
          progress.some((step) => phase.test(step.detail)),
          `progress reported ${phase}`,
        );
      }
    }
  });

  it('holds an empty machine-id, no build leftovers and the Multiverse units (read without mounting)', async () => {
    const raw = join(scratch as string, 'inspect.raw');
    await execFileAsync('qemu-img', [
      'convert',
      '-f',
      'qcow2',
      '-O',
      'raw',
      image.rootDiskPath as string,
      raw,
    ]);
    const debugfs = async (request: string): Promise<string> =>
      (await execFileAsync('debugfs', ['-R', request, raw])).stdout;
    try {
      assert.match(await debugfs('stat /etc/machine-id'), /Size: 0\b/);
      assert.match(await debugfs('stat /etc/resolv.conf'), /Size: 0\b/);
      assert.match(await debugfs('cat /etc/hostname'), /^debian\n$/);
      assert.doesNotMatch(await debugfs('ls /usr/sbin'), /policy-rc\.d/);
      assert.equal((await debugfs('ls -p /var/cache/apt/archives')).includes('.deb/'), false);
      assert.match(
        await debugfs('cat /etc/systemd/system/multiverse-ready.service'),
        /After=multi-user\.target/,
      );
      assert.match(
        await debugfs('cat /etc/systemd/system/serial-getty@ttyS0.service.d/multiverse-autologin.conf'),
        /--autologin root/,
      );
      assert.match(
        await debugfs('cat /etc/systemd/system/multiverse-ipv4.service'),
        /ConditionKernelCommandLine=multiverse\.ipv4/,
      );
      assert.match(
        await debugfs('stat /etc/systemd/system/systemd-firstboot.service'),
        /Fast link dest: "\/dev\/null"/,
      );
    } finally {
      await rm(raw, { force: true });
    }
  });

  it('boots under TCG with a root overlay, announces READY with its disk and NIC, and gives a root shell', async (t) => {
    const directory = scratch as string;
    const rootOverlay = join(directory, 'root.qcow2');
    // What hostd does for a root volume: a fresh qcow2 overlay on the read-only image, larger than it.
    await execFileAsync('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-b',
      image.rootDiskPath as string,
      '-F',
      'qcow2',
      rootOverlay,
      String(ROOT_VOLUME_BYTES),
    ]);
    const owner = await stat(image.rootDiskPath as string);
    rootDiskOwner = { path: image.rootDiskPath as string, uid: owner.uid, gid: owner.gid };
    client = await LibvirtClient.connect('qemu:///system');
    network = await createIsolatedNetwork(client, `mvtpl-dnet-${suffix}`);
    guest = await TcgGuest.boot(client, {
      name,
      image,
      disks: { root: rootOverlay },
      network: `mvtpl-dnet-${suffix}`,
      memory: '512MiB',
    });
    const ready = await guest.waitForReady(READY_TIMEOUT_MS);
    const readyAfterSeconds = (performance.now() - guest.resumedAt) / 1000;
    t.diagnostic(
      `resume to READY ${readyAfterSeconds.toFixed(1)} s (guest uptime at READY ${ready.uptimeSeconds} s)`,
    );
    assert.equal(ready.protocolVersion, 2);
    assert.equal(ready.hostname, name);
    if (ready.protocolVersion === 2) {
      assert.deepEqual(ready.disks, ['vda']);
      assert.equal(ready.nics.length, 1, `one NIC: ${ready.nics.join(',')}`);
    }

    const prompt = new RegExp(`root@${name}:~# `);
    await guest.console.waitForPrompt('autologin root shell', COMMAND_TIMEOUT_MS, prompt);
    assert.equal(await guest.console.run('id -un', COMMAND_TIMEOUT_MS), 'root');
    assert.match(await guest.console.run('cat /etc/machine-id', COMMAND_TIMEOUT_MS), /^[0-9a-f]{32}$/);
    assert.equal(
      await guest.console.run('findmnt -n -o SOURCE,FSTYPE /', COMMAND_TIMEOUT_MS),
      '/dev/vda ext4',
    );
    assert.equal(
      await guest.console.run('systemctl is-active multiverse-ready.service', COMMAND_TIMEOUT_MS),
      'active',
    );
    // Without multiverse.ipv4= on the command line nothing configures a network (no networkd, no DHCP client).
    assert.equal(
      await guest.console.run(
        'echo $(systemctl is-active multiverse-ipv4.service systemd-networkd.service)',
        COMMAND_TIMEOUT_MS,
      ),
      'inactive inactive',
    );
    // The root file system grows to the overlay's size at boot (multiverse-grow-root.service).
    await guest.console.run('systemctl start multiverse-grow-root.service', COMMAND_TIMEOUT_MS);
    const rootBytes = Number(
      await guest.console.run('df -B1 --output=size / | tail -n 1', COMMAND_TIMEOUT_MS),
    );
    assert.ok(rootBytes > 0.9 * ROOT_VOLUME_BYTES, `root file system is ${rootBytes} bytes`);
    const failed = await guest.console.run(
      'systemctl --failed --no-legend --plain | wc -l',
      COMMAND_TIMEOUT_MS,
    );
    assert.equal(failed, '0', 'no unit failed');
  });

  it('is refused by verify once a byte of a copy of its root disk changes, naming the file', async () => {
    const copies = join(scratch as string, 'images');
    const copy = join(copies, image.ref);
    await mkdir(copy, { recursive: true });
    for (const file of await readdir(image.directory)) {
      await copyFile(join(image.directory, file), join(copy, file));
    }
    assert.equal((await verifyImageRef(copies, image.ref)).manifest.id, image.manifest.id);

    const disk = join(copy, DEBIAN_ROOT_DISK_FILE);
    await chmod(disk, 0o644);
    const handle = await open(disk, 'r+');
    try {
      const byte = Buffer.alloc(1);
      const offset = 200 * 1024 ** 2 - 7;
      await handle.read(byte, 0, 1, offset);
      byte[0] = (byte[0] as number) ^ 0x40;
      await handle.write(byte, 0, 1, offset);
    } finally {
      await handle.close();
    }
    await assert.rejects(verifyImageRef(copies, image.ref), (error: unknown) => {
      assert.ok(error instanceof ImageError);
      assert.equal(error.code, 'IMAGE_TAMPERED');
      assert.match(error.message, /file root\.qcow2 has sha256 [0-9a-f]{64} .* the manifest records/);
      assert.match(error.message, /delete .* and build it again/);
      return true;
    });
    await assert.rejects(
      verifyImageRef(copies, `debian@${'0'.repeat(64)}`),
      (error: unknown) => error instanceof ImageError && error.code === 'IMAGE_NOT_FOUND',
    );
  });
});

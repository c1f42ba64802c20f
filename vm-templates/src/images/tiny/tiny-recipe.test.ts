import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { gunzipSync } from 'node:zlib';
import { ImageError } from '../image-error.js';
import { verifyImage } from '../image-store.js';
import type { ImageBuildProgress, InstalledImage } from '../image-store.js';
import { parseReadyLine } from '../serial-protocol.js';
import {
  TINY_INITRAMFS_FILE,
  TINY_KERNEL_ARGUMENTS,
  TINY_KERNEL_FILE,
  TINY_KERNEL_MODULES,
  buildTinyImage,
} from './tiny-recipe.js';
import { queryInstalledPackage } from '../debian-packages.js';

/** Lists an initramfs with GNU cpio, as `cpio -tv` prints it. */
function listInitramfs(path: string): string[][] {
  const archive = gunzipSync(readFileSync(path));
  return execFileSync('cpio', ['--extract', '--list', '--verbose', '--quiet'], {
    input: archive,
    env: { ...process.env, LC_ALL: 'C', TZ: 'UTC' },
  })
    .toString('utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(/\s+/));
}

function expectImageError(code: string, message: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ImageError, `expected an ImageError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  };
}

describe('tiny image', () => {
  let workDirectory: string;
  let image: InstalledImage;
  const progress: ImageBuildProgress[] = [];

  before(async () => {
    workDirectory = mkdtempSync(join(tmpdir(), 'tiny-image-'));
    image = await buildTinyImage({
      imagesDirectory: join(workDirectory, 'images'),
      onProgress: (step) => progress.push(step),
    });
  });

  after(() => {
    rmSync(workDirectory, { recursive: true, force: true });
  });

  it('boots Debian cloud kernel with console on ttyS0 and records its build inputs', async () => {
    const { manifest } = image;
    assert.equal(manifest.name, 'tiny');
    assert.deepEqual(manifest.boot, {
      kernel: TINY_KERNEL_FILE,
      initramfs: TINY_INITRAMFS_FILE,
      kernelArguments: TINY_KERNEL_ARGUMENTS,
    });
    assert.deepEqual(
      manifest.files.map((file) => file.name),
      [TINY_INITRAMFS_FILE, TINY_KERNEL_FILE],
    );

    const inputs = manifest.inputs as {
      kernel: { package: string; version: string; release: string; path: string; sha256: string };
      busybox: { package: string; version: string; sha256: string; applets: number };
      initramfs: { compression: string };
      kernelModules: {
        requested: string[];
        builtIn: string[];
        loadOrder: { name: string; path: string; sha256: string; size: number }[];
      };
    };
    const kernelPackage = await queryInstalledPackage(inputs.kernel.package);
    assert.equal(inputs.kernel.package, `linux-image-${inputs.kernel.release}`);
    assert.equal(inputs.kernel.version, kernelPackage.version);
    assert.match(inputs.kernel.release, /-cloud-amd64$/);
    assert.equal(inputs.kernel.path, `/boot/vmlinuz-${inputs.kernel.release}`);
    assert.ok(
      readFileSync(image.kernelPath).equals(readFileSync(inputs.kernel.path)),
      'the kernel is copied as is',
    );
    assert.equal(manifest.files.find((file) => file.name === TINY_KERNEL_FILE)?.sha256, inputs.kernel.sha256);
    assert.equal(inputs.busybox.version, (await queryInstalledPackage('busybox-static')).version);
    assert.ok(inputs.busybox.applets > 100);
    assert.equal(inputs.initramfs.compression, 'gzip');
    assert.deepEqual(inputs.kernelModules.requested, [...TINY_KERNEL_MODULES]);
    assert.deepEqual(inputs.kernelModules.builtIn, []);
    const loaded = inputs.kernelModules.loadOrder.map((module) => module.name);
    for (const name of ['virtio_pci', 'virtio_blk', 'virtio_net', 'virtio_rng', 'virtio', 'virtio_ring']) {
      assert.ok(loaded.includes(name), `${name} is packed`);
    }
    // Every module comes after the modules it depends on, as the kernel's modules.dep says.
    const modulesDep = readFileSync(`/lib/modules/${inputs.kernel.release}/modules.dep`, 'utf8');
    for (const [index, module] of inputs.kernelModules.loadOrder.entries()) {
      const line = modulesDep.split('\n').find((entry) => entry.startsWith(`${module.path}:`));
      assert.ok(line !== undefined, `${module.path} is in modules.dep`);
      const earlier = inputs.kernelModules.loadOrder.slice(0, index).map((other) => other.path);
      for (const dependency of line.split(':')[1]?.trim().split(' ').filter(Boolean) ?? []) {
        assert.ok(earlier.includes(dependency), `${dependency} is loaded before ${module.path}`);
      }
    }
    assert.ok(!Number.isNaN(Date.parse(manifest.builtAt)));
    assert.ok(progress.some((step) => step.step === 'produce' && /applet links/.test(step.detail)));
    assert.equal(progress.at(-1)?.step, 'done');
  });

  it('packs busybox, every applet link, /init and /dev/console into the initramfs', () => {
    const listing = listInitramfs(image.initramfsPath);
    const entry = (path: string): string[] => {
      const found = listing.find(
        (fields) => (fields[0]?.startsWith('l') ? fields.at(-3) : fields.at(-1)) === path,
      );
      assert.ok(found, `${path} is in the initramfs`);
      return found;
    };
    const busybox = entry('bin/busybox');
    assert.equal(busybox[0], '-rwxr-xr-x');
    assert.equal(Number(busybox[4]), readFileSync('/bin/busybox').length);
    assert.equal(entry('init')[0], '-rwxr-xr-x');
    assert.deepEqual(entry('dev/console').slice(0, 6), ['crw-------', '1', 'root', 'root', '5,', '1']);
    assert.equal(entry('tmp')[0], 'drwxrwxrwt');
    const { release } = (image.manifest.inputs as { kernel: { release: string } }).kernel;
    const virtioBlk = entry(`lib/modules/${release}/kernel/drivers/block/virtio_blk.ko`);
    assert.equal(virtioBlk[0], '-rw-r--r--');
    assert.equal(
      Number(virtioBlk[4]),
      readFileSync(`/lib/modules/${release}/kernel/drivers/block/virtio_blk.ko`).length,
    );

    // busybox lists itself (bin/busybox) among its applets; that one is the binary, not a link.
    const applets = execFileSync('/bin/busybox', ['--list-full'])
      .toString()
      .split('\n')
      .filter((applet) => applet !== '' && applet !== 'bin/busybox');
    assert.ok(applets.length > 100);
    for (const applet of applets) assert.deepEqual(entry(applet).slice(-2), ['->', '/bin/busybox']);
    for (const fields of listing) {
      assert.equal(fields[2], 'root');
      assert.ok(fields.includes('1970'), `fixed mtime: ${fields.join(' ')}`);
    }
  });

  it('runs an /init that announces READY on ttyS0 in the serial protocol format', () => {
    const extracted = join(workDirectory, 'extracted');
    mkdirSync(extracted);
    execFileSync(
      'cpio',
      [
        '--extract',
        '--make-directories',
        '--quiet',
        '--no-absolute-filenames',
        'init',
        'etc/inittab',
        'etc/multiverse/kernel-modules',
      ],
      {
        cwd: extracted,
        input: gunzipSync(readFileSync(image.initramfsPath)),
      },
    );
    const init = readFileSync(join(extracted, 'init'), 'utf8');
    assert.ok(init.startsWith('#!/bin/sh\n'));
    assert.match(init, /mount -t devtmpfs/);
    assert.match(init, /> \/dev\/ttyS0\n/);
    assert.match(init, /exec \/sbin\/init\n$/);
    // The printf format, filled in the way the guest fills it, parses as an announcement.
    const format = /printf '\\n(MULTIVERSE-READY [^']*)\\n'/.exec(init)?.[1];
    assert.ok(format !== undefined, 'the READY printf is in /init');
    const filled = ['0f5e3a57-35ea-4f6f-9c1c-2d3e0b1c9a7e', '1.87', 'tiny', 'vda,vdb', 'eth0'].reduce(
      (line, value) => line.replace('%s', value),
      format,
    );
    assert.deepEqual(parseReadyLine(filled), {
      protocolVersion: 2,
      bootId: '0f5e3a57-35ea-4f6f-9c1c-2d3e0b1c9a7e',
      uptimeSeconds: 1.87,
      hostname: 'tiny',
      disks: ['vda', 'vdb'],
      nics: ['eth0'],
    });
    // The modules are loaded, from the list the builder wrote, before READY is announced.
    assert.ok(init.indexOf('insmod') < init.indexOf('MULTIVERSE-READY'));
    assert.match(init, /done < \/etc\/multiverse\/kernel-modules\n/);
    assert.match(readFileSync(join(extracted, 'etc/inittab'), 'utf8'), /^ttyS0::respawn:-\/bin\/sh$/m);
    const { release } = (image.manifest.inputs as { kernel: { release: string } }).kernel;
    const loadOrder = (
      image.manifest.inputs as { kernelModules: { loadOrder: { path: string }[] } }
    ).kernelModules.loadOrder.map((module) => `lib/modules/${release}/${module.path}`);
    assert.equal(
      readFileSync(join(extracted, 'etc/multiverse/kernel-modules'), 'utf8'),
      loadOrder.map((path) => `${path}\n`).join(''),
    );
  });

  it('builds the same bytes and id again from the same packages', async () => {
    const second = await buildTinyImage({
      imagesDirectory: join(workDirectory, 'second'),
      reuseCached: false,
    });
    assert.equal(second.reused, false);
    assert.equal(second.manifest.id, image.manifest.id);
    assert.deepEqual(second.manifest.files, image.manifest.files);
    assert.ok(readFileSync(second.initramfsPath).equals(readFileSync(image.initramfsPath)));
  });

  it('fails verification with a clear error once a byte of the initramfs changes', async () => {
    const copy = await buildTinyImage({
      imagesDirectory: join(workDirectory, 'tampered'),
      reuseCached: false,
    });
    const bytes = readFileSync(copy.initramfsPath);
    const middle = bytes.length >> 1;
    bytes.writeUInt8(bytes.readUInt8(middle) ^ 0x01, middle);
    chmodSync(copy.initramfsPath, 0o644);
    writeFileSync(copy.initramfsPath, bytes);
    await assert.rejects(
      verifyImage(copy.directory),
      expectImageError(
        'IMAGE_TAMPERED',
        new RegExp(`file ${TINY_INITRAMFS_FILE.replace(/\./g, '\\.')} has sha256`),
      ),
    );
    assert.equal(
      (await verifyImage(image.directory)).manifest.id,
      image.manifest.id,
      'the original is intact',
    );
  });

  it('says how to install a missing kernel', async () => {
    const imagesDirectory = join(workDirectory, 'unused');
    await assert.rejects(
      buildTinyImage({ imagesDirectory, sources: { kernelPackage: 'linux-image-multiverse-missing' } }),
      expectImageError(
        'PACKAGE_NOT_INSTALLED',
        /apt-get install linux-image-multiverse-missing.*|scripts\/setup\.sh/,
      ),
    );
    const emptyBoot = join(workDirectory, 'empty-boot');
    mkdirSync(emptyBoot);
    await assert.rejects(
      buildTinyImage({ imagesDirectory, sources: { bootDirectory: emptyBoot } }),
      expectImageError(
        'KERNEL_NOT_FOUND',
        /config-.*cloud-amd64 is missing.*apt-get install --reinstall linux-image-/,
      ),
    );
    const release = (image.manifest.inputs as { kernel: { release: string } }).kernel.release;
    copyFileSync(`/boot/config-${release}`, join(emptyBoot, `config-${release}`));
    await assert.rejects(
      buildTinyImage({ imagesDirectory, sources: { bootDirectory: emptyBoot } }),
      expectImageError('KERNEL_NOT_FOUND', new RegExp(`vmlinuz-${release} is missing.*scripts/setup\\.sh`)),
    );
  });

  it('refuses a kernel that needs modules for its serial console', async () => {
    const release = (image.manifest.inputs as { kernel: { release: string } }).kernel.release;
    const bootDirectory = join(workDirectory, 'modular-boot');
    mkdirSync(bootDirectory);
    const config = readFileSync(`/boot/config-${release}`, 'utf8').replace(
      /^CONFIG_SERIAL_8250=y$/m,
      'CONFIG_SERIAL_8250=m',
    );
    writeFileSync(join(bootDirectory, `config-${release}`), config);
    await assert.rejects(
      buildTinyImage({ imagesDirectory: join(workDirectory, 'unused'), sources: { bootDirectory } }),
      expectImageError('KERNEL_UNSUITABLE', /does not build in CONFIG_SERIAL_8250,/),
    );
  });

  it('reports a missing busybox binary', async () => {
    await assert.rejects(
      buildTinyImage({
        imagesDirectory: join(workDirectory, 'unused'),
        sources: { busyboxPath: join(workDirectory, 'no-busybox') },
      }),
      expectImageError(
        'BUSYBOX_NOT_FOUND',
        /no-busybox is missing.*apt-get install --reinstall busybox-static/,
      ),
    );
  });
});

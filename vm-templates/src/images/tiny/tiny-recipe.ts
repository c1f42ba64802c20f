import { constants } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestBuffer, digestFile } from '../file-digest.js';
import { ImageError } from '../image-error.js';
import { digestJson } from '../image-manifest.js';
import type { JsonObject } from '../image-manifest.js';
import type { ImageRecipe } from '../image-recipe.js';
import { buildImage } from '../image-store.js';
import type { BuildImageOptions, InstalledImage } from '../image-store.js';
import { tinyGuestFiles } from './tiny-guest-files.js';
import { INITRAMFS_COMPRESSION, INITRAMFS_MTIME, buildTinyInitramfs } from './tiny-initramfs.js';
import { resolveTinyInputs } from './tiny-inputs.js';
import type { TinyImageInputs, TinyImageSources } from './tiny-inputs.js';

export const TINY_IMAGE_NAME = 'tiny';
export const TINY_KERNEL_FILE = 'vmlinuz';
export const TINY_INITRAMFS_FILE = 'initramfs.cpio.gz';
/** The kernel's console is the first UART, where the READY line and the shell also live. */
export const TINY_KERNEL_ARGUMENTS = 'console=ttyS0 quiet';
/**
 * The drivers for the devices hostd's domain XML gives a VM (vm-templates' domain-xml.ts): virtio
 * on PCI(e) (q35), its disks and NICs, and the virtio RNG (guest entropy from the host). The
 * builder adds their dependencies from the kernel's modules.dep. virtio-scsi is not among them:
 * Multiverse attaches every disk as virtio-blk.
 */
export const TINY_KERNEL_MODULES: readonly string[] = [
  'virtio_pci',
  'virtio_blk',
  'virtio_net',
  'virtio_rng',
];

/**
 * The "tiny" guest: Debian's cloud kernel and a busybox initramfs with the virtio drivers, no root
 * file system. It boots in seconds even without KVM, sees the virtio disks and NICs it is given
 * and gives an interactive shell on ttyS0: the smallest real guest, for tests of everything that
 * drives VMs and for the fallback VM that inspects another VM's disks.
 */
export function tinyImageRecipe(sources: TinyImageSources = {}): ImageRecipe<TinyImageInputs> {
  const guestFiles = tinyGuestFiles();
  const recipeInputs: JsonObject = {
    initramfs: {
      format: 'newc',
      compression: INITRAMFS_COMPRESSION.format,
      compressionLevel: INITRAMFS_COMPRESSION.level,
      zlibVersion: process.versions.zlib,
      mtime: INITRAMFS_MTIME,
      guestFilesSha256: digestJson(guestFiles.map((file) => ({ ...file }))),
    },
    kernelArguments: TINY_KERNEL_ARGUMENTS,
  };
  return {
    name: TINY_IMAGE_NAME,
    resolveInputs: () => resolveTinyInputs(sources, TINY_KERNEL_MODULES, recipeInputs),
    async produce(inputs, { directory, report }) {
      report(`reading ${inputs.busybox.path}`);
      const busybox = await readFile(inputs.busybox.path);
      expectUnchanged(inputs.busybox.path, digestBuffer(busybox).sha256, inputs.busybox.sha256);

      const kernelModules = [];
      for (const module of inputs.kernelModules.loadOrder) {
        const path = join(inputs.kernelModules.directory, module.path);
        const contents = await readFile(path);
        expectUnchanged(path, digestBuffer(contents).sha256, module.sha256);
        kernelModules.push({ path: module.path, contents });
      }

      report(
        `packing busybox, ${inputs.busybox.applets.length} applet links and ` +
          `${kernelModules.length} kernel modules into ${TINY_INITRAMFS_FILE}`,
      );
      const initramfs = buildTinyInitramfs({
        busybox,
        applets: inputs.busybox.applets,
        guestFiles,
        kernelRelease: inputs.kernel.release,
        kernelModules,
      });
      await writeFile(join(directory, TINY_INITRAMFS_FILE), initramfs, { flag: 'wx' });

      report(`copying kernel ${inputs.kernel.path}`);
      const kernelPath = join(directory, TINY_KERNEL_FILE);
      await copyFile(inputs.kernel.path, kernelPath, constants.COPYFILE_EXCL);
      expectUnchanged(inputs.kernel.path, (await digestFile(kernelPath)).sha256, inputs.kernel.sha256);

      return {
        files: [TINY_INITRAMFS_FILE, TINY_KERNEL_FILE],
        boot: {
          kernel: TINY_KERNEL_FILE,
          initramfs: TINY_INITRAMFS_FILE,
          kernelArguments: TINY_KERNEL_ARGUMENTS,
        },
      };
    },
  };
}

export interface BuildTinyImageOptions extends BuildImageOptions {
  readonly sources?: TinyImageSources;
}

/** Builds (or finds, already built from the same inputs) the tiny image under `imagesDirectory`. */
export function buildTinyImage(options: BuildTinyImageOptions): Promise<InstalledImage> {
  return buildImage(tinyImageRecipe(options.sources), options);
}

function expectUnchanged(path: string, actual: string, resolved: string): void {
  if (actual !== resolved) {
    throw new ImageError(
      'INPUT_CHANGED',
      `${path} changed while the image was being built (sha256 ${resolved}, now ${actual}); ` +
        'a package upgrade is probably running: build again when it has finished',
    );
  }
}

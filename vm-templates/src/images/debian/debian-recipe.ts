import { constants } from 'node:fs';
import { chmod, copyFile, lstat, mkdir, readdir, rm, rmdir, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ImageError } from '../image-error.js';
import { digestJson } from '../image-manifest.js';
import type { JsonObject } from '../image-manifest.js';
import type { ImageRecipe } from '../image-recipe.js';
import { buildImage } from '../image-store.js';
import type { BuildImageOptions, InstalledImage } from '../image-store.js';
import { aptInTree, saveArchivesToCache, seedArchivesFromCache } from './chroot-apt.js';
import {
  BUILD_ONLY_PATHS,
  DEBIAN_ROOT_DEVICE,
  PRUNED_TREES,
  aptSources,
  debianBuildTimeEntries,
  debianGuestEntries,
} from './debian-guest-files.js';
import type { DebianGuestEntry } from './debian-guest-files.js';
import { parseDebianImageOptions, resolveDebianInputs } from './debian-inputs.js';
import type { DebianImageInputs, DebianImageOptions } from './debian-inputs.js';
import { debootstrapFirstStage, debootstrapSecondStage } from './debootstrap.js';
import { installedPackages, mirrorReleases } from './installed-packages.js';
import { ROOT_FILESYSTEM_LAYOUT, buildRootDisk } from './root-filesystem.js';

export const DEBIAN_IMAGE_NAME = 'debian';
export const DEBIAN_KERNEL_FILE = 'vmlinuz';
export const DEBIAN_INITRD_FILE = 'initrd.img';
export const DEBIAN_ROOT_DISK_FILE = 'root.qcow2';
/** Debian's own initramfs mounts the root read-only, fsck checks it, systemd remounts it read-write (fstab). */
export const DEBIAN_KERNEL_ARGUMENTS = `root=${DEBIAN_ROOT_DEVICE} ro console=ttyS0 quiet`;

/**
 * Added to debootstrap's minbase: systemd as init, udev for devices, kmod to load modules,
 * initramfs-tools (configured before the kernel arrives), e2fsprogs for fsck and the boot-time
 * resize of the root.
 */
export const DEBIAN_BASE_PACKAGES: readonly string[] = [
  'systemd',
  'systemd-sysv',
  'udev',
  'kmod',
  'initramfs-tools',
  'e2fsprogs',
];
/** Installed with apt once the suite's updates and security archives are known, so the kernel is the newest. */
export const DEBIAN_KERNEL_PACKAGES: readonly string[] = ['linux-image-cloud-amd64'];

/** Where each step sits in the recipe's share of the build (0-1). */
const PHASES = {
  firstStage: [0, 0.3],
  secondStage: [0.3, 0.55],
  aptUpdate: [0.55, 0.58],
  upgrade: [0.58, 0.64],
  kernel: [0.64, 0.78],
  configure: [0.78, 0.8],
  rootDisk: [0.8, 1],
} as const;

export interface BuildDebianImageOptions extends BuildImageOptions, DebianImageOptions {}

/**
 * The "debian" guest: debootstrap minbase of a Debian suite with systemd and Debian's cloud kernel,
 * updated from the suite's -updates and -security archives, as one ext4 root disk (qcow2) plus the
 * kernel and initrd to boot it directly (no bootloader). systemd announces READY on ttyS0 once
 * multi-user is reached, and a root shell waits on the serial console for repairs.
 */
export function debianImageRecipe(options: DebianImageOptions = {}): ImageRecipe<DebianImageInputs> {
  const settings = parseDebianImageOptions(options);
  const buildEntries = debianBuildTimeEntries();
  const guestEntries = debianGuestEntries(settings.mirror, settings.securityMirror, settings.suite);
  const recipeRecord: JsonObject = {
    variant: 'minbase',
    components: ['main'],
    debootstrapInclude: [...DEBIAN_BASE_PACKAGES],
    aptInstall: [...DEBIAN_KERNEL_PACKAGES],
    kernelArguments: DEBIAN_KERNEL_ARGUMENTS,
    guestFilesSha256: digestJson([...buildEntries, ...guestEntries].map((entry) => ({ ...entry }))),
    rootFilesystem: { ...ROOT_FILESYSTEM_LAYOUT },
  };
  return {
    name: DEBIAN_IMAGE_NAME,
    resolveInputs: () => resolveDebianInputs(settings, recipeRecord),
    async produce(inputs, { directory, scratchDirectory, report, signal }) {
      const within =
        ([start, end]: readonly [number, number]) =>
        (detail: string, fraction: number): void =>
          report(detail, start + (end - start) * fraction);
      const tree = join(scratchDirectory, 'root');
      const debCache =
        settings.cacheDirectory === undefined ? undefined : join(settings.cacheDirectory, 'debs');
      if (debCache !== undefined) await mkdir(debCache, { recursive: true, mode: 0o755 });
      const cancellable = signal === undefined ? {} : { signal };
      const apt = { tree, ...(debCache === undefined ? {} : { debCache }), ...cancellable };

      await mkdir(tree, { mode: 0o755 });
      await debootstrapFirstStage({
        tree,
        suite: settings.suite,
        mirror: settings.mirror,
        include: DEBIAN_BASE_PACKAGES,
        ...(debCache === undefined ? {} : { debCache }),
        report: within(PHASES.firstStage),
        ...cancellable,
      });
      await writeEntries(tree, buildEntries);
      await debootstrapSecondStage(tree, within(PHASES.secondStage), signal);

      await writeFile(
        join(tree, 'etc/apt/sources.list'),
        aptSources(settings.mirror, settings.securityMirror, settings.suite),
      );
      await seedArchivesFromCache(apt);
      await aptInTree(apt, ['update'], within(PHASES.aptUpdate));
      await aptInTree(apt, ['dist-upgrade'], within(PHASES.upgrade));
      await aptInTree(apt, ['install', ...DEBIAN_KERNEL_PACKAGES], within(PHASES.kernel));
      await saveArchivesToCache(apt);

      report('recording installed packages and configuring the guest', PHASES.configure[0]);
      const packages = await installedPackages(tree);
      const releases = await mirrorReleases(tree);
      const kernelRelease = await installedKernelRelease(tree);
      await copyFile(
        join(tree, 'boot', `vmlinuz-${kernelRelease}`),
        join(directory, DEBIAN_KERNEL_FILE),
        constants.COPYFILE_EXCL,
      );
      await copyFile(
        join(tree, 'boot', `initrd.img-${kernelRelease}`),
        join(directory, DEBIAN_INITRD_FILE),
        constants.COPYFILE_EXCL,
      );

      await writeEntries(tree, guestEntries);
      for (const path of BUILD_ONLY_PATHS) await rm(join(tree, path), { force: true });
      await rm(join(tree, 'var/lib/dbus/machine-id'), { force: true });
      for (const pruned of PRUNED_TREES)
        await pruneTree(join(tree, pruned.directory), pruned.keep, pruned.keepDirectories);

      const disk = await buildRootDisk({
        tree,
        rawPath: join(scratchDirectory, 'root.raw'),
        qcow2Path: join(directory, DEBIAN_ROOT_DISK_FILE),
        report: within(PHASES.rootDisk),
        ...cancellable,
      });
      return {
        files: [DEBIAN_INITRD_FILE, DEBIAN_ROOT_DISK_FILE, DEBIAN_KERNEL_FILE],
        boot: {
          kernel: DEBIAN_KERNEL_FILE,
          initramfs: DEBIAN_INITRD_FILE,
          kernelArguments: DEBIAN_KERNEL_ARGUMENTS,
          rootDisk: { file: DEBIAN_ROOT_DISK_FILE, format: 'qcow2', virtualSizeBytes: disk.virtualSizeBytes },
        },
        inputsRecord: {
          kernelRelease,
          mirrorReleases: releases.map((release) => ({ ...release })),
          packages: packages.map((installed) => ({ ...installed })),
          rootTree: { bytes: disk.usage.bytes, entries: disk.usage.entries },
        },
      };
    },
  };
}

/** Builds (or finds, already built from the same recipe and tools) the Debian image under `imagesDirectory`. */
export function buildDebianImage(options: BuildDebianImageOptions): Promise<InstalledImage> {
  const { mirror, securityMirror, suite, cacheDirectory, ...store } = options;
  const recipeOptions: DebianImageOptions = {
    ...(mirror === undefined ? {} : { mirror }),
    ...(securityMirror === undefined ? {} : { securityMirror }),
    ...(suite === undefined ? {} : { suite }),
    ...(cacheDirectory === undefined ? {} : { cacheDirectory }),
  };
  return buildImage(debianImageRecipe(recipeOptions), store);
}

/** The release of the one kernel installed in the tree (`/boot/vmlinuz-<release>`). */
async function installedKernelRelease(tree: string): Promise<string> {
  const releases = (await readdir(join(tree, 'boot')))
    .map((name) => /^vmlinuz-(.+)$/.exec(name)?.[1])
    .filter((release): release is string => release !== undefined);
  if (releases.length !== 1) {
    throw new ImageError(
      'KERNEL_NOT_FOUND',
      `the image's /boot holds ${releases.length === 0 ? 'no kernel' : `several kernels (${releases.join(', ')})`}, ` +
        'expected exactly one from linux-image-cloud-amd64; build again, and report it if it repeats',
    );
  }
  const [release] = releases as [string];
  await lstat(join(tree, 'boot', `initrd.img-${release}`)).catch(() => {
    throw new ImageError(
      'KERNEL_NOT_FOUND',
      `initramfs-tools built no /boot/initrd.img-${release} in the image; build again, and report it if it repeats`,
    );
  });
  return release;
}

async function writeEntries(tree: string, entries: readonly DebianGuestEntry[]): Promise<void> {
  for (const entry of entries) {
    const path = join(tree, entry.path);
    await mkdir(dirname(path), { recursive: true, mode: 0o755 });
    await rm(path, { force: true });
    if (entry.kind === 'symlink') {
      await symlink(entry.target, path);
    } else {
      await writeFile(path, entry.contents, { mode: entry.mode });
      await chmod(path, entry.mode);
    }
  }
}

/** Deletes what is under `directory` except files whose path relative to it matches `keep`. */
async function pruneTree(directory: string, keep: RegExp | null, keepDirectories: boolean): Promise<void> {
  const walk = async (relative: string): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(join(directory, relative));
    } catch {
      return;
    }
    for (const name of names) {
      const entryRelative = relative === '' ? name : `${relative}/${name}`;
      const path = join(directory, entryRelative);
      const stats = await lstat(path);
      if (stats.isDirectory()) {
        await walk(entryRelative);
        if (!keepDirectories) await rmdir(path).catch(() => undefined);
      } else if (keep === null || !keep.test(entryRelative)) {
        await rm(path);
      }
    }
  };
  await walk('');
}

import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { parseDependsField, queryInstalledPackage } from '../debian-packages.js';
import type { DpkgQueryOptions, InstalledPackage } from '../debian-packages.js';
import { digestFile } from '../file-digest.js';
import { ImageError, errorMessage, systemErrorCode } from '../image-error.js';
import { resolveKernelModules } from '../kernel-modules.js';
import type { KernelModuleFile } from '../kernel-modules.js';
import { digestJson } from '../image-manifest.js';
import type { JsonObject } from '../image-manifest.js';
import type { ResolvedImageInputs } from '../image-recipe.js';

const execFileAsync = promisify(execFile);

export interface TinyImageSources extends DpkgQueryOptions {
  /** Debian package of the kernel: a meta package (the default, linux-image-cloud-amd64) or a versioned one. */
  readonly kernelPackage?: string;
  /** Where Debian kernel packages put `vmlinuz-<release>` and `config-<release>` (default /boot). */
  readonly bootDirectory?: string;
  /** Where they put `<release>/modules.dep` and the module files (default /lib/modules). */
  readonly modulesDirectory?: string;
  /** Debian package of the static busybox (default busybox-static). */
  readonly busyboxPackage?: string;
  /** The binary that package installs (default /bin/busybox). */
  readonly busyboxPath?: string;
}

export interface TinyKernelInput {
  readonly package: string;
  readonly version: string;
  readonly release: string;
  readonly path: string;
  readonly sha256: string;
}

export interface TinyBusyboxInput {
  readonly package: string;
  readonly version: string;
  readonly path: string;
  readonly sha256: string;
  /** Applet link paths, relative to the root (`bin/sh`, `sbin/init`, ...), sorted. */
  readonly applets: readonly string[];
}

export interface TinyKernelModulesInput {
  /** `/lib/modules/<release>`, where the files come from. */
  readonly directory: string;
  /** Packed into the initramfs and loaded by /init in this order. */
  readonly loadOrder: readonly KernelModuleFile[];
  /** Requested modules this kernel has built in. */
  readonly builtIn: readonly string[];
}

export interface TinyImageInputs extends ResolvedImageInputs {
  readonly kernel: TinyKernelInput;
  readonly busybox: TinyBusyboxInput;
  readonly kernelModules: TinyKernelModulesInput;
}

export const DEFAULT_KERNEL_PACKAGE = 'linux-image-cloud-amd64';
export const DEFAULT_BUSYBOX_PACKAGE = 'busybox-static';

/** Versioned Debian kernel packages: linux-image-<release>, the release starting with a digit. */
const VERSIONED_KERNEL_PACKAGE = /^linux-image-([0-9][0-9a-z.+~-]*)$/;
const APPLET_PATH = /^(?:[a-z]+\/)*[a-z0-9_.[\]-]+$/;

/**
 * Kernel options the tiny image relies on being built in, because they are needed before /init
 * can load a module: the 8250 UART console (its only I/O before the shell), the initramfs and its
 * gzip decompressor, devtmpfs, ptys. Device drivers (virtio) come as modules: see `kernelModules`.
 */
const REQUIRED_BUILT_IN_KERNEL_OPTIONS = [
  'CONFIG_SERIAL_8250',
  'CONFIG_SERIAL_8250_CONSOLE',
  'CONFIG_BLK_DEV_INITRD',
  'CONFIG_RD_GZIP',
  'CONFIG_DEVTMPFS',
  'CONFIG_UNIX98_PTYS',
  'CONFIG_PROC_FS',
  'CONFIG_SYSFS',
  'CONFIG_BINFMT_SCRIPT',
] as const;

/**
 * Finds the kernel and busybox that the installed Debian packages provide and pins them by hash.
 * `recipeInputs` (the recipe's own settings and guest files) are folded into the same digest.
 */
export async function resolveTinyInputs(
  sources: TinyImageSources,
  requestedModules: readonly string[],
  recipeInputs: JsonObject,
): Promise<TinyImageInputs> {
  const kernel = await resolveKernel(sources);
  const busybox = await resolveBusybox(sources);
  const modulesDirectory = join(sources.modulesDirectory ?? '/lib/modules', kernel.release);
  const modules = await resolveKernelModules(modulesDirectory, requestedModules);
  const kernelModules: TinyKernelModulesInput = { directory: modulesDirectory, ...modules };
  const record: JsonObject = {
    kernel: { ...kernel },
    busybox: { ...busybox, applets: busybox.applets.length },
    kernelModules: {
      requested: [...requestedModules],
      builtIn: [...modules.builtIn],
      loadOrder: modules.loadOrder.map((module) => ({ ...module })),
    },
    ...recipeInputs,
  };
  const digest = digestJson({ ...record, busybox: { ...busybox, applets: [...busybox.applets] } });
  return { digest, record, kernel, busybox, kernelModules };
}

async function resolveKernel(sources: TinyImageSources): Promise<TinyKernelInput> {
  const requested = await queryInstalledPackage(sources.kernelPackage ?? DEFAULT_KERNEL_PACKAGE, sources);
  const kernelPackage = await findVersionedKernelPackage(requested, sources);
  const release = VERSIONED_KERNEL_PACKAGE.exec(kernelPackage.name)?.[1] as string;
  const bootDirectory = sources.bootDirectory ?? '/boot';
  const path = join(bootDirectory, `vmlinuz-${release}`);
  const missingKernel = (what: string): ImageError =>
    new ImageError(
      'KERNEL_NOT_FOUND',
      `${what}, although package ${kernelPackage.name} ${kernelPackage.version} is installed; ` +
        `reinstall it with \`apt-get install --reinstall ${kernelPackage.name}\` or run scripts/setup.sh`,
    );

  const configPath = join(bootDirectory, `config-${release}`);
  const config = await readFile(configPath, 'utf8').catch((error: unknown) => {
    throw systemErrorCode(error) === 'ENOENT'
      ? missingKernel(`kernel configuration ${configPath} is missing`)
      : unreadable(configPath, error);
  });
  const missingOptions = REQUIRED_BUILT_IN_KERNEL_OPTIONS.filter(
    (option) => !new RegExp(`^${option}=y$`, 'm').test(config),
  );
  if (missingOptions.length > 0) {
    throw new ImageError(
      'KERNEL_UNSUITABLE',
      `kernel ${release} does not build in ${missingOptions.join(', ')}, which the tiny image needs without ` +
        `modules; use Debian's ${DEFAULT_KERNEL_PACKAGE}`,
    );
  }

  const digest = await digestFile(path).catch((error: unknown) => {
    throw systemErrorCode(error) === 'ENOENT'
      ? missingKernel(`kernel image ${path} is missing`)
      : unreadable(path, error);
  });
  return {
    package: kernelPackage.name,
    version: kernelPackage.version,
    release,
    path,
    sha256: digest.sha256,
  };
}

/** A meta package (linux-image-cloud-amd64) names the versioned package it currently pulls in. */
async function findVersionedKernelPackage(
  requested: InstalledPackage,
  options: DpkgQueryOptions,
): Promise<InstalledPackage> {
  if (VERSIONED_KERNEL_PACKAGE.test(requested.name)) return requested;
  for (const alternatives of parseDependsField(requested.depends)) {
    for (const name of alternatives.filter((candidate) => VERSIONED_KERNEL_PACKAGE.test(candidate))) {
      try {
        return await queryInstalledPackage(name, options);
      } catch (error) {
        if (!(error instanceof ImageError && error.code === 'PACKAGE_NOT_INSTALLED')) throw error;
      }
    }
  }
  throw new ImageError(
    'KERNEL_NOT_FOUND',
    `package ${requested.name} depends on no installed linux-image-<release> package ` +
      `(Depends: ${requested.depends || 'nothing'}); run \`apt-get install ${requested.name}\` or scripts/setup.sh`,
  );
}

async function resolveBusybox(sources: TinyImageSources): Promise<TinyBusyboxInput> {
  const installed = await queryInstalledPackage(sources.busyboxPackage ?? DEFAULT_BUSYBOX_PACKAGE, sources);
  const path = sources.busyboxPath ?? '/bin/busybox';
  const digest = await digestFile(path).catch((error: unknown) => {
    throw systemErrorCode(error) === 'ENOENT'
      ? new ImageError(
          'BUSYBOX_NOT_FOUND',
          `${path} is missing although ${installed.name} is installed; ` +
            `run \`apt-get install --reinstall ${installed.name}\``,
        )
      : unreadable(path, error);
  });
  let listing: string;
  try {
    ({ stdout: listing } = await execFileAsync(path, ['--list-full']));
  } catch (error) {
    throw new ImageError('BUSYBOX_NOT_FOUND', `${path} --list-full failed: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  const applets = listing
    .split('\n')
    .filter((line) => line !== '')
    .sort();
  const bad = applets.find((applet) => !APPLET_PATH.test(applet) || applet.split('/').includes('..'));
  if (bad !== undefined || applets.length === 0) {
    throw new ImageError(
      'BUSYBOX_NOT_FOUND',
      `${path} --list-full gave ${bad === undefined ? 'no applets' : `an unusable applet path ${JSON.stringify(bad)}`}`,
    );
  }
  for (const needed of ['bin/sh', 'sbin/init', 'bin/mount']) {
    if (!applets.includes(needed)) {
      throw new ImageError('BUSYBOX_NOT_FOUND', `${path} has no ${needed} applet, which the tiny image runs`);
    }
  }
  return { package: installed.name, version: installed.version, path, sha256: digest.sha256, applets };
}

function unreadable(path: string, error: unknown): ImageError {
  return new ImageError(
    'INPUT_UNREADABLE',
    `cannot read ${path}: ${errorMessage(error)}; make it readable by the user building images, or build as root`,
    {
      cause: error,
    },
  );
}

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestFile } from './file-digest.js';
import { ImageError, errorMessage, systemErrorCode } from './image-error.js';

/** A loadable module file, relative to `/lib/modules/<release>/`, pinned by hash. */
export interface KernelModuleFile {
  /** The module's name as the kernel knows it (`virtio_rng` for `virtio-rng.ko`). */
  readonly name: string;
  /** Path relative to the release's module directory, e.g. `kernel/drivers/block/virtio_blk.ko`. */
  readonly path: string;
  readonly sha256: string;
  readonly size: number;
}

export interface ResolvedKernelModules {
  /** The modules to load, dependencies before the modules that need them. */
  readonly loadOrder: readonly KernelModuleFile[];
  /** Requested modules the kernel has built in (modules.builtin): nothing to load. */
  readonly builtIn: readonly string[];
}

/** A module file name: the kernel's module name plus `.ko` and maybe a compression suffix. */
const MODULE_FILE = /^([A-Za-z0-9_-]+)\.ko(\.(?:gz|xz|zst))?$/;
const MODULE_PATH = /^[A-Za-z0-9_.+-]+(\/[A-Za-z0-9_.+-]+)*$/;

/** The kernel treats `-` and `_` in module names as the same character; `_` is its canonical spelling. */
export function canonicalModuleName(name: string): string {
  return name.replace(/-/g, '_');
}

/**
 * Resolves `requested` module names against a kernel's `modules.dep` and `modules.builtin` (as
 * depmod wrote them in `/lib/modules/<release>`): each requested module that is not built in, and
 * every module it depends on, in an order in which each can be loaded with a plain `insmod`.
 * The result depends only on the requested list and those files, so it is stable across builds.
 */
export async function resolveKernelModules(
  modulesDirectory: string,
  requested: readonly string[],
): Promise<ResolvedKernelModules> {
  const dependencies = parseModulesDep(await readModuleIndex(modulesDirectory, 'modules.dep'));
  const builtIn = new Set(
    (await readModuleIndex(modulesDirectory, 'modules.builtin'))
      .split('\n')
      .filter((line) => line !== '')
      .map(moduleNameOfPath),
  );
  const pathByName = new Map([...dependencies.keys()].map((path) => [moduleNameOfPath(path), path]));

  const ordered: string[] = [];
  const visiting = new Set<string>();
  const visit = (path: string, neededBy: string): void => {
    if (ordered.includes(path)) return;
    if (visiting.has(path)) {
      throw new ImageError(
        'KERNEL_UNSUITABLE',
        `${join(modulesDirectory, 'modules.dep')} has a dependency cycle through ${path} (needed by ${neededBy}); run depmod for this kernel again`,
      );
    }
    visiting.add(path);
    const needs = dependencies.get(path);
    if (needs === undefined) {
      throw new ImageError(
        'KERNEL_MODULE_NOT_FOUND',
        `${path}, needed by ${neededBy}, has no entry in ${join(modulesDirectory, 'modules.dep')}; run depmod for this kernel again`,
      );
    }
    for (const dependency of needs) visit(dependency, path);
    visiting.delete(path);
    ordered.push(path);
  };

  const builtInRequested: string[] = [];
  for (const name of requested.map(canonicalModuleName)) {
    if (builtIn.has(name)) {
      builtInRequested.push(name);
      continue;
    }
    const path = pathByName.get(name);
    if (path === undefined) {
      throw new ImageError(
        'KERNEL_MODULE_NOT_FOUND',
        `kernel module ${name} is neither built in nor in ${join(modulesDirectory, 'modules.dep')}; ` +
          'use a kernel that provides it (Debian linux-image-cloud-amd64)',
      );
    }
    visit(path, `the image (it asks for ${name})`);
  }

  const loadOrder: KernelModuleFile[] = [];
  for (const path of ordered) {
    const compression = MODULE_FILE.exec(path.slice(path.lastIndexOf('/') + 1))?.[2];
    if (compression !== undefined) {
      throw new ImageError(
        'KERNEL_UNSUITABLE',
        `kernel module ${path} is compressed (${compression}); the initramfs loads modules with busybox insmod, ` +
          'which needs them uncompressed: use a kernel built with CONFIG_MODULE_COMPRESS_NONE (Debian linux-image-cloud-amd64)',
      );
    }
    const absolute = join(modulesDirectory, path);
    const digest = await digestFile(absolute).catch((error: unknown) => {
      throw new ImageError(
        systemErrorCode(error) === 'ENOENT' ? 'KERNEL_MODULE_NOT_FOUND' : 'INPUT_UNREADABLE',
        `cannot read kernel module ${absolute}: ${errorMessage(error)}; reinstall the kernel package ` +
          '(`apt-get install --reinstall linux-image-$(uname -r)` for the running kernel, or scripts/setup.sh)',
        { cause: error },
      );
    });
    loadOrder.push({ name: moduleNameOfPath(path), path, ...digest });
  }
  return { loadOrder, builtIn: builtInRequested.sort() };
}

/** `modules.dep`: `path: dependency dependency ...`, one module per line, every dependency listed (transitively). */
export function parseModulesDep(text: string): Map<string, string[]> {
  const dependencies = new Map<string, string[]>();
  text.split('\n').forEach((line, index) => {
    if (line.trim() === '') return;
    const colon = line.indexOf(':');
    const path = line.slice(0, colon);
    const needs = line
      .slice(colon + 1)
      .split(' ')
      .filter((part) => part !== '');
    const bad = [path, ...needs].find((entry) => !isModulePath(entry));
    if (colon < 0 || bad !== undefined) {
      throw new ImageError(
        'KERNEL_UNSUITABLE',
        `modules.dep line ${index + 1} is not "path: dependencies" (${JSON.stringify(line.slice(0, 200))}); run depmod for this kernel again`,
      );
    }
    dependencies.set(path, needs);
  });
  return dependencies;
}

function isModulePath(path: string): boolean {
  return (
    MODULE_PATH.test(path) &&
    !path.split('/').some((part) => part === '.' || part === '..') &&
    MODULE_FILE.test(path.slice(path.lastIndexOf('/') + 1))
  );
}

function moduleNameOfPath(path: string): string {
  const file = path.slice(path.lastIndexOf('/') + 1);
  return canonicalModuleName(MODULE_FILE.exec(file)?.[1] ?? file);
}

async function readModuleIndex(modulesDirectory: string, file: string): Promise<string> {
  const path = join(modulesDirectory, file);
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    throw new ImageError(
      systemErrorCode(error) === 'ENOENT' ? 'KERNEL_MODULE_NOT_FOUND' : 'INPUT_UNREADABLE',
      `cannot read ${path}: ${errorMessage(error)}; the kernel's modules are missing: reinstall its package ` +
        'or run scripts/setup.sh',
      { cause: error },
    );
  }
}

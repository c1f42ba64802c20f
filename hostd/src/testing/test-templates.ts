// Test support: a templates directory holding the shipped templates plus small tiny-image ones of a test's own.
import { copyFile, mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { shippedTemplatesDirectory } from '@multiverse/vm-templates';

export interface TinyTemplateSpec {
  readonly name: string;
  readonly role?: 'app' | 'disposable' | 'utility';
  /** Volume sizes such as `64MiB`; absent volumes are not made. */
  readonly rootSize?: string;
  readonly privateSize?: string;
  readonly volatileSize?: string;
  readonly ephemeral?: boolean;
  readonly readyTimeout?: string;
  /** Its volumes LUKS-encrypted with a key in the vault. */
  readonly encrypted?: boolean;
  /** `onion`: behind the host's onion device (a link of its own); default `none` (offline). */
  readonly router?: 'none' | 'onion';
}

/** A kernel-boot template on the tiny image, 1 vCPU and 256 MiB, offline unless `router` says otherwise. */
export function tinyTemplateYaml(spec: TinyTemplateSpec): string {
  const disks = [
    ...(spec.rootSize === undefined ? [] : [`  root: ${spec.rootSize}`]),
    ...(spec.privateSize === undefined ? [] : [`  private: ${spec.privateSize}`]),
    ...(spec.volatileSize === undefined ? [] : [`  volatile: ${spec.volatileSize}`]),
  ];
  return [
    `name: ${spec.name}`,
    `description: A tiny test VM (${spec.name}).`,
    `role: ${spec.role ?? 'app'}`,
    'image: tiny',
    'boot: kernel',
    'vcpus: 1',
    'memory: 256MiB',
    'pinning: shared',
    ...(disks.length === 0 ? [] : ['disks:', ...disks]),
    `router: ${spec.router ?? 'none'}`,
    'autostart: false',
    `ephemeral: ${spec.ephemeral ?? false}`,
    `readyTimeout: ${spec.readyTimeout ?? '60s'}`,
    ...(spec.encrypted === true ? ['encrypted: true'] : []),
    '',
  ].join('\n');
}

/** Makes `<root>/templates` with the shipped templates and `extra` ones; returns its path. */
export async function prepareTemplates(root: string, extra: readonly TinyTemplateSpec[]): Promise<string> {
  const directory = join(root, 'templates');
  await mkdir(directory, { recursive: true });
  for (const file of await readdir(shippedTemplatesDirectory())) {
    await copyFile(join(shippedTemplatesDirectory(), file), join(directory, file));
  }
  for (const spec of extra) await writeFile(join(directory, `${spec.name}.yaml`), tinyTemplateYaml(spec));
  return directory;
}

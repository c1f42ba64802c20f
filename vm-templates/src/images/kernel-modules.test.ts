import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageError } from './image-error.js';
import { resolveKernelModules } from './kernel-modules.js';

function expectImageError(code: string, message: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ImageError, `expected an ImageError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  };
}

/** A module directory as depmod leaves it: modules.dep, modules.builtin and the .ko files it names. */
function writeModuleTree(root: string, dep: string, builtin = ''): void {
  mkdirSync(root, { recursive: true });
  writeFileSync(join(root, 'modules.dep'), dep);
  writeFileSync(join(root, 'modules.builtin'), builtin);
  for (const line of dep.split('\n').filter(Boolean)) {
    const path = line.slice(0, line.indexOf(':'));
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), `module ${path}\n`);
  }
}

describe('resolveKernelModules', () => {
  let work: string;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'kernel-modules-'));
  });

  after(() => {
    rmSync(work, { recursive: true, force: true });
  });

  it('orders dependencies first, once each, skipping built-in modules', async () => {
    const root = join(work, 'ordered');
    writeModuleTree(
      root,
      [
        'kernel/net/net-a.ko: kernel/lib/ring.ko kernel/lib/base.ko',
        'kernel/lib/ring.ko: kernel/lib/base.ko',
        'kernel/lib/base.ko:',
        'kernel/block/blk_b.ko: kernel/lib/base.ko',
        'kernel/unused.ko:',
        '',
      ].join('\n'),
      'kernel/fs/ext4/ext4.ko\n',
    );
    const resolved = await resolveKernelModules(root, ['net_a', 'ext4', 'blk-b']);
    assert.deepEqual(
      resolved.loadOrder.map((module) => module.path),
      ['kernel/lib/base.ko', 'kernel/lib/ring.ko', 'kernel/net/net-a.ko', 'kernel/block/blk_b.ko'],
    );
    assert.deepEqual(
      resolved.loadOrder.map((module) => module.name),
      ['base', 'ring', 'net_a', 'blk_b'],
    );
    assert.deepEqual(resolved.builtIn, ['ext4']);
    const base = resolved.loadOrder[0];
    assert.equal(base?.size, readFileSync(join(root, 'kernel/lib/base.ko')).length);
    assert.match(base?.sha256 ?? '', /^[0-9a-f]{64}$/);
  });

  it('names a module that the kernel does not have, and a dependency file that is missing', async () => {
    const root = join(work, 'missing');
    writeModuleTree(root, 'kernel/a.ko: kernel/gone.ko\nkernel/gone.ko:\n');
    await assert.rejects(
      resolveKernelModules(root, ['virtio_blk']),
      expectImageError(
        'KERNEL_MODULE_NOT_FOUND',
        /kernel module virtio_blk is neither built in nor in .*modules\.dep/,
      ),
    );
    rmSync(join(root, 'kernel/gone.ko'));
    await assert.rejects(
      resolveKernelModules(root, ['a']),
      expectImageError('KERNEL_MODULE_NOT_FOUND', /cannot read kernel module .*kernel\/gone\.ko/),
    );
    await assert.rejects(
      resolveKernelModules(join(work, 'no-such-kernel'), ['a']),
      expectImageError('KERNEL_MODULE_NOT_FOUND', /no-such-kernel\/modules\.dep.*reinstall/),
    );
  });

  it('refuses compressed modules, cycles and malformed lines', async () => {
    const compressed = join(work, 'compressed');
    writeModuleTree(compressed, 'kernel/a.ko.xz:\n');
    await assert.rejects(
      resolveKernelModules(compressed, ['a']),
      expectImageError('KERNEL_UNSUITABLE', /kernel\/a\.ko\.xz is compressed \(\.xz\)/),
    );
    const cyclic = join(work, 'cyclic');
    writeModuleTree(cyclic, 'kernel/a.ko: kernel/b.ko\nkernel/b.ko: kernel/a.ko\n');
    await assert.rejects(resolveKernelModules(cyclic, ['a']), expectImageError('KERNEL_UNSUITABLE', /cycle/));
    const malformed = join(work, 'malformed');
    writeModuleTree(malformed, 'kernel/a.ko: ../../etc/shadow\n');
    await assert.rejects(
      resolveKernelModules(malformed, ['a']),
      expectImageError('KERNEL_UNSUITABLE', /modules\.dep line 1/),
    );
  });

  it("resolves the virtio drivers of this host's Debian cloud kernel", async (t) => {
    const release = readdirSync('/lib/modules').find((entry) => entry.endsWith('-cloud-amd64'));
    assert.ok(release !== undefined, 'linux-image-cloud-amd64 is installed (scripts/setup.sh)');
    const resolved = await resolveKernelModules(join('/lib/modules', release), [
      'virtio_pci',
      'virtio_blk',
      'ext4',
    ]);
    const names = resolved.loadOrder.map((module) => module.name);
    assert.deepEqual(resolved.builtIn, ['ext4']);
    assert.ok(names.indexOf('virtio_ring') < names.indexOf('virtio'));
    assert.ok(names.indexOf('virtio') < names.indexOf('virtio_pci'));
    assert.equal(names.at(-1), 'virtio_blk');
    t.diagnostic(`load order: ${names.join(' ')}`);
  });
});

import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mountsUnder, removeBuildTree } from './build-tree.js';

describe('removeBuildTree', () => {
  let work: string;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'build-tree-'));
  });

  after(() => {
    // Whatever the test left mounted goes first, so the cleanup itself never walks into a mount.
    for (const mountPoint of execFileSync('findmnt', ['-rn', '-o', 'TARGET']).toString().split('\n')) {
      if (mountPoint.startsWith(`${work}/`)) execFileSync('umount', ['--lazy', mountPoint]);
    }
    rmSync(work, { recursive: true, force: true });
  });

  it('unmounts what a crashed chroot build left mounted before deleting the tree', async () => {
    const tree = join(work, 'tree with space');
    const proc = join(tree, 'root', 'proc');
    const nested = join(tree, 'root', 'run');
    mkdirSync(proc, { recursive: true });
    mkdirSync(nested, { recursive: true });
    writeFileSync(join(tree, 'root', 'file'), 'x');
    // A real tmpfs with a file in it stands for the host's /proc or /dev: deleting through it would be a disaster.
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'mvtpl-test', proc]);
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'mvtpl-test', nested]);
    mkdirSync(join(nested, 'deeper'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'mvtpl-test', join(nested, 'deeper')]);
    writeFileSync(join(proc, 'precious'), 'keep');

    assert.deepEqual(
      await mountsUnder(tree),
      [join(nested, 'deeper'), nested, proc].sort((a, b) => b.length - a.length),
    );
    await removeBuildTree(tree);
    assert.equal(existsSync(tree), false);
    assert.deepEqual(await mountsUnder(tree), []);
  });

  it('deletes a tree with nothing mounted, and a missing tree quietly', async () => {
    const tree = join(work, 'plain');
    mkdirSync(join(tree, 'a', 'b'), { recursive: true });
    await removeBuildTree(tree);
    assert.equal(existsSync(tree), false);
    await removeBuildTree(join(work, 'never-created'));
  });
});

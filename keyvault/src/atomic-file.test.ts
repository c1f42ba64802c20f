import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { writeFileAtomic } from './atomic-file.js';

// The replacement hostd and jail-shell write their crash-safe files with (through `./atomic-file`); the kill -9
// cases are in crash-safety.test.ts.
describe('writeFileAtomic', () => {
  let directory: string;
  before(async () => {
    directory = await mkdtemp(join(tmpdir(), 'keyvault-atomic-'));
  });
  after(() => rm(directory, { recursive: true, force: true }));

  it('writes text or bytes, owner-only unless told otherwise, and leaves no temp file', async () => {
    const secret = join(directory, 'secret');
    await writeFileAtomic(secret, 'first');
    assert.equal(await readFile(secret, 'utf8'), 'first');
    assert.equal((await stat(secret)).mode & 0o777, 0o600);
    const shared = join(directory, 'shared');
    await writeFileAtomic(shared, new Uint8Array([1, 2, 3]), { mode: 0o644 });
    assert.deepEqual([...(await readFile(shared))], [1, 2, 3]);
    assert.equal((await stat(shared)).mode & 0o777, 0o644 & ~process.umask());
    assert.deepEqual((await readdir(directory)).sort(), ['secret', 'shared']);
  });

  it('replaces a file whole, or refuses to when exclusive', async () => {
    const path = join(directory, 'replaced');
    await writeFile(path, 'old contents, longer than the new');
    await writeFileAtomic(path, 'new');
    assert.equal(await readFile(path, 'utf8'), 'new');
    await assert.rejects(writeFileAtomic(path, 'newer', { exclusive: true }), { code: 'EEXIST' });
    assert.equal(await readFile(path, 'utf8'), 'new');
    assert.ok(!(await readdir(directory)).some((name) => name.endsWith('.tmp')));
  });
});

import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { writeRandomDataFile } from './random-data-file.js';

describe('writeRandomDataFile', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'mv-bench-random-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('writes exactly the size asked for, across chunk boundaries, private to its owner', async () => {
    const path = join(dir, 'odd-size');
    const size = 16 * 1024 * 1024 + 12_345;
    await writeRandomDataFile(path, size);
    const info = await stat(path);
    assert.equal(info.size, size);
    assert.equal(info.mode & 0o777, 0o600);
  });

  it('writes data nothing can make cheaper: it does not compress and two files differ', async () => {
    const [first, second] = [join(dir, 'a'), join(dir, 'b')];
    await writeRandomDataFile(first, 1024 * 1024);
    await writeRandomDataFile(second, 1024 * 1024);
    const bytes = await readFile(first);
    assert.ok(gzipSync(bytes).length > bytes.length * 0.99, 'random data does not compress');
    assert.notDeepEqual(bytes, await readFile(second));
  });

  it('never replaces an existing file', async () => {
    const path = join(dir, 'existing');
    await writeRandomDataFile(path, 10);
    await assert.rejects(writeRandomDataFile(path, 10), { code: 'EEXIST' });
  });
});

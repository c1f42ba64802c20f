import { describe, it, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { readStateFile, writeFileDurably } from './durable-fs.js';

const schema = z.strictObject({ format: z.literal(1), names: z.array(z.string()) });

describe('hostd state files', () => {
  let root: string;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-durable-fs-'));
  });
  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('reads back what was written durably, with its mode', async () => {
    const path = join(root, 'record.json');
    await writeFileDurably(path, JSON.stringify({ format: 1, names: ['a', 'b'] }), 0o600);
    assert.deepEqual(await readStateFile(path, schema), {
      state: 'read',
      value: { format: 1, names: ['a', 'b'] },
    });
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    assert.match(await readFile(path, 'utf8'), /"names"/);
  });

  it('tells a missing file from a damaged one: torn JSON, or JSON of another shape', async () => {
    assert.deepEqual(await readStateFile(join(root, 'none.json'), schema), { state: 'missing' });
    const torn = join(root, 'torn.json');
    await writeFile(torn, '{"format": 1, "na');
    assert.deepEqual(await readStateFile(torn, schema), { state: 'damaged' });
    const other = join(root, 'other.json');
    await writeFile(other, JSON.stringify({ format: 2, names: [] }));
    assert.deepEqual(await readStateFile(other, schema), { state: 'damaged' });
  });

  it('throws what is neither missing nor damaged (a directory where the file should be)', async () => {
    await assert.rejects(readStateFile(root, schema), { code: 'EISDIR' });
  });
});

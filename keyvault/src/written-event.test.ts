import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { openVault } from './key-vault.js';
import { createTempVault, tempDirectory } from './test-support/temp-vault.js';

const directory = tempDirectory('written');

describe('the written event: the generation every write reached the disk with', () => {
  it('tells each put, delete, rotate and committed rekey with the file’s new generation, in order', async () => {
    const { vault } = await createTempVault(directory, 3, 2);
    const seen: number[] = [];
    vault.on('written', ({ generation }) => seen.push(generation));
    assert.equal(vault.status().generation, 1);
    await vault.put('a', 'one');
    await vault.delete('a');
    await vault.rotate();
    const rekey = await vault.prepareRekey({ threshold: 2, custodians: ['x', 'y'] });
    assert.deepEqual(seen, [2, 3, 4], 'a prepared rekey writes nothing');
    await rekey.commit();
    assert.deepEqual(seen, [2, 3, 4, 5]);
    assert.equal(vault.status().generation, 5);
  });

  it('keeps an older file’s generation honest: a raised generation fails the header checks', async () => {
    const { vault, path } = await createTempVault(directory, 2, 2);
    await vault.put('a', 'one');
    vault.seal();
    const bytes = readFileSync(path);
    // magic 8 · version 2 · header length 4 · vaultId 10 · generation u32
    const offset = 8 + 2 + 4 + 10;
    assert.equal(bytes.readUInt32BE(offset), 2);
    bytes.writeUInt32BE(9, offset);
    writeFileSync(path, bytes);
    await assert.rejects(openVault({ path }), { code: 'VAULT_CORRUPT' });
  });
});

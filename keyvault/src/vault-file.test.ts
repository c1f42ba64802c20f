import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { aeadOpen } from './aead.js';
import { masterKeyAad } from './associated-data.js';
import { describePart, VaultError, type VaultFilePart } from './errors.js';
import { openVault } from './key-vault.js';
import type { IssuedShare } from './share-set.js';
import { deriveMasterKeys, deriveWrapKey } from './key-schedule.js';
import { combinePoints } from './secret-split.js';
import { parseShareText } from './share-codec.js';
import type { PlainShare } from './share.js';
import { createTempVault, tempDirectory } from './test-support/temp-vault.js';
import { encodeVaultFile, parseVaultFile, type ParsedVaultFile } from './vault-file.js';

const directory = tempDirectory('file');
const scratch = join(directory, 'scratch');
let original: Buffer;
let layout: ParsedVaultFile['layout'];
let shareTexts: string[];

before(async () => {
  const { vault, shares, path } = await createTempVault(directory, 2, 2);
  await vault.put('luks/vm-a', 'first secret');
  await vault.put('wireguard/router', Buffer.alloc(40, 9));
  vault.seal();
  original = readFileSync(path);
  layout = parseVaultFile(original).layout;
  shareTexts = shares.map((issued: IssuedShare) => issued.text);
});

/** Opens the bytes as a vault, unseals it and reads every entry; returns the error it failed with. */
async function openFully(bytes: Buffer): Promise<unknown> {
  writeFileSync(scratch, bytes);
  try {
    const vault = await openVault({ path: scratch });
    await vault.unseal(shareTexts);
    for (const entry of vault.list()) vault.get(entry.name);
    return undefined;
  } catch (error) {
    return error;
  }
}

function partAt(offset: number): VaultFilePart {
  const range = layout.find((candidate) => offset >= candidate.start && offset < candidate.end);
  assert.ok(range, `offset ${offset} is in no part`);
  return range.part;
}

/** The master keys, rebuilt from the shares as the vault does, for forging files in tests. */
async function masterKeysOf(file: ParsedVaultFile) {
  const unsealKey = await combinePoints(shareTexts.map((text) => (parseShareText(text) as PlainShare).point));
  const header = file.header;
  const master = aeadOpen(
    deriveWrapKey(unsealKey, header.vaultId, header.shareSet),
    header.wrappedMasterKey,
    masterKeyAad(header),
  );
  assert.ok(master);
  return deriveMasterKeys(master, header.vaultId);
}

describe('vault file integrity', () => {
  it('opens the untouched file', async () => {
    assert.equal(await openFully(original), undefined);
    assert.deepEqual(
      [...new Set(layout.map((range) => range.part.section))],
      ['magic', 'header', 'header-mac', 'index', 'entry'],
    );
    assert.equal(layout.at(-1)!.end, original.length);
  });

  it('detects a flipped byte at every offset and names the part it is in', async () => {
    for (let offset = 0; offset < original.length; offset += 1) {
      const damaged = Buffer.from(original);
      damaged[offset]! ^= 1 << (offset % 8);
      const error = await openFully(damaged);
      assert.ok(error instanceof VaultError, `flip at ${offset} went unnoticed`);
      assert.equal(error.code, 'VAULT_CORRUPT', `offset ${offset}: ${error.message}`);
      const expected = partAt(offset);
      assert.equal(error.part?.section, expected.section, `offset ${offset}: ${error.message}`);
      assert.equal(error.part?.entry, expected.entry, `offset ${offset}: ${error.message}`);
      assert.ok(error.message.includes(describePart(expected)), error.message);
      assert.match(error.message, /Restore the vault file from a backup/);
    }
  });

  it('detects a cut-off file and appended bytes', async () => {
    for (const length of [0, 5, 12, 100, original.length - 1]) {
      const error = await openFully(original.subarray(0, length));
      assert.ok(error instanceof VaultError && error.code === 'VAULT_CORRUPT', `cut at ${length}`);
    }
    const appended = await openFully(Buffer.concat([original, Buffer.of(0)]));
    assert.ok(appended instanceof VaultError);
    assert.deepEqual(appended.part, { section: 'length' });
    assert.match(appended.message, /bytes appended/);
  });

  it('tells a newer format version from damage', async () => {
    const newer = Buffer.from(original);
    newer.writeUInt16BE(2, 8);
    const headerEnd = layout.find((range) => range.part.section === 'header')!.end - 32;
    createHash('sha256').update(newer.subarray(0, headerEnd)).digest().copy(newer, headerEnd);
    const error = await openFully(newer);
    assert.ok(error instanceof VaultError);
    assert.equal(error.code, 'VAULT_VERSION_UNSUPPORTED');
  });

  it('catches a header changed with its checksum redone: the keyed MAC fails', async () => {
    const file = parseVaultFile(original);
    const keys = await masterKeysOf(file);
    const forged = encodeVaultFile(
      { ...file.header, generation: 99 },
      file.index,
      file.entries,
      keys.headerMac,
    );
    // Put back the genuine MAC: the attacker can redo the unkeyed checksum but not the MAC.
    const macRange = layout.find((range) => range.part.section === 'header-mac')!;
    original.copy(forged, macRange.start, macRange.start, macRange.end);
    const error = await openFully(forged);
    assert.ok(error instanceof VaultError);
    assert.deepEqual(error.part, { section: 'header-mac' });
  });

  it('catches entry records swapped by someone holding the MAC key: the entry name is the AEAD data', async () => {
    const file = parseVaultFile(original);
    const keys = await masterKeysOf(file);
    const swapped = encodeVaultFile(
      file.header,
      file.index,
      [file.entries[1]!, file.entries[0]!],
      keys.headerMac,
    );
    const error = await openFully(swapped);
    assert.ok(error instanceof VaultError);
    assert.deepEqual(error.part, { section: 'entry', entry: 0, name: 'luks/vm-a' });
  });

  it('catches an index from another generation: the generation is the index AEAD data', async () => {
    const file = parseVaultFile(original);
    const keys = await masterKeysOf(file);
    const replayed = encodeVaultFile(
      { ...file.header, generation: file.header.generation - 1 },
      file.index,
      file.entries,
      keys.headerMac,
    );
    const error = await openFully(replayed);
    assert.ok(error instanceof VaultError);
    assert.deepEqual(error.part, { section: 'index' });
  });
});

import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { openVault } from './key-vault.js';
import { keyCheckMatches } from './key-schedule.js';
import { combinePoints } from './secret-split.js';
import { formatShareText, parseShareText } from './share-codec.js';
import type { PlainShare } from './share.js';
import { createTempVault, subsets, tempDirectory } from './test-support/temp-vault.js';
import { parseVaultFile } from './vault-file.js';

const directory = tempDirectory('unseal');

async function sealedVault(shareCount: number, threshold: number) {
  const created = await createTempVault(directory, shareCount, threshold);
  await created.vault.put('secret', 'value');
  created.vault.seal();
  const vault = await openVault({ path: created.path });
  return { vault, texts: created.shares.map((issued) => issued.text), path: created.path };
}

/** A share with a valid checksum whose point was altered: only the key check can catch it. */
function tampered(text: string): string {
  const share = parseShareText(text) as PlainShare;
  const point = Buffer.from(share.point);
  point[5]! ^= 0x40;
  return formatShareText({ ...share, point });
}

describe('unseal session', () => {
  it('reports progress share by share and unseals at the threshold', async () => {
    const { vault, texts } = await sealedVault(5, 3);
    const session = vault.unsealSession();
    assert.deepEqual(session.progress, { have: 0, need: 3, indices: [], unsealed: false, inconsistent: [] });
    assert.deepEqual(await session.submit(texts[4]!), {
      have: 1,
      need: 3,
      indices: [5],
      unsealed: false,
      inconsistent: [],
    });
    assert.equal(vault.unsealSession(), session, 'front ends share the open session');
    assert.deepEqual((await session.submit(texts[1]!)).indices, [2, 5]);
    assert.equal(vault.status().unseal?.have, 2);
    assert.equal(vault.sealed, true);
    const done = await session.submit(texts[2]!);
    assert.equal(done.unsealed, true);
    assert.equal(vault.getString('secret'), 'value');
    await assert.rejects(session.submit(texts[0]!), { code: 'UNSEAL_SESSION_CLOSED' });
  });

  it('takes shares submitted at the same time one after another', async () => {
    const { vault, texts } = await sealedVault(4, 3);
    const session = vault.unsealSession();
    const results = await Promise.all(texts.slice(0, 3).map((text) => session.submit(text)));
    assert.deepEqual(
      results.map((progress) => progress.have),
      [1, 2, 3],
    );
    assert.equal(vault.sealed, false);
  });

  it('never accepts fewer than K shares: every K-1 subset rebuilds a wrong key that fails the key check', async () => {
    for (const [shareCount, threshold] of [
      [3, 2],
      [5, 3],
      [7, 4],
      [9, 5],
    ] as const) {
      const { texts, path } = await sealedVault(shareCount, threshold);
      const header = parseVaultFile(readFileSync(path)).header;
      const points = texts.map((text) => (parseShareText(text) as PlainShare).point);
      const realKey = await combinePoints(points.slice(0, threshold));
      assert.ok(keyCheckMatches(realKey, header.vaultId, header.shareSet, header.keyCheck));
      for (const subset of subsets(points, threshold - 1)) {
        // One point alone is a degree-0 "interpolation": its y-bytes are the candidate key.
        const candidate = subset.length === 1 ? subset[0]!.subarray(0, 32) : await combinePoints(subset);
        assert.ok(!candidate.equals(realKey), `${threshold - 1} shares rebuilt the key`);
        assert.ok(!keyCheckMatches(candidate, header.vaultId, header.shareSet, header.keyCheck));
      }
    }
  });

  it('stays sealed with K-1 good shares', async () => {
    const { vault, texts } = await sealedVault(5, 4);
    await assert.rejects(vault.unseal(texts.slice(0, 3)), {
      code: 'VAULT_SEALED',
      message: /3 of 4 shares given/,
    });
    assert.equal(vault.sealed, true);
  });

  it('rejects K shares that rebuild a wrong key, then finds the bad share with one more', async () => {
    const { vault, texts } = await sealedVault(5, 3);
    const session = vault.unsealSession();
    await session.submit(texts[0]!);
    await session.submit(tampered(texts[1]!));
    await assert.rejects(session.submit(texts[2]!), {
      code: 'KEY_CHECK_FAILED',
      combined: [1, 2, 3],
      message: /Submit another custodian/,
    });
    assert.equal(vault.sealed, true);
    assert.equal(session.progress.have, 3, 'the shares are kept to find the bad one');
    const done = await session.submit(texts[3]!);
    assert.equal(done.unsealed, true);
    assert.deepEqual(done.inconsistent, [2]);
    assert.equal(vault.getString('secret'), 'value');
  });

  it('rejects a typo before it reaches the key, naming the line', async () => {
    const { vault, texts } = await sealedVault(3, 2);
    const lines = texts[0]!.split('\n');
    const target = lines.findIndex((line) => line.startsWith('4:'));
    const line = lines[target]!;
    lines[target] = line.slice(0, -1) + (line.endsWith('0') ? '1' : '0');
    const session = vault.unsealSession();
    await assert.rejects(session.submit(lines.join('\n')), { code: 'SHARE_CHECKSUM', line: target + 1 });
    assert.equal(session.progress.have, 0);
  });

  it('rejects a share given twice, and a different share under an index already given', async () => {
    const { vault, texts } = await sealedVault(4, 3);
    const session = vault.unsealSession();
    await session.submit(texts[0]!);
    await assert.rejects(session.submit(texts[0]!), {
      code: 'SHARE_DUPLICATE',
      shareIndex: 1,
      message: /already given/,
    });
    await assert.rejects(session.submit(tampered(texts[0]!)), {
      code: 'SHARE_DUPLICATE',
      message: /A different share 1/,
    });
    const relabelled = parseShareText(texts[0]!) as PlainShare;
    await assert.rejects(session.submit(formatShareText({ ...relabelled, index: 3 })), {
      code: 'SHARE_DUPLICATE',
      message: /same Shamir x-coordinate as share 1/,
    });
    assert.equal(session.progress.have, 1);
  });

  it('rejects a share of another vault, naming both vaults', async () => {
    const { vault, texts } = await sealedVault(3, 2);
    const other = await sealedVault(3, 2);
    const otherId = other.vault.status().vaultId;
    await assert.rejects(vault.unsealSession().submit(other.texts[0]!), {
      code: 'SHARE_FOREIGN',
      shareIndex: 1,
      message: new RegExp(`belongs to vault ${otherId}, not to this vault \\(${vault.status().vaultId}\\)`),
    });
    assert.equal((await vault.unseal(texts.slice(1))).unsealed, true);
  });

  it('rejects a share whose threshold or count was altered', async () => {
    const { vault, texts } = await sealedVault(4, 2);
    const share = parseShareText(texts[0]!) as PlainShare;
    await assert.rejects(vault.unsealSession().submit(formatShareText({ ...share, threshold: 3 })), {
      code: 'SHARE_INVALID',
      message: /says 3 of 4 but this vault's share set 1 is 2 of 4/,
    });
  });

  it('forgets its shares when cancelled or idle too long', async () => {
    const { path, texts } = await sealedVault(3, 2);
    const vault = await openVault({ path, unsealSessionTimeoutMs: 200 });
    const cancelled = vault.unsealSession();
    await cancelled.submit(texts[0]!);
    cancelled.cancel();
    assert.equal(cancelled.progress.have, 0);
    await assert.rejects(cancelled.submit(texts[1]!), {
      code: 'UNSEAL_SESSION_CLOSED',
      message: /cancelled/,
    });

    const idle = vault.unsealSession();
    assert.notEqual(idle, cancelled);
    await idle.submit(texts[0]!);
    await new Promise((resolve) => setTimeout(resolve, 400));
    assert.equal(idle.isOpen, false);
    await assert.rejects(idle.submit(texts[1]!), { code: 'UNSEAL_SESSION_CLOSED', message: /expired/ });
    assert.equal(vault.status().unseal, undefined);
  });
});

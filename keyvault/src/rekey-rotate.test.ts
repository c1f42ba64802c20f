import assert from 'node:assert/strict';
import { copyFileSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { openVault } from './key-vault.js';
import { generateCustodianKeyPair } from './share-encryption.js';
import { createTempVault, tempDirectory } from './test-support/temp-vault.js';
import { parseVaultFile } from './vault-file.js';

const directory = tempDirectory('rekey');

describe('rekey', () => {
  it('makes a new share set with new N, K and custodians; old shares stop working only at commit', async () => {
    const { vault, shares: oldShares, path } = await createTempVault(directory, 5, 3);
    await vault.put('luks/vm', 'disk passphrase');
    const carol = generateCustodianKeyPair();
    const pending = await vault.prepareRekey({
      threshold: 2,
      custodians: ['alice', 'bob', { name: 'carol', publicKey: carol.publicKey }],
    });
    assert.deepEqual(
      pending.shares.map((issued) => [issued.custodian, issued.share.shareSet, issued.share.threshold]),
      [
        ['alice', 2, 2],
        ['bob', 2, 2],
        ['carol', 2, 2],
      ],
    );

    const beforeCommit = await openVault({ path });
    await beforeCommit.unseal(oldShares.slice(0, 3).map((issued) => issued.text));
    assert.equal(beforeCommit.getString('luks/vm'), 'disk passphrase');
    beforeCommit.seal();

    await vault.put('added/while-pending', 'x');
    await pending.commit();
    assert.deepEqual(
      { set: vault.status().shareSet, threshold: vault.status().threshold, count: vault.status().shareCount },
      { set: 2, threshold: 2, count: 3 },
    );
    vault.seal();

    const afterCommit = await openVault({ path });
    await assert.rejects(afterCommit.unsealSession().submit(oldShares[0]!.text), {
      code: 'SHARE_STALE',
      message: /from share set 1, replaced by a rekey/,
    });
    const session = afterCommit.unsealSession();
    await session.submit(pending.shares[1]!.text);
    await session.submit(pending.shares[2]!.text, { privateKey: carol.privateKey });
    assert.equal(afterCommit.getString('luks/vm'), 'disk passphrase');
    assert.equal(afterCommit.getString('added/while-pending'), 'x');
    await assert.rejects(pending.commit(), { code: 'REKEY_STALE', message: /committed already/ });
  });

  it('names new shares used on a vault file restored from before the rekey', async () => {
    const { vault, path } = await createTempVault(directory, 3, 2);
    const backup = `${path}.backup`;
    copyFileSync(path, backup);
    const pending = await vault.prepareRekey({ threshold: 2, custodians: ['a', 'b', 'c'] });
    await pending.commit();
    const restored = await openVault({ path: backup });
    await assert.rejects(restored.unsealSession().submit(pending.shares[0]!.text), {
      code: 'SHARE_STALE',
      message: /newer than this vault file/,
    });
  });

  it('voids a prepared rekey when discarded, when sealed, or when another rekey commits first', async () => {
    const { vault, shares } = await createTempVault(directory, 3, 2);
    const discarded = await vault.prepareRekey({ threshold: 2, custodians: ['a', 'b'] });
    discarded.discard();
    await assert.rejects(discarded.commit(), { code: 'REKEY_STALE', message: /discarded/ });

    const first = await vault.prepareRekey({ threshold: 2, custodians: ['a', 'b'] });
    const second = await vault.prepareRekey({ threshold: 2, custodians: ['c', 'd'] });
    await first.commit();
    await assert.rejects(second.commit(), { code: 'REKEY_STALE', message: /Another rekey/ });

    const beforeSeal = await vault.prepareRekey({ threshold: 2, custodians: ['e', 'f'] });
    vault.seal();
    await vault.unseal(first.shares.map((issued) => issued.text));
    await assert.rejects(beforeSeal.commit(), { code: 'REKEY_STALE' });
    assert.equal(vault.status().shareSet, 2);
    await assert.rejects(vault.unseal(shares.map((issued) => issued.text)), { code: 'VAULT_UNSEALED' });
  });
});

describe('rotate', () => {
  it('re-encrypts every entry under a new master key; the shares stay valid', async () => {
    const { vault, shares, path } = await createTempVault(directory, 3, 2);
    await vault.put('wireguard/router', 'wg key');
    await vault.put('onion/call-home', Buffer.alloc(64, 3));
    const before = parseVaultFile(readFileSync(path));
    await vault.rotate();
    const after = parseVaultFile(readFileSync(path));
    assert.ok(!after.header.wrappedMasterKey.equals(before.header.wrappedMasterKey));
    assert.ok(after.header.keyCheck.equals(before.header.keyCheck), 'same unseal key, same key check');
    before.entries.forEach((record, i) =>
      assert.ok(!record.equals(after.entries[i]!), `entry ${i} re-encrypted`),
    );
    assert.equal(vault.getString('wireguard/router'), 'wg key');
    vault.seal();

    const reopened = await openVault({ path });
    await reopened.unseal([shares[0]!.text, shares[2]!.text]);
    assert.equal(reopened.getString('wireguard/router'), 'wg key');
    assert.deepEqual(reopened.get('onion/call-home'), Buffer.alloc(64, 3));
  });
});

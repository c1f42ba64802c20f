import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, it } from 'node:test';
import { initVault, MAX_ENTRY_BYTES, openVault } from './key-vault.js';
import { generateCustodianKeyPair } from './share-encryption.js';
import { createTempVault, tempDirectory } from './test-support/temp-vault.js';

const directory = tempDirectory('vault');

describe('vault round trips', () => {
  it('creates, fills, seals and unseals with K of N shares for every N/K from 2-of-2 to 5-of-9', async () => {
    for (let shareCount = 2; shareCount <= 9; shareCount += 1) {
      for (let threshold = 2; threshold <= Math.min(5, shareCount); threshold += 1) {
        const { vault, shares, path } = await createTempVault(directory, shareCount, threshold);
        await vault.put('luks/disk', Buffer.from([0, 1, 2, 255]));
        vault.seal();

        const reopened = await openVault({ path });
        assert.equal(reopened.sealed, true);
        // The last K shares, so the shares given are not always the first ones.
        const progress = await reopened.unseal(shares.slice(-threshold).map((share) => share.text));
        assert.deepEqual(
          progress.indices,
          shares.slice(-threshold).map((share) => share.share.index),
        );
        assert.deepEqual(
          reopened.get('luks/disk'),
          Buffer.from([0, 1, 2, 255]),
          `${threshold} of ${shareCount}`,
        );
      }
    }
  });

  it('keeps entries across reopening: put, replace, list, delete, strings and bytes', async () => {
    const { vault, shares, path } = await createTempVault(directory, 3, 2);
    await vault.put('wireguard/router-vpn', 'wg private key');
    await vault.put('onion/call-home', Buffer.alloc(64, 7));
    await vault.put('luks/vm-a', 'first');
    await vault.put('luks/vm-a', 'second');
    assert.equal(await vault.delete('onion/call-home'), true);
    assert.equal(await vault.delete('onion/call-home'), false);
    vault.seal();

    const reopened = await openVault({ path });
    assert.equal(reopened.status().entryCount, 2);
    await reopened.unseal([shares[2]!.text, shares[0]!.text]);
    assert.deepEqual(
      reopened.list().map((entry) => [entry.name, entry.size]),
      [
        ['luks/vm-a', 6],
        ['wireguard/router-vpn', 14],
      ],
    );
    assert.equal(reopened.getString('luks/vm-a'), 'second');
    assert.equal(reopened.has('onion/call-home'), false);
    assert.throws(() => reopened.get('onion/call-home'), { code: 'ENTRY_NOT_FOUND' });
    const created = reopened.list()[0]!;
    assert.ok(created.updatedAt >= created.createdAt);
  });

  it('hands a value to a callback and zeroes it afterwards', async () => {
    const { vault } = await createTempVault(directory, 2, 2);
    await vault.put('luks/vm-b', 'passphrase');
    let seen: Buffer | undefined;
    const length = await vault.withEntry('luks/vm-b', (value) => {
      seen = value;
      return value.toString();
    });
    assert.equal(length, 'passphrase');
    assert.deepEqual(seen, Buffer.alloc(10));
  });

  it('writes the vault file readable by its owner only, and never holds names in clear', async () => {
    const { vault, path } = await createTempVault(directory, 2, 2);
    await vault.put('luks/very-secret-vm-name', 'value-in-clear');
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const bytes = readFileSync(path);
    assert.equal(bytes.includes('very-secret-vm-name'), false);
    assert.equal(bytes.includes('value-in-clear'), false);
  });

  it('refuses every operation needing the key while sealed, and says how to unseal', async () => {
    const { vault } = await createTempVault(directory, 3, 2);
    await vault.put('a', 'b');
    vault.seal();
    const sealed = { code: 'VAULT_SEALED', message: /Unseal it with 2 of the 3/ };
    assert.throws(() => vault.get('a'), sealed);
    assert.throws(() => vault.list(), sealed);
    await assert.rejects(vault.put('a', 'c'), sealed);
    await assert.rejects(vault.delete('a'), sealed);
    await assert.rejects(vault.rotate(), sealed);
    await assert.rejects(vault.prepareRekey({ threshold: 2, custodians: ['x', 'y'] }), sealed);
    assert.deepEqual(
      { sealed: vault.status().sealed, entryCount: vault.status().entryCount },
      { sealed: true, entryCount: 1 },
    );
  });

  it('announces seal and unseal, so hostd can define and undefine its libvirt secrets', async () => {
    const { vault, shares } = await createTempVault(directory, 2, 2);
    const sealed = once(vault, 'sealed');
    vault.seal();
    assert.deepEqual(await sealed, [{ reason: 'requested' }]);
    const unsealed = once(vault, 'unsealed');
    await vault.unseal(shares.map((share) => share.text));
    await unsealed;
    assert.throws(() => vault.unsealSession(), { code: 'VAULT_UNSEALED' });
  });

  it('seals itself after the idle time, and each use restarts the clock', async () => {
    const { path, shares } = await createTempVault(directory, 2, 2);
    const vault = await openVault({ path, autoSealAfterMs: 200 });
    await vault.unseal(shares.map((share) => share.text));
    const started = Date.now();
    for (let i = 0; i < 6; i += 1) {
      await new Promise((resolve) => setTimeout(resolve, 60));
      vault.list();
    }
    assert.equal(vault.sealed, false, 'used every 60 ms for 360 ms, so never idle for 200 ms');
    // The idle timer is unref'd (it must not keep hostd alive); this one keeps the test alive.
    const keepAlive = setTimeout(() => undefined, 5000);
    const [event] = (await once(vault, 'sealed')) as [{ reason: string }];
    clearTimeout(keepAlive);
    assert.equal(event.reason, 'idle');
    assert.ok(Date.now() - started >= 6 * 60 + 200 - 20);
    assert.throws(() => vault.list(), { code: 'VAULT_SEALED' });
  });

  it('never overwrites an existing vault, and reports a missing one', async () => {
    const { path } = await createTempVault(directory, 2, 2);
    const before = readFileSync(path);
    await assert.rejects(initVault({ path, threshold: 2, custodians: ['a', 'b'] }), { code: 'VAULT_EXISTS' });
    assert.deepEqual(readFileSync(path), before);
    await assert.rejects(openVault({ path: join(directory, 'absent') }), { code: 'VAULT_NOT_FOUND' });
    await assert.rejects(
      initVault({ path: join(directory, 'no-dir', 'v'), threshold: 2, custodians: ['a', 'b'] }),
      {
        code: 'VAULT_IO',
      },
    );
  });

  it('validates its inputs at the edge', async () => {
    const path = join(directory, 'never-created');
    const invalid = { code: 'INVALID_ARGUMENT' };
    await assert.rejects(initVault({ path, threshold: 1, custodians: ['a', 'b'] }), {
      ...invalid,
      message: /one share alone/,
    });
    await assert.rejects(initVault({ path, threshold: 3, custodians: ['a', 'b'] }), invalid);
    await assert.rejects(initVault({ path, shares: 3, threshold: 2, custodians: ['a', 'b'] }), invalid);
    await assert.rejects(initVault({ path, threshold: 2, custodians: ['a', 'a'] }), {
      ...invalid,
      message: /twice/,
    });
    await assert.rejects(initVault({ path, threshold: 2, custodians: ['a', 'b\nc'] }), invalid);
    await assert.rejects(
      initVault({ path, threshold: 2, custodians: ['a', { name: 'b', publicKey: 'MVPUB-XYZ' }] }),
      invalid,
    );
    assert.throws(() => statSync(path), { code: 'ENOENT' });
    await assert.rejects(openVault({ path: '' }), invalid);
    await assert.rejects(openVault({ path, autoSealAfterMs: 2 ** 31 }), {
      ...invalid,
      message: /autoSealAfterMs/,
    });
    await assert.rejects(openVault({ path, unsealSessionTimeoutMs: 0 }), invalid);

    const { vault } = await createTempVault(directory, 2, 2);
    for (const name of ['', '/abs', 'a//b', 'trailing/', 'sp ace', 'ctl\u0007', 'x'.repeat(256)]) {
      await assert.rejects(vault.put(name, 'v'), invalid, JSON.stringify(name));
    }
    await assert.rejects(vault.put('big', Buffer.alloc(MAX_ENTRY_BYTES + 1)), invalid);
    await assert.rejects(vault.put('nope', 42 as unknown as string), invalid);
  });

  it('reports a write that fails and keeps the previous state, in memory and on disk', async () => {
    const home = join(directory, 'movable');
    mkdirSync(home);
    const { vault, shares, path } = await createTempVault(home, 2, 2);
    await vault.put('kept', 'old');
    renameSync(home, `${home}-away`);
    await assert.rejects(vault.put('kept', 'new'), { code: 'VAULT_IO', message: /unchanged/ });
    assert.equal(vault.getString('kept'), 'old');
    renameSync(`${home}-away`, home);
    await vault.put('other', 'x');
    vault.seal();
    const reopened = await openVault({ path });
    await reopened.unseal(shares.map((share) => share.text));
    assert.equal(reopened.getString('kept'), 'old');
    assert.deepEqual(readdirSync(home), [basename(path)], 'no temp file left behind');
  });
});

describe('custodian-encrypted shares in a vault', () => {
  it('issues sealed shares to custodians with keys and plain ones to the others', async () => {
    const alice = generateCustodianKeyPair();
    const { vault, shares, path } = await createTempVault(directory, 3, 2, [
      { name: 'alice', publicKey: alice.publicKey },
      'bob',
      'carol',
    ]);
    assert.deepEqual(
      shares.map((issued) => [issued.custodian, issued.share.encrypted]),
      [
        ['alice', true],
        ['bob', false],
        ['carol', false],
      ],
    );
    assert.match(shares[0]!.text, /holder: alice/);
    vault.seal();
    const reopened = await openVault({ path });
    const session = reopened.unsealSession();
    await assert.rejects(session.submit(shares[0]!.text), { code: 'SHARE_ENCRYPTED', shareIndex: 1 });
    await assert.rejects(
      session.submit(shares[0]!.text, { privateKey: generateCustodianKeyPair().privateKey }),
      {
        code: 'SHARE_DECRYPT_FAILED',
      },
    );
    assert.equal(session.progress.have, 0);
    await session.submit(shares[0]!.text, { privateKey: alice.privateKey });
    const progress = await session.submit(shares[2]!.text);
    assert.equal(progress.unsealed, true);
  });
});

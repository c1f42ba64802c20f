import assert from 'node:assert/strict';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { generateCustodianKeyPair, initVault } from '@multiverse/keyvault';
import type { KeyVault } from '@multiverse/keyvault';
import { createLogger } from '../log.js';
import { ServiceError } from '../service/service-error.js';
import { VaultService } from './vault-service.js';
import type { HandedShare, VaultFollower } from './vault-service.js';

/** Records what it was told; fails on demand, to show a follower's failure does not undo an unseal. */
class RecordingFollower implements VaultFollower {
  readonly name = 'recorder';
  readonly events: string[] = [];
  failNext = false;

  unsealed(vault: KeyVault): Promise<void> {
    this.events.push(`unsealed:${vault.status().entryCount}`);
    return this.maybeFail();
  }

  sealed(): Promise<void> {
    this.events.push('sealed');
    return this.maybeFail();
  }

  private maybeFail(): Promise<void> {
    if (!this.failNext) return Promise.resolve();
    this.failNext = false;
    return Promise.reject(new Error('libvirt is away'));
  }
}

function rejectsWith(code: string, kind?: string) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ServiceError, `expected a ServiceError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (kind !== undefined) assert.equal(error.kind, kind);
    assert.ok(error.hint.length > 0, 'every error says what to do next');
    return true;
  };
}

describe('VaultService', () => {
  let root: string;
  const logger = createLogger('test', { minLevel: 'error', write: () => undefined });

  /** A service over its own directory (`name`), opened. */
  async function openService(
    name: string,
    options: { autoSealAfterSeconds?: number } = {},
  ): Promise<{ service: VaultService; follower: RecordingFollower }> {
    const service = new VaultService({
      directory: join(root, name, 'vault'),
      autoSealAfterSeconds: options.autoSealAfterSeconds ?? 0,
      logger,
    });
    const follower = new RecordingFollower();
    service.addFollower(follower);
    await service.open();
    return { service, follower };
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-vault-service-'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('starts without a vault: a 0700 directory, status says so, everything else asks for init', async () => {
    const { service } = await openService('empty');
    assert.equal((await stat(service.directory)).mode & 0o777, 0o700);
    const status = service.status();
    assert.equal(status.state, 'uninitialised');
    assert.equal(status.vaultId, null);
    assert.throws(() => service.list(), rejectsWith('VAULT_NOT_INITIALISED', 'not-found'));
    await assert.rejects(service.submitShare('x'), rejectsWith('VAULT_NOT_INITIALISED'));
    await assert.rejects(service.seal(), rejectsWith('VAULT_NOT_INITIALISED'));
  });

  it('creates a 2-of-3 vault (one share sealed to its custodian), keeps owner secrets, seals and unseals share by share', async () => {
    const { service, follower } = await openService('main');
    const carol = generateCustodianKeyPair();
    const created = await service.init({
      threshold: 2,
      custodians: [{ name: 'alice' }, { name: 'bob' }, { name: 'carol', publicKey: carol.publicKey }],
    });
    assert.deepEqual(created.problems, []);
    assert.deepEqual(
      created.shares.map(({ custodian, index, encrypted }) => [custodian, index, encrypted]),
      [
        ['alice', 1, false],
        ['bob', 2, false],
        ['carol', 3, true],
      ],
    );
    for (const share of created.shares) {
      assert.match(share.text, /^# Multiverse vault share/);
      assert.match(share.qrSvg, /^<svg/);
    }
    assert.deepEqual(follower.events, ['unsealed:0']);
    assert.equal((await stat(service.path)).mode & 0o777, 0o600);

    const status = service.status();
    assert.equal(status.state, 'unsealed');
    assert.match(status.vaultId ?? '', /^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
    assert.deepEqual([status.threshold, status.shares, status.shareSet, status.entries], [2, 3, 1, 0]);

    assert.deepEqual(await service.put('wireguard/router-vpn', Buffer.from('wg-key')), {
      name: 'wireguard/router-vpn',
      size: 6,
      replaced: false,
    });
    assert.equal((await service.put('wireguard/router-vpn', Buffer.from('wg-key-2'))).replaced, true);
    await service.put('notes/bank', Buffer.from([0, 1, 2, 255]));
    assert.deepEqual(service.get('notes/bank'), Buffer.from([0, 1, 2, 255]));
    assert.deepEqual(
      service.list().map((entry) => [entry.name, entry.size, entry.managed]),
      [
        ['notes/bank', 4, false],
        ['wireguard/router-vpn', 8, false],
      ],
    );
    await assert.rejects(
      service.put('luks/0b0c', Buffer.from('x')),
      rejectsWith('VAULT_ENTRY_MANAGED', 'conflict'),
    );
    await assert.rejects(service.delete('luks/0b0c'), rejectsWith('VAULT_ENTRY_MANAGED'));
    await assert.rejects(service.delete('notes/none'), rejectsWith('ENTRY_NOT_FOUND', 'not-found'));
    await assert.rejects(
      service.put('bad//name', Buffer.from('x')),
      rejectsWith('INVALID_ARGUMENT', 'invalid-input'),
    );
    await assert.rejects(
      service.init({ threshold: 2, custodians: [{ name: 'a' }, { name: 'b' }] }),
      rejectsWith('VAULT_EXISTS'),
    );
    await assert.rejects(
      service.submitShare(created.shares[0]!.text),
      rejectsWith('VAULT_UNSEALED', 'conflict'),
    );

    const sealed = await service.seal();
    assert.deepEqual(sealed, { wasUnsealed: true, forgottenShares: 0, problems: [] });
    assert.deepEqual(follower.events, ['unsealed:0', 'sealed']);
    assert.equal(service.status().state, 'sealed');
    assert.equal(service.status().entries, 2, 'the count is in the clear header');
    assert.equal(service.status().lastSealed?.reason, 'requested');
    assert.throws(
      () => service.get('notes/bank'),
      (error: unknown) => {
        rejectsWith('VAULT_SEALED', 'conflict')(error);
        assert.equal((error as ServiceError).message, 'the vault is sealed');
        assert.match((error as ServiceError).hint, /mvctl vault unseal/);
        return true;
      },
    );
    assert.throws(() => service.list(), rejectsWith('VAULT_SEALED'));

    const [alice, bob, carolShare] = created.shares as [HandedShare, HandedShare, HandedShare];
    // A typo names its line; it is the caller's input that is wrong.
    const typo = alice.text.replace(
      /^(1: )(.)/m,
      (_all, prefix: string, character: string) => prefix + (character === '0' ? '1' : '0'),
    );
    await assert.rejects(service.submitShare(typo), rejectsWith('SHARE_CHECKSUM', 'invalid-input'));
    await assert.rejects(
      service.submitShare(carolShare.text),
      rejectsWith('SHARE_ENCRYPTED', 'invalid-input'),
    );
    const first = await service.submitShare(alice.text);
    assert.deepEqual(
      { unsealed: first.unsealed, have: first.have, need: first.need, indices: first.indices },
      { unsealed: false, have: 1, need: 2, indices: [1] },
    );
    assert.deepEqual(service.status().unseal, { have: 1, need: 2, indices: [1] });
    await assert.rejects(service.submitShare(alice.text), rejectsWith('SHARE_DUPLICATE', 'conflict'));
    const { shares: foreignShares } = await initVault({
      path: join(root, 'foreign.mvv'),
      threshold: 2,
      custodians: ['x', 'y'],
    });
    await assert.rejects(
      service.submitShare(foreignShares[1]!.text),
      rejectsWith('SHARE_FOREIGN', 'conflict'),
    );

    // Sealing while sealed forgets the shares given so far.
    assert.deepEqual(await service.seal(), { wasUnsealed: false, forgottenShares: 1, problems: [] });
    assert.equal(service.status().unseal, null);

    await service.submitShare(bob.text);
    follower.failNext = true;
    const done = await service.submitShare(carolShare.text, carol.privateKey);
    assert.equal(done.unsealed, true);
    assert.deepEqual(done.indices, [2, 3]);
    assert.deepEqual(done.problems, [{ follower: 'recorder', message: 'libvirt is away' }]);
    assert.equal(service.status().state, 'unsealed', 'a follower failing does not undo the unseal');
    assert.equal(follower.events.at(-1), 'unsealed:2');
    assert.deepEqual(service.get('wireguard/router-vpn'), Buffer.from('wg-key-2'));
    await service.close();
    assert.equal(service.status().state, 'sealed', 'stopping hostd seals');

    // A restarted hostd finds the vault sealed, with its header facts.
    const { service: reopened } = await openService('main');
    const status2 = reopened.status();
    assert.deepEqual([status2.state, status2.vaultId, status2.entries], ['sealed', status.vaultId, 2]);
  });

  it('rekeys in two steps: old shares until commit, then only the new ones; rotate keeps every value', async () => {
    const { service } = await openService('rekey');
    const { shares: old } = await service.init({ threshold: 2, custodians: [{ name: 'a' }, { name: 'b' }] });
    await service.put('token', Buffer.from('t0ken'));

    const discarded = await service.prepareRekey({
      threshold: 2,
      custodians: [{ name: 'x' }, { name: 'y' }],
    });
    service.discardRekey(discarded.rekeyId);
    assert.throws(
      () => service.discardRekey(discarded.rekeyId),
      rejectsWith('REKEY_NOT_PENDING', 'conflict'),
    );

    const prepared = await service.prepareRekey({
      threshold: 2,
      custodians: [{ name: 'a' }, { name: 'c' }, { name: 'd' }],
    });
    assert.equal(prepared.shareSet, 2);
    assert.equal(prepared.shares.length, 3);
    assert.deepEqual(service.status().pendingRekey, { rekeyId: prepared.rekeyId, threshold: 2, shares: 3 });
    await assert.rejects(service.commitRekey('0123456789abcdef'), rejectsWith('REKEY_NOT_PENDING'));
    assert.deepEqual(await service.commitRekey(prepared.rekeyId), { shareSet: 2, threshold: 2, shares: 3 });
    assert.equal(service.status().pendingRekey, null);

    const generation = service.status().generation ?? 0;
    assert.deepEqual(await service.rotate(), { generation: generation + 1, entries: 1 });

    await service.seal();
    await assert.rejects(service.submitShare(old[0]!.text), rejectsWith('SHARE_STALE', 'conflict'));
    await service.submitShare(prepared.shares[2]!.text);
    assert.equal((await service.submitShare(prepared.shares[0]!.text)).unsealed, true);
    assert.deepEqual(service.get('token'), Buffer.from('t0ken'));

    // Sealing discards a prepared rekey.
    const pending = await service.prepareRekey({ threshold: 2, custodians: [{ name: 'p' }, { name: 'q' }] });
    await service.seal();
    assert.equal(service.status().pendingRekey, null);
    await service.submitShare(prepared.shares[1]!.text);
    await service.submitShare(prepared.shares[0]!.text);
    await assert.rejects(service.commitRekey(pending.rekeyId), rejectsWith('REKEY_NOT_PENDING'));
    await service.close();
  });

  it('seals itself after the idle time and tells its followers', async () => {
    const { service, follower } = await openService('idle', { autoSealAfterSeconds: 1 });
    await service.init({ threshold: 2, custodians: [{ name: 'a' }, { name: 'b' }] });
    assert.equal(service.status().autoSealAfterSeconds, 1);
    const deadline = Date.now() + 30_000;
    while (service.status().state !== 'sealed') {
      assert.ok(Date.now() < deadline, 'the vault did not seal on idle');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.equal(service.status().lastSealed?.reason, 'idle');
    while (follower.events.at(-1) !== 'sealed') {
      assert.ok(Date.now() < deadline, 'the followers were not told');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });

  it('reports a damaged vault file through status and refuses to use it, without failing to start', async () => {
    const { service } = await openService('damaged');
    await service.init({ threshold: 2, custodians: [{ name: 'a' }, { name: 'b' }] });
    await service.close();
    await writeFile(service.path, Buffer.from('MV-VAULT but not really a vault file'));

    const { service: reopened } = await openService('damaged');
    const status = reopened.status();
    assert.equal(status.state, 'damaged');
    assert.equal(status.problem?.code, 'VAULT_CORRUPT');
    assert.throws(() => reopened.list(), rejectsWith('VAULT_CORRUPT'));
    await assert.rejects(
      reopened.init({ threshold: 2, custodians: [{ name: 'a' }, { name: 'b' }] }),
      rejectsWith('VAULT_CORRUPT'),
    );
  });
});

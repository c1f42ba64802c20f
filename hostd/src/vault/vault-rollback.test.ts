import assert from 'node:assert/strict';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KeyVault } from '@multiverse/keyvault';
import { createLogger } from '../log.js';
import { HostdProcess } from '../testing/hostd-process.js';
import { ServiceError } from '../service/service-error.js';
import { VaultService } from './vault-service.js';
import type { VaultFollower } from './vault-service.js';

/** Counts unseals: an older file refused at unseal must never reach a follower (libvirt's disk secrets). */
class UnsealCounter implements VaultFollower {
  readonly name = 'counter';
  unseals = 0;
  unsealed(_vault: KeyVault): Promise<void> {
    this.unseals += 1;
    return Promise.resolve();
  }
  sealed(): Promise<void> {
    return Promise.resolve();
  }
}

function rejectsWith(code: string, ...messages: RegExp[]) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ServiceError, `expected a ServiceError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    for (const message of messages) assert.match(`${error.message}\n${error.hint}`, message);
    return true;
  };
}

describe('VaultService: a vault file rolled back to an older copy', () => {
  let root: string;
  const logger = createLogger('test', { minLevel: 'error', write: () => undefined });
  const stateDir = () => join(root, 'state');
  const vaultDir = () => join(stateDir(), 'vault');
  const vaultFile = () => join(vaultDir(), 'vault.mvv');

  async function openService(): Promise<{ service: VaultService; counter: UnsealCounter }> {
    const service = new VaultService({ directory: vaultDir(), autoSealAfterSeconds: 0, logger });
    const counter = new UnsealCounter();
    service.addFollower(counter);
    await service.open();
    return { service, counter };
  }

  async function unsealWith(service: VaultService, shares: readonly string[]): Promise<void> {
    for (const share of shares) await service.submitShare(share);
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-vault-rollback-'));
  });

  after(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('records every generation outside the vault directory, refuses an older file at unseal, and takes it once accepted', async () => {
    const { service } = await openService();
    const { shares } = await service.init({
      threshold: 2,
      custodians: [{ name: 'alice' }, { name: 'bob' }, { name: 'carol' }],
    });
    const oldShares = shares.map((share) => share.text);
    await service.put('note', Buffer.from('before the rekey'));
    const backup = join(root, 'vault-backup.mvv');
    await copyFile(vaultFile(), backup);
    const backupGeneration = service.status().generation ?? 0;

    // A rekey retires the old shares; then more writes.
    const rekey = await service.prepareRekey({
      threshold: 2,
      custodians: [{ name: 'dave' }, { name: 'erin' }],
    });
    await service.commitRekey(rekey.rekeyId);
    const newShares = rekey.shares.map((share) => share.text);
    await service.put('note', Buffer.from('after the rekey'));
    const newest = service.status().generation ?? 0;
    assert.ok(newest > backupGeneration);
    const record = JSON.parse(await readFile(join(stateDir(), 'vault-generation.json'), 'utf8')) as {
      generation: number;
      vaultId: string;
    };
    assert.deepEqual(
      [record.vaultId, record.generation],
      [service.status().vaultId, newest],
      'the record follows every write, outside the vault directory',
    );
    await service.close();
    const newestCopy = join(root, 'vault-newest.mvv');
    await copyFile(vaultFile(), newestCopy);

    // Someone puts the pre-rekey file back and unseals it with the old shares they still hold.
    await copyFile(backup, vaultFile());
    const { service: restarted, counter } = await openService();
    const status = restarted.status();
    assert.equal(status.state, 'sealed');
    assert.deepEqual(
      [status.rollback?.fileGeneration, status.rollback?.seen.generation],
      [backupGeneration, newest],
      'status says so while sealed',
    );
    await restarted.submitShare(oldShares[0] ?? '');
    await assert.rejects(
      restarted.submitShare(oldShares[1] ?? ''),
      rejectsWith(
        'VAULT_ROLLED_BACK',
        new RegExp(`generation ${backupGeneration}, older than generation ${newest}`),
        /put back the newest vault file/,
        new RegExp(`mvctl vault accept-rollback ${backupGeneration}`),
      ),
    );
    assert.equal(restarted.status().state, 'sealed', 'the older file stays sealed');
    assert.equal(counter.unseals, 0, 'no follower was given the older vault');
    assert.throws(() => restarted.get('note'), rejectsWith('VAULT_SEALED'));

    // The owner accepts it, naming its generation (a wrong one is refused), and unseals again.
    await assert.rejects(restarted.acceptRollback(newest), rejectsWith('VAULT_GENERATION_MISMATCH'));
    const accepted = await restarted.acceptRollback(backupGeneration);
    assert.equal(accepted.previous?.generation, newest);
    assert.equal(restarted.status().rollback, null);
    await unsealWith(restarted, oldShares.slice(0, 2));
    assert.equal(restarted.status().state, 'unsealed');
    assert.equal(counter.unseals, 1);
    assert.equal(restarted.get('note').toString(), 'before the rekey');
    await assert.rejects(restarted.acceptRollback(backupGeneration), rejectsWith('VAULT_UNSEALED'));
    await restarted.close();

    // Putting the newest file back is no rollback (it is newer than the accepted one): its shares unseal it.
    await copyFile(newestCopy, vaultFile());
    const { service: again, counter: againCounter } = await openService();
    assert.equal(again.status().rollback, null);
    await unsealWith(again, newShares);
    assert.equal(again.get('note').toString(), 'after the rekey');
    assert.equal(againCounter.unseals, 1);
    await again.close();
  });

  it('refuses another vault’s file put in place of this host’s (VAULT_REPLACED)', async () => {
    const otherRoot = join(root, 'other');
    const other = new VaultService({ directory: join(otherRoot, 'vault'), autoSealAfterSeconds: 0, logger });
    await other.open();
    const { shares } = await other.init({
      threshold: 2,
      custodians: [{ name: 'mallory' }, { name: 'trent' }],
    });
    await other.close();
    await copyFile(join(otherRoot, 'vault', 'vault.mvv'), vaultFile());
    const { service, counter } = await openService();
    await service.submitShare(shares[0]?.text ?? '');
    await assert.rejects(
      service.submitShare(shares[1]?.text ?? ''),
      rejectsWith('VAULT_REPLACED', /is vault [0-9A-Z-]+, not vault [0-9A-Z-]+ that this host last used/),
    );
    assert.equal(counter.unseals, 0);
    await service.close();
  });
});

describe('mvctl against a hostd whose vault file was rolled back', { timeout: 120_000 }, () => {
  let root: string;
  let hostd: HostdProcess;

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-vault-rollback-cli-'));
    hostd = new HostdProcess({ root, env: { MULTIVERSE_VAULT_AUTOSEAL_S: '0' } });
    await hostd.start();
  });

  after(async () => {
    await hostd.stop();
    await rm(root, { recursive: true, force: true });
  });

  it('shows the rollback in vault status, refuses the unseal with what to do, and unseals once accepted', async () => {
    const mvctl = (args: string[], stdin?: string) =>
      hostd.mvctl(args, { cwd: root, ...(stdin === undefined ? {} : { stdin }) });
    assert.equal(
      (await mvctl(['vault', 'init', 'alice', 'bob', '--threshold', '2', '--out', 'shares'])).code,
      0,
    );
    assert.equal((await mvctl(['vault', 'put', 'note', '-'], 'old')).code, 0);
    const vaultFile = join(hostd.stateDir, 'vault', 'vault.mvv');
    await copyFile(vaultFile, join(root, 'old.mvv'));
    const old = (await hostd.mvctlJson<{ generation: number }>(['vault', 'status'])).generation;
    assert.equal((await mvctl(['vault', 'put', 'note', '-'], 'new')).code, 0);
    assert.equal((await mvctl(['vault', 'rotate'])).code, 0);
    await hostd.stop();
    await copyFile(join(root, 'old.mvv'), vaultFile);
    await hostd.start();

    const status = await mvctl(['vault', 'status']);
    assert.match(
      status.stdout,
      new RegExp(`ROLLED BACK .*generation ${old}; the newest seen is .* generation ${old + 2}`),
    );
    assert.match(status.stdout, new RegExp(`mvctl vault accept-rollback ${old}`));
    assert.equal((await mvctl(['vault', 'unseal', 'shares/share-1-1-alice.txt'])).code, 0);
    const refused = await mvctl(['vault', 'unseal', 'shares/share-1-2-bob.txt']);
    assert.equal(refused.code, 1, refused.stdout + refused.stderr);
    assert.match(refused.stderr, /^mvctl: VAULT_ROLLED_BACK: .*older than generation/m);
    assert.match(
      refused.stderr,
      /^hint: put back the newest vault file and unseal again; or, .*accept-rollback/m,
    );
    assert.equal((await hostd.mvctlJson<{ state: string }>(['vault', 'status'])).state, 'sealed');

    const usage = await mvctl(['vault', 'accept-rollback', 'latest']);
    assert.equal(usage.code, 2);
    const accepted = await mvctl(['vault', 'accept-rollback', String(old)]);
    assert.equal(accepted.code, 0, accepted.stderr);
    assert.match(
      accepted.stdout,
      new RegExp(`generation ${old} accepted \\(the newest seen was .* generation ${old + 2}\\)`),
    );
    for (const share of ['shares/share-1-1-alice.txt', 'shares/share-1-2-bob.txt']) {
      assert.equal((await mvctl(['vault', 'unseal', share])).code, 0);
    }
    assert.equal((await mvctl(['vault', 'get', 'note'])).stdout, 'old');
    const audit = await hostd.mvctlJson<{ entries: { action: string; result: string }[] }>(['audit', 'list']);
    assert.ok(
      audit.entries.some((entry) => entry.action === 'vault.accept-rollback' && entry.result === 'ok'),
    );
  });
});

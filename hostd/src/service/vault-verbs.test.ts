// The vault verbs through HostService: policy per role, input checked at the edge, and audit rows that never
// hold a share, a private key or a value.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateCustodianKeyPair } from '@multiverse/keyvault';
import { shippedTemplatesDirectory } from '@multiverse/vm-templates';
import { AuditLog } from '../audit/index.js';
import type { HostdStatus } from '../daemon.js';
import { DiskStore } from '../disks/index.js';
import { createLogger } from '../log.js';
import { openStateDatabase } from '../state/index.js';
import type { StateDatabase } from '../state/index.js';
import { TaskManager } from '../tasks/index.js';
import { VaultService } from '../vault/index.js';
import { VmEngine } from '../vm-engine/index.js';
import type { Actor } from './actor.js';
import { HostService } from './host-service.js';
import { rejectsWithServiceError } from './testing/service-error-assertions.js';
import type { ServiceError } from './service-error.js';
import { VAULT_VALUE_MAX_BYTES } from './vault-limits.js';

const owner: Actor = { user: 'alice', role: 'owner', via: 'cli' };
const operator: Actor = { user: 'oscar', role: 'operator', via: 'ssh' };
const viewer: Actor = { user: 'victor', role: 'viewer', via: 'web' };

describe('vault verbs through HostService', () => {
  let root: string;
  let state: StateDatabase;
  let audit: AuditLog;
  let vault: VaultService;
  let service: HostService;
  let serviceWithoutVault: HostService;
  const status: HostdStatus = {
    pid: process.pid,
    startedAt: new Date().toISOString(),
    libvirtUri: 'qemu:///system',
    connected: false,
  };

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-vault-verbs-'));
    state = openStateDatabase(root);
    audit = new AuditLog(state.db);
    const tasks = new TaskManager(state.db, audit);
    const logger = createLogger('test', { minLevel: 'error', write: () => {} });
    const host = { status: () => status, libvirt: () => undefined };
    const vms = new VmEngine({
      host,
      imagesDirectory: join(root, 'images'),
      templatesDirectory: shippedTemplatesDirectory(),
      disks: new DiskStore({ imagesDir: join(root, 'disk-images'), vmsDir: join(root, 'vms') }),
      logger,
    });
    vault = new VaultService({ directory: join(root, 'vault'), autoSealAfterSeconds: 0, logger });
    await vault.open();
    service = new HostService({ host, audit, tasks, vms, vault, logger });
    serviceWithoutVault = new HostService({ host, audit, tasks, vms, logger });
  });

  after(async () => {
    await vault.close();
    state.close();
    await rm(root, { recursive: true, force: true });
  });

  it('lets every role see the status, operators unseal, and only the owner do the rest', async () => {
    for (const actor of [owner, operator, viewer]) {
      assert.equal((await service.call(actor, 'vault.status', {})).state, 'uninitialised');
    }
    // The operator reaches the vault (which has none yet); the viewer does not get that far.
    await assert.rejects(
      service.call(operator, 'vault.unseal', { share: 'x' }),
      rejectsWithServiceError('VAULT_NOT_INITIALISED', 'not-found'),
    );
    await assert.rejects(
      service.call(viewer, 'vault.unseal', { share: 'x' }),
      rejectsWithServiceError('POLICY_DENIED', 'forbidden'),
    );
    for (const verb of ['vault.seal', 'vault.list', 'vault.rotate'] as const) {
      await assert.rejects(
        service.call(operator, verb, {}),
        rejectsWithServiceError('POLICY_DENIED', 'forbidden'),
      );
    }
    await assert.rejects(
      service.call(operator, 'vault.get', { name: 'x' }),
      rejectsWithServiceError('POLICY_DENIED', 'forbidden'),
    );
    await assert.rejects(
      service.call(operator, 'vault.init', { threshold: 2, custodians: [{ name: 'a' }, { name: 'b' }] }),
      rejectsWithServiceError('POLICY_DENIED', 'forbidden'),
    );
    await assert.rejects(
      serviceWithoutVault.call(owner, 'vault.status', {}),
      rejectsWithServiceError('VAULT_UNAVAILABLE', 'unavailable'),
    );
  });

  it('checks input at the edge, naming the field', async () => {
    const refused = async (verb: Parameters<HostService['call']>[1], input: unknown, field: RegExp) =>
      assert.rejects(service.call(owner, verb, input), (error: unknown) => {
        rejectsWithServiceError('INPUT_INVALID', 'invalid-input')(error);
        assert.match((error as ServiceError).message, field);
        return true;
      });
    await refused('vault.init', { threshold: 3, custodians: [{ name: 'a' }, { name: 'b' }] }, /threshold/);
    await refused(
      'vault.init',
      { threshold: 2, shares: 3, custodians: [{ name: 'a' }, { name: 'b' }] },
      /custodians/,
    );
    await refused('vault.init', { threshold: 2, custodians: [{ name: 'a' }, { name: 'a' }] }, /custodians/);
    await refused('vault.init', { threshold: 1, custodians: [{ name: 'a' }, { name: 'b' }] }, /threshold/);
    await refused(
      'vault.init',
      { threshold: 2, custodians: [{ name: ' a' }, { name: 'b' }] },
      /custodians\.0\.name/,
    );
    await refused(
      'vault.init',
      { threshold: 2, custodians: [{ name: 'a', publicKey: 'ssh-ed25519 AAAA' }, { name: 'b' }] },
      /publicKey/,
    );
    await refused('vault.unseal', { share: 'x'.repeat(9000) }, /share/);
    await refused('vault.unseal', { share: 'x', privateKey: 'MVPUB-ABCDEFGHJKMNPQRSTVWXYZ' }, /privateKey/);
    await refused('vault.put', { name: 'a//b', value: 'eA==' }, /name/);
    await refused('vault.put', { name: 'ok', value: 'not base64!' }, /value/);
    await refused(
      'vault.put',
      { name: 'ok', value: Buffer.alloc(VAULT_VALUE_MAX_BYTES + 3).toString('base64') },
      /value/,
    );
    await refused('vault.rekey-commit', { rekeyId: 'nope' }, /rekeyId/);
  });

  it('never writes a share, a private key or a value into the audit log', async () => {
    const before = audit.list({ limit: 1 }).at(-1)?.seq ?? 0;
    const carol = generateCustodianKeyPair();
    const created = await service.call(owner, 'vault.init', {
      threshold: 2,
      custodians: [{ name: 'alice' }, { name: 'carol', publicKey: carol.publicKey }],
    });
    const secretValue = 'correct horse battery staple';
    await service.call(owner, 'vault.put', {
      name: 'notes/pin',
      value: Buffer.from(secretValue).toString('base64'),
    });
    const read = await service.call(owner, 'vault.get', { name: 'notes/pin' });
    assert.equal(Buffer.from(read.value, 'base64').toString(), secretValue);
    assert.deepEqual(
      (await service.call(owner, 'vault.list', {})).entries.map((entry) => entry.name),
      ['notes/pin'],
    );
    await service.call(owner, 'vault.seal', {});
    const [alice, carolShare] = created.shares;
    assert.ok(alice !== undefined && carolShare !== undefined);
    const first = await service.call(operator, 'vault.unseal', { share: alice.text });
    assert.deepEqual([first.have, first.need, first.unsealed], [1, 2, false]);
    // A refused share is audited as a failure, still without its text.
    await assert.rejects(
      service.call(operator, 'vault.unseal', { share: alice.text }),
      rejectsWithServiceError('SHARE_DUPLICATE', 'conflict'),
    );
    const done = await service.call(owner, 'vault.unseal', {
      share: carolShare.text,
      privateKey: carol.privateKey,
    });
    assert.equal(done.unsealed, true);
    const prepared = await service.call(owner, 'vault.rekey-prepare', {
      threshold: 2,
      custodians: [{ name: 'alice' }, { name: 'dave' }],
    });
    await service.call(owner, 'vault.rekey-commit', { rekeyId: prepared.rekeyId });
    await service.call(owner, 'vault.delete', { name: 'notes/pin' });

    const rows = audit.list({ limit: 1000 }).filter((entry) => entry.seq > before);
    const logged = JSON.stringify(rows);
    const secrets = [
      secretValue,
      Buffer.from(secretValue).toString('base64'),
      carol.privateKey,
      ...[...created.shares, ...prepared.shares].flatMap((share) =>
        share.text
          .split('\n')
          .filter((line) => /^\d+: /.test(line))
          .map((line) => line.slice(3)),
      ),
    ];
    for (const secret of secrets)
      assert.ok(!logged.includes(secret), `the audit log holds a secret: ${secret}`);

    const unseals = rows.filter((row) => row.action === 'vault.unseal');
    assert.deepEqual(
      unseals.map((row) => [row.actor.user, row.result, (row.details as { input?: unknown }).input]),
      [
        ['oscar', 'ok', { shareIndex: 1, withPrivateKey: false }],
        ['oscar', 'failed', { shareIndex: 1, withPrivateKey: false }],
        ['alice', 'ok', { shareIndex: 2, withPrivateKey: true }],
      ],
    );
    const put = rows.find((row) => row.action === 'vault.put');
    assert.deepEqual(
      [put?.target, (put?.details as { input?: unknown } | undefined)?.input],
      ['vault/notes/pin', { name: 'notes/pin', size: secretValue.length }],
    );
    const init = rows.find((row) => row.action === 'vault.init' && row.result === 'ok');
    assert.deepEqual((init?.details as { input?: unknown } | undefined)?.input, {
      threshold: 2,
      shares: 2,
      custodians: [
        { name: 'alice', sealedToKey: false },
        { name: 'carol', sealedToKey: true },
      ],
    });
    assert.ok(audit.verify().ok);
  });
});

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { JailShellError } from './errors.js';
import { SqliteJailUserStore } from './sqlite-user-store.js';

let workDir: string;
let publicKey: string;
let otherPublicKey: string;
let privateKey: string;

function generateKey(name: string): string {
  const path = join(workDir, name);
  const result = spawnSync('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    '',
    '-C',
    `${name} comment`,
    '-f',
    path,
  ]);
  assert.equal(result.status, 0, result.stderr.toString());
  return path;
}

function rejectsWith(code: string, action: () => unknown): void {
  assert.throws(action, (error: unknown) => error instanceof JailShellError && error.code === code);
}

describe('SqliteJailUserStore', () => {
  let store: SqliteJailUserStore;
  let path: string;

  before(async () => {
    workDir = await mkdtemp(join(tmpdir(), 'jail-shell-users-'));
    const key = generateKey('alice_key');
    publicKey = (await readFile(`${key}.pub`, 'utf8')).trim();
    privateKey = await readFile(key, 'utf8');
    otherPublicKey = (await readFile(`${generateKey('other_key')}.pub`, 'utf8')).trim();
    path = join(workDir, 'jail-users.sqlite');
    store = SqliteJailUserStore.open(path);
  });

  after(async () => {
    store.close();
    await rm(workDir, { recursive: true, force: true });
  });

  it('creates its file with mode 0600 in WAL mode', async () => {
    assert.equal((await stat(path)).mode & 0o777, 0o600);
    const db = new BetterSqlite3(path, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    } finally {
      db.close();
    }
  });

  it('adds a user with keys and no TOTP secret yet, and lists them with OpenSSH fingerprints', () => {
    const summary = store.addUser({
      name: 'alice',
      role: 'operator',
      authorizedKeys: [publicKey, `  ${otherPublicKey}\n`],
    });
    assert.equal(summary.totpEnrolled, false);
    assert.equal(summary.locked, false);
    assert.equal(summary.keys.length, 2);
    const fingerprint = spawnSync(
      'ssh-keygen',
      ['-l', '-E', 'sha256', '-f', join(workDir, 'alice_key.pub')],
      {
        encoding: 'utf8',
      },
    ).stdout.split(' ')[1];
    assert.equal(summary.keys[0]?.fingerprint, fingerprint);
    assert.equal(summary.keys[0]?.comment, 'alice_key comment');
    assert.equal(summary.keys[0]?.type, 'ssh-ed25519');
    assert.deepEqual(
      store.listUsers().map((user) => user.name),
      ['alice'],
    );
  });

  it('finds a user with their keys, and no secret until enrolled', async () => {
    const user = await store.findUser('alice');
    assert.deepEqual(user?.authorizedKeys, [publicKey, otherPublicKey]);
    assert.equal(user?.totpSecret, null);
    assert.equal(await store.findUser('nobody'), undefined);
  });

  it('refuses a second user of the same name, bad names, bad roles and bad keys', () => {
    rejectsWith('USER_EXISTS', () =>
      store.addUser({ name: 'alice', role: 'viewer', authorizedKeys: [publicKey] }),
    );
    rejectsWith('USER_INVALID', () =>
      store.addUser({ name: 'Root;', role: 'viewer', authorizedKeys: [publicKey] }),
    );
    rejectsWith('USER_INVALID', () =>
      store.addUser({ name: 'bob', role: 'admin', authorizedKeys: [publicKey] }),
    );
    rejectsWith('USER_INVALID', () => store.addUser({ name: 'bob', role: 'viewer', authorizedKeys: [] }));
    rejectsWith('USER_INVALID', () =>
      store.addUser({ name: 'bob', role: 'viewer', authorizedKeys: [privateKey] }),
    );
    rejectsWith('USER_INVALID', () =>
      store.addUser({ name: 'bob', role: 'viewer', authorizedKeys: ['ssh-ed25519 AAAAnotbase64'] }),
    );
    rejectsWith('USER_INVALID', () =>
      store.addUser({ name: 'bob', role: 'viewer', authorizedKeys: [`${publicKey}\u001b[31m`] }),
    );
    assert.deepEqual(
      store.listUsers().map((user) => user.name),
      ['alice'],
      'nothing half-added',
    );
  });

  it('enrolls a fresh secret and accepts each TOTP time step once, only moving forward', async () => {
    const secret = store.enrollTotp('alice');
    assert.match(secret, /^[A-Z2-7]{32}$/);
    assert.equal((await store.findUser('alice'))?.totpSecret, secret);
    assert.equal(await store.claimTotpTimeStep('alice', 1000), true);
    assert.equal(await store.claimTotpTimeStep('alice', 1000), false, 'a replay');
    assert.equal(await store.claimTotpTimeStep('alice', 999), false, 'an older code');
    assert.equal(await store.claimTotpTimeStep('alice', 1001), true);
    const again = store.enrollTotp('alice');
    assert.notEqual(again, secret);
    assert.equal(await store.claimTotpTimeStep('alice', 1001), true, 'a new secret starts a new history');
    rejectsWith('USER_UNKNOWN', () => store.enrollTotp('nobody'));
  });

  it('gives one of two connections racing for the same step the win, never both', async () => {
    const second = SqliteJailUserStore.open(path);
    try {
      const results = await Promise.all([
        store.claimTotpTimeStep('alice', 5000),
        second.claimTotpTimeStep('alice', 5000),
      ]);
      assert.deepEqual(results.sort(), [false, true]);
    } finally {
      second.close();
    }
  });

  it('locks, unlocks and deletes, with its keys', async () => {
    assert.equal(store.setLocked('alice', true).locked, true);
    assert.equal((await store.findUser('alice'))?.locked, true);
    assert.equal(store.setLocked('alice', false).locked, false);
    store.deleteUser('alice');
    assert.equal(await store.findUser('alice'), undefined);
    const db = new BetterSqlite3(path, { readonly: true });
    try {
      assert.equal(db.prepare('SELECT count(*) FROM jail_user_keys').pluck().get(), 0);
    } finally {
      db.close();
    }
    rejectsWith('USER_UNKNOWN', () => store.deleteUser('alice'));
    rejectsWith('USER_UNKNOWN', () => store.setLocked('alice', true));
  });

  it('keeps users across a reopen and refuses a file from a newer schema', () => {
    store.addUser({ name: 'carol', role: 'viewer', authorizedKeys: [publicKey] });
    store.close();
    store = SqliteJailUserStore.open(path);
    assert.deepEqual(
      store.listUsers().map((user) => user.name),
      ['carol'],
    );
    const newer = join(workDir, 'newer.sqlite');
    const db = new BetterSqlite3(newer);
    db.pragma('user_version = 99');
    db.close();
    rejectsWith('USER_STORE_SCHEMA_NEWER', () => SqliteJailUserStore.open(newer));
  });
});

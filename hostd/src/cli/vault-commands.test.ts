// mvctl vault … as a child process against a real hostd (its own state and run directories): shares land in
// files, never on the terminal; unseal share by share from files and stdin; entries in and out; rekey, rotate;
// hostd restarted comes back sealed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AuditEntry } from '../audit/index.js';
import { HostdProcess } from '../testing/hostd-process.js';
import type { MvctlRun } from '../testing/hostd-process.js';
import type { VaultStatusReport } from '../vault/index.js';

/** The data lines of a share's text (`1: 0409 6KM7 …`), without the line numbers: what must stay secret. */
function shareLines(text: string): string[] {
  return text
    .split('\n')
    .filter((line) => /^\d+: /.test(line))
    .map((line) => line.replace(/^\d+: /, ''));
}

describe('mvctl vault against a real hostd', { timeout: 120_000 }, () => {
  let root: string;
  let hostd: HostdProcess;

  function mvctl(args: string[], stdin?: string | Buffer): Promise<MvctlRun> {
    return hostd.mvctl(args, { cwd: root, ...(stdin === undefined ? {} : { stdin }) });
  }

  async function ok(args: string[], stdin?: string | Buffer): Promise<string> {
    const run = await mvctl(args, stdin);
    assert.equal(run.code, 0, `mvctl ${args.join(' ')}: ${run.stderr}\nhostd log:\n${hostd.log}`);
    return run.stdout;
  }

  async function vaultStatus(): Promise<VaultStatusReport> {
    return JSON.parse(await ok(['vault', 'status', '--json'])) as VaultStatusReport;
  }

  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-vault-cli-'));
    hostd = new HostdProcess({
      root,
      // No idle sealing while a test waits on something else.
      env: { MULTIVERSE_DISPOSABLE_POOL: 'none', MULTIVERSE_VAULT_AUTOSEAL_S: '0' },
    });
    await hostd.start();
  });

  after(async () => {
    await hostd.stop('SIGKILL');
    await rm(root, { recursive: true, force: true });
  });

  it('creates the vault: one share file and QR code per custodian, 0600, none of it on the terminal', async () => {
    assert.match(await ok(['vault', 'status']), /^no vault yet/);
    assert.equal((await vaultStatus()).state, 'uninitialised');

    const keygen = await ok(['vault', 'keygen', 'carol', '--out', 'keys']);
    assert.match(keygen, /keys\/carol\.pub/);
    assert.equal((await stat(join(root, 'keys', 'carol.key'))).mode & 0o777, 0o600);
    assert.match(await readFile(join(root, 'keys', 'carol.pub'), 'utf8'), /^MVPUB-/m);

    const nowhere = await mvctl(['vault', 'init', 'alice', 'bob', '--threshold', '2']);
    assert.equal(nowhere.code, 2);
    assert.match(nowhere.stderr, /--out DIR/);
    const tooMany = await mvctl(['vault', 'init', 'alice', 'bob', '--threshold', '3', '--out', 'x']);
    assert.equal(tooMany.code, 2);
    assert.match(tooMany.stderr, /INPUT_INVALID.*threshold/);
    assert.equal((await vaultStatus()).state, 'uninitialised', 'a refused init leaves no vault');

    const init = await ok([
      'vault',
      'init',
      'alice',
      'bob',
      'carol=keys/carol.pub',
      '--threshold',
      '2',
      '--out',
      'shares',
    ]);
    assert.match(init, /^vault [0-9A-Z-]{19} created and unsealed: any 2 of 3 shares unseal it$/m);
    assert.match(init, /share 3 for carol \(sealed to their key\): .*share-1-3-carol\.txt/);
    assert.equal((await stat(join(root, 'shares'))).mode & 0o777, 0o700);
    const files = (await readdir(join(root, 'shares'))).sort();
    assert.deepEqual(files, [
      'share-1-1-alice.svg',
      'share-1-1-alice.txt',
      'share-1-2-bob.svg',
      'share-1-2-bob.txt',
      'share-1-3-carol.svg',
      'share-1-3-carol.txt',
    ]);
    for (const file of files) {
      assert.equal((await stat(join(root, 'shares', file))).mode & 0o777, 0o600, file);
    }
    const aliceText = await readFile(join(root, 'shares', 'share-1-1-alice.txt'), 'utf8');
    assert.match(aliceText, /holder: alice/);
    assert.match(await readFile(join(root, 'shares', 'share-1-1-alice.svg'), 'utf8'), /^<svg/);
    for (const line of shareLines(aliceText)) assert.ok(!init.includes(line), 'a share reached the terminal');

    // A second init never replaces the vault; --print shows texts only when asked.
    const again = await mvctl(['vault', 'init', 'x', 'y', '--threshold', '2', '--print']);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /VAULT_EXISTS/);
  });

  it('keeps owner secrets: put from stdin and files, get as text or to a file, list, delete', async () => {
    assert.match(
      await ok(['vault', 'put', 'notes/pin', '-'], 'correct horse\n'),
      /^added notes\/pin \(14 bytes\)$/m,
    );
    await writeFile(join(root, 'blob'), Buffer.from([0, 1, 2, 0xff, 0xfe]));
    await ok(['vault', 'put', 'bin/blob', 'blob']);
    assert.equal(await ok(['vault', 'get', 'notes/pin']), 'correct horse\n');
    const binary = await mvctl(['vault', 'get', 'bin/blob']);
    assert.equal(binary.code, 2);
    assert.match(binary.stderr, /not text: use --out FILE/);
    await ok(['vault', 'get', 'bin/blob', '--out', 'blob.out']);
    assert.deepEqual(await readFile(join(root, 'blob.out')), Buffer.from([0, 1, 2, 0xff, 0xfe]));
    assert.equal((await stat(join(root, 'blob.out'))).mode & 0o777, 0o600);
    const json = JSON.parse(await ok(['vault', 'get', 'bin/blob', '--json'])) as { value: string };
    assert.equal(json.value, Buffer.from([0, 1, 2, 0xff, 0xfe]).toString('base64'));

    const list = await ok(['vault', 'list']);
    assert.match(list, /^NAME +SIZE +UPDATED +MANAGED$/m);
    assert.match(list, /^bin\/blob +5 +/m);
    assert.match(list, /^notes\/pin +14 +/m);
    assert.ok(!list.includes('correct horse'));
    await ok(['vault', 'put', 'scratch', '-'], 'x');
    assert.match(await ok(['vault', 'delete', 'scratch']), /^deleted scratch$/m);
    const missing = await mvctl(['vault', 'get', 'scratch']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /ENTRY_NOT_FOUND/);
    const managed = await mvctl(['vault', 'put', 'luks/mine', '-'], 'x');
    assert.equal(managed.code, 1);
    assert.match(managed.stderr, /VAULT_ENTRY_MANAGED/);
    const badName = await mvctl(['vault', 'put', 'a//b', '-'], 'x');
    assert.equal(badName.code, 2);
    assert.match(badName.stderr, /INPUT_INVALID: invalid input for vault.put: name/);
  });

  it('seals, refuses secrets while sealed with a hint, and unseals share by share (file, stdin, sealed share + key)', async () => {
    assert.match(await ok(['vault', 'seal']), /^vault sealed$/m);
    const sealedGet = await mvctl(['vault', 'get', 'notes/pin']);
    assert.equal(sealedGet.code, 1);
    assert.match(sealedGet.stderr, /^mvctl: VAULT_SEALED: the vault is sealed$/m);
    assert.match(sealedGet.stderr, /^hint: unseal it: `mvctl vault unseal SHARE-FILE`/m);
    const sealedJson = await mvctl(['vault', 'list', '--json']);
    assert.equal((JSON.parse(sealedJson.stdout) as { error: { code: string } }).error.code, 'VAULT_SEALED');
    const status = await vaultStatus();
    assert.deepEqual([status.state, status.entries, status.unseal], ['sealed', 2, null]);

    assert.match(
      await ok(['vault', 'unseal', 'shares/share-1-1-alice.txt']),
      /^1 of 2 shares given \(1\); the vault stays sealed until 1 more$/m,
    );
    assert.match(await ok(['vault', 'status']), /^unseal progress +1 of 2 shares given \(1\)$/m);
    const duplicate = await mvctl(['vault', 'unseal', 'shares/share-1-1-alice.txt']);
    assert.equal(duplicate.code, 1);
    assert.match(duplicate.stderr, /SHARE_DUPLICATE: Share 1 was already given/);
    const encrypted = await mvctl(['vault', 'unseal', 'shares/share-1-3-carol.txt']);
    assert.equal(encrypted.code, 2);
    assert.match(encrypted.stderr, /SHARE_ENCRYPTED/);
    assert.match(encrypted.stderr, /--key KEY-FILE/);
    const aliceText = await readFile(join(root, 'shares', 'share-1-1-alice.txt'), 'utf8');
    const typo = await mvctl(
      ['vault', 'unseal', '-'],
      aliceText.replace(/^(2: )(.)/m, (_all, prefix: string, c: string) => prefix + (c === '0' ? '1' : '0')),
    );
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /SHARE_CHECKSUM: .*share line 2/);

    const carolShare = await readFile(join(root, 'shares', 'share-1-3-carol.txt'));
    const unsealed = await ok(['vault', 'unseal', '--key', 'keys/carol.key'], carolShare);
    assert.match(unsealed, /^vault unsealed \(shares 1, 3\)$/m);
    assert.equal((await vaultStatus()).state, 'unsealed');
    assert.equal(await ok(['vault', 'get', 'notes/pin']), 'correct horse\n');
  });

  it('rekeys (old shares void after commit) and rotates; a restarted hostd is sealed and unseals with the new shares', async () => {
    const prepared = await ok([
      'vault',
      'rekey-prepare',
      'alice',
      'dave',
      'erin',
      '--threshold',
      '2',
      '--out',
      'shares2',
    ]);
    const rekeyId = /^rekey ([0-9a-f]{16}) prepared: share set 2, any 2 unseal$/m.exec(prepared)?.[1];
    assert.ok(rekeyId !== undefined, prepared);
    assert.equal((await readdir(join(root, 'shares2'))).length, 6);
    assert.match(
      await ok(['vault', 'rekey-commit', rekeyId]),
      /share set 2, any 2 of 3 shares unseal it; the old shares are void/,
    );
    const stale = await mvctl(['vault', 'rekey-commit', rekeyId]);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /REKEY_NOT_PENDING/);
    assert.match(await ok(['vault', 'rotate']), /^master key rotated: 2 entries re-encrypted/m);

    assert.equal(await hostd.stop(), 0, hostd.log);
    await hostd.start();
    assert.equal((await vaultStatus()).state, 'sealed');
    const old = await mvctl(['vault', 'unseal', 'shares/share-1-1-alice.txt']);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /SHARE_STALE/);
    await ok(['vault', 'unseal', 'shares2/share-2-3-erin.txt']);
    assert.match(await ok(['vault', 'unseal', 'shares2/share-2-2-dave.txt']), /^vault unsealed/m);
    assert.equal(await ok(['vault', 'get', 'notes/pin']), 'correct horse\n');
  });

  it('keeps shares, keys and values out of the audit log', async () => {
    const { entries } = JSON.parse(await ok(['audit', 'list', '--limit', '1000', '--json'])) as {
      entries: AuditEntry[];
    };
    const vaultRows = entries.filter((entry) => entry.action.startsWith('vault.'));
    assert.ok(vaultRows.length > 20, `only ${vaultRows.length} vault rows`);
    const logged = JSON.stringify(entries);
    const secrets = ['correct horse', Buffer.from('correct horse\n').toString('base64')];
    for (const directory of ['shares', 'shares2']) {
      for (const file of await readdir(join(root, directory))) {
        if (file.endsWith('.txt'))
          secrets.push(...shareLines(await readFile(join(root, directory, file), 'utf8')));
      }
    }
    const carolKey = (await readFile(join(root, 'keys', 'carol.key'), 'utf8')).split('\n')[1] ?? '';
    secrets.push(carolKey);
    for (const secret of secrets)
      assert.ok(!logged.includes(secret), `the audit log holds a secret: ${secret}`);
    assert.ok((JSON.parse(await ok(['audit', 'verify', '--json'])) as { ok: boolean }).ok);
  });
});

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ssh2 from 'ssh2';
import { JailShellError } from './errors.js';
import { loadOrCreateHostKey } from './host-key.js';

async function withDirectory(run: (directory: string) => Promise<void>): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'jail-host-key-'));
  try {
    await run(directory);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

describe('loadOrCreateHostKey', () => {
  it('creates an Ed25519 key readable only by its owner that ssh-keygen accepts, and keeps it', () =>
    withDirectory(async (directory) => {
      const path = join(directory, 'host_ed25519');
      const created = await loadOrCreateHostKey(path);
      assert.equal((await stat(path)).mode & 0o777, 0o600);
      assert.deepEqual(await readdir(directory), ['host_ed25519'], 'no temporary file is left behind');
      const publicKey = spawnSync('ssh-keygen', ['-y', '-f', path], { encoding: 'utf8' });
      assert.equal(publicKey.status, 0, publicKey.stderr);
      const parsed = ssh2.utils.parseKey(created);
      assert.ok(!(parsed instanceof Error) && !Array.isArray(parsed));
      assert.equal(parsed.type, 'ssh-ed25519');
      assert.equal(publicKey.stdout.split(' ')[1], parsed.getPublicSSH().toString('base64'));
      const signature = parsed.sign(Buffer.from('payload'));
      assert.ok(signature instanceof Buffer);
      assert.equal(parsed.verify(Buffer.from('payload'), signature), true);
      assert.deepEqual(await loadOrCreateHostKey(path), created, 'a restart reuses the same key');
    }));

  it('refuses a key file other users can read', () =>
    withDirectory(async (directory) => {
      const path = join(directory, 'host_ed25519');
      await loadOrCreateHostKey(path);
      await chmod(path, 0o644);
      await assert.rejects(
        loadOrCreateHostKey(path),
        (error: unknown) => error instanceof JailShellError && error.code === 'HOST_KEY_TOO_OPEN',
      );
    }));

  it('refuses a file that is not a private key', () =>
    withDirectory(async (directory) => {
      const path = join(directory, 'host_ed25519');
      await writeFile(path, 'not a key\n', { mode: 0o600 });
      await assert.rejects(
        loadOrCreateHostKey(path),
        (error: unknown) => error instanceof JailShellError && error.code === 'HOST_KEY_INVALID',
      );
    }));
});

import { generateKeyPairSync } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { writeFileAtomic } from '@multiverse/keyvault/atomic-file';
import ssh2 from 'ssh2';
import { JailShellError } from './errors.js';
import { encodeOpenSshEd25519PrivateKey } from './openssh-private-key.js';

const { utils } = ssh2;

/**
 * Returns the server's host key (OpenSSH private key text), creating it on first use.
 * The key must survive restarts so clients' known_hosts stay valid, and it lives outside the vault
 * because the jail is where the owner unseals the vault.
 */
export async function loadOrCreateHostKey(path: string): Promise<Buffer> {
  const existing = await readExistingHostKey(path);
  if (existing) return existing;
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  if (typeof jwk.d !== 'string' || typeof jwk.x !== 'string') {
    throw new JailShellError('HOST_KEY_INVALID', 'node:crypto returned an Ed25519 key without its raw parts');
  }
  const text = encodeOpenSshEd25519PrivateKey(
    Buffer.from(jwk.d, 'base64url'),
    Buffer.from(jwk.x, 'base64url'),
    'multiverse-jail-shell host key',
  );
  await writeFileAtomic(path, text, { mode: 0o600 });
  return Buffer.from(text);
}

async function readExistingHostKey(path: string): Promise<Buffer | undefined> {
  let mode: number;
  try {
    mode = (await stat(path)).mode;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new JailShellError(
      'HOST_KEY_UNREADABLE',
      `Cannot stat the host key ${path}: check the directory's permissions`,
      {
        cause: error,
      },
    );
  }
  if ((mode & 0o077) !== 0) {
    throw new JailShellError(
      'HOST_KEY_TOO_OPEN',
      `The host key ${path} is readable by other users (mode ${(mode & 0o777).toString(8)}): run chmod 600 on it`,
    );
  }
  const contents = await readFile(path);
  const parsed = utils.parseKey(contents);
  if (parsed instanceof Error || Array.isArray(parsed) || !parsed.isPrivateKey()) {
    throw new JailShellError(
      'HOST_KEY_INVALID',
      `The host key ${path} is not an unencrypted OpenSSH private key: move it away to have a new one generated`,
    );
  }
  return contents;
}

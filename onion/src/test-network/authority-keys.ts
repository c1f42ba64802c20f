import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { TestTorNetworkError } from './errors.js';

export interface AuthorityIdentity {
  /** Fingerprint of the v3 authority identity key (DirAuthority's v3ident=). */
  readonly v3Identity: string;
  /** Fingerprint of the relay identity key (DirAuthority's last word). */
  readonly fingerprint: string;
}

/**
 * Creates an authority's keys in `dataDirectory/keys` the way chutney does: the v3 identity, signing key
 * and certificate from tor-gencert (passphrase on fd 0), then the relay identity from
 * `tor --list-fingerprint`, which needs a config file that exists (an empty one, not /dev/null).
 */
export async function createAuthorityIdentity(options: {
  readonly dataDirectory: string;
  readonly nickname: string;
  readonly address: string;
  readonly orPort: number;
  readonly dirPort: number;
  readonly emptyTorrc: string;
}): Promise<AuthorityIdentity> {
  const keys = join(options.dataDirectory, 'keys');
  await mkdir(keys, { recursive: true, mode: 0o700 });
  const certificate = join(keys, 'authority_certificate');
  await run(
    'tor-gencert',
    [
      '--create-identity-key',
      '-m',
      '12',
      '-a',
      `${options.address}:${options.dirPort}`,
      '-i',
      join(keys, 'authority_identity_key'),
      '-s',
      join(keys, 'authority_signing_key'),
      '-c',
      certificate,
      '--passphrase-fd',
      '0',
    ],
    `${randomBytes(16).toString('hex')}\n`,
  );
  const certificateText = await readFile(certificate, 'utf8');
  const v3Identity = /^fingerprint ([0-9A-F]{40})$/m.exec(certificateText)?.[1];
  if (!v3Identity) {
    throw new TestTorNetworkError(
      'TOR_NETWORK_KEYGEN_FAILED',
      `tor-gencert wrote no fingerprint to ${certificate}`,
    );
  }

  await run('tor', [
    '--list-fingerprint',
    '-f',
    options.emptyTorrc,
    '--defaults-torrc',
    options.emptyTorrc,
    '--DataDirectory',
    options.dataDirectory,
    '--Nickname',
    options.nickname,
    '--ORPort',
    `${options.address}:${options.orPort}`,
  ]);
  const fingerprintLine = await readFile(join(options.dataDirectory, 'fingerprint'), 'utf8');
  const fingerprint = /^\S+ ([0-9A-F]{40})\s*$/.exec(fingerprintLine)?.[1];
  if (!fingerprint) {
    throw new TestTorNetworkError(
      'TOR_NETWORK_KEYGEN_FAILED',
      `tor --list-fingerprint wrote an unexpected fingerprint file for ${options.nickname}: ${fingerprintLine}`,
    );
  }
  return { v3Identity, fingerprint };
}

/** Writes an empty file for tor's -f/--defaults-torrc, so no system torrc leaks into test nodes. */
export async function writeEmptyTorrc(path: string): Promise<void> {
  await writeFile(path, '', { mode: 0o600 });
}

function run(command: string, args: readonly string[], input?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: 60_000 }, (error, _stdout, stderr) => {
      if (!error) {
        resolve();
        return;
      }
      const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
      reject(
        new TestTorNetworkError(
          missing ? 'TOR_NETWORK_TOR_MISSING' : 'TOR_NETWORK_KEYGEN_FAILED',
          missing
            ? `${command} is not installed: apt-get install tor`
            : `${command} failed: ${error.message}${stderr ? `\n${stderr}` : ''}`,
          { cause: error },
        ),
      );
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input ?? '');
  });
}

import { execFile } from 'node:child_process';
import type { ExecFileException } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmod, lstat, rm } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { element } from '@multiverse/vm-templates';
import type { XmlElement } from '@multiverse/vm-templates';
import type { Logger } from '../log.js';
import { ServiceError } from '../service/service-error.js';
import type { DiskSecrets } from './disk-secrets.js';
import { encodeLuksKey, luksEntryName, newLuksKey } from './luks-key-entry.js';
import { withPassphraseFile } from './passphrase-file.js';
import { asVaultServiceError } from './vault-errors.js';
import type { VaultService } from './vault-service.js';

/**
 * LUKS key-derivation time per key slot. The passphrase is 256 random bits, which no key-derivation cost makes
 * safer (that cost only protects guessable passphrases), while QEMU pays it each time it opens the disk: at
 * every VM start. qemu-img's default is 2000 ms.
 */
const KEY_DERIVATION_MS = 100;
const QEMU_SECRET_ID = 'multiverse-luks-key';
const CPU_TIMING_FAILURE = 'Unable to get accurate CPU usage';
const MAX_FORMAT_ATTEMPTS = 10;

export interface EncryptedVolumesOptions {
  readonly vault: VaultService;
  readonly secrets: DiskSecrets;
  readonly logger: Logger;
  readonly qemuImg?: string;
}

export interface EncryptedVolume {
  readonly path: string;
  /** The libvirt secret's UUID, for the disk's `<encryption>`; the vault entry is `luks/<uuid>`. */
  readonly secretUuid: string;
  /** Set when libvirt could not be given the key now (it gets it at the next unseal or reconnect). */
  readonly secretProblem: string | null;
}

/**
 * qcow2 volumes encrypted with LUKS whose passphrase is a fresh random one kept only in the vault: the
 * passphrase is stored before the disk exists (a crash in between leaves an unused entry, never a disk
 * nobody can open) and reaches qemu-img through a private file, never a command line.
 */
export class EncryptedVolumes {
  readonly #options: EncryptedVolumesOptions;

  constructor(options: EncryptedVolumesOptions) {
    this.#options = options;
  }

  async create(path: string, sizeBytes: number): Promise<EncryptedVolume> {
    if (!isAbsolute(path)) throw new RangeError(`an encrypted volume needs an absolute path, not ${path}`);
    if (!Number.isSafeInteger(sizeBytes) || sizeBytes < 1) {
      throw new RangeError(`an encrypted volume's size must be a positive number of bytes, not ${sizeBytes}`);
    }
    const vault = this.#options.vault.requireUnsealed('a new encrypted disk keeps its key in the vault');
    if (await exists(path)) {
      throw new ServiceError(
        'conflict',
        'ENCRYPTED_VOLUME_EXISTS',
        `${path} exists already; an encrypted volume is never made over another file`,
        'choose another path, or delete the old volume first',
      );
    }
    const secretUuid = randomUUID();
    const entry = luksEntryName(secretUuid);
    const key = newLuksKey(path);
    await vaultWrite(() => vault.put(entry, encodeLuksKey(key)));
    try {
      await this.#format(path, sizeBytes, Buffer.from(key.passphrase, 'ascii'));
      await chmod(path, 0o600);
    } catch (error) {
      await rm(path, { force: true });
      await vaultWrite(() => vault.delete(entry)).catch((cleanup: unknown) =>
        this.#options.logger.warn('an unused LUKS key stays in the vault', {
          entry,
          error: (cleanup as Error).message,
        }),
      );
      throw error;
    }
    let secretProblem: string | null = null;
    try {
      await this.#options.secrets.define(secretUuid);
    } catch (error) {
      secretProblem = (error as Error).message;
    }
    this.#options.logger.info('encrypted volume created', { path, secret: secretUuid });
    return { path, secretUuid, secretProblem };
  }

  /** Takes the key from libvirt and deletes it from the vault: the volume can never be opened again. */
  async forget(secretUuid: string): Promise<void> {
    const vault = this.#options.vault.requireUnsealed('deleting a disk key changes the vault');
    await this.#options.secrets.undefine(secretUuid);
    await vaultWrite(() => vault.delete(luksEntryName(secretUuid)));
  }

  #format(path: string, sizeBytes: number, passphrase: Buffer): Promise<void> {
    const args = (passphraseFile: string) => [
      'create',
      '-q',
      '-f',
      'qcow2',
      '--object',
      `secret,id=${QEMU_SECRET_ID},file=${passphraseFile},format=raw`,
      '-o',
      `encrypt.format=luks,encrypt.key-secret=${QEMU_SECRET_ID},encrypt.iter-time=${KEY_DERIVATION_MS}`,
      path,
      String(sizeBytes),
    ];
    return withPassphraseFile(passphrase, async (passphraseFile) => {
      passphrase.fill(0);
      for (let attempt = 1; ; attempt += 1) {
        const failure = await this.#runQemuImg(args(passphraseFile));
        if (failure === undefined) return;
        // qemu-img times its key derivation with the thread's CPU time to pick an iteration count; on a
        // tick-accounted kernel a short, busy run can measure 0 ms and it gives up: 12 of 45 runs on the loaded
        // build machine. The message is qemu's own (crypto/pbkdf.c); another try measures again.
        if (!failure.stderr.includes(CPU_TIMING_FAILURE) || attempt === MAX_FORMAT_ATTEMPTS) {
          throw new ServiceError(
            'internal',
            'ENCRYPTED_VOLUME_CREATE_FAILED',
            `qemu-img could not create the encrypted volume ${path}: ${failure.stderr.trim() || failure.error.message}`,
            failure.error.code === 'ENOENT'
              ? 'install qemu-utils (apt-get install qemu-utils)'
              : 'check the directory exists and has room, then retry',
            { cause: failure.error },
          );
        }
        await rm(path, { force: true });
      }
    });
  }

  #runQemuImg(args: string[]): Promise<{ error: ExecFileException; stderr: string } | undefined> {
    return new Promise((resolve) => {
      execFile(this.#options.qemuImg ?? 'qemu-img', args, (error, _stdout, stderr) =>
        resolve(error === null ? undefined : { error, stderr }),
      );
    });
  }
}

/** The `<encryption>` a domain's `<disk><source>` needs for a volume made here. */
export function luksEncryptionElement(secretUuid: string): XmlElement {
  return element(
    'encryption',
    { format: 'luks' },
    element('secret', { type: 'passphrase', uuid: secretUuid }),
  );
}

async function vaultWrite<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    throw asVaultServiceError(error);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw error;
  }
}

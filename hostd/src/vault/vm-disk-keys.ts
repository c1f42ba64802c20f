import { randomUUID } from 'node:crypto';
import type { DiskKeys } from '../disks/index.js';
import type { Logger } from '../log.js';
import type { DiskSecrets } from './disk-secrets.js';
import { decodeLuksKey, encodeLuksKey, luksEntryName, newLuksKey } from './luks-key-entry.js';
import { withPassphraseFile } from './passphrase-file.js';
import { asVaultServiceError } from './vault-errors.js';
import type { VaultService } from './vault-service.js';

export interface VmDiskKeysOptions {
  readonly vault: VaultService;
  readonly secrets: DiskSecrets;
  readonly logger: Logger;
}

/**
 * The keys of encrypted VMs: one LUKS passphrase per VM, kept in the vault as `luks/<secret-uuid>` and given to
 * libvirt as that secret while the vault is unsealed. Every layer of every volume of the VM (root overlay,
 * private layers, volatile) uses it: a checkpoint's new layer and a revert's new top are opened by QEMU
 * together with the layers below them, and libvirt names one secret per layer, so one key means one vault
 * entry and one libvirt secret per VM whatever its chain depth — and deleting the VM forgets one key.
 *
 * Also the disk store's key source (`DiskKeys`): qemu-img gets the passphrase as a private file on tmpfs, for
 * one operation, and a sealed vault refuses with VAULT_SEALED before the store changes anything.
 */
export class VmDiskKeys implements DiskKeys {
  readonly #options: VmDiskKeysOptions;

  constructor(options: VmDiskKeysOptions) {
    this.#options = options;
  }

  /**
   * A new key for VM `vmName` whose disks live in `disksDirectory`: stored in the vault before any disk uses it
   * (a crash after leaves an unused entry, never a disk without its key), then given to libvirt.
   */
  async create(vmName: string, disksDirectory: string): Promise<{ secretUuid: string }> {
    const vault = this.#options.vault.requireUnsealed(
      `the disks of VM ${vmName} are to be encrypted with a key kept in the vault`,
    );
    const secretUuid = randomUUID();
    await vaultWrite(() => vault.put(luksEntryName(secretUuid), encodeLuksKey(newLuksKey(disksDirectory))));
    await this.#options.vault.generationRecorded();
    try {
      await this.#options.secrets.define(secretUuid);
    } catch (error) {
      // The next unseal or libvirt reconnect gives it; a start before then is refused with a clear error.
      this.#options.logger.warn('a new disk key could not be given to libvirt yet', {
        vm: vmName,
        secret: secretUuid,
        error: (error as Error).message,
      });
    }
    this.#options.logger.info('disk key created', { vm: vmName, secret: secretUuid });
    return { secretUuid };
  }

  /** VAULT_SEALED (naming the VM) unless the key of an encrypted VM can be used now. */
  requireUsable(vmName: string, what: string): void {
    this.#options.vault.requireUnsealed(
      `VM ${vmName} has encrypted disks whose key is in the vault; ${what}`,
    );
  }

  withKeyFile<T>(secretUuid: string, use: (file: string) => Promise<T>): Promise<T> {
    const vault = this.#options.vault.requireUnsealed(
      'the VM’s disks are encrypted and their key is in the vault',
    );
    // Errors of `use` (qemu-img's) pass unchanged; the vault's own become service errors with a hint.
    return vaultWrite(() =>
      vault.withEntry(luksEntryName(secretUuid), async (value) => {
        const passphrase = Buffer.from(decodeLuksKey(value).passphrase, 'ascii');
        try {
          return await withPassphraseFile(passphrase, use);
        } finally {
          passphrase.fill(0);
        }
      }),
    );
  }

  /** Takes the key from libvirt, then from the vault: called once the VM's disks are gone. */
  async forget(secretUuid: string): Promise<void> {
    const vault = this.#options.vault.requireUnsealed('deleting a disk key changes the vault');
    await this.#options.secrets.undefine(secretUuid);
    await vaultWrite(() => vault.delete(luksEntryName(secretUuid)));
    await this.#options.vault.generationRecorded();
  }
}

async function vaultWrite<T>(write: () => Promise<T>): Promise<T> {
  try {
    return await write();
  } catch (error) {
    throw asVaultServiceError(error);
  }
}

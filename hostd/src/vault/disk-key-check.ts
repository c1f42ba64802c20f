import { ErrorNumber, LibvirtError } from '@multiverse/libvirt-ts';
import { attributeOf, parseXml } from '@multiverse/vm-templates';
import type { ParsedElement } from '@multiverse/vm-templates';
import { ServiceError } from '../service/service-error.js';
import { luksEntryName } from './luks-key-entry.js';
import { UNSEAL_HINT, vaultSealedError } from './vault-errors.js';
import type { VaultService } from './vault-service.js';

/** The UUIDs of the secrets a domain's encrypted disks name (`<encryption><secret uuid=…/>`), in order. */
export function diskSecretUuidsOf(domainXml: string): string[] {
  const uuids: string[] = [];
  const visit = (node: ParsedElement): void => {
    for (const child of node.children) {
      if (typeof child === 'string') continue;
      if (child.localName === 'encryption') {
        for (const secret of child.children) {
          if (typeof secret === 'string' || secret.localName !== 'secret') continue;
          const uuid = attributeOf(secret, 'uuid');
          if (uuid !== undefined && !uuids.includes(uuid)) uuids.push(uuid);
        }
      } else {
        visit(child);
      }
    }
  };
  visit(parseXml(domainXml));
  return uuids;
}

/**
 * Before starting a domain: refuses, with a reason and what to do, when its encrypted disks cannot be
 * opened — the vault is sealed (VAULT_SEALED), or a disk's key is not in it (LUKS_KEY_MISSING).
 */
export function requireDiskKeys(vault: VaultService, domainXml: string, vmName: string): void {
  const uuids = diskSecretUuidsOf(domainXml);
  if (uuids.length === 0) return;
  const unsealed = vault.unsealedVault();
  if (unsealed === undefined) {
    if (vault.status().state === 'sealed') {
      throw vaultSealedError(`VM ${vmName} has an encrypted disk whose key is in the vault`);
    }
    throw missingKey(vmName, uuids[0] ?? '', 'this host has no usable vault');
  }
  for (const uuid of uuids) {
    if (!unsealed.has(luksEntryName(uuid))) throw missingKey(vmName, uuid, 'the vault has no such entry');
  }
}

/**
 * A failed domain start explained: libvirt says "secret not found" when a disk's key was not given to it,
 * which while sealed is the expected VAULT_SEALED. Undefined for failures that have nothing to do with keys.
 */
export function diskKeyStartFailure(
  vault: VaultService,
  error: unknown,
  vmName: string,
): ServiceError | undefined {
  if (!(error instanceof LibvirtError) || error.code !== ErrorNumber.ERR_NO_SECRET) return undefined;
  if (vault.status().state === 'sealed') {
    const sealed = vaultSealedError(`VM ${vmName} has an encrypted disk whose key is in the vault`);
    return new ServiceError(sealed.kind, sealed.code, sealed.message, sealed.hint, { cause: error });
  }
  return new ServiceError(
    'upstream',
    'LUKS_KEY_NOT_WITH_LIBVIRT',
    `VM ${vmName} did not start: libvirt has no key for its encrypted disk (${error.libvirtMessage})`,
    `hostd gives libvirt the keys when the vault unseals and when it reconnects; read hostd’s log, or seal and ${UNSEAL_HINT.replace('unseal it: ', 'unseal again: ')}`,
    { cause: error },
  );
}

function missingKey(vmName: string, uuid: string, why: string): ServiceError {
  return new ServiceError(
    'not-found',
    'LUKS_KEY_MISSING',
    `VM ${vmName} has an encrypted disk whose key (${luksEntryName(uuid)}) cannot be found: ${why}`,
    'restore the vault from a backup that holds the key; without it the disk cannot be read',
  );
}

// Test support: leave libvirt as a test found it.
import { stat } from 'node:fs/promises';
import { ErrorNumber, LibvirtError } from '@multiverse/libvirt-ts';
import type { LibvirtClient } from '@multiverse/libvirt-ts';

/** Destroys (if running) and undefines each named domain that exists. */
export async function removeDomains(client: LibvirtClient, names: readonly string[]): Promise<void> {
  for (const name of names) {
    const domain = await client.domainLookupByName(name).catch(() => undefined);
    if (domain === undefined) continue;
    if (await client.domainIsActive(domain)) await client.domainDestroy(domain).catch(() => undefined);
    await client.domainUndefine(domain).catch(() => undefined);
  }
}

/** The named networks that exist now: pass to `removeNetworks` so a test removes only what it made. */
export async function existingNetworks(
  client: LibvirtClient,
  names: readonly string[],
): Promise<Set<string>> {
  const existing = new Set<string>();
  for (const name of names) {
    if (
      await client.networkLookupByName(name).then(
        () => true,
        () => false,
      )
    )
      existing.add(name);
  }
  return existing;
}

/** Stops and undefines each named network, except those in `keep`. */
export async function removeNetworks(
  client: LibvirtClient,
  names: readonly string[],
  keep: ReadonlySet<string>,
): Promise<void> {
  for (const name of names) {
    if (keep.has(name)) continue;
    try {
      const network = await client.networkLookupByName(name);
      if (await client.networkIsActive(network)) await client.networkDestroy(network);
      await client.networkUndefine(network);
    } catch (error) {
      if (!(error instanceof LibvirtError && error.code === ErrorNumber.ERR_NO_NETWORK)) throw error;
    }
  }
}

/** For `eventually`: true once nothing is at `path`. */
export async function fileGone(path: string): Promise<true | undefined> {
  return stat(path).then(
    () => undefined,
    () => true as const,
  );
}

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { initVault, type KeyVault } from '../key-vault.js';
import type { CustodianSpec, IssuedShare } from '../share-set.js';

/** A fresh directory for this test file, removed when the file's tests end. */
export function tempDirectory(prefix: string): string {
  const directory = mkdtempSync(join(tmpdir(), `keyvault-${prefix}-`));
  after(() => rmSync(directory, { recursive: true, force: true }));
  return directory;
}

let vaultCounter = 0;

/** An unsealed vault with `shareCount` custodians named c1, c2, … in its own file. */
export async function createTempVault(
  directory: string,
  shareCount: number,
  threshold: number,
  custodians: readonly CustodianSpec[] = Array.from({ length: shareCount }, (_, i) => `c${i + 1}`),
): Promise<{ vault: KeyVault; shares: IssuedShare[]; path: string }> {
  vaultCounter += 1;
  const path = join(directory, `vault-${vaultCounter}`);
  const { vault, shares } = await initVault({ path, shares: shareCount, threshold, custodians });
  return { vault, shares, path };
}

/** Every subset of `items` with exactly `size` members. */
export function subsets<T>(items: readonly T[], size: number): T[][] {
  if (size === 0) return [[]];
  const result: T[][] = [];
  items.forEach((item, i) => {
    for (const rest of subsets(items.slice(i + 1), size - 1)) result.push([item, ...rest]);
  });
  return result;
}

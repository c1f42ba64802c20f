/*
 * Child process for the kill -9 tests: opens a vault, unseals it with the shares saved for its
 * share set, and runs a rekey or a rotate (or, with `loop`, both over and over), pausing forever at
 * the named durability step so the parent can SIGKILL it there.
 *
 *   node crash-child.js <vault path> <work dir> rekey|rotate|loop <step|never>
 *
 * New shares are saved (fsynced) to <work dir>/shares-<set>.json before the rekey commits, as
 * hostd must hand them out before committing. Prints READY once unsealed, PAUSED <step> at the
 * stop, DONE at the end.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { openVault, type KeyVault } from '../key-vault.js';
import type { DurabilityStep } from '../atomic-file.js';

const [vaultPath, workDir, operation, stopAt] = process.argv.slice(2) as [string, string, string, string];

function sharesFile(shareSet: number): string {
  return join(workDir, `shares-${shareSet}.json`);
}

function saveDurably(path: string, content: string): void {
  const temp = `${path}.tmp`;
  const fd = openSync(temp, 'w');
  writeSync(fd, content);
  fsyncSync(fd);
  closeSync(fd);
  renameSync(temp, path);
  const dir = openSync(workDir, 'r');
  fsyncSync(dir);
  closeSync(dir);
}

function pauseForever(step: DurabilityStep): Promise<never> {
  process.stdout.write(`PAUSED ${step}\n`);
  setInterval(() => undefined, 60_000);
  return new Promise<never>(() => undefined);
}

async function rekey(vault: KeyVault): Promise<void> {
  const pending = await vault.prepareRekey({ threshold: 2, custodians: ['ann', 'ben', 'cat'] });
  saveDurably(
    sharesFile(pending.shares[0]!.share.shareSet),
    JSON.stringify(pending.shares.map((issued) => issued.text)),
  );
  await pending.commit();
}

const vault = await openVault({
  path: vaultPath,
  durabilityObserver: (step) => (step === stopAt ? pauseForever(step) : undefined),
});
const shareTexts = JSON.parse(readFileSync(sharesFile(vault.status().shareSet), 'utf8')) as string[];
await vault.unseal(shareTexts);
process.stdout.write('READY\n');

if (operation === 'rekey') await rekey(vault);
else if (operation === 'rotate') await vault.rotate();
else if (operation === 'loop') {
  for (let round = 0; ; round += 1) {
    await rekey(vault);
    await vault.rotate();
    await vault.put('loop/round', String(round));
  }
} else throw new Error(`unknown operation ${operation}`);
process.stdout.write('DONE\n');

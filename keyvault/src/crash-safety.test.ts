import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, describe, it } from 'node:test';
import type { DurabilityStep } from './atomic-file.js';
import { openVault } from './key-vault.js';
import { createTempVault, tempDirectory } from './test-support/temp-vault.js';

const CHILD = fileURLToPath(new URL('./test-support/crash-child.js', import.meta.url));
const STEPS: DurabilityStep[] = ['temp-opened', 'temp-half-written', 'temp-synced', 'renamed', 'dir-synced'];
const ENTRIES: Record<string, string> = {
  'luks/vm-mail': 'correct horse battery staple',
  'wireguard/router-vpn': 'wg-private-key',
  'onion/call-home': 'ed25519-v3-secret',
};

const directory = tempDirectory('crash');
let template: string;
let templateShares: string[];
let runs = 0;

before(async () => {
  const { vault, shares, path } = await createTempVault(directory, 3, 2);
  for (const [name, value] of Object.entries(ENTRIES)) await vault.put(name, value);
  vault.seal();
  template = path;
  templateShares = shares.map((issued) => issued.text);
});

/** A fresh copy of the template vault and its share file in a directory of its own. */
function freshCopy(): { workDir: string; vaultPath: string; original: Buffer } {
  runs += 1;
  const workDir = join(directory, `run-${runs}`);
  mkdirSync(workDir);
  const vaultPath = join(workDir, 'vault');
  copyFileSync(template, vaultPath);
  writeFileSync(join(workDir, 'shares-1.json'), JSON.stringify(templateShares));
  return { workDir, vaultPath, original: readFileSync(vaultPath) };
}

interface ChildRun {
  output: string;
  signal: NodeJS.Signals | null;
  code: number | null;
}

/**
 * Runs the child; SIGKILLs it once its output contains `killWhen` (after `delayMs`, if given).
 * Without `killWhen`, waits for it to finish.
 */
function runChild(args: string[], killWhen?: string, delayMs = 0): Promise<ChildRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    let killScheduled = false;
    const watchdog = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      if (killWhen !== undefined && !killScheduled && output.includes(killWhen)) {
        killScheduled = true;
        setTimeout(() => child.kill('SIGKILL'), delayMs);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      clearTimeout(watchdog);
      resolve({ output, code, signal });
    });
  });
}

function vaultTempFiles(workDir: string): string[] {
  return readdirSync(workDir).filter((name) => name.startsWith('.vault.') && name.endsWith('.tmp'));
}

/** Opens the vault as hostd would after a crash and checks every entry; returns the share set. */
async function openAfterCrash(workDir: string, vaultPath: string): Promise<number> {
  const vault = await openVault({ path: vaultPath });
  const shareSet = vault.status().shareSet;
  const shares = JSON.parse(readFileSync(join(workDir, `shares-${shareSet}.json`), 'utf8')) as string[];
  await vault.unseal(shares);
  for (const [name, value] of Object.entries(ENTRIES)) assert.equal(vault.getString(name), value, name);
  vault.seal();
  assert.deepEqual(vaultTempFiles(workDir), [], 'open removes temp files a crashed write left behind');
  return shareSet;
}

describe('crash safety of rekey and rotate (kill -9)', () => {
  for (const operation of ['rekey', 'rotate'] as const) {
    for (const step of STEPS) {
      it(`${operation}: killed at ${step} leaves the ${step === 'renamed' || step === 'dir-synced' ? 'new' : 'old'} vault whole`, async () => {
        const { workDir, vaultPath, original } = freshCopy();
        const run = await runChild([vaultPath, workDir, operation, step], `PAUSED ${step}`);
        assert.equal(run.signal, 'SIGKILL', run.output);
        const committed = step === 'renamed' || step === 'dir-synced';
        const onDisk = readFileSync(vaultPath);
        assert.equal(onDisk.equals(original), !committed, 'old file until the rename, new file after');
        if (!committed && step !== 'temp-opened') {
          assert.equal(vaultTempFiles(workDir).length, 1, 'the crash left its temp file');
        }

        const shareSet = await openAfterCrash(workDir, vaultPath);
        assert.equal(shareSet, operation === 'rekey' && committed ? 2 : 1);
        if (operation === 'rekey' && committed) {
          const stale = await openVault({ path: vaultPath });
          await assert.rejects(stale.unseal(templateShares), { code: 'SHARE_STALE' });
        }
      });
    }

    it(`${operation}: runs to the end when not killed`, async () => {
      const { workDir, vaultPath } = freshCopy();
      const run = await runChild([vaultPath, workDir, operation, 'never']);
      assert.equal(run.code, 0, run.output);
      assert.match(run.output, /DONE/);
      assert.equal(await openAfterCrash(workDir, vaultPath), operation === 'rekey' ? 2 : 1);
    });
  }

  it('rekey, rotate and put in a loop, killed after random delays: always one whole vault whose shares were saved', async (t) => {
    const { workDir, vaultPath } = freshCopy();
    const shareSetsSeen = new Set<number>();
    let killedMidWrite = 0;
    for (let kill = 0; kill < 12; kill += 1) {
      const delayMs = Math.floor(Math.random() * 120);
      const run = await runChild([vaultPath, workDir, 'loop', 'never'], 'READY', delayMs);
      assert.equal(run.signal, 'SIGKILL', run.output);
      if (vaultTempFiles(workDir).length > 0) killedMidWrite += 1;
      shareSetsSeen.add(await openAfterCrash(workDir, vaultPath));
    }
    t.diagnostic(`${killedMidWrite} of 12 kills left a half-done write behind`);
    assert.ok(existsSync(vaultPath));
    assert.ok(Math.max(...shareSetsSeen) > 1, 'the loop got to commit rekeys between kills');
  });
});

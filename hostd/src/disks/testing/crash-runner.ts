/**
 * Test support, run as a child process by the crash tests: performs one chain operation on a store and prints
 * `step <name>` after each durable step. With MULTIVERSE_DISKS_PAUSE_AT=<step>#<n> it prints `paused <step>#<n>`
 * when it reaches the n-th occurrence of that step and blocks there until the test SIGKILLs it.
 *
 *   node crash-runner.js '{"imagesDir":…,"vmsDir":…,"vm":…,"op":"checkpoint"|"revert"|"delete"|"prune",…}'
 */
import { DiskStore } from '../disk-store.js';

interface RunnerRequest {
  imagesDir: string;
  vmsDir: string;
  vm: string;
  op: 'checkpoint' | 'revert' | 'delete' | 'prune';
  id?: string;
  keep?: number;
  message?: string;
}

const request = JSON.parse(process.argv[2] ?? '{}') as RunnerRequest;
const pauseAt = process.env.MULTIVERSE_DISKS_PAUSE_AT ?? null;
const seen = new Map<string, number>();

function blockForever(): never {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (;;) Atomics.wait(cell, 0, 0);
}

const store = new DiskStore({
  imagesDir: request.imagesDir,
  vmsDir: request.vmsDir,
  onStep: (step) => {
    const occurrence = (seen.get(step) ?? 0) + 1;
    seen.set(step, occurrence);
    process.stdout.write(`step ${step}#${occurrence}\n`);
    if (pauseAt === `${step}#${occurrence}`) {
      process.stdout.write(`paused ${pauseAt}\n`);
      blockForever();
    }
  },
});

switch (request.op) {
  case 'checkpoint':
    await store.checkpoint(request.vm, { message: request.message ?? 'from the crash runner' });
    break;
  case 'revert':
    await store.revert(request.vm, request.id ?? '');
    break;
  case 'delete':
    await store.deleteCheckpoint(request.vm, request.id ?? '');
    break;
  case 'prune':
    await store.prune(request.vm, request.keep ?? 0);
    break;
}
process.stdout.write('done\n');

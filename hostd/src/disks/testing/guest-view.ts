import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import assert from 'node:assert/strict';

/**
 * Test support: reads and writes what a guest would see through a qcow2 chain, with qemu-io. A disk's content is
 * modelled as 64 KiB regions each filled with one byte value (absent from the model: zeros).
 */
const run = promisify(execFile);

export const REGION_BYTES = 64 * 1024;

export type DiskView = ReadonlyMap<number, number>;

export async function writeRegions(image: string, writes: DiskView): Promise<void> {
  const commands = [...writes].flatMap(([region, byte]) => [
    '-c',
    `write -P ${byte} ${region * REGION_BYTES} ${REGION_BYTES}`,
  ]);
  await run('qemu-io', ['-f', 'qcow2', ...commands, image]);
}

/** Asserts that every region in `regions` of `image` (read-only, through its backing chain) matches `expected`. */
export async function assertView(
  image: string,
  expected: DiskView,
  regions: Iterable<number>,
  label = image,
): Promise<void> {
  const checked = [...new Set(regions)].sort((a, b) => a - b);
  const commands = checked.flatMap((region) => [
    '-c',
    `read -P ${expected.get(region) ?? 0} ${region * REGION_BYTES} ${REGION_BYTES}`,
  ]);
  let output: string;
  try {
    output = (await run('qemu-io', ['-r', '-f', 'qcow2', ...commands, image])).stdout;
  } catch (error) {
    output = (error as { stdout?: string }).stdout ?? String(error);
  }
  const failed = [...output.matchAll(/Pattern verification failed at offset (\d+)/g)].map(
    (match) => Number(match[1]) / REGION_BYTES,
  );
  assert.deepEqual(failed, [], `${label}: regions ${failed.join(', ')} differ from the expected content`);
  assert.equal(
    (output.match(/^read \d+\/\d+ bytes/gm) ?? []).length,
    checked.length,
    `${label}: qemu-io read failed: ${output}`,
  );
}

/** The model after applying `writes` on top of `view`. */
export function withWrites(view: DiskView, writes: DiskView): DiskView {
  return new Map([...view, ...writes]);
}

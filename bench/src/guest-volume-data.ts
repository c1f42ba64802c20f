import { createHash } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { DomainConsoleFlags } from '@multiverse/libvirt-ts';
import type { Domain, LibvirtClient } from '@multiverse/libvirt-ts';
import { GuestShellError, guestShellOk, whenGuestShellAnswers } from './guest-shell.js';

const MIB = 1024 ** 2;
/** Writing 500 MiB of /dev/urandom from a TCG guest on a loaded machine: well under this. */
const WRITE_TIMEOUT_MS = 600_000;
const READ_TIMEOUT_MS = 120_000;

/** What a running guest writes into the volume under test, and where (in MiB from the start). */
export interface GuestWrites {
  readonly volumeBytes: number;
  /** Written before the checkpoint, from offset 0. */
  readonly beforeMib: number;
  /** Written after it, right behind the first part: what the revert throws away. */
  readonly afterMib: number;
}

/** Opens the domain's serial console for `use` and closes it after, so that hostd can open it at its next start. */
export async function withGuestConsole<T>(
  client: LibvirtClient,
  domain: Domain,
  use: (console: Duplex) => Promise<T>,
): Promise<T> {
  // The bench alone uses its domains' consoles, one after another; forcing takes over a previous session whose
  // end libvirtd has not processed yet (a plain open then fails with "Active console session exists").
  const console = await client.domainOpenConsole(domain, { flags: [DomainConsoleFlags.FORCE] });
  try {
    await whenGuestShellAnswers(console);
    return await use(console);
  } finally {
    console.destroy();
  }
}

/**
 * The guest's name for the volume under test: its only virtio disk of the volume's size. libvirt's target
 * names (`vdb`, …) are not the guest's: the guest names its disks in the order it finds them.
 */
export async function guestDeviceOfVolume(console: Duplex, volumeBytes: number): Promise<string> {
  const lines = await guestShellOk(
    console,
    'for disk in /sys/block/vd*; do echo "mvbench-disk ${disk##*/} $(cat $disk/size)"; done',
    READ_TIMEOUT_MS,
  );
  const matching = lines
    .map((line) => /^mvbench-disk (vd[a-z]+) (\d+)$/.exec(line))
    .filter((match) => match !== null && Number(match[2]) * 512 === volumeBytes)
    .map((match) => match![1]!);
  if (matching.length !== 1) {
    throw new GuestShellError(
      'BENCH_GUEST_COMMAND_FAILED',
      `the guest has ${matching.length} disks of ${volumeBytes} bytes (${lines.join(' | ')}); the bench needs exactly one`,
    );
  }
  return matching[0]!;
}

/**
 * From inside the guest: writes the random data of the checkpoint's content into `/dev/<device>`
 * (`dd … conv=fsync`, so it has reached the host's file when this returns), and returns the digest of its first
 * MiB, to be found again after the revert.
 */
export async function fillFromGuest(console: Duplex, device: string, writes: GuestWrites): Promise<string> {
  await guestShellOk(
    console,
    `dd if=/dev/urandom of=/dev/${device} bs=1M count=${writes.beforeMib} conv=fsync`,
    WRITE_TIMEOUT_MS,
  );
  return digestFromGuest(console, device, 0, 1);
}

/** From inside the guest: the data written after the checkpoint, behind the first part. */
export async function writeMoreFromGuest(
  console: Duplex,
  device: string,
  writes: GuestWrites,
): Promise<void> {
  await guestShellOk(
    console,
    `dd if=/dev/urandom of=/dev/${device} bs=1M seek=${writes.beforeMib} count=${writes.afterMib} conv=fsync`,
    WRITE_TIMEOUT_MS,
  );
}

/**
 * From inside the reverted guest: the first MiB is what it was at the checkpoint, and the part written after
 * the checkpoint reads as zeros again (the volume was empty there). Throws when the revert lost or kept data.
 */
export async function verifyRevertedFromGuest(
  console: Duplex,
  device: string,
  writes: GuestWrites,
  firstMibDigest: string,
): Promise<void> {
  const first = await digestFromGuest(console, device, 0, 1);
  const after = await digestFromGuest(console, device, writes.beforeMib, writes.afterMib);
  const zeros = createHash('sha256')
    .update(Buffer.alloc(writes.afterMib * MIB))
    .digest('hex');
  if (first !== firstMibDigest || after !== zeros) {
    throw new GuestShellError(
      'BENCH_GUEST_COMMAND_FAILED',
      `after the revert /dev/${device} ${first !== firstMibDigest ? 'lost the data written before the checkpoint' : 'still holds the data written after the checkpoint'}`,
    );
  }
}

async function digestFromGuest(
  console: Duplex,
  device: string,
  offsetMib: number,
  mib: number,
): Promise<string> {
  const lines = await guestShellOk(
    console,
    `dd if=/dev/${device} bs=1M skip=${offsetMib} count=${mib} 2>/dev/null | sha256sum`,
    READ_TIMEOUT_MS,
  );
  const digest = /^([0-9a-f]{64}) /.exec(lines.at(-1) ?? '')?.[1];
  if (digest === undefined) {
    throw new GuestShellError(
      'BENCH_GUEST_COMMAND_FAILED',
      `sha256sum in the guest printed: ${lines.join(' | ')}`,
    );
  }
  return digest;
}

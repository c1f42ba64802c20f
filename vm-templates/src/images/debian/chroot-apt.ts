import { constants } from 'node:fs';
import { copyFile, link, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { buildEnvironment, runBuildCommand } from '../build-command.js';
import { systemErrorCode } from '../image-error.js';
import { aptProgress } from './build-progress.js';

/** Where apt in the tree keeps the packages it downloads. */
const ARCHIVES = 'var/cache/apt/archives';
const DEB_FILE = /^[A-Za-z0-9][A-Za-z0-9_.+~%-]*\.deb$/;
const APT_HINT = 'check that the mirrors are reachable (deb.debian.org), then build again';

export interface ChrootApt {
  readonly tree: string;
  readonly debCache?: string;
  readonly signal?: AbortSignal;
}

/**
 * apt-get inside the tree, without mounting anything: dpkg and the kernel's postinst (which builds
 * the initramfs) do not need /proc. `report` gets the fraction of the command's own work.
 */
export async function aptInTree(
  apt: ChrootApt,
  args: readonly string[],
  report: (detail: string, fraction: number) => void,
): Promise<void> {
  const progress = aptProgress();
  await runBuildCommand(
    'chroot',
    [
      apt.tree,
      'apt-get',
      '--yes',
      '--quiet',
      '--no-install-recommends',
      '-o',
      'Dpkg::Options::=--force-confdef',
      '-o',
      'Dpkg::Options::=--force-confold',
      ...args,
    ],
    {
      env: buildEnvironment({ DEBIAN_FRONTEND: 'noninteractive' }),
      package: 'coreutils',
      hint: APT_HINT,
      onLine: (line) => {
        const step = progress.read(line);
        if (step !== undefined) report(`apt-get ${args[0] ?? ''}: ${step.detail}`, step.fraction);
      },
      ...(apt.signal === undefined ? {} : { signal: apt.signal }),
    },
  );
}

/** Offers apt in the tree every cached .deb (hard links where possible): apt uses those whose hash matches its index. */
export async function seedArchivesFromCache(apt: ChrootApt): Promise<void> {
  if (apt.debCache === undefined) return;
  const archives = join(apt.tree, ARCHIVES);
  for (const name of await debFiles(apt.debCache)) {
    await linkOrCopy(join(apt.debCache, name), join(archives, name));
  }
}

/** Keeps what apt downloaded for the next build, then empties the tree's archive directory. */
export async function saveArchivesToCache(apt: ChrootApt): Promise<void> {
  const archives = join(apt.tree, ARCHIVES);
  if (apt.debCache !== undefined) {
    const cached = new Set(await debFiles(apt.debCache));
    for (const name of await debFiles(archives)) {
      if (!cached.has(name)) await linkOrCopy(join(archives, name), join(apt.debCache, name));
    }
  }
  for (const name of await debFiles(archives)) await rm(join(archives, name));
}

async function debFiles(directory: string): Promise<string[]> {
  try {
    return (await readdir(directory)).filter((name) => DEB_FILE.test(name)).sort();
  } catch (error) {
    if (systemErrorCode(error) === 'ENOENT') return [];
    throw error;
  }
}

async function linkOrCopy(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (error) {
    const code = systemErrorCode(error);
    if (code === 'EEXIST') return;
    if (code !== 'EXDEV' && code !== 'EPERM') throw error;
    await copyFile(from, to, constants.COPYFILE_EXCL);
  }
}

import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { buildEnvironment } from '../build-command.js';
import { ImageError, errorMessage } from '../image-error.js';

const execFileAsync = promisify(execFile);

export interface InstalledDebianPackage {
  readonly name: string;
  readonly version: string;
  readonly architecture: string;
}

/** What the tree's dpkg database says is installed, sorted by name (read by the host's dpkg-query). */
export async function installedPackages(tree: string): Promise<InstalledDebianPackage[]> {
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(
      'dpkg-query',
      [
        `--admindir=${join(tree, 'var/lib/dpkg')}`,
        '--show',
        '--showformat=${db:Status-Status}\\t${Package}\\t${Version}\\t${Architecture}\\n',
      ],
      { env: buildEnvironment(), maxBuffer: 16 * 1024 * 1024 },
    ));
  } catch (error) {
    throw new ImageError(
      'DPKG_QUERY_FAILED',
      `cannot list the packages installed in ${tree}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  return stdout
    .split('\n')
    .filter((line) => line.startsWith('installed\t'))
    .map((line) => {
      const [, name = '', version = '', architecture = ''] = line.split('\t');
      return { name, version, architecture };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export interface MirrorRelease {
  /** The index file apt fetched, e.g. `deb.debian.org_debian_dists_bookworm_InRelease`. */
  readonly index: string;
  readonly suite: string;
  readonly version: string | null;
  readonly date: string;
}

/**
 * The Release headers of the suites apt installed from (suite, point release, date): which state
 * of the mirror the packages came from. Read from the tree's apt lists before they are deleted.
 */
export async function mirrorReleases(tree: string): Promise<MirrorRelease[]> {
  const lists = join(tree, 'var/lib/apt/lists');
  const releases: MirrorRelease[] = [];
  for (const index of (await readdir(lists)).filter((name) => name.endsWith('_InRelease')).sort()) {
    const text = await readFile(join(lists, index), 'utf8');
    const field = (name: string): string | null =>
      new RegExp(`^${name}: (.+)$`, 'm').exec(text)?.[1]?.trim() ?? null;
    releases.push({
      index,
      suite: field('Suite') ?? '',
      version: field('Version'),
      date: field('Date') ?? '',
    });
  }
  return releases;
}

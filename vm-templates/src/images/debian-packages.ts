import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ImageError, errorMessage, systemErrorCode } from './image-error.js';

const execFileAsync = promisify(execFile);

/** Debian's own package name syntax (Debian Policy 5.6.1). */
const PACKAGE_NAME = /^[a-z0-9][a-z0-9+.-]+$/;

export interface InstalledPackage {
  readonly name: string;
  readonly version: string;
  /** The raw Depends field, e.g. `linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)`. */
  readonly depends: string;
}

export interface DpkgQueryOptions {
  /** The dpkg-query executable; the default finds it on PATH. */
  readonly dpkgQuery?: string;
}

/**
 * Looks up an installed Debian package with dpkg-query. A package that is unknown, removed or
 * half-installed is reported as PACKAGE_NOT_INSTALLED with the apt-get command that fixes it.
 */
export async function queryInstalledPackage(
  name: string,
  options: DpkgQueryOptions = {},
): Promise<InstalledPackage> {
  if (!PACKAGE_NAME.test(name)) {
    throw new ImageError('INVALID_OPTION', `${JSON.stringify(name)} is not a valid Debian package name`);
  }
  const executable = options.dpkgQuery ?? 'dpkg-query';
  let stdout: string;
  try {
    ({ stdout } = await execFileAsync(
      executable,
      ['--show', '--showformat=${db:Status-Status}\\t${Version}\\t${Depends}\\n', '--', name],
      { env: { ...process.env, LC_ALL: 'C' } },
    ));
  } catch (error) {
    if (systemErrorCode(error) === 1) throw notInstalled(name);
    throw new ImageError(
      'DPKG_QUERY_FAILED',
      `could not run ${executable} to look up ${name}: ${errorMessage(error)}; the image builder needs a Debian host with dpkg`,
      { cause: error },
    );
  }
  const [status, version, depends, ...rest] = stdout.replace(/\n$/, '').split('\t');
  if (status === undefined || version === undefined || depends === undefined || rest.length > 0) {
    throw new ImageError(
      'DPKG_QUERY_FAILED',
      `unexpected dpkg-query answer for ${name}: ${JSON.stringify(stdout)}`,
    );
  }
  if (status !== 'installed') throw notInstalled(name, status);
  return { name, version, depends };
}

/**
 * The package names of a Depends field, first alternative of each clause first:
 * `a (>= 1) | b, c` gives `[['a', 'b'], ['c']]`.
 */
export function parseDependsField(depends: string): string[][] {
  if (depends.trim() === '') return [];
  return depends.split(',').map((clause) =>
    clause.split('|').map((alternative) => {
      const name = alternative.trim().split(/[\s(:[]/, 1)[0] ?? '';
      if (!PACKAGE_NAME.test(name)) {
        throw new ImageError(
          'DPKG_QUERY_FAILED',
          `cannot parse dependency ${JSON.stringify(alternative.trim())}`,
        );
      }
      return name;
    }),
  );
}

function notInstalled(name: string, status?: string): ImageError {
  const state = status === undefined ? 'is not installed' : `is in dpkg state "${status}", not installed`;
  return new ImageError(
    'PACKAGE_NOT_INSTALLED',
    `Debian package ${name} ${state}; run scripts/setup.sh or \`apt-get install ${name}\``,
  );
}

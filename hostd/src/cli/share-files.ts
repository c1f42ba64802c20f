import { constants } from 'node:fs';
import { access, lstat, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { HandedShare } from '../vault/index.js';
import { UsageError } from './usage-error.js';

/** Where one custodian's share went: its text (to print or copy) and its QR code. */
export interface WrittenShare {
  readonly custodian: string;
  readonly index: number;
  readonly encrypted: boolean;
  readonly textFile: string;
  readonly qrFile: string;
}

/** `share-<set>-<index>-<custodian>.txt|.svg`; the name kept to letters, digits, `.`, `_` and `-`. */
export function shareFilePaths(
  directory: string,
  shareSet: number,
  index: number,
  custodian: string,
): { textFile: string; qrFile: string } {
  const safeName = custodian
    .replace(/[^A-Za-z0-9._-]+/g, '_')
    .replace(/^\.+/, '_')
    .slice(0, 64);
  const base = join(directory, `share-${shareSet}-${index}-${safeName}`);
  return { textFile: `${base}.txt`, qrFile: `${base}.svg` };
}

/**
 * Makes the directory (0700) if needed and checks it is writable, before hostd is asked: shares are shown
 * once, so a directory mvctl cannot write must be found before they exist.
 */
export async function prepareShareDirectory(directory: string, command: string): Promise<void> {
  try {
    await mkdir(directory, { recursive: true, mode: 0o700 });
    await access(directory, constants.W_OK);
  } catch (error) {
    throw new UsageError(
      `cannot write share files into ${directory}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      command,
    );
  }
}

/** Refuses if any share file is there already: an old share must never be overwritten by a new one. */
export async function refuseExistingShareFiles(paths: readonly string[], command: string): Promise<void> {
  for (const path of paths) {
    const there = await lstat(path).then(
      () => true,
      () => false,
    );
    if (there) throw new UsageError(`${path} exists already; choose another --out directory`, command);
  }
}

/** Writes each share's text and QR code, mode 0600, never replacing a file. */
export async function writeShareFiles(
  directory: string,
  shareSet: number,
  shares: readonly HandedShare[],
): Promise<WrittenShare[]> {
  const written: WrittenShare[] = [];
  for (const share of shares) {
    const { textFile, qrFile } = shareFilePaths(directory, shareSet, share.index, share.custodian);
    await writeFile(textFile, share.text, { mode: 0o600, flag: 'wx' });
    await writeFile(qrFile, share.qrSvg, { mode: 0o600, flag: 'wx' });
    written.push({
      custodian: share.custodian,
      index: share.index,
      encrypted: share.encrypted,
      textFile,
      qrFile,
    });
  }
  return written;
}

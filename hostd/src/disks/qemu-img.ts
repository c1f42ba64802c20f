import { execFile, type ExecFileException } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { DiskError } from './errors.js';

export type ImageFormat = 'raw' | 'qcow2';

export interface ImageInfo {
  format: string;
  virtualSizeBytes: number;
  /** LUKS-encrypted qcow2 (qemu-img reads this from the header, without the key). */
  encrypted: boolean;
  /** The backing file as written in the image header (relative names are relative to the image's directory). */
  backingFile: string | null;
  /** `backingFile` resolved to an absolute path, for comparing headers written relative (qemu-img) or absolute (libvirt). */
  backingPath: string | null;
  backingFormat: string | null;
  /** qcow2 external data file, if any: an image that has one reads another host file. */
  dataFile: string | null;
}

/**
 * How qemu-img gets the key of a LUKS-encrypted layer: a file holding the passphrase (never a command-line
 * argument: `ps` shows those to every user), read by a `secret` object. `depth` is how many encrypted layers lie
 * below the image being opened: each needs the key named at its own level (`backing.encrypt.key-secret`, …),
 * and qemu-img refuses options for levels that do not exist.
 */
export interface LayerKey {
  readonly file: string;
  readonly depth: number;
}

/** Key-derivation time of a new LUKS key slot: see encryptionOptions. */
const LUKS_ITER_TIME_MS = 100;
const KEY_SECRET_ID = 'mv-disk-key';
const CPU_TIMING_FAILURE = 'Unable to get accurate CPU usage';
const MAX_ENCRYPTED_CREATE_ATTEMPTS = 10;
const ENCRYPTED_CREATE_BACKOFF_MS = 50;

export interface CheckResult {
  corruptions: number;
  leaks: number;
  checkErrors: number;
}

const infoSchema = z.object({
  format: z.string(),
  'virtual-size': z.number().int().nonnegative(),
  encrypted: z.boolean().optional(),
  'backing-filename': z.string().optional(),
  'backing-filename-format': z.string().optional(),
  'format-specific': z
    .object({ data: z.object({ 'data-file': z.string().optional() }).loose() })
    .loose()
    .optional(),
});

const checkSchema = z.object({
  corruptions: z.number().int().optional(),
  leaks: z.number().int().optional(),
  'check-errors': z.number().int(),
});

/** `qemu-img check` exit statuses that still carry a complete JSON report (2: corruptions, 3: leaks only). */
const CHECK_REPORT_STATUSES = new Set([0, 2, 3]);

/**
 * The qemu-img commands the disk layer needs. Always an argument array (execFile, never a shell), and always an
 * explicit `-f`/`-F`: format probing on an image a guest could write is how a raw disk turns into a qcow2 header
 * pointing at a host file.
 */
export class QemuImg {
  constructor(private readonly binary = 'qemu-img') {}

  /** An empty qcow2; with `key`, LUKS-encrypted with that passphrase. */
  async createBlank(path: string, sizeBytes: number, key?: LayerKey): Promise<void> {
    if (key === undefined) {
      await this.run(['create', '-q', '-f', 'qcow2', path, String(sizeBytes)]);
      return;
    }
    await this.createEncrypted([
      'create',
      '-q',
      '-f',
      'qcow2',
      ...encryptionOptions(key),
      path,
      String(sizeBytes),
    ]);
  }

  /**
   * A qcow2 overlay on `backingFile` (stored in the header as given: relative names resolve beside `path`);
   * `sizeBytes` makes it larger than the backing image (never smaller). With `key` the overlay is LUKS-encrypted
   * and made with `-u` at the given size: qemu-img then never opens the backing chain, so layers below need no key.
   */
  async createOverlay(path: string, backingFile: string, sizeBytes?: number, key?: LayerKey): Promise<void> {
    const size = sizeBytes === undefined ? [] : [String(sizeBytes)];
    if (key === undefined) {
      await this.run(['create', '-q', '-f', 'qcow2', '-b', backingFile, '-F', 'qcow2', path, ...size]);
      return;
    }
    if (sizeBytes === undefined)
      throw new RangeError('an encrypted overlay needs its size: it is made with -u');
    await this.createEncrypted([
      'create',
      '-q',
      '-f',
      'qcow2',
      ...encryptionOptions(key),
      '-u',
      '-b',
      backingFile,
      '-F',
      'qcow2',
      path,
      String(sizeBytes),
    ]);
  }

  /**
   * qemu-img times a new LUKS key slot's derivation with the thread's CPU time; on a tick-accounted kernel a short,
   * busy run can measure 0 ms and it gives up with qemu's own message (crypto/pbkdf.c). Another try measures again.
   */
  private async createEncrypted(args: string[]): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        await this.run(args);
        return;
      } catch (error) {
        const timing = error instanceof DiskError && error.message.includes(CPU_TIMING_FAILURE);
        if (!timing || attempt === MAX_ENCRYPTED_CREATE_ATTEMPTS) throw error;
        // Failures come in runs while the machine is busy: later tries wait a little longer each.
        await sleep(ENCRYPTED_CREATE_BACKOFF_MS * attempt);
      }
    }
  }

  /**
   * `forceShare` reads the header of an image another process (a running QEMU) has open for writing: fine for the
   * backing-file name, which QEMU does not rewrite while it runs.
   */
  async info(path: string, format: ImageFormat, options: { forceShare?: boolean } = {}): Promise<ImageInfo> {
    const share = options.forceShare === true ? ['-U'] : [];
    const { stdout } = await this.run(['info', '--output=json', ...share, '-f', format, path]);
    const parsed = infoSchema.safeParse(parseJson(stdout));
    if (!parsed.success) {
      throw new DiskError(
        'QEMU_IMG_FAILED',
        `qemu-img info ${path} printed an unexpected report: ${parsed.error.message}.`,
      );
    }
    const info = parsed.data;
    const backingFile = info['backing-filename'] ?? null;
    const backingName = backingFile === null ? null : (fileNamedByJson(backingFile) ?? backingFile);
    return {
      format: info.format,
      virtualSizeBytes: info['virtual-size'],
      encrypted: info.encrypted === true,
      backingFile,
      backingPath: backingName === null ? null : resolve(dirname(path), backingName),
      backingFormat: info['backing-filename-format'] ?? null,
      dataFile: info['format-specific']?.data['data-file'] ?? null,
    };
  }

  /**
   * Safe rebase: copies into `path` every cluster whose guest-visible content would change, then points its header
   * at `newBackingFile` (null: no backing file at all), so the image reads the same before and after.
   *
   * `-t writethrough` matters for crashes: qemu-img rewrites the header as soon as the copy loop ends, before it
   * flushes its qcow2 metadata cache on close. In writeback mode a SIGKILL in that window would leave a header
   * that already names the new backing file but L2 tables that don't yet map the copied clusters. Writethrough
   * flushes data and metadata after every write, so the header switch is the last thing to reach the file.
   */
  async rebase(
    path: string,
    newBackingFile: string | null,
    key?: LayerKey & { newDepth: number },
  ): Promise<void> {
    if (key === undefined) {
      const backing = newBackingFile === null ? ['-b', ''] : ['-b', newBackingFile, '-F', 'qcow2'];
      await this.run(['rebase', '-q', '-t', 'writethrough', '-f', 'qcow2', ...backing, path]);
      return;
    }
    // qemu-img 7.2 opens the new backing file with its format alone, so an encrypted one cannot be given by name:
    // it is given as a json: description carrying the key's id for it and its own chain, which qemu-img writes
    // into the header as it is. A second, header-only rebase then writes the plain relative name. A crash between
    // the two leaves a header whose json names the right file: `info` resolves it, recovery finishes the rename.
    const backing =
      newBackingFile === null
        ? ['-b', '']
        : ['-b', jsonBackingName(resolve(dirname(path), newBackingFile), key.newDepth), '-F', 'qcow2'];
    await this.run([
      'rebase',
      '-q',
      '-t',
      'writethrough',
      ...keyObject(key),
      '--image-opts',
      imageOptions(path, key.depth),
      ...backing,
    ]);
    if (newBackingFile !== null) await this.setBackingName(path, newBackingFile, key);
  }

  /**
   * Rewrites only the header's backing-file name (`rebase -u`, which opens no backing file: the key is needed for
   * this layer alone): the data and the file it names stay the same.
   */
  async setBackingName(path: string, backingFile: string, key: LayerKey): Promise<void> {
    await this.run([
      'rebase',
      '-q',
      '-u',
      ...keyObject(key),
      '--image-opts',
      imageOptions(path, 0),
      '-b',
      backingFile,
      '-F',
      'qcow2',
    ]);
  }

  async convertToQcow2(source: string, sourceFormat: ImageFormat, target: string): Promise<void> {
    await this.run(['convert', '-q', '-f', sourceFormat, '-O', 'qcow2', source, target]);
  }

  async check(path: string, options: { repairLeaks: boolean }, key?: LayerKey): Promise<CheckResult> {
    const repair = options.repairLeaks ? ['-r', 'leaks'] : [];
    const image =
      key === undefined
        ? ['-f', 'qcow2', path]
        : [...keyObject(key), '--image-opts', imageOptions(path, key.depth)];
    const { stdout } = await this.run(['check', '--output=json', ...repair, ...image], CHECK_REPORT_STATUSES);
    const parsed = checkSchema.safeParse(parseJson(stdout));
    if (!parsed.success) {
      throw new DiskError(
        'QEMU_IMG_FAILED',
        `qemu-img check ${path} printed an unexpected report: ${parsed.error.message}.`,
      );
    }
    return {
      corruptions: parsed.data.corruptions ?? 0,
      leaks: parsed.data.leaks ?? 0,
      checkErrors: parsed.data['check-errors'],
    };
  }

  private run(args: string[], acceptedStatuses = new Set([0])): Promise<{ stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      execFile(this.binary, args, { maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
        if (error === null || (typeof error.code === 'number' && acceptedStatuses.has(error.code))) {
          resolve({ stdout, stderr });
          return;
        }
        reject(describeFailure(this.binary, args, error, stderr));
      });
    });
  }
}

function describeFailure(
  binary: string,
  args: string[],
  error: ExecFileException,
  stderr: string,
): DiskError {
  const command = `${binary} ${args.join(' ')}`;
  if (error.code === 'ENOENT') {
    return new DiskError(
      'QEMU_IMG_FAILED',
      `${binary} was not found: install qemu-utils (apt-get install qemu-utils).`,
      {
        cause: error,
      },
    );
  }
  const detail = stderr.trim() || error.message;
  if (/Failed to get .*lock/.test(detail)) {
    return new DiskError(
      'DISK_IN_USE',
      `${command} failed because another process holds the image open (${detail}). Stop the VM using it (or wait for a previous qemu-img to finish) and try again.`,
      { cause: error },
    );
  }
  return new DiskError(
    'QEMU_IMG_FAILED',
    `${command} failed: ${detail}. Check the image with qemu-img check.`,
    {
      cause: error,
    },
  );
}

/**
 * `-o encrypt.*` for a new LUKS layer. Key derivation runs 100 ms, not qemu-img's 2 s: the passphrase is 256
 * random bits, which no derivation cost makes safer, and QEMU pays it for every layer at every VM start.
 */
function encryptionOptions(key: LayerKey): string[] {
  return [
    ...keyObject(key),
    '-o',
    `encrypt.format=luks,encrypt.key-secret=${KEY_SECRET_ID},encrypt.iter-time=${LUKS_ITER_TIME_MS}`,
  ];
}

function keyObject(key: LayerKey): string[] {
  return ['--object', `secret,id=${KEY_SECRET_ID},file=${key.file},format=raw`];
}

/**
 * `--image-opts` for an encrypted layer and the `depth` encrypted layers below it, all with the one key. File
 * names go through QEMU's option syntax, where a comma is escaped by doubling it.
 */
function imageOptions(path: string, depth: number): string {
  const options = [`driver=qcow2`, `file.filename=${path.replaceAll(',', ',,')}`];
  for (let level = 0; level <= depth; level += 1) {
    options.push(`${'backing.'.repeat(level)}encrypt.key-secret=${KEY_SECRET_ID}`);
  }
  return options.join(',');
}

/** A backing file given as a json: description of an encrypted qcow2 chain, so qemu-img can open it. */
function jsonBackingName(path: string, depth: number): string {
  const description: Record<string, unknown> = {
    driver: 'qcow2',
    file: { driver: 'file', filename: path },
  };
  for (let level = 0; level <= depth; level += 1) {
    description[`${'backing.'.repeat(level)}encrypt.key-secret`] = KEY_SECRET_ID;
  }
  return `json:${JSON.stringify(description)}`;
}

/** The file a `json:` backing name (written by an encrypted rebase) describes; undefined for a plain name. */
function fileNamedByJson(backingFile: string): string | undefined {
  if (!backingFile.startsWith('json:')) return undefined;
  const parsed = z
    .object({ file: z.object({ filename: z.string() }).loose() })
    .loose()
    .safeParse(parseJson(backingFile.slice('json:'.length)));
  return parsed.success ? parsed.data.file.filename : undefined;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

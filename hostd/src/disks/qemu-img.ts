import { execFile, type ExecFileException } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { z } from 'zod';
import { DiskError } from './errors.js';

export type ImageFormat = 'raw' | 'qcow2';

export interface ImageInfo {
  format: string;
  virtualSizeBytes: number;
  /** The backing file as written in the image header (relative names are relative to the image's directory). */
  backingFile: string | null;
  /** `backingFile` resolved to an absolute path, for comparing headers written relative (qemu-img) or absolute (libvirt). */
  backingPath: string | null;
  backingFormat: string | null;
  /** qcow2 external data file, if any: an image that has one reads another host file. */
  dataFile: string | null;
}

export interface CheckResult {
  corruptions: number;
  leaks: number;
  checkErrors: number;
}

const infoSchema = z.object({
  format: z.string(),
  'virtual-size': z.number().int().nonnegative(),
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

  async createBlank(path: string, sizeBytes: number): Promise<void> {
    await this.run(['create', '-q', '-f', 'qcow2', path, String(sizeBytes)]);
  }

  /** A qcow2 overlay on `backingFile` (stored in the header as given: relative names resolve beside `path`). */
  /** A qcow2 overlay on `backingFile`; `sizeBytes` makes it larger than the backing image (never smaller). */
  async createOverlay(path: string, backingFile: string, sizeBytes?: number): Promise<void> {
    const size = sizeBytes === undefined ? [] : [String(sizeBytes)];
    await this.run(['create', '-q', '-f', 'qcow2', '-b', backingFile, '-F', 'qcow2', path, ...size]);
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
    return {
      format: info.format,
      virtualSizeBytes: info['virtual-size'],
      backingFile,
      backingPath: backingFile === null ? null : resolve(dirname(path), backingFile),
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
  async rebase(path: string, newBackingFile: string | null): Promise<void> {
    const backing = newBackingFile === null ? ['-b', ''] : ['-b', newBackingFile, '-F', 'qcow2'];
    await this.run(['rebase', '-q', '-t', 'writethrough', '-f', 'qcow2', ...backing, path]);
  }

  async convertToQcow2(source: string, sourceFormat: ImageFormat, target: string): Promise<void> {
    await this.run(['convert', '-q', '-f', sourceFormat, '-O', 'qcow2', source, target]);
  }

  async check(path: string, options: { repairLeaks: boolean }): Promise<CheckResult> {
    const repair = options.repairLeaks ? ['-r', 'leaks'] : [];
    const { stdout } = await this.run(
      ['check', '--output=json', '-f', 'qcow2', ...repair, path],
      CHECK_REPORT_STATUSES,
    );
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

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

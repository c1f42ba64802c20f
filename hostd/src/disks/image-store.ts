import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { chmod, copyFile, mkdir, readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { DiskError, isNodeError } from './errors.js';
import { fsyncPath, renameDurably } from '../durable-fs.js';
import { assertImageName, formatImageRef, parseImageRef, type ImageRef } from './names.js';
import type { ImageFormat, QemuImg } from './qemu-img.js';

export interface StoredImage {
  ref: ImageRef;
  path: string;
  sizeBytes: number;
}

export interface ImportImageRequest {
  name: string;
  /** The file to import; it is read, never modified. */
  source: string;
  /** Stated, never probed: probing trusts whatever header the file's author wrote. */
  format: ImageFormat;
}

const STORED_IMAGE_FILE = /^([A-Za-z0-9][A-Za-z0-9_.-]{0,63})@([0-9a-f]{64})\.qcow2$/;

/**
 * Base images: read-only qcow2 files named by the sha256 of their bytes (`<dir>/<name>@<sha256>.qcow2`). They are
 * written once by `import` and never modified; VMs see them only as the backing file of their root overlay.
 */
export class ImageStore {
  /** Files hashed by this process, keyed by path, valued by the stat fields that any modification changes. */
  private readonly verified = new Map<string, string>();

  constructor(
    readonly dir: string,
    private readonly qemuImg: QemuImg,
  ) {}

  pathOf(ref: ImageRef): string {
    return join(this.dir, `${formatImageRef(ref)}.qcow2`);
  }

  /**
   * Converts a raw image to qcow2 (a qcow2 image is copied as is), hashes the result and renames it into place
   * read-only. Importing the same content twice returns the same reference.
   */
  async import(request: ImportImageRequest): Promise<ImageRef> {
    const name = assertImageName(request.name);
    if (request.format !== 'raw' && request.format !== 'qcow2') {
      throw new DiskError(
        'IMAGE_SOURCE_INVALID',
        `unsupported image format ${JSON.stringify(request.format)}: use raw or qcow2.`,
      );
    }
    await mkdir(this.dir, { recursive: true });
    const info = await this.qemuImg.info(request.source, request.format);
    if (info.backingFile !== null || info.dataFile !== null) {
      throw new DiskError(
        'IMAGE_SOURCE_INVALID',
        `${request.source} refers to another file (${info.backingFile ?? info.dataFile ?? ''}): a base image must be self-contained. Flatten it first (qemu-img convert -O qcow2).`,
      );
    }

    const staging = join(this.dir, `.import-${name}-${randomBytes(6).toString('hex')}.qcow2`);
    try {
      if (request.format === 'raw') {
        await this.qemuImg.convertToQcow2(request.source, 'raw', staging);
      } else {
        await copyFile(request.source, staging);
        const check = await this.qemuImg.check(staging, { repairLeaks: false });
        if (check.corruptions > 0 || check.checkErrors > 0) {
          throw new DiskError(
            'IMAGE_SOURCE_INVALID',
            `${request.source} is a damaged qcow2 image (${check.corruptions} corruptions). Repair or rebuild it, then import again.`,
          );
        }
      }
      const ref: ImageRef = { name, sha256: await sha256File(staging) };
      await chmod(staging, 0o444);
      await fsyncPath(staging);
      const target = this.pathOf(ref);
      if (await this.holdsIntactCopy(ref)) {
        await unlink(staging);
      } else {
        await renameDurably(staging, target);
      }
      this.verified.set(target, await statFingerprint(target));
      return ref;
    } catch (error) {
      await unlink(staging).catch(() => undefined);
      throw error;
    }
  }

  /** Throws IMAGE_NOT_FOUND unless the image file exists. Costs one stat, whatever the image's size. */
  async assertPresent(ref: ImageRef): Promise<void> {
    try {
      await stat(this.pathOf(ref));
    } catch (error) {
      if (isNodeError(error, 'ENOENT')) {
        throw new DiskError(
          'IMAGE_NOT_FOUND',
          `base image ${formatImageRef(ref)} is not in ${this.dir}. Import or build it first (mvctl image list shows what is there).`,
        );
      }
      throw error;
    }
  }

  /**
   * Re-hashes the image unless this process already hashed the very same file (same inode, size, mtime and
   * ctime: a write or chmod changes ctime), and throws DISK_BASE_HASH_MISMATCH if the bytes differ from its name.
   */
  async verify(ref: ImageRef): Promise<void> {
    await this.assertPresent(ref);
    const path = this.pathOf(ref);
    const fingerprint = await statFingerprint(path);
    if (this.verified.get(path) === fingerprint) return;
    const actual = await sha256File(path);
    if (actual !== ref.sha256) {
      this.verified.delete(path);
      throw new DiskError(
        'DISK_BASE_HASH_MISMATCH',
        `base image ${formatImageRef(ref)} has been modified (its content hashes to ${actual}). VMs on it cannot start: delete the file and import or build the image again.`,
      );
    }
    this.verified.set(path, fingerprint);
  }

  async list(): Promise<StoredImage[]> {
    let entries: string[];
    try {
      entries = await readdir(this.dir);
    } catch (error) {
      if (isNodeError(error, 'ENOENT')) return [];
      throw error;
    }
    const images: StoredImage[] = [];
    for (const entry of entries.sort()) {
      const match = STORED_IMAGE_FILE.exec(entry);
      if (match === null) continue;
      const ref = parseImageRef(`${match[1]}@${match[2]}`);
      const path = this.pathOf(ref);
      images.push({ ref, path, sizeBytes: (await stat(path)).size });
    }
    return images;
  }

  private async holdsIntactCopy(ref: ImageRef): Promise<boolean> {
    try {
      await this.verify(ref);
      return true;
    } catch (error) {
      if (
        error instanceof DiskError &&
        (error.code === 'IMAGE_NOT_FOUND' || error.code === 'DISK_BASE_HASH_MISMATCH')
      ) {
        return false;
      }
      throw error;
    }
  }
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path, { highWaterMark: 1024 * 1024 }), hash);
  return hash.digest('hex');
}

async function statFingerprint(path: string): Promise<string> {
  const info = await stat(path, { bigint: true });
  return [info.dev, info.ino, info.size, info.mtimeNs, info.ctimeNs].join(':');
}

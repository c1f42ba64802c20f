import { z } from 'zod';
import { DiskError } from './errors.js';
import { readJsonRecord } from './json-record-file.js';
import { writeFileDurably } from '../durable-fs.js';
import { isLayerId, parseImageRef } from './names.js';

/**
 * The truth about one VM's disks, in `<vmDir>/disks.json`. Kept small and flat so the same record can be mirrored
 * into the domain XML's metadata. Layer files are named `<layer id>.qcow2`; a checkpoint's id is the id of the
 * layer it froze, so the chain is `checkpoints[0] <- … <- checkpoints[n-1] <- top`.
 */
export interface CheckpointRecord {
  id: string;
  createdAt: string;
  message: string;
  pinned: boolean;
}

export interface PrivateChain {
  sizeBytes: number;
  /** Frozen layers, oldest first; the first has no backing file. */
  checkpoints: CheckpointRecord[];
  /** The writable layer, backed by the newest checkpoint. */
  top: string;
}

export interface DiskManifest {
  format: 1;
  vm: string;
  /** Bumped by every write, so a mirror (libvirt metadata) can tell which copy is newer. */
  generation: number;
  /** `name@sha256` of the base image the root volume overlays at every start; null: the VM has no root volume. */
  base: string | null;
  /** Virtual size of the root overlay made at every start; null or absent: the base image's own size. */
  rootSizeBytes?: number | null;
  volatileSizeBytes: number | null;
  /** Unpinned checkpoints kept after each new checkpoint (older ones are merged away); null: no limit. */
  keepUnpinned: number | null;
  private: PrivateChain | null;
  /**
   * Every layer the VM writes (root overlay, private layers, volatile) is LUKS-encrypted with the one key of this
   * libvirt secret, whose passphrase is the vault's `luks/<secretUuid>`. Absent or null: plain qcow2.
   */
  encryption?: DiskEncryption | null;
}

export interface DiskEncryption {
  format: 'luks';
  secretUuid: string;
}

const layerId = z.string().refine(isLayerId, { message: 'not a layer id' });

const checkpointSchema = z.object({
  id: layerId,
  createdAt: z.iso.datetime(),
  message: z.string().max(1000),
  pinned: z.boolean(),
});

const manifestSchema = z.object({
  format: z.literal(1),
  vm: z.string().min(1),
  generation: z.number().int().nonnegative(),
  base: z
    .string()
    .refine(
      (value) => {
        try {
          parseImageRef(value);
          return true;
        } catch {
          return false;
        }
      },
      { message: 'not NAME@SHA256' },
    )
    .nullable(),
  rootSizeBytes: z.number().int().positive().nullable().optional(),
  volatileSizeBytes: z.number().int().positive().nullable(),
  keepUnpinned: z.number().int().nonnegative().nullable(),
  private: z
    .object({
      sizeBytes: z.number().int().positive(),
      checkpoints: z.array(checkpointSchema),
      top: layerId,
    })
    .nullable(),
  encryption: z
    .object({
      format: z.literal('luks'),
      secretUuid: z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/),
    })
    .nullable()
    .optional(),
});

export async function readManifest(path: string): Promise<DiskManifest | null> {
  const manifest: DiskManifest | null = await readJsonRecord(path, manifestSchema, {
    code: 'MANIFEST_INVALID',
    what: 'disk manifest',
    remedy: 'Restore it from a backup of the VM.',
  });
  if (manifest === null) return null;
  const layers =
    manifest.private === null ? [] : [...manifest.private.checkpoints.map((c) => c.id), manifest.private.top];
  if (new Set(layers).size !== layers.length) {
    throw new DiskError(
      'MANIFEST_INVALID',
      `${path} names a layer twice. Restore it from a backup of the VM.`,
    );
  }
  return manifest;
}

/** Writes the manifest atomically with the next generation number and returns what was written. */
export async function writeManifest(path: string, manifest: DiskManifest): Promise<DiskManifest> {
  const next: DiskManifest = { ...manifest, generation: manifest.generation + 1 };
  await writeFileDurably(path, JSON.stringify(next, null, 2) + '\n');
  return next;
}

import { createHash } from 'node:crypto';
import { z } from 'zod';

export const MANIFEST_FILE_NAME = 'manifest.json';
export const MANIFEST_FORMAT = 'multiverse-image/v1';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

const SHA256_HEX = /^[0-9a-f]{64}$/;
/** Image names become directory names (`<name>@<sha256>`), so they stay short and plain. */
export const IMAGE_NAME = /^[a-z][a-z0-9-]{0,31}$/;
/** File names inside an image directory: no separators, no hidden files. */
export const IMAGE_FILE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}$/;

const imageFileNameSchema = z
  .string()
  .regex(IMAGE_FILE_NAME)
  .refine((name) => name !== MANIFEST_FILE_NAME, 'the manifest cannot list itself');

/**
 * The disk a guest's root volume is a copy-on-write overlay on (`root=/dev/vda` in the kernel
 * arguments). Absent for images that run from their initramfs alone (tiny).
 */
const rootDiskSchema = z.strictObject({
  file: imageFileNameSchema,
  format: z.literal('qcow2'),
  /** The disk's size as the guest sees it; an overlay must be at least this large. */
  virtualSizeBytes: z.number().int().positive(),
});

/** How a guest boots from this image: libvirt's direct kernel boot (`<os><kernel/><initrd/><cmdline/>`). */
const bootSchema = z.strictObject({
  kernel: imageFileNameSchema,
  initramfs: imageFileNameSchema,
  kernelArguments: z.string().max(4096),
  rootDisk: rootDiskSchema.optional(),
});

const fileSchema = z.strictObject({
  name: imageFileNameSchema,
  sha256: z.string().regex(SHA256_HEX),
  size: z.number().int().nonnegative(),
});

export const imageManifestSchema = z.strictObject({
  format: z.literal(MANIFEST_FORMAT),
  name: z.string().regex(IMAGE_NAME),
  /** sha256 of the image's content descriptor (name, boot, files): the `<sha256>` of the directory name. */
  id: z.string().regex(SHA256_HEX),
  boot: bootSchema,
  /** Every file of the image except the manifest, sorted by name. */
  files: z.array(fileSchema).min(1),
  /** sha256 of the build inputs: equal digests build byte-identical images, so it keys the cache. */
  inputsDigest: z.string().regex(SHA256_HEX),
  /**
   * What the image was built from (package versions, input hashes); recipe-specific. Holds what
   * was pinned before the build and what the build itself chose (e.g. the packages debootstrap
   * installed).
   */
  inputs: z.record(z.string(), z.json()),
  builtAt: z.iso.datetime(),
});

export type ImageBoot = z.infer<typeof bootSchema>;
export type ImageRootDisk = z.infer<typeof rootDiskSchema>;
export type ImageFileRecord = z.infer<typeof fileSchema>;
export type ImageManifest = z.infer<typeof imageManifestSchema>;

/**
 * The image id: sha256 over what the image *is* (its name, how it boots, its files' hashes), not
 * over when or where it was built, so two builds from the same inputs share one id and directory.
 */
export function computeImageId(descriptor: {
  readonly name: string;
  readonly boot: ImageBoot;
  readonly files: readonly ImageFileRecord[];
}): string {
  const canonical = canonicalJson({
    format: MANIFEST_FORMAT,
    name: descriptor.name,
    boot: descriptor.boot,
    files: [...descriptor.files].sort(compareByName),
  });
  return sha256Hex(canonical);
}

/** sha256 of a JSON value in canonical form (object keys sorted), for digests of structured inputs. */
export function digestJson(value: JsonValue): string {
  return sha256Hex(canonicalJson(value));
}

export function serializeManifest(manifest: ImageManifest): string {
  return `${JSON.stringify(manifest, null, 2)}\n`;
}

export function compareByName(a: { readonly name: string }, b: { readonly name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

function canonicalJson(value: JsonValue): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return `{${keys.map((key) => `${JSON.stringify(key)}:${canonicalJson(value[key] as JsonValue)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text, 'utf8').digest('hex');
}

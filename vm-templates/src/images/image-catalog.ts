import { lstat, readdir } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { z } from 'zod';
import { DEBIAN_IMAGE_NAME, buildDebianImage } from './debian/debian-recipe.js';
import { ImageError, errorMessage, systemErrorCode } from './image-error.js';
import { IMAGE_REF_PATTERN, readManifest, verifyImage } from './image-store.js';
import type { ImageBuildProgress, InstalledImage, VerifiedImage } from './image-store.js';
import type { ImageManifest } from './image-manifest.js';
import { TINY_IMAGE_NAME, buildTinyImage } from './tiny/tiny-recipe.js';

/** The images Multiverse can build, by the name `mvctl image build NAME` takes. */
export const BUILDABLE_IMAGES = [TINY_IMAGE_NAME, DEBIAN_IMAGE_NAME] as const;
export type BuildableImage = (typeof BUILDABLE_IMAGES)[number];

const absolutePath = z
  .string()
  .max(4096)
  .refine((path) => isAbsolute(path) && !/[\n\0]/.test(path), 'an absolute path');

const buildRequestSchema = z.strictObject({
  name: z.enum(BUILDABLE_IMAGES, { error: `one of ${BUILDABLE_IMAGES.join(', ')}` }),
  imagesDirectory: absolutePath,
  /** Downloads kept between builds (the Debian image's .debs); tiny ignores it. */
  cacheDirectory: absolutePath.optional(),
  /** Return the installed image built from the same inputs instead of building again (default true). */
  reuseCached: z.boolean().optional(),
});

export interface BuildImageRequest {
  readonly name: string;
  readonly imagesDirectory: string;
  readonly cacheDirectory?: string;
  readonly reuseCached?: boolean;
  readonly onProgress?: (progress: ImageBuildProgress) => void;
  readonly signal?: AbortSignal;
}

export interface BuiltImage extends InstalledImage {
  /** `name@sha256`, what templates pin and VM metadata records. */
  readonly ref: string;
}

/**
 * Builds the image called `name` (or returns the one already built from the same inputs): the entry
 * point of `mvctl image build NAME`. Every option is validated first (INVALID_OPTION, UNKNOWN_IMAGE).
 */
export async function buildImageByName(request: BuildImageRequest): Promise<BuiltImage> {
  const { onProgress, signal, ...checked } = request;
  const parsed = buildRequestSchema.safeParse(checked);
  if (!parsed.success) {
    const unknownName = parsed.error.issues.some((issue) => issue.path[0] === 'name');
    const problems = parsed.error.issues.map(
      (issue) => `${issue.path.join('.') || 'request'}: ${issue.message}`,
    );
    throw new ImageError(
      unknownName ? 'UNKNOWN_IMAGE' : 'INVALID_OPTION',
      `cannot build image ${JSON.stringify(request.name)}: ${problems.join('; ')}`,
    );
  }
  const { name, imagesDirectory, cacheDirectory, reuseCached } = parsed.data;
  const store = {
    imagesDirectory,
    ...(onProgress === undefined ? {} : { onProgress }),
    ...(signal === undefined ? {} : { signal }),
    ...(reuseCached === undefined ? {} : { reuseCached }),
  };
  const image =
    name === DEBIAN_IMAGE_NAME
      ? await buildDebianImage({ ...store, ...(cacheDirectory === undefined ? {} : { cacheDirectory }) })
      : await buildTinyImage(store);
  return { ...image, ref: `${image.manifest.name}@${image.manifest.id}` };
}

export interface ListedImage {
  readonly ref: string;
  readonly name: string;
  readonly id: string;
  readonly directory: string;
  /** From the manifest; null when the manifest cannot be read. */
  readonly builtAt: string | null;
  /** Bytes of the image's files on disk. */
  readonly sizeBytes: number;
  /** Why the image is unusable (unreadable or malformed manifest), or null. Listing does not re-hash: verify does. */
  readonly problem: string | null;
}

/**
 * The images installed in `imagesDirectory`, sorted by reference, each with what its manifest says.
 * Cheap (no hashing); an image whose manifest is broken is listed with the problem. Build and
 * scratch directories of running or crashed builds (`.build-*`, `.scratch-*`) are not images.
 */
export async function listImages(imagesDirectory: string): Promise<ListedImage[]> {
  requireAbsolute(imagesDirectory);
  let entries: string[];
  try {
    entries = await readdir(imagesDirectory);
  } catch (error) {
    if (systemErrorCode(error) === 'ENOENT') return [];
    throw new ImageError('INVALID_OPTION', `cannot list ${imagesDirectory}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  const images: ListedImage[] = [];
  for (const entry of entries.sort()) {
    const match = IMAGE_REF_PATTERN.exec(entry);
    if (match === null) continue;
    const directory = join(imagesDirectory, entry);
    if (!(await lstat(directory)).isDirectory()) continue;
    let manifest: ImageManifest | undefined;
    let problem: string | null = null;
    try {
      manifest = await readManifest(directory);
    } catch (error) {
      problem = errorMessage(error);
    }
    images.push({
      ref: entry,
      name: match[1] as string,
      id: match[2] as string,
      directory,
      builtAt: manifest?.builtAt ?? null,
      sizeBytes: await directorySize(directory),
      problem,
    });
  }
  return images;
}

/**
 * Re-hashes every file of the image `ref` (`name@sha256`) in `imagesDirectory` against its
 * manifest: the entry point of `mvctl image verify REF`. IMAGE_NOT_FOUND when it is not installed,
 * IMAGE_TAMPERED naming the file that differs.
 */
export async function verifyImageRef(imagesDirectory: string, ref: string): Promise<VerifiedImage> {
  requireAbsolute(imagesDirectory);
  if (!IMAGE_REF_PATTERN.test(ref)) {
    throw new ImageError(
      'INVALID_OPTION',
      `${JSON.stringify(ref)} is not an image reference (NAME@SHA256, 64 hex digits)`,
    );
  }
  const directory = join(imagesDirectory, ref);
  try {
    await lstat(directory);
  } catch (error) {
    if (systemErrorCode(error) !== 'ENOENT') throw error;
    throw new ImageError(
      'IMAGE_NOT_FOUND',
      `image ${ref} is not installed in ${imagesDirectory}; list what is there (mvctl image list) or build it (mvctl image build ${ref.slice(0, ref.indexOf('@'))})`,
    );
  }
  return verifyImage(directory);
}

function requireAbsolute(imagesDirectory: string): void {
  if (!isAbsolute(imagesDirectory)) {
    throw new ImageError(
      'INVALID_OPTION',
      `imagesDirectory must be an absolute path, got ${imagesDirectory}`,
    );
  }
}

async function directorySize(directory: string): Promise<number> {
  let total = 0;
  for (const name of await readdir(directory)) {
    const stats = await lstat(join(directory, name));
    if (stats.isFile()) total += stats.size;
  }
  return total;
}

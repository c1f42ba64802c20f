import { constants } from 'node:fs';
import { chmod, lstat, mkdir, mkdtemp, open, readFile, readdir, rename } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { ImageError, errorMessage, systemErrorCode } from './image-error.js';
import { removeBuildTree } from './build-tree.js';
import { digestFile } from './file-digest.js';
import {
  IMAGE_FILE_NAME,
  IMAGE_NAME,
  MANIFEST_FILE_NAME,
  MANIFEST_FORMAT,
  compareByName,
  computeImageId,
  imageManifestSchema,
  serializeManifest,
} from './image-manifest.js';
import type { ImageBoot, ImageFileRecord, ImageManifest } from './image-manifest.js';
import type { ImageRecipe, ProducedImage } from './image-recipe.js';

export type ImageBuildStep = 'resolve-inputs' | 'reuse-cached' | 'produce' | 'hash' | 'install' | 'done';

export interface ImageBuildProgress {
  readonly image: string;
  readonly step: ImageBuildStep;
  readonly detail: string;
  /** How far the whole build is, 0 to 1, never decreasing; an estimate (recipes weigh their own steps). */
  readonly fraction: number;
}

export interface BuildImageOptions {
  /** Absolute directory holding `<name>@<sha256>/` image directories; created if missing. */
  readonly imagesDirectory: string;
  readonly onProgress?: (progress: ImageBuildProgress) => void;
  /** Return an already installed, verified image built from the same inputs instead of rebuilding (default true). */
  readonly reuseCached?: boolean;
  /** Cancels the build: running commands are killed, nothing is installed, BUILD_CANCELLED is thrown. */
  readonly signal?: AbortSignal;
}

/** An image directory whose files were just checked against its manifest. */
export interface VerifiedImage {
  readonly directory: string;
  readonly manifest: ImageManifest;
  readonly kernelPath: string;
  readonly initramfsPath: string;
  /** The qcow2 a root volume overlays (`manifest.boot.rootDisk`), or null for images without one. */
  readonly rootDiskPath: string | null;
}

export interface InstalledImage extends VerifiedImage {
  /** True when an existing image was returned instead of a new one being installed. */
  readonly reused: boolean;
}

/** `<name>@<sha256>`: one build of one image, and the name of its directory. */
export const IMAGE_REF_PATTERN = /^([a-z][a-z0-9-]{0,31})@([0-9a-f]{64})$/;
const READ_ONLY_FILE = 0o444;
/** Where each store step sits in the overall fraction; a recipe's production fills PRODUCE_START..PRODUCE_END. */
const PRODUCE_START = 0.02;
const PRODUCE_END = 0.9;
const HASH_END = 0.98;
/** libvirt runs QEMU as an unprivileged user that must traverse into the image directory. */
const IMAGE_DIRECTORY_MODE = 0o755;

/**
 * Builds `recipe` into `<imagesDirectory>/<name>@<sha256>/`: produced in a private temp directory
 * beside the target, every file and the manifest fsynced, then renamed into place in one step,
 * so a crash leaves either no image or a whole one (at worst a stray `.build-*` directory).
 */
export async function buildImage(recipe: ImageRecipe, options: BuildImageOptions): Promise<InstalledImage> {
  const { imagesDirectory } = options;
  if (!IMAGE_NAME.test(recipe.name)) {
    throw new ImageError(
      'INVALID_OPTION',
      `image name ${JSON.stringify(recipe.name)} must match ${IMAGE_NAME}`,
    );
  }
  if (!isAbsolute(imagesDirectory)) {
    throw new ImageError(
      'INVALID_OPTION',
      `imagesDirectory must be an absolute path, got ${imagesDirectory}`,
    );
  }
  let reached = 0;
  const progress = (step: ImageBuildStep, detail: string, fraction: number): void => {
    reached = Math.min(1, Math.max(reached, fraction));
    options.onProgress?.({ image: recipe.name, step, detail, fraction: reached });
  };
  const { signal } = options;
  const checkCancelled = (): void => {
    if (signal?.aborted === true) {
      throw new ImageError('BUILD_CANCELLED', `the build of image ${recipe.name} was cancelled`);
    }
  };

  checkCancelled();
  progress('resolve-inputs', 'finding and hashing the build inputs', 0);
  const inputs = await recipe.resolveInputs();

  if (options.reuseCached ?? true) {
    const cached = await findCachedImage(imagesDirectory, recipe.name, inputs.digest);
    if (cached !== undefined) {
      progress('reuse-cached', `reusing ${cached.directory}, built from the same inputs`, 1);
      progress('done', cached.directory, 1);
      return { ...cached, reused: true };
    }
  }
  checkCancelled();

  let workDirectory: string;
  let scratchDirectory: string;
  try {
    await mkdir(imagesDirectory, { recursive: true, mode: IMAGE_DIRECTORY_MODE });
    workDirectory = await mkdtemp(join(imagesDirectory, `.build-${recipe.name}-`));
  } catch (error) {
    throw new ImageError(
      'INSTALL_FAILED',
      `cannot create a build directory in ${imagesDirectory}: ${errorMessage(error)}`,
      {
        cause: error,
      },
    );
  }
  try {
    scratchDirectory = await mkdtemp(join(imagesDirectory, `.scratch-${recipe.name}-`));
  } catch (error) {
    await removeBuildTree(workDirectory);
    throw new ImageError(
      'INSTALL_FAILED',
      `cannot create a scratch directory in ${imagesDirectory}: ${errorMessage(error)}`,
      { cause: error },
    );
  }
  try {
    progress('produce', `building into ${workDirectory}`, PRODUCE_START);
    const produced = await recipe.produce(inputs, {
      directory: workDirectory,
      scratchDirectory,
      report: (detail, fraction) =>
        progress(
          'produce',
          detail,
          fraction === undefined
            ? reached
            : PRODUCE_START + (PRODUCE_END - PRODUCE_START) * Math.min(1, Math.max(0, fraction)),
        ),
      ...(signal === undefined ? {} : { signal }),
    });
    checkCancelled();
    await removeBuildTree(scratchDirectory);
    await checkProducedFiles(recipe.name, workDirectory, produced);

    const files: ImageFileRecord[] = [];
    const sorted = [...produced.files].sort();
    for (const [index, name] of sorted.entries()) {
      progress('hash', `hashing ${name}`, PRODUCE_END + ((HASH_END - PRODUCE_END) * index) / sorted.length);
      const path = join(workDirectory, name);
      await chmod(path, READ_ONLY_FILE);
      await fsyncPath(path);
      files.push({ name, ...(await digestFile(path)) });
    }
    checkCancelled();
    const id = computeImageId({ name: recipe.name, boot: produced.boot, files });
    const manifest: ImageManifest = {
      format: MANIFEST_FORMAT,
      name: recipe.name,
      id,
      boot: produced.boot,
      files,
      inputsDigest: inputs.digest,
      inputs: { ...inputs.record, ...produced.inputsRecord },
      builtAt: new Date().toISOString(),
    };
    await writeFileDurably(join(workDirectory, MANIFEST_FILE_NAME), serializeManifest(manifest));
    await chmod(workDirectory, IMAGE_DIRECTORY_MODE);
    await fsyncPath(workDirectory);

    const directory = join(imagesDirectory, `${recipe.name}@${id}`);
    progress('install', `installing ${directory}`, HASH_END);
    const installed = await installDirectory(workDirectory, directory);
    if (!installed) {
      // Another build of the same content won the rename: keep the one already in place if it is intact.
      const existing = await verifyImage(directory);
      progress('done', directory, 1);
      return { ...existing, reused: true };
    }
    await fsyncPath(imagesDirectory);
    progress('done', directory, 1);
    return { ...imagePaths(directory, manifest), reused: false };
  } finally {
    await removeBuildTree(scratchDirectory);
    await removeBuildTree(workDirectory);
  }
}

/**
 * Re-hashes every file of an image directory and checks it against the manifest, and the manifest
 * against the directory's name. Any difference is IMAGE_TAMPERED: images are never modified after
 * they are built, so a difference means corruption or tampering, never an update.
 */
export async function verifyImage(directory: string): Promise<VerifiedImage> {
  const match = IMAGE_REF_PATTERN.exec(basename(directory));
  if (match === null) {
    throw new ImageError(
      'INVALID_OPTION',
      `${directory} is not an image directory (expected <name>@<sha256>)`,
    );
  }
  const manifest = await readManifest(directory);
  const tampered = (what: string): ImageError =>
    new ImageError(
      'IMAGE_TAMPERED',
      `image ${directory} failed verification: ${what}; images are never modified after they are built, ` +
        `so delete ${directory} and build it again`,
    );
  if (manifest.name !== match[1] || manifest.id !== match[2]) {
    throw tampered(`its manifest names image ${manifest.name}@${manifest.id}`);
  }
  const recomputedId = computeImageId(manifest);
  if (recomputedId !== manifest.id) {
    throw tampered(`its manifest's content descriptor hashes to ${recomputedId}, not to the recorded id`);
  }
  const listed = new Set(manifest.files.map((file) => file.name));
  if (listed.size !== manifest.files.length) throw tampered('its manifest lists a file twice');
  for (const bootFile of bootFiles(manifest.boot)) {
    if (!listed.has(bootFile)) throw tampered(`boot file ${bootFile} is not among the manifest's files`);
  }
  for (const name of await readdir(directory)) {
    if (name !== MANIFEST_FILE_NAME && !listed.has(name))
      throw tampered(`it holds an unexpected file ${name}`);
  }
  for (const file of manifest.files) {
    const path = join(directory, file.name);
    const stats = await lstat(path).catch((error: unknown) => {
      throw tampered(`file ${file.name} is missing (${errorMessage(error)})`);
    });
    if (!stats.isFile()) throw tampered(`${file.name} is not a regular file`);
    const actual = await digestFile(path);
    if (actual.size !== file.size || actual.sha256 !== file.sha256) {
      throw tampered(
        `file ${file.name} has sha256 ${actual.sha256} (${actual.size} bytes), ` +
          `the manifest records ${file.sha256} (${file.size} bytes)`,
      );
    }
  }
  return imagePaths(directory, manifest);
}

/**
 * The installed image of `name` built from inputs with this digest, verified; undefined when there
 * is none. A matching image that fails verification is an error, not a cache miss.
 */
export async function findCachedImage(
  imagesDirectory: string,
  name: string,
  inputsDigest: string,
): Promise<VerifiedImage | undefined> {
  let entries: string[];
  try {
    entries = await readdir(imagesDirectory);
  } catch (error) {
    if (systemErrorCode(error) === 'ENOENT') return undefined;
    throw error;
  }
  for (const entry of entries.sort()) {
    const match = IMAGE_REF_PATTERN.exec(entry);
    if (match?.[1] !== name) continue;
    const directory = join(imagesDirectory, entry);
    const manifest = await readManifest(directory).catch(() => undefined);
    if (manifest?.inputsDigest === inputsDigest) return verifyImage(directory);
  }
  return undefined;
}

/** Reads and schema-checks an image directory's manifest, without hashing its files. */
export async function readManifest(directory: string): Promise<ImageManifest> {
  const path = join(directory, MANIFEST_FILE_NAME);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new ImageError('MANIFEST_INVALID', `cannot read ${path}: ${errorMessage(error)}`, { cause: error });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new ImageError('MANIFEST_INVALID', `${path} is not valid JSON: ${errorMessage(error)}`, {
      cause: error,
    });
  }
  const parsed = imageManifestSchema.safeParse(json);
  if (!parsed.success) {
    throw new ImageError('MANIFEST_INVALID', `${path} is not an image manifest: ${parsed.error.message}`);
  }
  return parsed.data;
}

async function checkProducedFiles(name: string, directory: string, produced: ProducedImage): Promise<void> {
  const fail = (what: string): ImageError =>
    new ImageError('INSTALL_FAILED', `recipe ${name} produced an invalid image: ${what}`);
  const declared = new Set(produced.files);
  if (declared.size === 0 || declared.size !== produced.files.length)
    throw fail('its file list is empty or repeats');
  for (const file of produced.files) {
    if (!IMAGE_FILE_NAME.test(file) || file === MANIFEST_FILE_NAME) throw fail(`bad file name ${file}`);
    if (!(await lstat(join(directory, file))).isFile()) throw fail(`${file} is not a regular file`);
  }
  for (const file of await readdir(directory)) {
    if (!declared.has(file)) throw fail(`it wrote ${file} without declaring it`);
  }
  for (const bootFile of bootFiles(produced.boot)) {
    if (!declared.has(bootFile)) throw fail(`boot file ${bootFile} is not one of its files`);
  }
}

/** Renames into place; false when an image with the same id is already there. */
async function installDirectory(from: string, to: string): Promise<boolean> {
  try {
    await rename(from, to);
    return true;
  } catch (error) {
    const code = systemErrorCode(error);
    if (code === 'ENOTEMPTY' || code === 'EEXIST') return false;
    throw new ImageError('INSTALL_FAILED', `cannot move the built image to ${to}: ${errorMessage(error)}`, {
      cause: error,
    });
  }
}

async function writeFileDurably(path: string, contents: string): Promise<void> {
  const handle = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, READ_ONLY_FILE);
  try {
    await handle.writeFile(contents, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function fsyncPath(path: string): Promise<void> {
  const handle = await open(path, constants.O_RDONLY);
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function imagePaths(directory: string, manifest: ImageManifest): VerifiedImage {
  const { rootDisk } = manifest.boot;
  return {
    directory,
    manifest: { ...manifest, files: [...manifest.files].sort(compareByName) },
    kernelPath: join(directory, manifest.boot.kernel),
    initramfsPath: join(directory, manifest.boot.initramfs),
    rootDiskPath: rootDisk === undefined ? null : join(directory, rootDisk.file),
  };
}

function bootFiles(boot: ImageBoot): string[] {
  return [boot.kernel, boot.initramfs, ...(boot.rootDisk === undefined ? [] : [boot.rootDisk.file])];
}

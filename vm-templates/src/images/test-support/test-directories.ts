import { chmod, lstat, mkdir, mkdtemp } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';

/**
 * Images built by tests live in one stable directory shared by every run, so an image is built
 * once per change of its recipe's inputs (the store reuses a verified image built from the same
 * inputs): hostd's own images directory by default, MULTIVERSE_TEST_IMAGES_DIR to override.
 */
export async function testImagesDirectory(): Promise<string> {
  return privateDirectory(fromEnvironment('MULTIVERSE_TEST_IMAGES_DIR', '/var/lib/multiverse/images'));
}

/** Downloaded .debs kept between builds of the Debian image (MULTIVERSE_IMAGE_CACHE_DIR to override). */
export async function testImageCacheDirectory(): Promise<string> {
  return privateDirectory(fromEnvironment('MULTIVERSE_IMAGE_CACHE_DIR', '/var/cache/multiverse/image-build'));
}

/** A fresh directory for a test's disks, which libvirt's unprivileged QEMU user can traverse. */
export async function guestScratchDirectory(prefix: string): Promise<string> {
  const directory = await mkdtemp(join('/var/tmp', `${prefix}-`));
  await chmod(directory, 0o755);
  return directory;
}

function fromEnvironment(variable: string, fallback: string): string {
  const configured = process.env[variable];
  if (configured === undefined || configured === '') return fallback;
  if (!isAbsolute(configured)) throw new Error(`${variable} must be an absolute path, got ${configured}`);
  return configured;
}

/** Another user able to write here could plant an image (with a valid manifest) that tests would boot. */
async function privateDirectory(directory: string): Promise<string> {
  await mkdir(directory, { recursive: true, mode: 0o755 });
  const stats = await lstat(directory);
  const uid = process.getuid?.();
  if (!stats.isDirectory() || (uid !== undefined && stats.uid !== uid) || (stats.mode & 0o022) !== 0) {
    throw new Error(
      `${directory} must be a directory owned by uid ${uid ?? '?'} and writable only by it; ` +
        'fix its owner and mode or point the test elsewhere (MULTIVERSE_TEST_IMAGES_DIR, MULTIVERSE_IMAGE_CACHE_DIR)',
    );
  }
  return directory;
}

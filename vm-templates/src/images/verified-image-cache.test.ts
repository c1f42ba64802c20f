import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ImageError } from './image-error.js';
import { buildImage, verifyImage } from './image-store.js';
import type { InstalledImage } from './image-store.js';
import { SeededRecipe } from './test-support/seeded-recipe.js';
import { VerifiedImageCache } from './verified-image-cache.js';

describe('verified image cache', () => {
  let imagesDirectory: string;
  let image: InstalledImage;
  const hashed: string[] = [];
  const cache = new VerifiedImageCache((directory) => {
    hashed.push(directory);
    return verifyImage(directory);
  });

  before(async () => {
    imagesDirectory = await mkdtemp(join(tmpdir(), 'verified-image-cache-'));
    image = await buildImage(new SeededRecipe('seeded', 'cache'), { imagesDirectory });
  });
  after(async () => {
    await rm(imagesDirectory, { recursive: true, force: true });
  });

  it('hashes an image once while nothing in its directory changes', async () => {
    const first = await cache.verify(image.directory);
    const second = await cache.verify(image.directory);
    assert.deepEqual(second, first);
    assert.equal(first.kernelPath, image.kernelPath);
    assert.deepEqual(hashed, [image.directory]);
  });

  it('hashes again after a file is touched, and passes when its content is unchanged', async () => {
    hashed.length = 0;
    const later = new Date(Date.now() + 60_000);
    await utimes(image.kernelPath, later, later);
    await cache.verify(image.directory);
    await cache.verify(image.directory);
    assert.deepEqual(hashed, [image.directory]);
  });

  it('finds a file rewritten after it was verified, and keeps refusing it', async () => {
    hashed.length = 0;
    await chmod(image.initramfsPath, 0o644);
    await writeFile(image.initramfsPath, 'initrd of somebody else\n');
    await chmod(image.initramfsPath, 0o444);
    const tampered = (error: unknown): boolean =>
      error instanceof ImageError && error.code === 'IMAGE_TAMPERED' && /initrd\.bin/.test(error.message);
    await assert.rejects(cache.verify(image.directory), tampered);
    await assert.rejects(cache.verify(image.directory), tampered);
    assert.deepEqual(hashed, [image.directory, image.directory]);
  });

  it('reports a missing image as verifyImage does', async () => {
    await assert.rejects(cache.verify(join(imagesDirectory, `seeded@${'0'.repeat(64)}`)), ImageError);
  });
});

import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseDebianImageOptions } from './debian/debian-inputs.js';
import { BUILDABLE_IMAGES, buildImageByName, listImages, verifyImageRef } from './image-catalog.js';
import { ImageError } from './image-error.js';
import type { ImageBuildProgress } from './image-store.js';

function expectImageError(code: string, message: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ImageError, `expected an ImageError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  };
}

describe('image catalog (the API behind mvctl image build|list|verify)', () => {
  let work: string;
  let imagesDirectory: string;

  before(() => {
    work = mkdtempSync(join(tmpdir(), 'image-catalog-'));
    imagesDirectory = join(work, 'images');
  });

  after(() => {
    rmSync(work, { recursive: true, force: true });
  });

  it('builds an image by name, with progress, and returns its reference', async () => {
    assert.deepEqual([...BUILDABLE_IMAGES], ['tiny', 'debian']);
    const progress: ImageBuildProgress[] = [];
    const built = await buildImageByName({
      name: 'tiny',
      imagesDirectory,
      onProgress: (step) => progress.push(step),
    });
    assert.equal(built.ref, `tiny@${built.manifest.id}`);
    assert.equal(built.directory, join(imagesDirectory, built.ref));
    assert.equal(built.reused, false);
    assert.equal(progress.at(-1)?.fraction, 1);
    const again = await buildImageByName({ name: 'tiny', imagesDirectory });
    assert.equal(again.reused, true);
    assert.equal(again.ref, built.ref);
  });

  it('refuses unknown names and malformed options before building', async () => {
    await assert.rejects(
      buildImageByName({ name: 'ubuntu', imagesDirectory }),
      expectImageError('UNKNOWN_IMAGE', /"ubuntu".*one of tiny, debian/),
    );
    await assert.rejects(
      buildImageByName({ name: 'tiny', imagesDirectory: 'images' }),
      expectImageError('INVALID_OPTION', /imagesDirectory: an absolute path/),
    );
    await assert.rejects(
      buildImageByName({ name: 'debian', imagesDirectory, cacheDirectory: 'cache' }),
      expectImageError('INVALID_OPTION', /cacheDirectory: an absolute path/),
    );
    assert.throws(
      () => parseDebianImageOptions({ mirror: 'ftp://user:secret@mirror.example/debian' }),
      expectImageError('INVALID_OPTION', /mirror: an http:\/\/ or https:\/\/ URL without credentials/),
    );
    assert.throws(
      () => parseDebianImageOptions({ suite: 'bookworm; rm -rf /' }),
      expectImageError('INVALID_OPTION', /suite: a Debian codename/),
    );
    assert.deepEqual(parseDebianImageOptions({ mirror: 'http://deb.debian.org/debian/' }), {
      mirror: 'http://deb.debian.org/debian',
      securityMirror: 'http://deb.debian.org/debian-security',
      suite: 'bookworm',
    });
  });

  it('lists installed images, flags a broken manifest and skips build directories', async () => {
    const built = await buildImageByName({ name: 'tiny', imagesDirectory });
    const broken = `tiny@${'ab'.repeat(32)}`;
    mkdirSync(join(imagesDirectory, broken));
    writeFileSync(join(imagesDirectory, broken, 'manifest.json'), '{"format":');
    mkdirSync(join(imagesDirectory, '.build-tiny-x1'));
    mkdirSync(join(imagesDirectory, '.scratch-debian-x2'));

    const listed = await listImages(imagesDirectory);
    assert.deepEqual(
      listed.map((image) => image.ref),
      [built.ref, broken].sort(),
    );
    const good = listed.find((image) => image.ref === built.ref);
    assert.equal(good?.problem, null);
    assert.equal(good?.builtAt, built.manifest.builtAt);
    assert.equal(
      good?.sizeBytes,
      readdirSync(built.directory).reduce(
        (total, file) => total + statSync(join(built.directory, file)).size,
        0,
      ),
    );
    const bad = listed.find((image) => image.ref === broken);
    assert.match(bad?.problem ?? '', /not valid JSON/);
    assert.equal(bad?.builtAt, null);
    assert.deepEqual(await listImages(join(work, 'nothing-here')), []);
    rmSync(join(imagesDirectory, broken), { recursive: true });
  });

  it('verifies an image by reference and says which file changed', async () => {
    const built = await buildImageByName({ name: 'tiny', imagesDirectory });
    assert.equal((await verifyImageRef(imagesDirectory, built.ref)).manifest.id, built.manifest.id);
    await assert.rejects(
      verifyImageRef(imagesDirectory, 'tiny'),
      expectImageError('INVALID_OPTION', /not an image reference \(NAME@SHA256/),
    );
    await assert.rejects(
      verifyImageRef(imagesDirectory, `tiny@${'0'.repeat(64)}`),
      expectImageError('IMAGE_NOT_FOUND', /not installed in .*mvctl image build tiny/),
    );
    chmodSync(built.kernelPath, 0o644);
    writeFileSync(built.kernelPath, 'not a kernel');
    await assert.rejects(
      verifyImageRef(imagesDirectory, built.ref),
      expectImageError('IMAGE_TAMPERED', /file vmlinuz has sha256/),
    );
  });
});

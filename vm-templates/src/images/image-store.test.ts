import assert from 'node:assert/strict';
import {
  chmodSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, it } from 'node:test';
import { ImageError } from './image-error.js';
import { computeImageId, digestJson } from './image-manifest.js';
import { buildImage, findCachedImage, verifyImage } from './image-store.js';
import type { ImageRecipe } from './image-recipe.js';
import { SeededRecipe } from './test-support/seeded-recipe.js';
import type { ImageBuildProgress } from './image-store.js';

function expectImageError(code: string, message: RegExp) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof ImageError, `expected an ImageError, got ${String(error)}`);
    assert.equal(error.code, code);
    assert.match(error.message, message);
    return true;
  };
}

describe('image store', () => {
  let imagesDirectory: string;

  beforeEach(() => {
    imagesDirectory = mkdtempSync(join(tmpdir(), 'image-store-'));
  });

  afterEach(() => {
    rmSync(imagesDirectory, { recursive: true, force: true });
  });

  it('installs a read-only <name>@<sha256> directory with a manifest, reporting each step', async () => {
    const steps: ImageBuildProgress[] = [];
    const image = await buildImage(new SeededRecipe('seeded', 'a'), {
      imagesDirectory,
      onProgress: (progress) => steps.push(progress),
    });

    assert.equal(image.reused, false);
    assert.equal(basename(image.directory), `seeded@${image.manifest.id}`);
    assert.equal(image.manifest.id, computeImageId(image.manifest));
    assert.deepEqual(readdirSync(imagesDirectory), [basename(image.directory)]);
    assert.deepEqual(readdirSync(image.directory).sort(), ['initrd.bin', 'kernel.bin', 'manifest.json']);
    assert.equal(statSync(image.directory).mode & 0o777, 0o755);
    for (const file of readdirSync(image.directory)) {
      assert.equal(statSync(join(image.directory, file)).mode & 0o777, 0o444, file);
    }
    assert.equal(readFileSync(image.kernelPath, 'utf8'), 'kernel of a\n');
    assert.equal(readFileSync(image.initramfsPath, 'utf8'), 'initrd of a\n');
    assert.deepEqual(image.manifest.inputs, { seed: 'a', chosenDuringBuild: 1 });
    assert.equal(image.rootDiskPath, null);
    assert.deepEqual(
      JSON.parse(readFileSync(join(image.directory, 'manifest.json'), 'utf8')),
      image.manifest,
    );
    assert.deepEqual(
      steps.map((step) => step.step),
      ['resolve-inputs', 'produce', 'produce', 'hash', 'hash', 'install', 'done'],
    );
    assert.ok(steps.every((step) => step.image === 'seeded'));
    const fractions = steps.map((step) => step.fraction);
    assert.equal(fractions[0], 0);
    assert.equal(fractions.at(-1), 1);
    assert.ok(
      fractions.every((fraction, index) => index === 0 || fraction >= (fractions[index - 1] as number)),
      `never decreasing: ${fractions.join(', ')}`,
    );
    // The recipe's own 0.5 lands inside the production share of the build.
    const produceHalf = steps.find((step) => step.detail === 'writing files for a')?.fraction ?? 0;
    assert.ok(produceHalf > 0.3 && produceHalf < 0.7, `recipe at half is ${produceHalf} overall`);
  });

  it('reuses the verified image built from the same inputs, and rebuilds to the same id', async () => {
    const recipe = new SeededRecipe('seeded', 'a');
    const first = await buildImage(recipe, { imagesDirectory });
    const cached = await buildImage(recipe, { imagesDirectory });
    assert.equal(recipe.productions, 1);
    assert.equal(cached.reused, true);
    assert.equal(cached.directory, first.directory);

    const rebuilt = await buildImage(recipe, { imagesDirectory, reuseCached: false });
    assert.equal(recipe.productions, 2);
    assert.equal(rebuilt.directory, first.directory);
    assert.deepEqual(readdirSync(imagesDirectory), [basename(first.directory)], 'no stray build directory');

    const other = await buildImage(new SeededRecipe('seeded', 'b'), { imagesDirectory });
    assert.notEqual(other.directory, first.directory);
  });

  it('verifies an intact image and names the file that was changed', async () => {
    const image = await buildImage(new SeededRecipe('seeded', 'a'), { imagesDirectory });
    assert.deepEqual((await verifyImage(image.directory)).manifest, image.manifest);

    chmodSync(image.kernelPath, 0o644);
    writeFileSync(image.kernelPath, 'kernel of b\n');
    await assert.rejects(
      verifyImage(image.directory),
      expectImageError(
        'IMAGE_TAMPERED',
        /file kernel\.bin has sha256 [0-9a-f]{64} .*delete .* and build it again/,
      ),
    );
    await assert.rejects(
      findCachedImage(imagesDirectory, 'seeded', image.manifest.inputsDigest),
      expectImageError('IMAGE_TAMPERED', /kernel\.bin/),
      'a tampered image is an error, not a cache miss',
    );
    await assert.rejects(
      buildImage(new SeededRecipe('seeded', 'a'), { imagesDirectory }),
      expectImageError('IMAGE_TAMPERED', /kernel\.bin/),
    );
  });

  it('rejects added, removed and renamed files and an edited manifest', async () => {
    const build = async (seed: string) => buildImage(new SeededRecipe('seeded', seed), { imagesDirectory });

    const added = await build('added');
    writeFileSync(join(added.directory, 'payload.sh'), 'echo hi');
    await assert.rejects(
      verifyImage(added.directory),
      expectImageError('IMAGE_TAMPERED', /unexpected file payload/),
    );

    const removed = await build('removed');
    rmSync(removed.initramfsPath);
    await assert.rejects(
      verifyImage(removed.directory),
      expectImageError('IMAGE_TAMPERED', /initrd\.bin is missing/),
    );

    const edited = await build('edited');
    const manifestPath = join(edited.directory, 'manifest.json');
    const manifest = JSON.parse(readFileSync(manifestPath, 'utf8')) as { boot: { kernelArguments: string } };
    manifest.boot.kernelArguments = 'console=ttyS0 init=/bin/evil';
    chmodSync(manifestPath, 0o644);
    writeFileSync(manifestPath, JSON.stringify(manifest));
    await assert.rejects(
      verifyImage(edited.directory),
      expectImageError('IMAGE_TAMPERED', /descriptor hashes to/),
    );

    writeFileSync(manifestPath, '{"format":');
    await assert.rejects(
      verifyImage(edited.directory),
      expectImageError('MANIFEST_INVALID', /not valid JSON/),
    );
    writeFileSync(manifestPath, '{"format":"multiverse-image/v1"}');
    await assert.rejects(
      verifyImage(edited.directory),
      expectImageError('MANIFEST_INVALID', /not an image manifest/),
    );

    await assert.rejects(
      verifyImage(imagesDirectory),
      expectImageError('INVALID_OPTION', /not an image directory/),
    );
  });

  it('leaves nothing behind when a recipe fails or writes files it did not declare', async () => {
    const failing: ImageRecipe = {
      name: 'failing',
      resolveInputs: () => Promise.resolve({ digest: digestJson({}), record: {} }),
      produce: () => Promise.reject(new Error('disk full')),
    };
    await assert.rejects(buildImage(failing, { imagesDirectory }), /disk full/);
    await assert.rejects(
      buildImage(new SeededRecipe('sloppy', 'x', 'notes.txt'), { imagesDirectory }),
      expectImageError('INSTALL_FAILED', /wrote notes\.txt without declaring it/),
    );
    assert.deepEqual(readdirSync(imagesDirectory), []);
  });

  it('deletes the scratch directory, and installs nothing when cancelled', async () => {
    const recipe = new SeededRecipe('seeded', 'scratch');
    await buildImage(recipe, { imagesDirectory });
    assert.ok(recipe.scratchSeen !== undefined);
    assert.ok(!existsSync(recipe.scratchSeen), 'the scratch directory is gone');

    const controller = new AbortController();
    const cancelling: ImageRecipe = {
      name: 'cancelled',
      resolveInputs: () => Promise.resolve({ digest: digestJson({}), record: {} }),
      async produce(_inputs, context) {
        await writeFile(join(context.directory, 'kernel.bin'), 'k');
        await writeFile(join(context.directory, 'initrd.bin'), 'i');
        controller.abort();
        return {
          files: ['kernel.bin', 'initrd.bin'],
          boot: { kernel: 'kernel.bin', initramfs: 'initrd.bin', kernelArguments: '' },
        };
      },
    };
    await assert.rejects(
      buildImage(cancelling, { imagesDirectory, signal: controller.signal }),
      expectImageError('BUILD_CANCELLED', /build of image cancelled was cancelled/),
    );
    assert.deepEqual(
      readdirSync(imagesDirectory).filter((entry) => !entry.startsWith('seeded@')),
      [],
    );
  });

  it('installs and verifies a root disk named in the boot settings', async () => {
    const withDisk: ImageRecipe = {
      name: 'disky',
      resolveInputs: () => Promise.resolve({ digest: digestJson({ disk: true }), record: {} }),
      async produce(_inputs, context) {
        for (const file of ['kernel.bin', 'initrd.bin', 'root.qcow2']) {
          await writeFile(join(context.directory, file), file);
        }
        return {
          files: ['kernel.bin', 'initrd.bin', 'root.qcow2'],
          boot: {
            kernel: 'kernel.bin',
            initramfs: 'initrd.bin',
            kernelArguments: 'root=/dev/vda',
            rootDisk: { file: 'root.qcow2', format: 'qcow2' as const, virtualSizeBytes: 1 << 30 },
          },
        };
      },
    };
    const image = await buildImage(withDisk, { imagesDirectory });
    assert.equal(image.rootDiskPath, join(image.directory, 'root.qcow2'));
    chmodSync(join(image.directory, 'root.qcow2'), 0o644);
    writeFileSync(join(image.directory, 'root.qcow2'), 'root.qcow3');
    await assert.rejects(
      verifyImage(image.directory),
      expectImageError('IMAGE_TAMPERED', /file root\.qcow2 has sha256/),
    );

    const undeclared: ImageRecipe = {
      ...withDisk,
      name: 'undeclared',
      async produce(inputs, context) {
        const produced = await withDisk.produce(inputs, context);
        await rm(join(context.directory, 'root.qcow2'));
        return { ...produced, files: ['kernel.bin', 'initrd.bin'] };
      },
    };
    await assert.rejects(
      buildImage(undeclared, { imagesDirectory }),
      expectImageError('INSTALL_FAILED', /boot file root\.qcow2 is not one of its files/),
    );
  });

  it('validates its options before touching the disk', async () => {
    await assert.rejects(
      buildImage(new SeededRecipe('seeded', 'a'), { imagesDirectory: 'relative/images' }),
      expectImageError('INVALID_OPTION', /absolute path/),
    );
    await assert.rejects(
      buildImage(new SeededRecipe('../escape', 'a'), { imagesDirectory }),
      expectImageError('INVALID_OPTION', /image name/),
    );
    assert.equal(
      await findCachedImage(join(imagesDirectory, 'missing'), 'seeded', digestJson({})),
      undefined,
    );
  });
});

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DiskError } from './errors.js';
import { ImageStore } from './image-store.js';
import { QemuImg } from './qemu-img.js';
import { run } from './testing/fixtures.js';
import { assertView, writeRegions } from './testing/guest-view.js';

const qemuImg = new QemuImg();

function rejectsWith(code: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof DiskError, `expected a DiskError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

describe('ImageStore', () => {
  let root: string;
  let images: ImageStore;
  before(async () => {
    root = await mkdtemp(join(tmpdir(), 'mv-images-'));
    images = new ImageStore(join(root, 'images'), qemuImg);
  });
  after(() => rm(root, { recursive: true, force: true }));

  it('imports a raw file as a read-only qcow2 named by its sha256, once', async () => {
    const raw = join(root, 'a.raw');
    await writeFile(raw, Buffer.alloc(2 * 1024 * 1024, 0x42));
    const ref = await images.import({ name: 'alpha', source: raw, format: 'raw' });
    const path = images.pathOf(ref);
    assert.equal(path, join(root, 'images', `alpha@${ref.sha256}.qcow2`));
    assert.equal(
      createHash('sha256')
        .update(await readFile(path))
        .digest('hex'),
      ref.sha256,
    );
    assert.equal((await stat(path)).mode & 0o777, 0o444);
    assert.equal((await qemuImg.info(path, 'qcow2')).format, 'qcow2');
    await assertView(
      path,
      new Map([
        [0, 0x42],
        [31, 0x42],
      ]),
      [0, 31],
    );

    assert.deepEqual(await images.import({ name: 'alpha', source: raw, format: 'raw' }), ref);
    assert.deepEqual(
      (await images.list()).map((image) => image.ref),
      [ref],
    );
    await images.verify(ref);
  });

  it('imports a self-contained qcow2 as is', async () => {
    const source = join(root, 'b.qcow2');
    await qemuImg.createBlank(source, 4 * 1024 * 1024);
    await writeRegions(source, new Map([[7, 0x77]]));
    const ref = await images.import({ name: 'beta', source, format: 'qcow2' });
    assert.equal(
      createHash('sha256')
        .update(await readFile(source))
        .digest('hex'),
      ref.sha256,
    );
    await assertView(images.pathOf(ref), new Map([[7, 0x77]]), [6, 7]);
  });

  it('rejects qcow2 files that refer to other host files (backing file, external data file)', async () => {
    const backing = join(root, 'backing.qcow2');
    await qemuImg.createBlank(backing, 4 * 1024 * 1024);
    const overlay = join(root, 'overlay.qcow2');
    await qemuImg.createOverlay(overlay, backing);
    await assert.rejects(
      images.import({ name: 'overlay', source: overlay, format: 'qcow2' }),
      rejectsWith('IMAGE_SOURCE_INVALID'),
    );
    const withDataFile = join(root, 'datafile.qcow2');
    await run('qemu-img', [
      'create',
      '-q',
      '-f',
      'qcow2',
      '-o',
      `data_file=${join(root, 'data.raw')}`,
      withDataFile,
      '4M',
    ]);
    await assert.rejects(
      images.import({ name: 'datafile', source: withDataFile, format: 'qcow2' }),
      rejectsWith('IMAGE_SOURCE_INVALID'),
    );
    // A raw file is never probed: a qcow2 header inside it is just bytes of the raw disk.
    const ref = await images.import({ name: 'raw-looking-like-qcow2', source: overlay, format: 'raw' });
    assert.equal((await qemuImg.info(images.pathOf(ref), 'qcow2')).backingFile, null);
    await assert.rejects(
      images.import({ name: '../escape', source: overlay, format: 'raw' }),
      rejectsWith('IMAGE_REF_INVALID'),
    );
  });

  it('detects a modified image and a missing one', async () => {
    const raw = join(root, 'c.raw');
    await writeFile(raw, Buffer.alloc(1024 * 1024, 0x43));
    const ref = await images.import({ name: 'gamma', source: raw, format: 'raw' });
    await run('chmod', ['u+w', images.pathOf(ref)]);
    await run('dd', [
      'if=/dev/zero',
      `of=${images.pathOf(ref)}`,
      'bs=1',
      'count=1',
      'seek=400000',
      'conv=notrunc',
      'status=none',
    ]);
    await assert.rejects(images.verify(ref), rejectsWith('DISK_BASE_HASH_MISMATCH'));
    // Importing the source again repairs the store.
    assert.deepEqual(await images.import({ name: 'gamma', source: raw, format: 'raw' }), ref);
    await images.verify(ref);
    await assert.rejects(
      images.verify({ name: 'gamma', sha256: 'f'.repeat(64) }),
      rejectsWith('IMAGE_NOT_FOUND'),
    );
  });
});

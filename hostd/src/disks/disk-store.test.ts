import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { chmod, mkdir, open, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { DiskError } from './errors.js';
import { formatImageRef } from './names.js';
import { QemuImg } from './qemu-img.js';
import { allocatedBytes, makeStoreFixture, run, type StoreFixture } from './testing/fixtures.js';
import { assertView, writeRegions, withWrites, type DiskView } from './testing/guest-view.js';

const MiB = 1024 * 1024;
const qemuImg = new QemuImg();

function rejectsWith(code: string): (error: unknown) => boolean {
  return (error) => {
    assert.ok(error instanceof DiskError, `expected a DiskError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

function requirePath(path: string | null): string {
  assert.ok(path !== null, 'expected a disk path');
  return path;
}

describe('DiskStore: the volume model', () => {
  let fixture: StoreFixture;
  before(async () => {
    fixture = await makeStoreFixture();
  });
  after(() => fixture.cleanup());

  it('gives the root a fresh overlay on the base at every start, so root writes are gone after a stop', async () => {
    const { store, base } = fixture;
    await store.createVm('work', { base, privateSizeBytes: 16 * MiB, volatileSizeBytes: 8 * MiB });
    const first = await store.prepareForStart('work');
    const firstRoot = requirePath(first.root);
    assert.equal((await qemuImg.info(firstRoot, 'qcow2')).backingFile, store.images.pathOf(base));
    await assertView(firstRoot, new Map([[0, 0x5a]]), [0], 'root shows the base');
    await writeRegions(firstRoot, new Map([[0, 0x01]]));
    await writeRegions(first.volatile ?? '', new Map([[3, 0x03]]));
    await writeRegions(first.private ?? '', new Map([[5, 0x05]]));
    await store.cleanupAfterStop('work');
    await assert.rejects(stat(firstRoot), { code: 'ENOENT' });
    await assert.rejects(stat(first.volatile ?? ''), { code: 'ENOENT' });

    const second = await store.prepareForStart('work');
    await assertView(requirePath(second.root), new Map([[0, 0x5a]]), [0], 'root after restart');
    await assertView(second.volatile ?? '', new Map(), [3], 'volatile after restart');
    await assertView(second.private ?? '', new Map([[5, 0x05]]), [5], 'private after restart');
    await store.cleanupAfterStop('work');
    await store.cleanupAfterStop('work');
  });

  it('gives a VM without private or volatile volume only a root', async () => {
    const { store, base } = fixture;
    await store.createVm('router', {
      base: formatImageRef(base),
      privateSizeBytes: null,
      volatileSizeBytes: null,
    });
    const disks = await store.prepareForStart('router');
    assert.equal(disks.private, null);
    assert.equal(disks.volatile, null);
    await assert.rejects(store.checkpoint('router'), rejectsWith('NO_PRIVATE_VOLUME'));
    await assert.rejects(store.listCheckpoints('router'), rejectsWith('NO_PRIVATE_VOLUME'));
    await store.deleteVm('router');
    await assert.rejects(store.prepareForStart('router'), rejectsWith('VM_DISKS_NOT_FOUND'));
    assert.deepEqual(await store.vmNames(), ['work']);
  });

  it('gives a VM without base (kernel boot) a private chain and a volatile volume, but no root', async () => {
    const { store, options } = fixture;
    await assert.rejects(
      store.createVm('nothing', { base: null, privateSizeBytes: null, volatileSizeBytes: null }),
      rejectsWith('DISK_OPTIONS_INVALID'),
    );
    const manifest = await store.createVm('kernel', {
      base: null,
      privateSizeBytes: 16 * MiB,
      volatileSizeBytes: 8 * MiB,
    });
    assert.equal(manifest.base, null);
    assert.equal((await store.manifest('kernel')).base, null);
    const planned = await store.diskPaths('kernel');
    const first = await store.prepareForStart('kernel');
    assert.equal(first.root, null);
    assert.deepEqual(first, planned);
    const privateTop = requirePath(first.private);
    const volatile = requirePath(first.volatile);
    // QEMU runs as another user: it must traverse every directory down to the layers, and list none.
    for (const dir of [
      options.vmsDir,
      join(options.vmsDir, 'kernel'),
      join(options.vmsDir, 'kernel', 'private'),
    ]) {
      assert.equal((await stat(dir)).mode & 0o777, 0o711, dir);
    }
    assert.equal((await stat(join(options.vmsDir, 'kernel', 'run'))).mode & 0o777, 0o711);
    assert.deepEqual((await readdir(join(options.vmsDir, 'kernel', 'run'))).sort(), ['volatile.qcow2']);
    await writeRegions(privateTop, new Map([[2, 0x22]]));
    await writeRegions(volatile, new Map([[1, 0x11]]));
    await store.cleanupAfterStop('kernel');
    await assert.rejects(stat(volatile), { code: 'ENOENT' });

    const frozen = await store.checkpoint('kernel', { message: 'before' });
    const second = await store.prepareForStart('kernel');
    assert.equal(second.root, null);
    await assertView(requirePath(second.volatile), new Map(), [1], 'volatile after restart');
    const secondTop = requirePath(second.private);
    await assertView(secondTop, new Map([[2, 0x22]]), [2], 'private after a checkpoint');
    await writeRegions(secondTop, new Map([[2, 0x33]]));
    await store.cleanupAfterStop('kernel');
    await store.revert('kernel', frozen.id);
    const third = await store.prepareForStart('kernel');
    await assertView(requirePath(third.private), new Map([[2, 0x22]]), [2], 'private after revert');
    await store.cleanupAfterStop('kernel');
    await store.verifyChain('kernel');
    await store.deleteVm('kernel');
    await assert.rejects(stat(join(options.vmsDir, 'kernel')), { code: 'ENOENT' });
  });

  it('gives a VM without base and without private volume only a volatile volume', async () => {
    const { store } = fixture;
    await store.createVm('scratch', { base: null, privateSizeBytes: null, volatileSizeBytes: 8 * MiB });
    const disks = await store.prepareForStart('scratch');
    assert.deepEqual({ root: disks.root, private: disks.private }, { root: null, private: null });
    assert.equal((await qemuImg.info(requirePath(disks.volatile), 'qcow2')).virtualSizeBytes, 8 * MiB);
    await assert.rejects(store.checkpoint('scratch'), rejectsWith('NO_PRIVATE_VOLUME'));
    await store.cleanupAfterStop('scratch');
    await store.deleteVm('scratch');
  });

  it('removes half-made and half-deleted VM directories at recoverAll', async () => {
    const { store, options } = fixture;
    await mkdir(join(options.vmsDir, '.creating@ghost@0123456789ab', 'private'), { recursive: true });
    await mkdir(join(options.vmsDir, '.deleting@work@0123456789ab'), { recursive: true });
    assert.deepEqual(await store.recoverAll(), []);
    assert.deepEqual((await readdir(options.vmsDir)).sort(), ['.locks', 'work']);
    assert.deepEqual(await store.vmNames(), ['work']);
  });

  it('refuses to start a VM whose base image was modified', async () => {
    const { store, base } = fixture;
    await store.createVm('victim', { base, privateSizeBytes: null, volatileSizeBytes: null });
    const path = store.images.pathOf(base);
    await chmod(path, 0o644);
    const handle = await open(path, 'r+');
    await handle.write(Buffer.from([0xff]), 0, 1, 1024 * 1024);
    await handle.close();
    await assert.rejects(store.prepareForStart('victim'), rejectsWith('DISK_BASE_HASH_MISMATCH'));
  });
});

describe('DiskStore: creating a VM costs O(1) in the base size', () => {
  let fixture: StoreFixture;
  before(async () => {
    fixture = await makeStoreFixture();
  });
  after(() => fixture.cleanup());

  it('copies no base data: the VM directory stays under 1 MiB on an 8 GiB base holding 48 MiB', async () => {
    const { store, root } = fixture;
    const raw = join(root, 'big.raw');
    await run('truncate', ['-s', '8G', raw]);
    for (const gib of [0, 3, 7]) {
      // 16 MiB of real bytes at each of three places in the sparse file.
      await run('dd', [
        'if=/dev/urandom',
        `of=${raw}`,
        'bs=1M',
        'count=16',
        `seek=${gib * 1024}`,
        'conv=notrunc',
        'status=none',
      ]);
    }
    await run('dd', [
      'if=/dev/zero',
      `of=${raw}`,
      'bs=64K',
      'count=1',
      `seek=${(3 * 1024 * MiB) / (64 * 1024)}`,
      'conv=notrunc',
      'status=none',
    ]);
    const big = await store.images.import({ name: 'big', source: raw, format: 'raw' });
    const baseBytes = await allocatedBytes(store.images.pathOf(big));
    assert.ok(baseBytes > 48 * MiB, `base holds ${baseBytes} bytes`);

    const started = performance.now();
    await store.createVm('cheap', {
      base: big,
      privateSizeBytes: 16 * 1024 * MiB,
      volatileSizeBytes: 4 * 1024 * MiB,
    });
    const createMs = performance.now() - started;
    const disks = await store.prepareForStart('cheap');
    const vmBytes = await allocatedBytes(join(fixture.options.vmsDir, 'cheap'));
    assert.ok(vmBytes < MiB, `VM directory holds ${vmBytes} bytes`);
    const bigRoot = requirePath(disks.root);
    assert.equal((await qemuImg.info(bigRoot, 'qcow2')).virtualSizeBytes, 8 * 1024 * MiB);
    // The base's zeroed region at 3 GiB reads as zeros through the overlay: the guest sees the base, not a copy.
    await assertView(bigRoot, new Map(), [(3 * 1024 * MiB) / (64 * 1024)], 'root over the big base');
    assert.ok(createMs < 2000, `createVm took ${createMs} ms`);
  });
});

describe('DiskStore: checkpoints', () => {
  let fixture: StoreFixture;
  before(async () => {
    fixture = await makeStoreFixture();
  });
  after(() => fixture.cleanup());

  /** Builds a VM with three checkpoints; each layer k writes region k and overwrites region 100. */
  async function vmWithCheckpoints(
    vm: string,
    count: number,
  ): Promise<{ ids: string[]; views: DiskView[]; top: DiskView }> {
    const { store, base } = fixture;
    await store.createVm(vm, { base, privateSizeBytes: 16 * MiB, volatileSizeBytes: null });
    const ids: string[] = [];
    const views: DiskView[] = [];
    let view: DiskView = new Map();
    for (let k = 0; k <= count; k++) {
      const writes = new Map([
        [k, 0x10 + k],
        [100, 0x80 + k],
      ]);
      const { private: top } = await store.prepareForStart(vm);
      await writeRegions(top ?? '', writes);
      await store.cleanupAfterStop(vm);
      view = withWrites(view, writes);
      if (k === count) break;
      const checkpoint = await store.checkpoint(vm, { message: `layer ${k}` });
      ids.push(checkpoint.id);
      views.push(view);
    }
    return { ids, views, top: view };
  }

  async function assertChain(
    vm: string,
    expected: { ids: string[]; views: DiskView[]; top: DiskView },
  ): Promise<void> {
    const { store } = fixture;
    const listed = await store.listCheckpoints(vm);
    assert.deepEqual(
      listed.map((checkpoint) => checkpoint.id),
      expected.ids,
    );
    const regions = [...Array(8).keys(), 100];
    for (const [index, id] of expected.ids.entries()) {
      await assertView(
        join(fixture.options.vmsDir, vm, 'private', `${id}.qcow2`),
        expected.views[index] ?? new Map(),
        regions,
        `checkpoint ${index}`,
      );
    }
    const { private: top } = await store.prepareForStart(vm);
    await assertView(top ?? '', expected.top, regions, 'top');
    await store.cleanupAfterStop(vm);
    await store.verifyChain(vm);
  }

  it('lists id, time, message, size and pin state, and freezes each checkpoint layer read-only', async () => {
    const { store } = fixture;
    const built = await vmWithCheckpoints('listing', 3);
    const listed = await store.listCheckpoints('listing');
    assert.deepEqual(
      listed.map((c) => c.message),
      ['layer 0', 'layer 1', 'layer 2'],
    );
    for (const checkpoint of listed) {
      assert.match(checkpoint.id, /^[0-9a-f]{16}$/);
      assert.ok(Date.parse(checkpoint.createdAt) > Date.now() - 60_000);
      assert.equal(checkpoint.pinned, false);
      // Each layer holds two 64 KiB data clusters plus qcow2 metadata.
      assert.ok(
        checkpoint.sizeBytes >= 128 * 1024 && checkpoint.sizeBytes < 2 * MiB,
        `size ${checkpoint.sizeBytes}`,
      );
      const mode =
        (await stat(join(fixture.options.vmsDir, 'listing', 'private', `${checkpoint.id}.qcow2`))).mode &
        0o777;
      assert.equal(mode, 0o400);
    }
    await assertChain('listing', built);
  });

  it('deletes a checkpoint at the bottom, middle or top of the chain without changing any other', async () => {
    const { store } = fixture;
    for (const position of [0, 1, 2]) {
      const vm = `delete-${position}`;
      const built = await vmWithCheckpoints(vm, 3);
      await store.deleteCheckpoint(vm, built.ids[position] ?? '');
      await assertChain(vm, {
        ids: built.ids.filter((_, index) => index !== position),
        views: built.views.filter((_, index) => index !== position),
        top: built.top,
      });
      const files = await readdir(join(fixture.options.vmsDir, vm, 'private'));
      assert.equal(files.length, 3, `files left: ${files.join(', ')}`);
    }
  });

  it('reverts to a checkpoint, dropping the layers above it', async () => {
    const { store } = fixture;
    const built = await vmWithCheckpoints('revert', 3);
    await store.revert('revert', built.ids[1] ?? '');
    await assertChain('revert', {
      ids: built.ids.slice(0, 2),
      views: built.views.slice(0, 2),
      top: built.views[1] ?? new Map(),
    });
    const files = await readdir(join(fixture.options.vmsDir, 'revert', 'private'));
    assert.equal(files.length, 3);
    await assert.rejects(store.revert('revert', built.ids[2] ?? ''), rejectsWith('CHECKPOINT_NOT_FOUND'));
  });

  it('never prunes pinned checkpoints, keeps the newest N unpinned, and refuses to drop pinned ones on revert', async () => {
    const { store } = fixture;
    const built = await vmWithCheckpoints('pins', 3);
    await store.setPinned('pins', built.ids[0] ?? '', true);
    await assert.rejects(
      store.deleteCheckpoint('pins', built.ids[0] ?? ''),
      rejectsWith('CHECKPOINT_PINNED'),
    );
    const fourth = await store.checkpoint('pins', { message: 'fourth', keep: 2 });
    const listed = await store.listCheckpoints('pins');
    assert.deepEqual(
      listed.map((c) => [c.id, c.pinned]),
      [
        [built.ids[0], true],
        [built.ids[2], false],
        [fourth.id, false],
      ],
    );
    await assertChain('pins', {
      ids: [built.ids[0] ?? '', built.ids[2] ?? '', fourth.id],
      views: [built.views[0] ?? new Map(), built.views[2] ?? new Map(), built.top],
      top: built.top,
    });

    const pinnedLater = await store.checkpoint('pins', { message: 'keep me', pinned: true });
    await assert.rejects(store.revert('pins', built.ids[2] ?? ''), rejectsWith('CHECKPOINT_PINNED_ABOVE'));
    await store.revert('pins', built.ids[2] ?? '', { discardPinned: true });
    assert.ok(!(await store.listCheckpoints('pins')).some((c) => c.id === pinnedLater.id));

    await store.prune('pins', 0);
    assert.deepEqual(
      (await store.listCheckpoints('pins')).map((c) => c.id),
      [built.ids[0]],
    );
    await store.verifyChain('pins');
  });

  it('bounds the chain depth by merging the oldest unpinned layers, and says so when only pinned ones are left', async () => {
    const shallow = await makeStoreFixture({ maxChainDepth: 4 });
    try {
      const { store, base } = shallow;
      await store.createVm('deep', { base, privateSizeBytes: 16 * MiB, volatileSizeBytes: null });
      let expected: DiskView = new Map();
      for (let k = 0; k < 6; k++) {
        const { private: top } = await store.prepareForStart('deep');
        const writes = new Map([[k, 0x20 + k]]);
        await writeRegions(top ?? '', writes);
        expected = withWrites(expected, writes);
        await store.cleanupAfterStop('deep');
        await store.checkpoint('deep', { pinned: k < 2 });
        const depth = (await store.listCheckpoints('deep')).length + 1;
        assert.ok(depth <= 4, `depth ${depth} after checkpoint ${k}`);
      }
      const listed = await store.listCheckpoints('deep');
      assert.deepEqual(
        listed.map((c) => c.pinned),
        [true, true, false],
      );
      const { private: top } = await store.prepareForStart('deep');
      await assertView(top ?? '', expected, [...Array(8).keys()], 'top after merges');
      await store.cleanupAfterStop('deep');
      await store.verifyChain('deep');

      await store.setPinned('deep', listed[2]?.id ?? '', true);
      await assert.rejects(store.checkpoint('deep'), rejectsWith('CHAIN_DEPTH_LIMIT'));
    } finally {
      await shallow.cleanup();
    }
  });

  it('serialises concurrent operations on one VM', async () => {
    const { store, base } = fixture;
    await store.createVm('busy', { base, privateSizeBytes: 16 * MiB, volatileSizeBytes: null });
    const made = await Promise.all(
      [1, 2, 3, 4].map((n) => store.checkpoint('busy', { message: `concurrent ${n}` })),
    );
    assert.equal(new Set(made.map((c) => c.id)).size, 4);
    assert.equal((await store.listCheckpoints('busy')).length, 4);
    await store.verifyChain('busy');
  });

  it('fails with DISK_IN_USE instead of touching a layer another process has open', async () => {
    const { store } = fixture;
    const built = await vmWithCheckpoints('in-use', 2);
    const top = join(fixture.options.vmsDir, 'in-use', 'private');
    const topLayer = (await readdir(top)).find((file) => !built.ids.some((id) => file.startsWith(id))) ?? '';
    // An interactive qemu-io keeps the top open for writing, as a running QEMU would.
    const holder = spawn('qemu-io', ['-f', 'qcow2', join(top, topLayer)], {
      stdio: ['pipe', 'pipe', 'inherit'],
    });
    try {
      await new Promise((resolve) => holder.stdout.once('data', resolve));
      await assert.rejects(store.deleteCheckpoint('in-use', built.ids[1] ?? ''), rejectsWith('DISK_IN_USE'));
    } finally {
      holder.stdin.end('quit\n');
      await new Promise((resolve) => holder.once('close', resolve));
    }
    await assertChain('in-use', built);
  });

  it('records a top made by another tool with an absolute backing path, as a libvirt external snapshot is', async () => {
    const { store } = fixture;
    const built = await vmWithCheckpoints('live', 1);
    const privateDir = join(fixture.options.vmsDir, 'live', 'private');
    const absoluteBacking = async ({ path, backingFile }: { path: string; backingFile: string }) => {
      await qemuImg.createOverlay(path, join(privateDir, backingFile));
    };
    const second = await store.checkpoint('live', { message: 'live one' }, absoluteBacking);
    await store.verifyChain('live');

    // The snapshot is taken but its reply is lost: the failed call is recovered forward, since QEMU would
    // already be writing to the new top.
    const lostReply = new Error('connection to libvirtd lost');
    await assert.rejects(
      store.checkpoint('live', { message: 'reply lost' }, async (overlay) => {
        await absoluteBacking(overlay);
        throw lostReply;
      }),
      (error) => error === lostReply,
    );
    const listed = await store.listCheckpoints('live');
    assert.deepEqual(
      listed.map((c) => c.message),
      ['layer 0', 'live one', 'reply lost'],
    );
    await store.verifyChain('live');

    // Without the overlay, the same failure is undone.
    await assert.rejects(
      store.checkpoint('live', {}, () => Promise.reject(lostReply)),
      (error) => error === lostReply,
    );
    assert.equal((await store.listCheckpoints('live')).length, 3);
    await store.deleteCheckpoint('live', second.id);
    await assertChain('live', {
      ids: [built.ids[0] ?? '', listed[2]?.id ?? ''],
      views: [built.views[0] ?? new Map(), built.top],
      top: built.top,
    });
  });

  it('validates names and ids at the edge', async () => {
    const { store, base } = fixture;
    for (const name of ['../etc', 'a/b', '.hidden', '', '-rf', 'x'.repeat(65), 'a@b', 'name:with:colons']) {
      await assert.rejects(
        store.createVm(name, { base, privateSizeBytes: null, volatileSizeBytes: null }),
        rejectsWith('DISK_NAME_INVALID'),
      );
    }
    await store.createVm('edge', { base, privateSizeBytes: 16 * MiB, volatileSizeBytes: null });
    await assert.rejects(
      store.createVm('edge', { base, privateSizeBytes: null, volatileSizeBytes: null }),
      rejectsWith('VM_DISKS_EXIST'),
    );
    for (const id of ['../../disks', 'ABCDEF0123456789', '0123', '0123456789abcdef/']) {
      await assert.rejects(store.revert('edge', id), rejectsWith('CHECKPOINT_ID_INVALID'));
    }
    await assert.rejects(
      store.deleteCheckpoint('edge', '0123456789abcdef'),
      rejectsWith('CHECKPOINT_NOT_FOUND'),
    );
    await assert.rejects(
      store.checkpoint('edge', { message: 'two\nlines' }),
      rejectsWith('CHECKPOINT_OPTIONS_INVALID'),
    );
    await assert.rejects(store.checkpoint('edge', { keep: 0 }), rejectsWith('CHECKPOINT_OPTIONS_INVALID'));
    await assert.rejects(
      store.createVm('sized', { base, privateSizeBytes: 1000, volatileSizeBytes: null }),
      rejectsWith('DISK_SIZE_INVALID'),
    );
    await assert.rejects(
      store.createVm('unknown-base', {
        base: `tiny@${'0'.repeat(64)}`,
        privateSizeBytes: null,
        volatileSizeBytes: null,
      }),
      rejectsWith('IMAGE_NOT_FOUND'),
    );
    await assert.rejects(
      store.createVm('bad-ref', { base: 'tiny@latest', privateSizeBytes: null, volatileSizeBytes: null }),
      rejectsWith('IMAGE_REF_INVALID'),
    );
  });
});

import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { readFile, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { withPassphraseFile } from '../vault/passphrase-file.js';
import type { DiskKeys } from './disk-store.js';
import { DiskError } from './errors.js';
import { QemuImg, type LayerKey } from './qemu-img.js';
import { makeStoreFixture, run, type StoreFixture } from './testing/fixtures.js';
import { REGION_BYTES } from './testing/guest-view.js';

const MiB = 1024 * 1024;
const qemuImg = new QemuImg();

/** The vault's part, reduced to what the store sees: a key file while "unsealed", a refusal while "sealed". */
class TestKeys implements DiskKeys {
  sealed = false;
  handedOut = 0;
  readonly passphrase = randomBytes(32).toString('base64url');
  withKeyFile<T>(secretUuid: string, use: (file: string) => Promise<T>): Promise<T> {
    if (this.sealed) return Promise.reject(new Error(`sealed: no key for ${secretUuid}`));
    this.handedOut += 1;
    return withPassphraseFile(Buffer.from(this.passphrase), use);
  }
}

/** qemu-io on an encrypted layer and the `depth` layers below it (the store's own key options, by hand). */
async function qemuIo(keys: TestKeys, image: string, depth: number, commands: string[]): Promise<string> {
  return withPassphraseFile(Buffer.from(keys.passphrase), async (file) => {
    const options = ['driver=qcow2', `file.filename=${image}`];
    for (let level = 0; level <= depth; level += 1) {
      options.push(`${'backing.'.repeat(level)}encrypt.key-secret=k`);
    }
    const { stdout } = await run('qemu-io', [
      '--object',
      `secret,id=k,file=${file},format=raw`,
      '--image-opts',
      options.join(','),
      ...commands.flatMap((command) => ['-c', command]),
    ]);
    return stdout;
  });
}

async function write(keys: TestKeys, image: string, depth: number, region: number, byte: number) {
  await qemuIo(keys, image, depth, [`write -P ${byte} ${region * REGION_BYTES} ${REGION_BYTES}`]);
}

/** Asserts what each region reads through the chain: `byte` (0 = never written). */
async function assertReads(
  keys: TestKeys,
  image: string,
  depth: number,
  expected: Record<number, number>,
  label: string,
): Promise<void> {
  for (const [region, byte] of Object.entries(expected)) {
    const output = await qemuIo(keys, image, depth, [
      `read -P ${byte} ${Number(region) * REGION_BYTES} ${REGION_BYTES}`,
    ]);
    assert.doesNotMatch(output, /Pattern verification failed/, `${label}: region ${region} is not ${byte}`);
    assert.match(output, /^read \d+\/\d+ bytes/m, `${label}: ${output}`);
  }
}

/** No 4 KiB run of `byte` anywhere in the file: what was written is not there in clear. */
async function assertNoPlaintext(path: string, byte: number): Promise<void> {
  const content = await readFile(path);
  assert.equal(content.indexOf(Buffer.alloc(4096, byte)), -1, `${path} holds the written bytes in clear`);
}

describe('DiskStore: encrypted VMs (every layer LUKS, one key)', () => {
  let fixture: StoreFixture;
  const keys = new TestKeys();
  const secretUuid = randomUUID();

  before(async () => {
    fixture = await makeStoreFixture({ keys });
  });
  after(() => fixture.cleanup());

  function layerPath(id: string): string {
    return join(fixture.options.vmsDir, 'secret', 'private', `${id}.qcow2`);
  }

  it('encrypts the private layers, the root overlay and the volatile volume; the base stays plain', async () => {
    const { store, base } = fixture;
    await store.createVm('secret', {
      base,
      privateSizeBytes: 16 * MiB,
      volatileSizeBytes: 8 * MiB,
      encryption: { secretUuid },
    });
    assert.deepEqual((await store.manifest('secret')).encryption, { format: 'luks', secretUuid });
    const disks = await store.prepareForStart('secret');
    for (const path of [disks.root, disks.private, disks.volatile]) {
      assert.ok(path !== null);
      assert.equal((await qemuImg.info(path, 'qcow2')).encrypted, true, `${path} is encrypted`);
    }
    assert.equal((await qemuImg.info(store.images.pathOf(base), 'qcow2')).encrypted, false);
    // The root overlay reads the plain base through its own key.
    await assertReads(keys, disks.root ?? '', 1, { 0: 0x5a }, 'root');
    const chains = await store.layerChains('secret');
    assert.deepEqual(chains.root, { path: disks.root, base: store.images.pathOf(base) });
    assert.deepEqual(chains.private, [disks.private]);
    await store.cleanupAfterStop('secret');
  });

  it('checkpoints, deletes a middle checkpoint, prunes and reverts with the key; each layer reads as before', async () => {
    const { store } = fixture;
    const top = async () => (await store.diskPaths('secret')).private ?? '';
    const depth = async () => (await store.manifest('secret')).private?.checkpoints.length ?? 0;
    await write(keys, await top(), await depth(), 0, 0x11);
    const first = await store.checkpoint('secret', { message: 'first' });
    await write(keys, await top(), await depth(), 0, 0x22);
    await write(keys, await top(), await depth(), 1, 0x23);
    const second = await store.checkpoint('secret', { message: 'second' });
    await write(keys, await top(), await depth(), 2, 0x33);
    const third = await store.checkpoint('secret', { message: 'third' });
    await write(keys, await top(), await depth(), 3, 0x44);
    assert.equal(await depth(), 3);
    await store.verifyChain('secret');

    await store.deleteCheckpoint('secret', second.id);
    assert.deepEqual(
      (await store.listCheckpoints('secret')).map((checkpoint) => checkpoint.id),
      [first.id, third.id],
    );
    // The rebase's json: name for the encrypted parent was replaced by the plain relative name.
    const thirdHeader = await qemuImg.info(layerPath(third.id), 'qcow2');
    assert.equal(thirdHeader.backingFile, `${first.id}.qcow2`);
    assert.equal(thirdHeader.encrypted, true);
    await assertReads(keys, layerPath(third.id), 1, { 0: 0x22, 1: 0x23, 2: 0x33 }, 'third after the merge');
    await assertReads(keys, await top(), 2, { 0: 0x22, 1: 0x23, 2: 0x33, 3: 0x44 }, 'top after the merge');
    await store.verifyChain('secret');

    // Deleting the bottom layer rebases its child onto nothing.
    await store.prune('secret', 1);
    assert.deepEqual(
      (await store.listCheckpoints('secret')).map((checkpoint) => checkpoint.id),
      [third.id],
    );
    assert.equal((await qemuImg.info(layerPath(third.id), 'qcow2')).backingFile, null);
    await assertReads(keys, layerPath(third.id), 0, { 0: 0x22, 1: 0x23, 2: 0x33 }, 'third alone');
    await store.verifyChain('secret');

    await store.revert('secret', third.id);
    await assertReads(keys, await top(), 1, { 0: 0x22, 1: 0x23, 2: 0x33, 3: 0 }, 'after revert');
    assert.equal((await qemuImg.info(await top(), 'qcow2')).encrypted, true);
    await store.verifyChain('secret');

    for (const file of await readdir(join(fixture.options.vmsDir, 'secret', 'private'))) {
      for (const byte of [0x11, 0x22, 0x23, 0x33, 0x44]) {
        await assertNoPlaintext(join(fixture.options.vmsDir, 'secret', 'private', file), byte);
      }
    }
  });

  it('refuses every operation that needs the key while it cannot be had, changing nothing', async () => {
    const { store } = fixture;
    const manifestBefore = await readFile(join(fixture.options.vmsDir, 'secret', 'disks.json'), 'utf8');
    const filesBefore = await readdir(join(fixture.options.vmsDir, 'secret', 'private'));
    const id = (await store.listCheckpoints('secret'))[0]?.id ?? '';
    keys.sealed = true;
    const sealed = /sealed: no key for/;
    await assert.rejects(store.checkpoint('secret'), sealed);
    await assert.rejects(store.revert('secret', id), sealed);
    await assert.rejects(store.deleteCheckpoint('secret', id), sealed);
    await assert.rejects(store.prune('secret', 0), sealed);
    await assert.rejects(store.prepareForStart('secret'), sealed);
    // What reads no layer data works sealed: the VM list, its checkpoints, the cleanup after a stop.
    assert.equal((await store.listCheckpoints('secret')).length, 1);
    await store.cleanupAfterStop('secret');
    keys.sealed = false;
    assert.equal(
      await readFile(join(fixture.options.vmsDir, 'secret', 'disks.json'), 'utf8'),
      manifestBefore,
    );
    assert.deepEqual(await readdir(join(fixture.options.vmsDir, 'secret', 'private')), filesBefore);
    await store.verifyChain('secret');
  });

  it('finishes a merge cut between the rebase and the header rename: the json: name is resolved and replaced', async () => {
    // qemu-img stopped after the safe rebase (header naming the parent in json: form), before `rebase -u`.
    class CutAfterRebase extends QemuImg {
      cuts = 1;
      override async setBackingName(path: string, backingFile: string, key: LayerKey): Promise<void> {
        if (this.cuts > 0) {
          this.cuts -= 1;
          throw new Error('killed between the two header writes');
        }
        await super.setBackingName(path, backingFile, key);
      }
    }
    const cutting = new CutAfterRebase();
    const cut = await makeStoreFixture({ keys, qemuImg: cutting });
    try {
      const store = cut.store;
      await store.createVm('cut', {
        base: null,
        privateSizeBytes: 8 * MiB,
        volatileSizeBytes: null,
        encryption: { secretUuid },
      });
      const top = async () => (await store.diskPaths('cut')).private ?? '';
      await write(keys, await top(), 0, 0, 0x51);
      const first = await store.checkpoint('cut');
      await write(keys, await top(), 1, 1, 0x52);
      const second = await store.checkpoint('cut');
      await write(keys, await top(), 2, 2, 0x53);
      await assert.rejects(store.deleteCheckpoint('cut', second.id), /killed between the two header writes/);
      assert.equal(cutting.cuts, 0);
      // The failure was recovered at once, as a crash would be at the next operation: forward, not back.
      assert.deepEqual(
        (await store.listCheckpoints('cut')).map((checkpoint) => checkpoint.id),
        [first.id],
      );
      const header = await qemuImg.info(await top(), 'qcow2');
      assert.equal(header.backingFile, `${first.id}.qcow2`);
      await assertReads(keys, await top(), 1, { 0: 0x51, 1: 0x52, 2: 0x53 }, 'top after the recovered merge');
      await store.verifyChain('cut');
    } finally {
      await cut.cleanup();
    }
  });

  it('refuses an encrypted VM in a store without a key source (DISK_KEYS_UNAVAILABLE)', async () => {
    const bare = await makeStoreFixture();
    try {
      await assert.rejects(
        bare.store.createVm('locked', {
          base: null,
          privateSizeBytes: MiB,
          volatileSizeBytes: null,
          encryption: { secretUuid },
        }),
        (error: unknown) => error instanceof DiskError && error.code === 'DISK_KEYS_UNAVAILABLE',
      );
      await assert.rejects(stat(join(bare.options.vmsDir, 'locked')), { code: 'ENOENT' });
    } finally {
      await bare.cleanup();
    }
  });
});

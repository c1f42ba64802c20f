import { randomBytes } from 'node:crypto';
import { chmod, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  FROZEN_LAYER_MODE,
  WRITABLE_LAYER_MODE,
  checkpointTop,
  createOverlayWithQemuImg,
  findCheckpoint,
  mergeAwayCheckpoint,
  recoverFromJournal,
  requirePrivate,
  revertToCheckpoint,
  type ChainContext,
  type OverlayCreator,
  type RecoveryOutcome,
} from './chain-operations.js';
import { DiskError, isNodeError } from './errors.js';
import { fsyncDirectory, fsyncPath, removeFileDurably, renameDurably } from '../durable-fs.js';
import { acquireFileLock } from './file-lock.js';
import type { HeldFileLock } from './file-lock.js';
import { ImageStore } from './image-store.js';
import { readJournal } from './journal.js';
import { KeyedMutex } from './keyed-mutex.js';
import {
  LiveMergePendingError,
  liveDeleteCheckpoint,
  recoverLiveDelete,
  settleLayerAliases,
  type LiveMerger,
} from './live-merge.js';
import {
  readManifest,
  writeManifest,
  type CheckpointRecord,
  type DiskEncryption,
  type DiskManifest,
} from './manifest.js';
import {
  assertCheckpointId,
  assertDiskSize,
  assertVmName,
  formatImageRef,
  newLayerId,
  parseImageRef,
  type ImageRef,
} from './names.js';
import { QemuImg, type LayerKey } from './qemu-img.js';
import { VmLayout } from './vm-layout.js';
import type { Logger } from '../log.js';

export interface DiskStoreOptions {
  imagesDir: string;
  vmsDir: string;
  /** Most layers a private chain may have (checkpoints + top); older unpinned layers are merged to stay under. */
  maxChainDepth?: number;
  /** How long to wait for another hostd process holding a VM's lock before failing with CHAIN_BUSY. */
  lockWaitMs?: number;
  qemuImg?: QemuImg;
  logger?: Logger;
  /**
   * Called after every durable step of a chain operation (`checkpoint:overlay-created`, …). For the crash tests,
   * which stop the process there; leave unset otherwise.
   */
  onStep?: (step: string) => void | Promise<void>;
  /** Where the keys of encrypted VMs come from (hostd: the vault); without it an encrypted VM's data cannot be touched. */
  keys?: DiskKeys;
}

/**
 * Hands out the passphrase of an encrypted VM's layers as a private file for the duration of `use` (removed
 * after), or throws saying why it cannot (hostd: VAULT_SEALED while the vault is sealed).
 */
export interface DiskKeys {
  withKeyFile<T>(secretUuid: string, use: (file: string) => Promise<T>): Promise<T>;
}

/** What a domain definition needs to spell out an encrypted VM's backing chains (libvirt cannot probe the keys). */
export interface LayerChains {
  encryption: DiskEncryption | null;
  /** The root overlay and the (plain) base image below it. */
  root: { path: string; base: string } | null;
  /** The private volume's layers, the top first, then each checkpoint down to the oldest. */
  private: string[] | null;
  volatile: string | null;
}

export interface CreateVmDisksRequest {
  /**
   * `name@sha256` of a base image in the image store, which the root volume overlays at every start; null for a
   * VM without root volume (one that boots a kernel and initramfs, whose volumes are only private and volatile).
   */
  base: string | ImageRef | null;
  /**
   * Virtual size of the root overlay, at least the base image's (the guest grows its file system into the
   * rest); absent or null: the base's size. Costs nothing until the guest writes.
   */
  rootSizeBytes?: number | null;
  /** Size of the persistent, checkpointed volume; null for roles that keep nothing (routers, disposables). */
  privateSizeBytes: number | null;
  /** Size of the scratch volume recreated empty at every start; null for none. */
  volatileSizeBytes: number | null;
  /** Unpinned checkpoints to keep after each checkpoint; null: keep all (the chain depth still bounds them). */
  keepUnpinned?: number | null;
  /**
   * LUKS-encrypt every layer the VM writes (root overlay, private layers, volatile) with the key of this
   * secret; the base image stays plain. The key must exist already (`keys` hands it out).
   */
  encryption?: { secretUuid: string } | null;
}

export interface Checkpoint {
  id: string;
  createdAt: string;
  message: string;
  pinned: boolean;
  /** Bytes the checkpoint's layer occupies on the host disk: what deleting it would free, at most. */
  sizeBytes: number;
}

export interface CheckpointOptions {
  message?: string;
  pinned?: boolean;
  /** Overrides the VM's keepUnpinned for this checkpoint's pruning. */
  keep?: number;
  /**
   * The VM runs: QEMU holds the layers open, so nothing may be merged now. A chain at its depth limit is
   * refused instead, and pruning waits for a checkpoint of the stopped VM.
   */
  live?: boolean;
}

/** What a domain definition needs to attach the VM's disks (all qcow2; backing formats are in the headers). */
export interface StartDisks {
  root: string | null;
  private: string | null;
  volatile: string | null;
}

export interface RecoveryReport extends RecoveryOutcome {
  vm: string;
}

const DEFAULT_MAX_CHAIN_DEPTH = 16;
const DEFAULT_LOCK_WAIT_MS = 10_000;
/** See holdFileLock. */
const LOCK_LINGER_MS = 1_000;
const MAX_MESSAGE_LENGTH = 1000;
/**
 * Traverse, not list: QEMU runs as its own user and must reach the layer files (libvirt hands it the files
 * themselves at start, never the directories), while the file names stay unlistable to other users.
 */
const VM_DIRECTORY_MODE = 0o711;

/**
 * Disk chains of stopped VMs, on the Qubes volume model:
 *  - root: a fresh qcow2 overlay on the (read-only, content-addressed) base image at every start, deleted at stop,
 *    so nothing a VM writes to its root outlives a restart;
 *  - private: a chain of qcow2 layers that persists; a checkpoint freezes the top layer and starts a new one;
 *  - volatile: an empty qcow2 made at start and deleted at stop.
 * Operations on one VM are serialised (in this process and, through a lock file, across processes), and each
 * multi-step change is journaled so that whoever next touches the VM finishes or undoes it.
 */
export class DiskStore {
  readonly images: ImageStore;
  private readonly qemuImg: QemuImg;
  private readonly maxChainDepth: number;
  private readonly lockWaitMs: number;
  private readonly mutex = new KeyedMutex();
  private readonly lingeringLocks = new Map<string, { lock: HeldFileLock; timer: NodeJS.Timeout }>();
  /** The VM engine's way to finish a running VM's interrupted live delete, while `resumeLiveMerge` runs. */
  private readonly liveMergers = new Map<string, LiveMerger>();

  private options: DiskStoreOptions;

  constructor(options: DiskStoreOptions) {
    // Absolute, so that layer paths compare equal to backing paths qemu-img reports.
    this.options = { ...options, imagesDir: resolve(options.imagesDir), vmsDir: resolve(options.vmsDir) };
    this.qemuImg = options.qemuImg ?? new QemuImg();
    this.images = new ImageStore(this.options.imagesDir, this.qemuImg);
    this.maxChainDepth = options.maxChainDepth ?? DEFAULT_MAX_CHAIN_DEPTH;
    if (!Number.isSafeInteger(this.maxChainDepth) || this.maxChainDepth < 2) {
      throw new DiskError(
        'DISK_OPTIONS_INVALID',
        `maxChainDepth must be an integer of at least 2 (one checkpoint and the top).`,
      );
    }
    this.lockWaitMs = options.lockWaitMs ?? DEFAULT_LOCK_WAIT_MS;
  }

  /** Makes a VM's disks: a manifest and an empty first private layer. O(1) in the base image's size. */
  async createVm(vmName: string, request: CreateVmDisksRequest): Promise<DiskManifest> {
    const vm = assertVmName(vmName);
    const base =
      request.base === null
        ? null
        : parseImageRef(typeof request.base === 'string' ? request.base : formatImageRef(request.base));
    const privateSize =
      request.privateSizeBytes === null ? null : assertDiskSize(request.privateSizeBytes, 'private volume');
    const volatileSize =
      request.volatileSizeBytes === null
        ? null
        : assertDiskSize(request.volatileSizeBytes, 'volatile volume');
    const keepUnpinned = request.keepUnpinned == null ? null : assertKeep(request.keepUnpinned, 1);
    const rootSize =
      request.rootSizeBytes == null || base === null
        ? null
        : assertDiskSize(request.rootSizeBytes, 'root volume');
    if (base === null && privateSize === null && volatileSize === null) {
      throw new DiskError(
        'DISK_OPTIONS_INVALID',
        `VM ${vm} would have no volume at all (no base, no private, no volatile volume). A VM without volumes needs no disks: do not create any.`,
      );
    }
    const encryption: DiskEncryption | null =
      request.encryption == null ? null : { format: 'luks', secretUuid: request.encryption.secretUuid };
    const layout = this.layout(vm);
    return this.withVmLock(layout, async () => {
      if ((await readManifest(layout.manifest)) !== null || (await exists(layout.dir))) {
        throw new DiskError(
          'VM_DISKS_EXIST',
          `VM ${vm} already has disks in ${layout.dir}. Delete the VM first or pick another name.`,
        );
      }
      if (base !== null) await this.images.assertPresent(base);
      const staging = join(
        this.options.vmsDir,
        `${VmLayout.creatingPrefix(vm)}${randomBytes(6).toString('hex')}`,
      );
      const stagingLayout = new VmLayout(vm, staging, layout.lock);
      await makeTraversableDirectory(this.options.vmsDir);
      await makeTraversableDirectory(staging);
      await makeTraversableDirectory(stagingLayout.privateDir);
      const firstLayer = newLayerId();
      if (privateSize !== null) {
        await this.withKey(encryption, (key) =>
          this.qemuImg.createBlank(stagingLayout.layer(firstLayer), privateSize, key),
        );
        await chmod(stagingLayout.layer(firstLayer), WRITABLE_LAYER_MODE);
        await fsyncPath(stagingLayout.layer(firstLayer));
        await fsyncDirectory(stagingLayout.privateDir);
      }
      const manifest: DiskManifest = {
        format: 1,
        vm,
        generation: 0,
        base: base === null ? null : formatImageRef(base),
        ...(rootSize === null ? {} : { rootSizeBytes: rootSize }),
        volatileSizeBytes: volatileSize,
        keepUnpinned,
        private: privateSize === null ? null : { sizeBytes: privateSize, checkpoints: [], top: firstLayer },
        ...(encryption === null ? {} : { encryption }),
      };
      const written = await writeManifest(stagingLayout.manifest, manifest);
      await renameDurably(staging, layout.dir);
      return written;
    });
  }

  /** Deletes every disk file of the VM (its lock file stays: a waiter may hold it open). */
  async deleteVm(vmName: string): Promise<void> {
    const layout = this.layout(assertVmName(vmName));
    await this.withVmLock(layout, async () => {
      await this.requireManifest(layout);
      const doomed = join(
        this.options.vmsDir,
        `${VmLayout.deletingPrefix(layout.vm)}${randomBytes(6).toString('hex')}`,
      );
      await renameDurably(layout.dir, doomed);
      await rm(doomed, { recursive: true, force: true });
    });
  }

  /**
   * Where the VM's volumes are attached from, for a domain definition made while the VM is stopped: the root
   * and volatile files appear only at `prepareForStart`, and the private path changes with every checkpoint or
   * revert, so a definition made from these goes stale and must be remade from `prepareForStart`'s at start.
   */
  async diskPaths(vmName: string): Promise<StartDisks> {
    const layout = this.layout(assertVmName(vmName));
    return this.withVmLock(layout, async () => {
      const manifest = await this.requireManifest(layout);
      return {
        root: manifest.base === null ? null : layout.root,
        private: manifest.private === null ? null : layout.layer(manifest.private.top),
        volatile: manifest.volatileSizeBytes === null ? null : layout.volatile,
      };
    });
  }

  /**
   * Gives the store its key source once there is one: hostd opens its vault after recovering the disks, so
   * encrypted VMs' interrupted operations wait for it (see recoverAll).
   */
  useKeys(keys: DiskKeys): void {
    this.options = { ...this.options, keys };
  }

  /** The directory of VM `vmName`'s disks (whether or not it exists). */
  vmDirectory(vmName: string): string {
    return this.layout(assertVmName(vmName)).dir;
  }

  /** The manifest, e.g. to mirror into the domain's metadata. */
  async manifest(vmName: string): Promise<DiskManifest> {
    const layout = this.layout(assertVmName(vmName));
    return this.withVmLock(layout, () => this.requireManifest(layout));
  }

  /**
   * Verifies the base image, then makes a fresh root overlay on it and an empty volatile volume (replacing any
   * left by a run that was never cleaned up). Returns the paths for the domain definition; root is null for a
   * VM without base.
   */
  async prepareForStart(vmName: string): Promise<StartDisks> {
    const layout = this.layout(assertVmName(vmName));
    return this.withVmKeyLock(layout, async (ctx) => {
      const manifest = await this.requireManifest(layout);
      const base = manifest.base === null ? null : parseImageRef(manifest.base);
      if (base !== null) await this.images.verify(base);
      await makeTraversableDirectory(layout.runDir);
      const key = ctx.keyFile === null ? undefined : { file: ctx.keyFile, depth: 0 };
      if (base !== null) {
        const basePath = this.images.pathOf(base);
        // An encrypted overlay is made without opening its backing file (-u), so it needs its size.
        const rootSize =
          manifest.rootSizeBytes ??
          (key === undefined ? undefined : (await this.qemuImg.info(basePath, 'qcow2')).virtualSizeBytes);
        await this.replaceWith(layout.root, (staging) =>
          this.qemuImg.createOverlay(staging, basePath, rootSize, key),
        );
      }
      let volatile: string | null = null;
      if (manifest.volatileSizeBytes !== null) {
        const size = manifest.volatileSizeBytes;
        await this.replaceWith(layout.volatile, (staging) => this.qemuImg.createBlank(staging, size, key));
        volatile = layout.volatile;
      }
      const top = manifest.private === null ? null : layout.layer(manifest.private.top);
      if (top !== null && !(await exists(top))) {
        throw new DiskError(
          'CHAIN_INCONSISTENT',
          `the private volume's top layer ${top} named by the manifest of VM ${layout.vm} is missing. Restore the VM from a backup.`,
        );
      }
      return { root: base === null ? null : layout.root, private: top, volatile };
    });
  }

  /**
   * Every layer of the VM's volumes as a domain definition must spell them out for an encrypted VM (libvirt
   * cannot open an encrypted backing layer it only probed), and the key they share. Reads no layer's data.
   */
  async layerChains(vmName: string): Promise<LayerChains> {
    const layout = this.layout(assertVmName(vmName));
    return this.withVmLock(layout, async () => {
      const manifest = await this.requireManifest(layout);
      const chain = manifest.private;
      return {
        encryption: manifest.encryption ?? null,
        root:
          manifest.base === null
            ? null
            : { path: layout.root, base: this.images.pathOf(parseImageRef(manifest.base)) },
        private:
          chain === null
            ? null
            : [chain.top, ...chain.checkpoints.map((checkpoint) => checkpoint.id).reverse()].map((id) =>
                layout.layer(id),
              ),
        volatile: manifest.volatileSizeBytes === null ? null : layout.volatile,
      };
    });
  }

  /** Deletes the root overlay and the volatile volume: what the VM wrote there is gone. Idempotent. */
  async cleanupAfterStop(vmName: string): Promise<void> {
    const layout = this.layout(assertVmName(vmName));
    await this.withVmLock(layout, async () => {
      await this.requireManifest(layout);
      for (const path of [layout.root, layout.volatile]) {
        await removeFileDurably(VmLayout.staging(path));
        await removeFileDurably(path);
      }
    });
  }

  /**
   * Freezes the private volume's top layer as a checkpoint and starts a new top on it (O(1)), merging the oldest
   * unpinned checkpoints first if the chain would grow past its depth limit, and after it if there are more
   * unpinned checkpoints than `keep`. `createOverlay` is how the new top is made: by default qemu-img, which is
   * right for a stopped VM; the live path passes a libvirt disk-only external snapshot.
   */
  async checkpoint(
    vmName: string,
    options: CheckpointOptions = {},
    createOverlay?: OverlayCreator,
  ): Promise<Checkpoint> {
    const layout = this.layout(assertVmName(vmName));
    const message = assertMessage(options.message ?? '');
    const pinned = options.pinned ?? false;
    if (typeof pinned !== 'boolean')
      throw new DiskError('CHECKPOINT_OPTIONS_INVALID', 'pinned must be true or false.');
    const keepOverride = options.keep === undefined ? undefined : assertKeep(options.keep, 1);
    return this.withVmKeyLock(layout, async (ctx) => {
      let manifest = await this.requireManifest(layout);
      const layersAfter = () => requirePrivate(manifest).checkpoints.length + 2;
      while (layersAfter() > this.maxChainDepth) {
        if (options.live === true) {
          throw new DiskError(
            'CHAIN_DEPTH_LIMIT',
            `VM ${layout.vm} has ${requirePrivate(manifest).checkpoints.length} checkpoints, the most its chain depth (${this.maxChainDepth}) allows, and older ones cannot be merged while it runs. Stop it and checkpoint again (that merges the oldest unpinned one), or delete a checkpoint of the stopped VM.`,
          );
        }
        const oldest = requirePrivate(manifest).checkpoints.find((checkpoint) => !checkpoint.pinned);
        if (oldest === undefined) {
          throw new DiskError(
            'CHAIN_DEPTH_LIMIT',
            `VM ${layout.vm} has ${requirePrivate(manifest).checkpoints.length} pinned checkpoints, the most its chain depth (${this.maxChainDepth}) allows. Unpin or delete one first.`,
          );
        }
        manifest = await mergeAwayCheckpoint(ctx, manifest, oldest.id);
      }
      const frozenId = requirePrivate(manifest).top;
      manifest = await checkpointTop(
        ctx,
        manifest,
        { message, pinned },
        createOverlay ?? createOverlayWithQemuImg(ctx),
      );
      const keep = keepOverride ?? manifest.keepUnpinned;
      if (keep !== null && options.live !== true) manifest = await this.pruneLocked(ctx, manifest, keep);
      const kept = requirePrivate(manifest).checkpoints.find((checkpoint) => checkpoint.id === frozenId);
      if (kept === undefined) {
        throw new DiskError(
          'CHAIN_INCONSISTENT',
          `checkpoint ${frozenId} of VM ${layout.vm} vanished while pruning.`,
        );
      }
      return this.describeCheckpoint(layout, kept);
    });
  }

  /** Checkpoints, oldest first. */
  async listCheckpoints(vmName: string): Promise<Checkpoint[]> {
    const layout = this.layout(assertVmName(vmName));
    return this.withVmLock(layout, async () => {
      const chain = requirePrivate(await this.requireManifest(layout));
      return Promise.all(chain.checkpoints.map((checkpoint) => this.describeCheckpoint(layout, checkpoint)));
    });
  }

  /**
   * Returns the private volume to checkpoint `id`: the layers above it (later checkpoints and the current top)
   * are dropped and a fresh top starts on it. Refuses to drop pinned checkpoints unless `discardPinned`.
   */
  async revert(vmName: string, id: string, options: { discardPinned?: boolean } = {}): Promise<void> {
    const layout = this.layout(assertVmName(vmName));
    const checkpointId = assertCheckpointId(id);
    await this.withVmKeyLock(layout, async (ctx) => {
      const manifest = await this.requireManifest(layout);
      findCheckpoint(manifest, checkpointId);
      const chain = requirePrivate(manifest);
      const above = chain.checkpoints.slice(chain.checkpoints.findIndex((c) => c.id === checkpointId) + 1);
      const pinnedAbove = above.filter((checkpoint) => checkpoint.pinned);
      if (pinnedAbove.length > 0 && options.discardPinned !== true) {
        throw new DiskError(
          'CHECKPOINT_PINNED_ABOVE',
          `reverting VM ${layout.vm} to ${checkpointId} would drop pinned checkpoint(s) ${pinnedAbove.map((c) => c.id).join(', ')}. Unpin them, or confirm dropping them (discardPinned).`,
        );
      }
      await revertToCheckpoint(ctx, manifest, checkpointId, createOverlayWithQemuImg(ctx));
    });
  }

  /**
   * Merges checkpoint `id`'s layer away; every other checkpoint and the top read exactly as before. With
   * `liveMerge` (the VM runs) QEMU does the merge as a block job (see live-merge.ts).
   */
  async deleteCheckpoint(vmName: string, id: string, liveMerge?: LiveMerger): Promise<void> {
    const layout = this.layout(assertVmName(vmName));
    const checkpointId = assertCheckpointId(id);
    await this.withVmKeyLock(layout, async (ctx) => {
      const manifest = await this.requireManifest(layout);
      if (findCheckpoint(manifest, checkpointId).pinned) {
        throw new DiskError(
          'CHECKPOINT_PINNED',
          `checkpoint ${checkpointId} of VM ${layout.vm} is pinned. Unpin it first.`,
        );
      }
      if (liveMerge === undefined) {
        await mergeAwayCheckpoint(ctx, manifest, checkpointId);
        return;
      }
      // Settling a live delete's alias rewrites a header, which for LUKS layers needs key options not wired there.
      if ((manifest.encryption ?? null) !== null) {
        throw new DiskError(
          'DISK_IN_USE',
          `VM ${layout.vm} is encrypted and running; hostd deletes checkpoints of encrypted VMs only while they are stopped. Stop it, then retry.`,
        );
      }
      await liveDeleteCheckpoint(ctx, manifest, checkpointId, liveMerge);
    });
  }

  async setPinned(vmName: string, id: string, pinned: boolean): Promise<void> {
    const layout = this.layout(assertVmName(vmName));
    const checkpointId = assertCheckpointId(id);
    await this.withVmLock(layout, async () => {
      const manifest = await this.requireManifest(layout);
      if (findCheckpoint(manifest, checkpointId).pinned === pinned) return;
      const chain = requirePrivate(manifest);
      await writeManifest(layout.manifest, {
        ...manifest,
        private: {
          ...chain,
          checkpoints: chain.checkpoints.map((c) => (c.id === checkpointId ? { ...c, pinned } : c)),
        },
      });
    });
  }

  /** Merges the oldest unpinned checkpoints away until at most `keep` unpinned ones remain. */
  async prune(vmName: string, keep: number): Promise<void> {
    const layout = this.layout(assertVmName(vmName));
    const limit = assertKeep(keep, 0);
    await this.withVmKeyLock(layout, async (ctx) => {
      await this.pruneLocked(ctx, await this.requireManifest(layout), limit);
    });
  }

  /** Finishes or undoes an operation a crash interrupted; null if there was none. Other calls do this first too. */
  async recover(vmName: string): Promise<RecoveryReport | null> {
    const layout = this.layout(assertVmName(vmName));
    let report: RecoveryReport | null = null;
    try {
      await this.withVmLock(
        layout,
        () => Promise.resolve(),
        (recovered) => (report = recovered),
      );
    } catch (error) {
      // A running VM's merge in QEMU: not this store's to finish (resumeLiveMerge is), and not a failure.
      if (!(error instanceof LiveMergePendingError)) throw error;
      this.options.logger?.info('a live checkpoint delete waits for the VM engine', { vm: layout.vm });
    }
    return report;
  }

  /**
   * Finishes a running VM's live checkpoint delete that hostd was cut off from (it crashed, or QEMU's job
   * failed): `merge` starts the block job again unless it still runs, and waits for it. True if there was one.
   */
  async resumeLiveMerge(vmName: string, merge: LiveMerger): Promise<boolean> {
    const layout = this.layout(assertVmName(vmName));
    const journal = await readJournal(layout.journal);
    if (journal?.intent.op !== 'live-delete-checkpoint') return false;
    this.liveMergers.set(layout.vm, merge);
    try {
      await this.recover(layout.vm);
    } finally {
      this.liveMergers.delete(layout.vm);
    }
    return true;
  }

  /** Recovers every VM in the store (at hostd start), and removes half-made or half-deleted VM directories. */
  async recoverAll(): Promise<RecoveryReport[]> {
    const entries = await this.vmsDirEntries();
    const staged = entries
      .filter((entry) => entry.startsWith('.creating@') || entry.startsWith('.deleting@'))
      .map((entry) => entry.split('@')[1] ?? '');
    const reports: RecoveryReport[] = [];
    for (const vm of new Set([...(await this.vmNames()), ...staged.filter(isVmName)])) {
      let report: RecoveryReport | null;
      try {
        report = await this.recover(vm);
      } catch (error) {
        // An encrypted VM's interrupted merge needs its key, which hostd has only once the vault is unsealed;
        // its next operation (which needs the key anyway) finishes it. Other VMs' failures stop the caller.
        const encrypted = await readManifest(this.layout(vm).manifest).then(
          (manifest) => (manifest?.encryption ?? null) !== null,
          () => false,
        );
        if (!encrypted) throw error;
        this.options.logger?.warn('an encrypted VM’s interrupted disk operation waits for its key', {
          vm,
          error: error instanceof Error ? error.message : String(error),
        });
        continue;
      }
      if (report !== null) reports.push(report);
    }
    return reports;
  }

  /** VMs that have disks here. */
  async vmNames(): Promise<string[]> {
    const entries = await this.vmsDirEntries();
    const names: string[] = [];
    for (const entry of entries.filter(isVmName)) {
      if (await exists(VmLayout.of(this.options.vmsDir, entry).manifest)) names.push(entry);
    }
    return names.sort();
  }

  /**
   * Checks that the files on disk are the chain the manifest describes: every layer exists with the right mode
   * and backing file, and qemu-img check finds no corruption or leak. Throws CHAIN_INCONSISTENT otherwise.
   */
  async verifyChain(vmName: string): Promise<void> {
    const layout = this.layout(assertVmName(vmName));
    await this.withVmKeyLock(layout, async (ctx) => {
      const manifest = await this.requireManifest(layout);
      if (manifest.private === null) return;
      const layers = [...manifest.private.checkpoints.map((c) => c.id), manifest.private.top];
      const problems: string[] = [];
      for (const [index, layer] of layers.entries()) {
        const path = layout.layer(layer);
        const expectedMode = index === layers.length - 1 ? WRITABLE_LAYER_MODE : FROZEN_LAYER_MODE;
        const mode = (await stat(path)).mode & 0o777;
        if (mode !== expectedMode)
          problems.push(`${layer}: mode ${mode.toString(8)}, expected ${expectedMode.toString(8)}`);
        const info = await this.qemuImg.info(path, 'qcow2');
        const below = layers[index - 1];
        const expectedBacking = below === undefined ? null : layout.layer(below);
        if (info.backingPath !== expectedBacking) {
          problems.push(
            `${layer}: backed by ${String(info.backingPath)}, expected ${String(expectedBacking)}`,
          );
        }
        if (info.virtualSizeBytes !== manifest.private.sizeBytes) {
          problems.push(
            `${layer}: virtual size ${info.virtualSizeBytes}, expected ${manifest.private.sizeBytes}`,
          );
        }
        const key = ctx.keyFile === null ? undefined : { file: ctx.keyFile, depth: index };
        if (key !== undefined && !info.encrypted) problems.push(`${layer}: not encrypted`);
        const check = await this.qemuImg.check(path, { repairLeaks: false }, key);
        if (check.corruptions + check.leaks + check.checkErrors > 0) {
          problems.push(
            `${layer}: qemu-img check found ${check.corruptions} corruptions, ${check.leaks} leaks`,
          );
        }
      }
      if (problems.length > 0) {
        throw new DiskError(
          'CHAIN_INCONSISTENT',
          `the private chain of VM ${layout.vm} does not match its manifest: ${problems.join('; ')}. Restore the VM from a backup.`,
        );
      }
    });
  }

  private async pruneLocked(ctx: ChainContext, start: DiskManifest, keep: number): Promise<DiskManifest> {
    let manifest = start;
    for (;;) {
      const unpinned = requirePrivate(manifest).checkpoints.filter((checkpoint) => !checkpoint.pinned);
      const oldest = unpinned[0];
      if (unpinned.length <= keep || oldest === undefined) return manifest;
      manifest = await mergeAwayCheckpoint(ctx, manifest, oldest.id);
    }
  }

  private async describeCheckpoint(layout: VmLayout, checkpoint: CheckpointRecord): Promise<Checkpoint> {
    const info = await stat(layout.layer(checkpoint.id));
    return { ...checkpoint, sizeBytes: info.blocks * 512 };
  }

  private layout(vm: string): VmLayout {
    return VmLayout.of(this.options.vmsDir, vm);
  }

  private async requireManifest(layout: VmLayout): Promise<DiskManifest> {
    const manifest = await readManifest(layout.manifest);
    if (manifest === null) {
      throw new DiskError(
        'VM_DISKS_NOT_FOUND',
        `VM ${layout.vm} has no disks in ${this.options.vmsDir}. Create it first.`,
      );
    }
    if (manifest.vm !== layout.vm) {
      throw new DiskError(
        'MANIFEST_INVALID',
        `${layout.manifest} belongs to VM ${manifest.vm}, not ${layout.vm}. Restore it from a backup.`,
      );
    }
    return manifest;
  }

  private async vmsDirEntries(): Promise<string[]> {
    try {
      return await readdir(this.options.vmsDir);
    } catch (error) {
      if (isNodeError(error, 'ENOENT')) return [];
      throw error;
    }
  }

  /** Builds a file under its staging name and renames it over `path`. */
  private async replaceWith(path: string, build: (staging: string) => Promise<void>): Promise<void> {
    const staging = VmLayout.staging(path);
    await removeFileDurably(staging);
    await build(staging);
    await chmod(staging, WRITABLE_LAYER_MODE);
    await fsyncPath(staging);
    await renameDurably(staging, path);
  }

  /**
   * Runs `work` holding the VM's in-process mutex and its lock file, after finishing whatever a crashed process
   * left: an operation journal, a half-made VM directory, a half-deleted one. An operation that fails midway
   * (qemu-img error, full disk, lost libvirt reply) is recovered at once, exactly as a crashed one would be, and
   * its error is then rethrown.
   */
  private async withVmLock<T>(
    layout: VmLayout,
    work: (ctx: ChainContext) => Promise<T>,
    onRecovered?: (report: RecoveryReport) => void,
    options: { needsKey?: boolean } = {},
  ): Promise<T> {
    return this.mutex.run(layout.vm, async () => {
      const lock = await this.holdFileLock(layout);
      try {
        await this.removeStagedDirectories(layout.vm);
        // An encrypted VM's key is fetched before anything changes, so a sealed vault refuses the operation whole.
        // Recovering an interrupted merge reads layer data too, so a journal left behind needs the key as well.
        const encryption = (await readManifest(layout.manifest))?.encryption ?? null;
        const needsKey =
          encryption !== null && (options.needsKey === true || (await readJournal(layout.journal)) !== null);
        return await this.withKey(needsKey ? encryption : null, async (key) => {
          const ctx: ChainContext = {
            layout,
            qemuImg: this.qemuImg,
            keyFile: key?.file ?? null,
            reached: async (step) => {
              await this.options.onStep?.(step);
            },
          };
          const report = await this.recoverLocked(ctx);
          if (report !== null) onRecovered?.(report);
          try {
            return await work(ctx);
          } catch (error) {
            await this.recoverLocked(ctx).catch((recoveryError: unknown) =>
              this.options.logger?.error(
                'could not recover a failed disk operation; the next one will retry',
                {
                  vm: layout.vm,
                  error: recoveryError instanceof Error ? recoveryError.message : String(recoveryError),
                },
              ),
            );
            throw error;
          }
        });
      } finally {
        this.lingerFileLock(layout.vm, lock);
      }
    });
  }
  /**
   * The VM's lock file, held across processes. Taken again within LOCK_LINGER_MS of its last use, the lock this
   * process still holds is reused: a task reads and changes a VM's disks several times in a row, and each fresh
   * lock is a flock process. Another process waits at most that much longer.
   */
  private async holdFileLock(layout: VmLayout): Promise<HeldFileLock> {
    const lingering = this.lingeringLocks.get(layout.vm);
    if (lingering !== undefined) {
      clearTimeout(lingering.timer);
      this.lingeringLocks.delete(layout.vm);
      return lingering.lock;
    }
    await mkdir(join(this.options.vmsDir, '.locks'), { recursive: true, mode: 0o700 });
    return acquireFileLock(layout.lock, { waitMs: this.lockWaitMs, what: `the disks of VM ${layout.vm}` });
  }

  /** Called with the VM's mutex held, so no other use of this lock runs until the next holdFileLock. */
  private lingerFileLock(vm: string, lock: HeldFileLock): void {
    const timer = setTimeout(() => {
      if (this.lingeringLocks.get(vm)?.lock !== lock) return;
      this.lingeringLocks.delete(vm);
      void this.mutex.run(vm, () => lock.release());
    }, LOCK_LINGER_MS);
    timer.unref();
    this.lingeringLocks.set(vm, { lock, timer });
  }

  /** `withVmLock` for operations that read or write layer data: an encrypted VM's key is held throughout. */
  private withVmKeyLock<T>(layout: VmLayout, work: (ctx: ChainContext) => Promise<T>): Promise<T> {
    return this.withVmLock(layout, work, undefined, { needsKey: true });
  }

  /** Runs `use` with the key of `encryption` as a layer key of depth 0 (undefined: a plain VM's). */
  private async withKey<T>(
    encryption: { secretUuid: string } | null,
    use: (key: LayerKey | undefined) => Promise<T>,
  ): Promise<T> {
    if (encryption === null) return use(undefined);
    const keys = this.options.keys;
    if (keys === undefined) {
      throw new DiskError(
        'DISK_KEYS_UNAVAILABLE',
        `the disks are encrypted (key ${encryption.secretUuid}) and this disk store was given no way to get keys. Run the operation through hostd, which takes them from its vault.`,
      );
    }
    return keys.withKeyFile(encryption.secretUuid, (file) => use({ file, depth: 0 }));
  }

  private async recoverLocked(ctx: ChainContext): Promise<RecoveryReport | null> {
    const journal = await readJournal(ctx.layout.journal);
    if (journal === null) {
      await settleLayerAliases(ctx, await readManifest(ctx.layout.manifest));
      return null;
    }
    const manifest = await this.requireManifest(ctx.layout);
    const { outcome } =
      journal.intent.op === 'live-delete-checkpoint'
        ? await recoverLiveDelete(ctx, manifest, journal, this.liveMergers.get(ctx.layout.vm))
        : await recoverFromJournal(ctx, manifest, journal);
    this.options.logger?.warn('finished or undid an interrupted disk operation', {
      vm: ctx.layout.vm,
      op: outcome.op,
      outcome: outcome.outcome,
      started: journal.startedAt,
    });
    return { vm: ctx.layout.vm, ...outcome };
  }

  /** Only the holder of this VM's lock creates or deletes these, so any found while holding it are leftovers. */
  private async removeStagedDirectories(vm: string): Promise<void> {
    const entries = await this.vmsDirEntries();
    const prefixes = [VmLayout.creatingPrefix(vm), VmLayout.deletingPrefix(vm)];
    for (const entry of entries.filter((name) => prefixes.some((prefix) => name.startsWith(prefix)))) {
      await rm(join(this.options.vmsDir, entry), { recursive: true, force: true });
      await fsyncDirectory(this.options.vmsDir);
    }
  }
}

function assertMessage(value: unknown): string {
  // eslint-disable-next-line no-control-regex
  if (typeof value !== 'string' || value.length > MAX_MESSAGE_LENGTH || /[\u0000-\u001f\u007f]/.test(value)) {
    throw new DiskError(
      'CHECKPOINT_OPTIONS_INVALID',
      `invalid checkpoint message: use at most ${MAX_MESSAGE_LENGTH} characters on one line, without control characters.`,
    );
  }
  return value;
}

function assertKeep(value: unknown, minimum: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < minimum || value > 10_000) {
    throw new DiskError(
      'CHECKPOINT_OPTIONS_INVALID',
      `invalid keep count ${JSON.stringify(value)}: give a whole number from ${minimum} to 10000.`,
    );
  }
  return value;
}

async function makeTraversableDirectory(path: string): Promise<void> {
  await mkdir(path, { recursive: true, mode: VM_DIRECTORY_MODE });
  // mkdir's mode is cut by the umask, and a directory an older hostd made keeps its mode.
  await chmod(path, VM_DIRECTORY_MODE);
}

function isVmName(name: string): boolean {
  try {
    assertVmName(name);
    return true;
  } catch {
    return false;
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (error) {
    if (isNodeError(error, 'ENOENT')) return false;
    throw error;
  }
}

import { chmod, stat } from 'node:fs/promises';
import { DiskError, isNodeError } from './errors.js';
import { fsyncPath, removeFileDurably, renameDurably } from '../durable-fs.js';
import { clearJournal, writeJournal, type ChainIntent, type JournalRecord } from './journal.js';
import { writeManifest, type CheckpointRecord, type DiskManifest, type PrivateChain } from './manifest.js';
import { newLayerId } from './names.js';
import type { LayerKey, QemuImg } from './qemu-img.js';
import { VmLayout } from './vm-layout.js';

/**
 * The journaled multi-step operations on a private-volume chain, and how to finish or undo each one after a
 * crash. Every step that changes the disk is followed by `reached(step)`: a no-op in production, the place where
 * the crash tests stop the process.
 *
 * The caller holds the VM's lock and has already recovered any earlier journal.
 */

/** Writable top layer / frozen checkpoint layer. VM disks are nobody else's business, hence no group/other bits. */
export const WRITABLE_LAYER_MODE = 0o600;
export const FROZEN_LAYER_MODE = 0o400;

/**
 * Makes the new top layer `path` on `backingFile` (a layer file name, relative to `path`'s directory) and
 * leaves it at `path` only once it is complete. Stopped VMs use qemu-img; a running VM's will be a libvirt
 * disk-only external snapshot to `path`, after which QEMU writes there — which is why a checkpoint whose new top
 * exists is always finished, never undone.
 */
export type OverlayCreator = (overlay: {
  path: string;
  backingFile: string;
  sizeBytes: number;
  /** An encrypted VM's key file while the checkpoint holds it; null for a plain VM. */
  keyFile: string | null;
}) => Promise<void>;

export interface ChainContext {
  layout: VmLayout;
  qemuImg: QemuImg;
  /**
   * The passphrase file of an encrypted VM's key, while the operation holds it; null for a plain VM (and for
   * an encrypted one whose operation reads no layer's data).
   */
  keyFile: string | null;
  reached(step: string): Promise<void>;
}

/** The key for a layer with `depth` encrypted layers below it; undefined for a plain VM. */
function layerKey(ctx: ChainContext, depth: number): LayerKey | undefined {
  return ctx.keyFile === null ? undefined : { file: ctx.keyFile, depth };
}

/** How many layers lie below `id` in the chain: its depth for the key options. */
function depthOf(chain: PrivateChain, id: string): number {
  const index = chain.checkpoints.findIndex((checkpoint) => checkpoint.id === id);
  return index === -1 ? chain.checkpoints.length : index;
}

export interface RecoveryOutcome {
  op: ChainIntent['op'];
  outcome: 'completed' | 'rolled-back';
}

/** The stopped-VM way: qemu-img creates the overlay under a staging name, which is renamed once it is durable. */
export function createOverlayWithQemuImg(ctx: ChainContext): OverlayCreator {
  return async ({ path, backingFile, sizeBytes }) => {
    const staging = VmLayout.staging(path);
    await removeFileDurably(staging);
    const key = layerKey(ctx, 0);
    await ctx.qemuImg.createOverlay(staging, backingFile, key === undefined ? undefined : sizeBytes, key);
    await chmod(staging, WRITABLE_LAYER_MODE);
    await fsyncPath(staging);
    await ctx.reached('overlay:staged');
    await renameDurably(staging, path);
  };
}

/** Freezes the top layer as a new checkpoint and starts a new top on it. O(1): no data is read or copied. */
export async function checkpointTop(
  ctx: ChainContext,
  manifest: DiskManifest,
  details: { message: string; pinned: boolean },
  createOverlay: OverlayCreator,
): Promise<DiskManifest> {
  const chain = requirePrivate(manifest);
  const intent = {
    op: 'checkpoint' as const,
    checkpoint: { id: chain.top, createdAt: new Date().toISOString(), ...details },
    newTop: newLayerId(),
  };
  await writeJournal(ctx.layout.journal, intent);
  await ctx.reached('checkpoint:journal-written');
  await createOverlay({
    path: ctx.layout.layer(intent.newTop),
    backingFile: VmLayout.layerFileName(chain.top),
    sizeBytes: chain.sizeBytes,
    keyFile: ctx.keyFile,
  });
  await ctx.reached('checkpoint:overlay-created');
  return finishCheckpoint(ctx, manifest, intent);
}

async function finishCheckpoint(
  ctx: ChainContext,
  manifest: DiskManifest,
  intent: Extract<ChainIntent, { op: 'checkpoint' }>,
): Promise<DiskManifest> {
  const chain = requirePrivate(manifest);
  // The new top may come from another tool (libvirt) with its own idea of a file mode.
  await setLayerMode(ctx.layout.layer(intent.newTop), WRITABLE_LAYER_MODE);
  await setLayerMode(ctx.layout.layer(intent.checkpoint.id), FROZEN_LAYER_MODE);
  await ctx.reached('checkpoint:layer-frozen');
  let next = manifest;
  if (chain.top !== intent.newTop) {
    next = await writeManifest(ctx.layout.manifest, {
      ...manifest,
      private: { ...chain, checkpoints: [...chain.checkpoints, intent.checkpoint], top: intent.newTop },
    });
    await ctx.reached('checkpoint:manifest-written');
  }
  await clearJournal(ctx.layout.journal);
  await ctx.reached('checkpoint:journal-cleared');
  return next;
}

/** Drops every layer above checkpoint `targetId` (and the top) and starts a fresh top on it. */
export async function revertToCheckpoint(
  ctx: ChainContext,
  manifest: DiskManifest,
  targetId: string,
  createOverlay: OverlayCreator,
): Promise<DiskManifest> {
  const chain = requirePrivate(manifest);
  const index = chain.checkpoints.findIndex((checkpoint) => checkpoint.id === targetId);
  const intent = {
    op: 'revert' as const,
    target: targetId,
    newTop: newLayerId(),
    droppedLayers: [...chain.checkpoints.slice(index + 1).map((checkpoint) => checkpoint.id), chain.top],
  };
  await writeJournal(ctx.layout.journal, intent);
  await ctx.reached('revert:journal-written');
  await createOverlay({
    path: ctx.layout.layer(intent.newTop),
    backingFile: VmLayout.layerFileName(targetId),
    sizeBytes: chain.sizeBytes,
    keyFile: ctx.keyFile,
  });
  await ctx.reached('revert:overlay-created');
  const next = await writeManifest(ctx.layout.manifest, {
    ...manifest,
    private: { ...chain, checkpoints: chain.checkpoints.slice(0, index + 1), top: intent.newTop },
  });
  await ctx.reached('revert:manifest-written');
  await finishRevert(ctx, intent);
  return next;
}

async function finishRevert(
  ctx: ChainContext,
  intent: Extract<ChainIntent, { op: 'revert' }>,
): Promise<void> {
  for (const layer of intent.droppedLayers) {
    await removeFileDurably(ctx.layout.layer(layer));
    await ctx.reached('revert:layer-removed');
  }
  await clearJournal(ctx.layout.journal);
  await ctx.reached('revert:journal-cleared');
}

/**
 * Removes checkpoint `layerId` from the chain without changing what any other checkpoint or the top contains.
 *
 * Chain: parent <- layer <- child. Two ways to get rid of `layer`:
 *  - `qemu-img commit layer` writes layer's clusters into parent. Wrong here: parent is itself a checkpoint (or
 *    the chain's bottom), and after the commit it would read as `layer` does — the older checkpoint is lost.
 *  - `qemu-img rebase -b parent child` (safe mode) copies into child every cluster that reads differently through
 *    parent than through layer, then points child at parent. Child reads exactly as before, parent is untouched,
 *    and nothing above child notices. That is the one used. Its cost is the data held by `layer`.
 * The rebase is also the crash-safe one: until its final header write, child still names `layer` and reads the
 * same (the copied clusters are ones it already showed through `layer`), so an interrupted rebase is undone by
 * simply forgetting it; after the header write, `layer` is unused and the delete is finished.
 */
export async function mergeAwayCheckpoint(
  ctx: ChainContext,
  manifest: DiskManifest,
  layerId: string,
): Promise<DiskManifest> {
  const chain = requirePrivate(manifest);
  const index = chain.checkpoints.findIndex((checkpoint) => checkpoint.id === layerId);
  const childIsFrozen = index + 1 < chain.checkpoints.length;
  const intent = {
    op: 'delete-checkpoint' as const,
    layer: layerId,
    parent: index > 0 ? (chain.checkpoints[index - 1]?.id ?? null) : null,
    child: childIsFrozen ? (chain.checkpoints[index + 1]?.id ?? chain.top) : chain.top,
    childIsFrozen,
  };
  await writeJournal(ctx.layout.journal, intent);
  await ctx.reached('delete:journal-written');
  const child = ctx.layout.layer(intent.child);
  if (childIsFrozen) {
    await setLayerMode(child, WRITABLE_LAYER_MODE);
    await ctx.reached('delete:child-unfrozen');
  }
  const key = layerKey(ctx, depthOf(chain, intent.child));
  await ctx.qemuImg.rebase(
    child,
    intent.parent === null ? null : VmLayout.layerFileName(intent.parent),
    key === undefined
      ? undefined
      : { ...key, newDepth: intent.parent === null ? 0 : depthOf(chain, intent.parent) },
  );
  await ctx.reached('delete:child-rebased');
  return finishDelete(ctx, manifest, intent);
}

async function finishDelete(
  ctx: ChainContext,
  manifest: DiskManifest,
  intent: Extract<ChainIntent, { op: 'delete-checkpoint' }>,
): Promise<DiskManifest> {
  const chain = requirePrivate(manifest);
  if (intent.childIsFrozen) {
    await setLayerMode(ctx.layout.layer(intent.child), FROZEN_LAYER_MODE);
    await ctx.reached('delete:child-refrozen');
  }
  let next = manifest;
  if (chain.checkpoints.some((checkpoint) => checkpoint.id === intent.layer)) {
    next = await writeManifest(ctx.layout.manifest, {
      ...manifest,
      private: {
        ...chain,
        checkpoints: chain.checkpoints.filter((checkpoint) => checkpoint.id !== intent.layer),
      },
    });
    await ctx.reached('delete:manifest-written');
  }
  await removeFileDurably(ctx.layout.layer(intent.layer));
  await ctx.reached('delete:layer-removed');
  await clearJournal(ctx.layout.journal);
  await ctx.reached('delete:journal-cleared');
  return next;
}

/**
 * Finishes or undoes the operation in `journal`, judging by what reached the disk. The rule for each: once the
 * step that other state depends on is done (a checkpoint's new top exists; a revert's manifest names the new top;
 * a delete's child no longer names the deleted layer), go forward; before it, undo. Every branch is idempotent,
 * so a crash during recovery is recovered the same way.
 */
export async function recoverFromJournal(
  ctx: ChainContext,
  manifest: DiskManifest,
  journal: JournalRecord,
): Promise<{ manifest: DiskManifest; outcome: RecoveryOutcome }> {
  const intent = journal.intent;
  const chain = requirePrivate(manifest);
  switch (intent.op) {
    case 'checkpoint': {
      const top = ctx.layout.layer(intent.newTop);
      await removeFileDurably(VmLayout.staging(top));
      const forward =
        chain.top === intent.newTop ||
        (chain.top === intent.checkpoint.id && (await isOverlayOf(ctx, top, intent.checkpoint.id)));
      if (forward) {
        return {
          manifest: await finishCheckpoint(ctx, manifest, intent),
          outcome: { op: intent.op, outcome: 'completed' },
        };
      }
      assertChainTop(chain, intent.checkpoint.id, journal);
      await removeFileDurably(top);
      await setLayerMode(ctx.layout.layer(intent.checkpoint.id), WRITABLE_LAYER_MODE);
      await clearJournal(ctx.layout.journal);
      return { manifest, outcome: { op: intent.op, outcome: 'rolled-back' } };
    }
    case 'revert': {
      const top = ctx.layout.layer(intent.newTop);
      await removeFileDurably(VmLayout.staging(top));
      if (chain.top === intent.newTop) {
        await finishRevert(ctx, intent);
        return { manifest, outcome: { op: intent.op, outcome: 'completed' } };
      }
      await removeFileDurably(top);
      await clearJournal(ctx.layout.journal);
      return { manifest, outcome: { op: intent.op, outcome: 'rolled-back' } };
    }
    case 'delete-checkpoint': {
      const child = ctx.layout.layer(intent.child);
      if (!chain.checkpoints.some((checkpoint) => checkpoint.id === intent.layer)) {
        return {
          manifest: await finishDelete(ctx, manifest, intent),
          outcome: { op: intent.op, outcome: 'completed' },
        };
      }
      // A rebase killed midway can leave clusters it allocated but never mapped: harmless leaks, repaired here.
      await setLayerMode(child, WRITABLE_LAYER_MODE);
      const header = await ctx.qemuImg.info(child, 'qcow2');
      const backing = header.backingPath;
      const rebasedTo = intent.parent === null ? null : ctx.layout.layer(intent.parent);
      // An encrypted child's depth is what its header says now: one less once the rebase switched it.
      const depth = depthOf(chain, intent.child) - (backing === rebasedTo ? 1 : 0);
      await ctx.qemuImg.check(child, { repairLeaks: true }, layerKey(ctx, depth));
      if (backing === rebasedTo) {
        // An encrypted rebase that stopped between its two header writes left a json: name for the parent.
        const key = layerKey(ctx, 0);
        if (intent.parent !== null && header.backingFile?.startsWith('json:') === true && key !== undefined) {
          await ctx.qemuImg.setBackingName(child, VmLayout.layerFileName(intent.parent), key);
        }
        return {
          manifest: await finishDelete(ctx, manifest, intent),
          outcome: { op: intent.op, outcome: 'completed' },
        };
      }
      if (backing !== ctx.layout.layer(intent.layer)) {
        throw new DiskError(
          'CHAIN_INCONSISTENT',
          `${child} is backed by ${String(backing)}, neither the layer being deleted nor its parent (journal ${ctx.layout.journal}). Inspect the chain with qemu-img info --backing-chain.`,
        );
      }
      if (intent.childIsFrozen) await setLayerMode(child, FROZEN_LAYER_MODE);
      await clearJournal(ctx.layout.journal);
      return { manifest, outcome: { op: intent.op, outcome: 'rolled-back' } };
    }
    case 'live-delete-checkpoint':
      // It needs to know whether QEMU holds the chain: live-merge.ts recovers it.
      throw new DiskError(
        'JOURNAL_INVALID',
        `${ctx.layout.journal} records a live delete, which recoverLiveDelete handles. This is a bug in hostd.`,
      );
  }
}

export function requirePrivate(manifest: DiskManifest): PrivateChain {
  if (manifest.private === null) {
    throw new DiskError(
      'NO_PRIVATE_VOLUME',
      `VM ${manifest.vm} has no private volume, so it has no checkpoints: its role keeps no state across restarts.`,
    );
  }
  return manifest.private;
}

export function findCheckpoint(manifest: DiskManifest, id: string): CheckpointRecord {
  const found = requirePrivate(manifest).checkpoints.find((checkpoint) => checkpoint.id === id);
  if (found === undefined) {
    throw new DiskError(
      'CHECKPOINT_NOT_FOUND',
      `VM ${manifest.vm} has no checkpoint ${id}. List its checkpoints to see the ids it has.`,
    );
  }
  return found;
}

async function setLayerMode(path: string, mode: number): Promise<void> {
  await chmod(path, mode);
  await fsyncPath(path);
}

async function isOverlayOf(ctx: ChainContext, path: string, backingLayer: string): Promise<boolean> {
  try {
    await stat(path);
  } catch (error) {
    if (isNodeError(error, 'ENOENT')) return false;
    throw error;
  }
  // A live checkpoint's new top is already QEMU's active layer: read its header without asking for a lock.
  const info = await ctx.qemuImg.info(path, 'qcow2', { forceShare: true }).catch(() => null);
  return info !== null && info.backingPath === ctx.layout.layer(backingLayer);
}

function assertChainTop(chain: PrivateChain, expected: string, journal: JournalRecord): void {
  if (chain.top !== expected) {
    throw new DiskError(
      'CHAIN_INCONSISTENT',
      `the manifest's top layer ${chain.top} matches neither side of the ${journal.intent.op} begun at ${journal.startedAt}. Inspect the VM's disks by hand.`,
    );
  }
}

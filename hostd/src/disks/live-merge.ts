import { chmod, link, readdir, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fsyncPath, removeFileDurably, renameDurably } from '../durable-fs.js';
import {
  FROZEN_LAYER_MODE,
  WRITABLE_LAYER_MODE,
  mergeAwayCheckpoint,
  requirePrivate,
  type ChainContext,
  type RecoveryOutcome,
} from './chain-operations.js';
import { DiskError } from './errors.js';
import { clearJournal, writeJournal, type ChainIntent, type JournalRecord } from './journal.js';
import { writeManifest, type DiskManifest } from './manifest.js';
import { VmLayout } from './vm-layout.js';

/**
 * Deleting a checkpoint of a running VM: QEMU has every layer open, so qemu-img may not touch them and the merge
 * is QEMU's own block job, started through libvirt by the VM engine (the `LiveMerger`). For `parent ← layer ←
 * child ← above`:
 *
 *  - child is the top (the layer QEMU writes): a **pull** (libvirt block rebase onto `parent`) copies into the top
 *    the clusters it reads from `layer` and switches its backing to `parent` — exactly the stopped path's
 *    `qemu-img rebase`, so the top reads the same and `parent` is untouched;
 *  - child is a frozen checkpoint: libvirt cannot pull into a layer below the top, and committing `layer` into
 *    `parent` would change an older checkpoint. So the **child is committed into `layer`** (libvirt block commit,
 *    top = child, base = layer): `layer`'s file then reads exactly as the child did, and QEMU points `above` at it.
 *    No checkpoint but the deleted one changes. The child's id must go on naming its content, and files QEMU has
 *    open cannot be renamed under its headers, so the child's file name is re-linked to `layer`'s inode (a hard
 *    link, renamed over the old child file); `layer`'s name stays an alias (`above`'s header names it) until the
 *    VM stops, when `settleLayerAliases` rewrites the header to the child's name and unlinks the alias.
 *
 * Crash safety: once the journal is written the delete only goes forward. A commit cut short has written into
 * `layer` only clusters the child holds, which the child and every layer above read from the child anyway; a
 * pull cut short has copied into the top only what it read through `layer`. So the chain above `layer` reads
 * the same at every instant, and an interrupted merge is finished by QEMU (the engine restarts the job, which is
 * idempotent) or, once QEMU is gone, by the stopped path (rebase the child onto the parent).
 */
export interface LiveMerge {
  kind: 'pull-into-top' | 'commit-child';
  /** The disk's active layer: how the engine finds the disk in the domain. */
  top: string;
  /** Absolute paths. `parent` is null when `layer` is the bottom of the chain. */
  layer: string;
  parent: string | null;
  child: string;
}

/** Starts the merge's block job unless one already runs on the disk, and resolves when no job is left. */
export type LiveMerger = (merge: LiveMerge) => Promise<void>;

/** Thrown by a LiveMerger when libvirt refused to start the job: nothing was written, so the delete is undone. */
export class LiveMergeNotStartedError extends Error {
  override readonly name = 'LiveMergeNotStartedError';
}

/** A running VM's interrupted live delete that only QEMU can finish: the VM engine resumes it (CHAIN_BUSY till then). */
export class LiveMergePendingError extends DiskError {}

const MERGE_SETTLE_MS = 30_000;
const MERGE_SETTLE_POLL_MS = 100;

type LiveDeleteIntent = Extract<ChainIntent, { op: 'live-delete-checkpoint' }>;

export async function liveDeleteCheckpoint(
  ctx: ChainContext,
  manifest: DiskManifest,
  layerId: string,
  merge: LiveMerger,
): Promise<DiskManifest> {
  const chain = requirePrivate(manifest);
  const index = chain.checkpoints.findIndex((checkpoint) => checkpoint.id === layerId);
  const child = chain.checkpoints[index + 1]?.id ?? null;
  const above = child === null ? chain.top : (chain.checkpoints[index + 2]?.id ?? chain.top);
  const intent: LiveDeleteIntent = {
    op: 'live-delete-checkpoint',
    layer: layerId,
    parent: chain.checkpoints[index - 1]?.id ?? null,
    child,
    above,
    aboveIsFrozen: above !== chain.top,
  };
  await writeJournal(ctx.layout.journal, intent);
  await ctx.reached('live-delete:journal-written');
  try {
    return await runLiveMerge(ctx, manifest, intent, merge);
  } catch (error) {
    if (!(error instanceof LiveMergeNotStartedError)) throw error;
    await setLayerModes(ctx, intent, FROZEN_LAYER_MODE);
    await clearJournal(ctx.layout.journal);
    throw error;
  }
}

/**
 * Recovery of an interrupted live delete, under the VM's lock. `merge` is given when the VM engine resumes it
 * for a running VM; without it a merge QEMU still has to do is refused with CHAIN_BUSY (the engine resumes it
 * when hostd connects to libvirt).
 */
export async function recoverLiveDelete(
  ctx: ChainContext,
  manifest: DiskManifest,
  journal: JournalRecord,
  merge: LiveMerger | undefined,
): Promise<{ manifest: DiskManifest; outcome: RecoveryOutcome }> {
  const intent = journal.intent;
  if (intent.op !== 'live-delete-checkpoint') throw new Error(`not a live delete: ${intent.op}`);
  const completed = (next: DiskManifest) => ({
    manifest: next,
    outcome: { op: intent.op, outcome: 'completed' as const },
  });
  const inManifest = requirePrivate(manifest).checkpoints.some((c) => c.id === intent.layer);
  if (!inManifest || (await mergeDone(ctx, intent))) {
    return completed(await finishLiveDelete(ctx, manifest, intent));
  }
  if (await chainInUse(ctx, manifest)) {
    if (merge !== undefined) return completed(await runLiveMerge(ctx, manifest, intent, merge));
    throw new LiveMergePendingError(
      'CHAIN_BUSY',
      `checkpoint ${intent.layer} of running VM ${ctx.layout.vm} is being merged away by QEMU (begun ${journal.startedAt}); hostd finishes it when it is connected to libvirt. Retry in a moment.`,
    );
  }
  // QEMU is gone: the stopped way reads the same (see above). Its own journal replaces this one atomically;
  // the headers it reads name the manifest's layers once earlier deletes' aliases are settled.
  if (intent.aboveIsFrozen) await setMode(ctx.layout.layer(intent.above), FROZEN_LAYER_MODE);
  await settleLayerAliases(ctx, manifest);
  return completed(await mergeAwayCheckpoint(ctx, manifest, intent.layer));
}

async function runLiveMerge(
  ctx: ChainContext,
  manifest: DiskManifest,
  intent: LiveDeleteIntent,
  merge: LiveMerger,
): Promise<DiskManifest> {
  // QEMU (not root) writes the child's clusters into `layer` and the new backing name into `above`.
  await setLayerModes(ctx, intent, WRITABLE_LAYER_MODE);
  await ctx.reached('live-delete:layers-writable');
  await merge({
    kind: intent.child === null ? 'pull-into-top' : 'commit-child',
    top: ctx.layout.layer(requirePrivate(manifest).top),
    layer: ctx.layout.layer(intent.layer),
    parent: intent.parent === null ? null : ctx.layout.layer(intent.parent),
    child: ctx.layout.layer(intent.child ?? intent.above),
  });
  await ctx.reached('live-delete:merged');
  // libvirt drops the job from its list a moment before QEMU has switched the backing file (seen: 20 ms).
  const deadline = Date.now() + MERGE_SETTLE_MS;
  while (!(await mergeDone(ctx, intent)) && Date.now() < deadline) await sleep(MERGE_SETTLE_POLL_MS);
  if (!(await mergeDone(ctx, intent))) {
    throw new DiskError(
      'CHAIN_INCONSISTENT',
      `QEMU's merge of checkpoint ${intent.layer} of VM ${ctx.layout.vm} ended, but ${ctx.layout.layer(intent.above)} is not switched to its new backing file. hostd retries it; if it keeps failing, stop the VM (the merge is then finished with qemu-img).`,
    );
  }
  return finishLiveDelete(ctx, manifest, intent);
}

async function finishLiveDelete(
  ctx: ChainContext,
  manifest: DiskManifest,
  intent: LiveDeleteIntent,
): Promise<DiskManifest> {
  if (intent.child !== null) {
    await linkOver(ctx.layout.layer(intent.layer), ctx.layout.layer(intent.child));
    await ctx.reached('live-delete:child-relinked');
  }
  await setLayerModes(ctx, intent, FROZEN_LAYER_MODE);
  await ctx.reached('live-delete:layers-refrozen');
  let next = manifest;
  const chain = requirePrivate(manifest);
  if (chain.checkpoints.some((checkpoint) => checkpoint.id === intent.layer)) {
    next = await writeManifest(ctx.layout.manifest, {
      ...manifest,
      private: { ...chain, checkpoints: chain.checkpoints.filter((c) => c.id !== intent.layer) },
    });
    await ctx.reached('live-delete:manifest-written');
  }
  if (intent.child === null) {
    await removeWithAliases(ctx, intent.layer);
    await ctx.reached('live-delete:layer-removed');
  }
  await clearJournal(ctx.layout.journal);
  await ctx.reached('live-delete:journal-cleared');
  return next;
}

/**
 * Once QEMU has let go of a VM's layers, rewrites the headers that name a live delete's alias to the manifest's
 * name of the same file, then unlinks the alias. Files that are not an alias of a manifest layer are left alone.
 * Called with no journal under way; idempotent.
 */
export async function settleLayerAliases(ctx: ChainContext, manifest: DiskManifest | null): Promise<void> {
  if (manifest?.private == null) return;
  const chain = manifest.private;
  const layers = [...chain.checkpoints.map((checkpoint) => checkpoint.id), chain.top];
  const known = new Set(layers.map((layer) => VmLayout.layerFileName(layer)));
  let entries: string[];
  try {
    entries = await readdir(ctx.layout.privateDir);
  } catch {
    return;
  }
  const strays = entries.filter((entry) => entry.endsWith('.qcow2') && !known.has(entry));
  if (strays.length === 0 || (await chainInUse(ctx, manifest))) return;
  const inodeOf = async (path: string) => (await stat(path)).ino;
  for (const [index, layer] of layers.entries()) {
    const below = layers[index - 1];
    if (below === undefined) continue;
    const path = ctx.layout.layer(layer);
    const backing = (await ctx.qemuImg.info(path, 'qcow2')).backingPath;
    const expected = ctx.layout.layer(below);
    if (backing === null || backing === expected) continue;
    if ((await inodeOf(backing).catch(() => -1)) !== (await inodeOf(expected))) continue;
    const frozen = layer !== chain.top;
    if (frozen) await setMode(path, WRITABLE_LAYER_MODE);
    // Both names are the same file, so the safe rebase finds nothing to copy and only rewrites the header.
    await ctx.qemuImg.rebase(path, VmLayout.layerFileName(below));
    if (frozen) await setMode(path, FROZEN_LAYER_MODE);
  }
  const layerInodes = new Set(await Promise.all(layers.map((layer) => inodeOf(ctx.layout.layer(layer)))));
  for (const stray of strays) {
    const path = `${ctx.layout.privateDir}/${stray}`;
    if (layerInodes.has(await inodeOf(path))) await removeFileDurably(path);
  }
}

/** True when `above`'s header names what the merge switches it to. */
async function mergeDone(ctx: ChainContext, intent: LiveDeleteIntent): Promise<boolean> {
  const target =
    intent.child === null
      ? intent.parent === null
        ? null
        : ctx.layout.layer(intent.parent)
      : ctx.layout.layer(intent.layer);
  const backing = (await ctx.qemuImg.info(ctx.layout.layer(intent.above), 'qcow2', { forceShare: true }))
    .backingPath;
  if (backing === null || target === null) return backing === target;
  // QEMU writes the name it opened the file by, which may be an alias an earlier live delete left.
  const [named, expected] = await Promise.all([stat(backing).catch(() => null), stat(target)]);
  return named?.ino === expected.ino;
}

/** Whether a QEMU holds the chain: it locks its active layer, so qemu-img cannot open it without -U. */
async function chainInUse(ctx: ChainContext, manifest: DiskManifest): Promise<boolean> {
  try {
    await ctx.qemuImg.info(ctx.layout.layer(requirePrivate(manifest).top), 'qcow2');
    return false;
  } catch (error) {
    if (error instanceof DiskError && error.code === 'DISK_IN_USE') return true;
    throw error;
  }
}

/** The merge's target (`layer`, when a child is committed into it) and a frozen `above`. */
async function setLayerModes(ctx: ChainContext, intent: LiveDeleteIntent, mode: number): Promise<void> {
  if (intent.child === null) return;
  await setMode(ctx.layout.layer(intent.layer), mode);
  if (intent.aboveIsFrozen) await setMode(ctx.layout.layer(intent.above), mode);
}

async function setMode(path: string, mode: number): Promise<void> {
  await chmod(path, mode);
  await fsyncPath(path);
}

/**
 * Removes a layer nothing reads any more, with the alias an earlier live delete may have left for its file (the
 * layer was then that delete's child); the alias goes first, so a crash never leaves it alone. Idempotent.
 */
async function removeWithAliases(ctx: ChainContext, layer: string): Promise<void> {
  const path = ctx.layout.layer(layer);
  const inode = (await stat(path).catch(() => null))?.ino;
  if (inode === undefined) return;
  for (const entry of await readdir(ctx.layout.privateDir)) {
    const other = `${ctx.layout.privateDir}/${entry}`;
    if (other === path || !entry.endsWith('.qcow2')) continue;
    if ((await stat(other).catch(() => null))?.ino === inode) await removeFileDurably(other);
  }
  await removeFileDurably(path);
}

/** Makes `name` another name of `file`'s inode, replacing what `name` was (atomically); idempotent. */
async function linkOver(file: string, name: string): Promise<void> {
  const target = await stat(name).catch(() => null);
  if (target !== null && target.ino === (await stat(file)).ino) return;
  const staging = VmLayout.staging(name);
  await removeFileDurably(staging);
  await link(file, staging);
  await renameDurably(staging, name);
}

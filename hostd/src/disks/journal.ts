import { z } from 'zod';
import { readJsonRecord } from './json-record-file.js';
import { removeFileDurably, writeFileDurably } from '../durable-fs.js';
import { isLayerId } from './names.js';

/**
 * The intent of the one multi-step chain operation under way for a VM, written (durably) before its first step
 * and removed after its last. Whoever opens the VM next and finds it finishes or undoes the operation; each
 * variant carries exactly what that decision needs.
 */
export type ChainIntent =
  | {
      op: 'checkpoint';
      /** The top layer being frozen: it becomes checkpoint `checkpoint.id`. */
      checkpoint: { id: string; createdAt: string; message: string; pinned: boolean };
      newTop: string;
    }
  | { op: 'revert'; target: string; newTop: string; droppedLayers: string[] }
  | {
      op: 'delete-checkpoint';
      layer: string;
      /** The layer below (null when deleting the bottom layer) and the one above, which is rebased onto it. */
      parent: string | null;
      child: string;
      childIsFrozen: boolean;
    }
  | {
      /** A running VM's checkpoint merged away by QEMU (see live-merge.ts); always finished, never undone. */
      op: 'live-delete-checkpoint';
      layer: string;
      parent: string | null;
      /** The frozen checkpoint above `layer`, committed into it; null when the top is above it (pulled into). */
      child: string | null;
      /** The layer whose backing file the merge switches: above `child`, or the top pulled into. */
      above: string;
      aboveIsFrozen: boolean;
    };

export interface JournalRecord {
  format: 1;
  startedAt: string;
  intent: ChainIntent;
}

const layerId = z.string().refine(isLayerId, { message: 'not a layer id' });

const intentSchema = z.discriminatedUnion('op', [
  z.object({
    op: z.literal('checkpoint'),
    checkpoint: z.object({
      id: layerId,
      createdAt: z.iso.datetime(),
      message: z.string().max(1000),
      pinned: z.boolean(),
    }),
    newTop: layerId,
  }),
  z.object({ op: z.literal('revert'), target: layerId, newTop: layerId, droppedLayers: z.array(layerId) }),
  z.object({
    op: z.literal('delete-checkpoint'),
    layer: layerId,
    parent: layerId.nullable(),
    child: layerId,
    childIsFrozen: z.boolean(),
  }),
  z.object({
    op: z.literal('live-delete-checkpoint'),
    layer: layerId,
    parent: layerId.nullable(),
    child: layerId.nullable(),
    above: layerId,
    aboveIsFrozen: z.boolean(),
  }),
]);

const journalSchema = z.object({ format: z.literal(1), startedAt: z.iso.datetime(), intent: intentSchema });

export async function readJournal(path: string): Promise<JournalRecord | null> {
  return readJsonRecord(path, journalSchema, {
    code: 'JOURNAL_INVALID',
    what: 'operation journal',
    remedy: "It is written atomically, so this is damage from outside. Inspect the VM's disks by hand.",
  });
}

export async function writeJournal(path: string, intent: ChainIntent): Promise<void> {
  const record: JournalRecord = { format: 1, startedAt: new Date().toISOString(), intent };
  await writeFileDurably(path, JSON.stringify(record, null, 2) + '\n');
}

export async function clearJournal(path: string): Promise<void> {
  await removeFileDurably(path);
}

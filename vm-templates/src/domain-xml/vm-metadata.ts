import { z } from 'zod';
import { closedObject, flag, freeText, oneOf, parsedString, vmName } from '../templates/schema-fields.js';
import { PINNING_CLASSES, VM_ROLES } from '../templates/template-schema.js';
import type { PinningClass, VmRole } from '../templates/template-schema.js';
import { NO_ROUTER, ROUTER_RULE, parseImageSelector, parseRouter } from '../templates/vm-names.js';
import { element, renderXml } from './xml-writer.js';
import type { XmlAttributes, XmlElement } from './xml-writer.js';

/**
 * Multiverse's facts about a VM live in its domain XML under this namespace, so hostd can rebuild
 * its state from libvirt alone. The version is part of the URI: a change to the schema gets a new
 * namespace, and a reader of version 1 refuses anything it does not know.
 */
export const VM_METADATA_NAMESPACE = 'https://multiverse.invalid/xmlns/vm/1';
export const VM_METADATA_PREFIX = 'mv';
/** The local name of the one element libvirt keeps for our namespace inside `<metadata>`. */
export const VM_METADATA_ELEMENT = 'vm';

/** A frozen layer of the VM's private volume. */
export interface VmCheckpoint {
  /** The layer id: 16 lowercase hex digits. */
  readonly id: string;
  /** When it was taken: ISO 8601 in UTC with milliseconds, `2025-01-31T12:00:00.000Z`. */
  readonly createdAt: string;
  readonly message: string;
  /** Pinned checkpoints are never pruned. */
  readonly pinned: boolean;
}

export interface VmMetadata {
  readonly role: VmRole;
  /** The template the VM was made from. */
  readonly template: string;
  /** The exact base image build the VM runs on. */
  readonly image: { readonly name: string; readonly sha256: string };
  /** The router VM its traffic leaves through; null: none (offline, or a router's own uplink). */
  readonly router: string | null;
  readonly pinning: PinningClass;
  readonly ephemeral: boolean;
  /** Oldest first. */
  readonly checkpoints: readonly VmCheckpoint[];
  /**
   * The hostd instance that manages the VM (its host id, a UUID), so that hostds sharing one libvirtd — tests,
   * benchmarks — never act on each other's VMs. Absent in VMs made before it was recorded.
   */
  readonly host?: string;
}

const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export const CHECKPOINT_LIMITS = { messageLength: 1024, count: 1000 } as const;

const ISO_UTC_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

/** A real instant written in canonical form: no February 30th, no hour 24. */
function isExactDate(text: string): boolean {
  const date = new Date(text);
  return !Number.isNaN(date.getTime()) && date.toISOString() === text;
}

export const checkpointSchema = closedObject(
  {
    id: parsedString('16 lowercase hex digits', (text) => (/^[0-9a-f]{16}$/.test(text) ? text : undefined)),
    createdAt: parsedString('a UTC time such as 2025-01-31T12:00:00.000Z', (text) =>
      ISO_UTC_TIME.test(text) && isExactDate(text) ? text : undefined,
    ),
    message: freeText(CHECKPOINT_LIMITS.messageLength),
    pinned: flag(),
  },
  'a checkpoint',
);

export const pinnedImageSchema = parsedString(
  'an image pinned as NAME@SHA256 (64 lowercase hex digits)',
  (text) => {
    const image = parseImageSelector(text);
    return image?.sha256 === null || image === undefined
      ? undefined
      : { name: image.name, sha256: image.sha256 };
  },
);

export const vmMetadataSchema = closedObject(
  {
    role: oneOf(VM_ROLES),
    template: vmName(),
    image: pinnedImageSchema,
    router: parsedString(ROUTER_RULE, parseRouter),
    pinning: oneOf(PINNING_CLASSES),
    ephemeral: flag(),
    host: parsedString('a host id: a UUID in lowercase', (text) =>
      UUID_PATTERN.test(text) ? text : undefined,
    ).optional(),
    checkpoints: z.array(checkpointSchema, { error: 'a list of checkpoints' }).max(CHECKPOINT_LIMITS.count, {
      error: `a list of at most ${CHECKPOINT_LIMITS.count} checkpoints`,
    }),
  },
  'Multiverse VM metadata',
);

/** `<mv:vm xmlns:mv="…">`: the element that goes inside the domain's `<metadata>`. */
export function vmMetadataElement(metadata: VmMetadata): XmlElement {
  return metadataTree(metadata, `${VM_METADATA_PREFIX}:`, {
    [`xmlns:${VM_METADATA_PREFIX}`]: VM_METADATA_NAMESPACE,
  });
}

/**
 * The metadata in the form virDomainSetMetadata takes (type ELEMENT, key `mv`, uri
 * VM_METADATA_NAMESPACE): without a namespace, which libvirt then gives to every element. It
 * refuses an element that already has one.
 */
export function renderVmMetadataForLibvirt(metadata: VmMetadata): string {
  return renderXml(metadataTree(metadata, '', {}));
}

function metadataTree(metadata: VmMetadata, prefix: string, declarations: XmlAttributes): XmlElement {
  const mv = (name: string) => `${prefix}${name}`;
  return element(
    mv(VM_METADATA_ELEMENT),
    declarations,
    element(mv('role'), {}, metadata.role),
    element(mv('template'), {}, metadata.template),
    element(mv('image'), {}, `${metadata.image.name}@${metadata.image.sha256}`),
    element(mv('router'), {}, metadata.router ?? NO_ROUTER),
    element(mv('pinning'), {}, metadata.pinning),
    element(mv('ephemeral'), {}, String(metadata.ephemeral)),
    metadata.host !== undefined && element(mv('host'), {}, metadata.host),
    element(
      mv('checkpoints'),
      {},
      ...metadata.checkpoints.map((checkpoint) =>
        element(
          mv('checkpoint'),
          { id: checkpoint.id, createdAt: checkpoint.createdAt, pinned: String(checkpoint.pinned) },
          element(mv('message'), {}, checkpoint.message),
        ),
      ),
    ),
  );
}

import type { z } from 'zod';
import { MIB, TIB } from './byte-size.js';
import {
  byteSize,
  closedObject,
  duration,
  flag,
  freeText,
  integerBetween,
  oneOf,
  parsedString,
  vmName,
} from './schema-fields.js';
import { IMAGE_SELECTOR_RULE, ROUTER_RULE, parseImageSelector, parseRouter } from './vm-names.js';

export const VM_ROLES = ['controller', 'router', 'app', 'utility', 'disposable', 'fallback'] as const;
export type VmRole = (typeof VM_ROLES)[number];

export const PINNING_CLASSES = ['dedicated', 'shared'] as const;
export type PinningClass = (typeof PINNING_CLASSES)[number];

/** `kernel`: direct kernel boot of the image's kernel and initrd; `disk`: the firmware boots the root volume. */
export const BOOT_MODES = ['kernel', 'disk'] as const;
export type BootMode = (typeof BOOT_MODES)[number];

/** What a router VM carries its inside traffic out through. */
export const ROUTER_TUNNELS = ['tor', 'wireguard', 'openvpn'] as const;
export type RouterTunnel = (typeof ROUTER_TUNNELS)[number];

/** The Qubes volume model: root (fresh overlay on the image at every start), private (kept), volatile (swap, tmp). */
export const VOLUMES = ['root', 'private', 'volatile'] as const;
export type Volume = (typeof VOLUMES)[number];

export const TEMPLATE_LIMITS = {
  descriptionLength: 4096,
  vcpus: { min: 1, max: 64 },
  memoryBytes: { min: 64 * MIB, max: 1 * TIB },
  diskBytes: { min: 1 * MIB, max: 64 * TIB },
  readyTimeoutSeconds: { min: 1, max: 3600 },
} as const;

const diskSize = byteSize(TEMPLATE_LIMITS.diskBytes.min, TEMPLATE_LIMITS.diskBytes.max);

/** The file format of a template, field by field, before the role rules (`template-rules.ts`) run. */
export const templateFileSchema = closedObject(
  {
    name: vmName(),
    description: freeText(TEMPLATE_LIMITS.descriptionLength).default(''),
    role: oneOf(VM_ROLES),
    tunnel: oneOf(ROUTER_TUNNELS).optional(),
    image: parsedString(IMAGE_SELECTOR_RULE, parseImageSelector),
    vcpus: integerBetween(TEMPLATE_LIMITS.vcpus.min, TEMPLATE_LIMITS.vcpus.max),
    memory: byteSize(TEMPLATE_LIMITS.memoryBytes.min, TEMPLATE_LIMITS.memoryBytes.max),
    pinning: oneOf(PINNING_CLASSES).default('shared'),
    disks: closedObject(
      { root: diskSize.optional(), private: diskSize.optional(), volatile: diskSize.optional() },
      'a mapping of volume sizes',
    ).default({}),
    router: parsedString(ROUTER_RULE, parseRouter),
    boot: oneOf(BOOT_MODES),
    autostart: flag().default(false),
    ephemeral: flag().optional(),
    encrypted: flag().default(false),
    readyTimeout: duration(
      TEMPLATE_LIMITS.readyTimeoutSeconds.min,
      TEMPLATE_LIMITS.readyTimeoutSeconds.max,
    ).default(60),
  },
  'a mapping of template fields',
);

export type TemplateFile = z.output<typeof templateFileSchema>;

/** Sizes of a template's volumes in bytes; null: the role or template has no such volume. */
export type VolumeSizes = Readonly<Record<Volume, number | null>>;

/** A validated template: every field present, every quantity in base units. */
export interface VmTemplate {
  readonly name: string;
  readonly description: string;
  readonly role: VmRole;
  /** Routers only: the tunnel the router carries its inside traffic out through. */
  readonly tunnel: RouterTunnel | null;
  readonly image: { readonly name: string; readonly sha256: string | null };
  readonly vcpus: number;
  readonly memoryBytes: number;
  readonly pinning: PinningClass;
  readonly diskBytes: VolumeSizes;
  /**
   * The router VM this VM's traffic leaves through. null: none — an offline VM, or for a router,
   * its uplink to the host's network. `onion` (ONION_ROUTER): the host's onion device, on a link of its own.
   */
  readonly router: string | null;
  readonly boot: BootMode;
  readonly autostart: boolean;
  /** The VM and all its volumes are deleted when it stops. */
  readonly ephemeral: boolean;
  /**
   * Every volume the VM writes (root overlay, private layers, volatile) is LUKS-encrypted with a key kept in
   * hostd's vault; the base image stays plain (public content).
   */
  readonly encrypted: boolean;
  /** How long after start the guest has to report ready before hostd boots the fallback VM. */
  readonly readyTimeoutSeconds: number;
}

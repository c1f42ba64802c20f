/**
 * Names of VMs and templates. A VM name is also the guest's hostname, a path component of its
 * disks and a word typed at a shell, so the alphabet is far narrower than what libvirt accepts
 * (anything without `/` or a newline): an RFC 1123 label, which is also a valid hostd disk name.
 */
export const VM_NAME_PATTERN = /^[a-z](?:[a-z0-9-]{0,30}[a-z0-9])?$/;

export const VM_NAME_RULE =
  '1 to 32 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen';

/** Words that mean something else where a VM name is expected (`router: none`, `router: onion`). */
export const RESERVED_VM_NAMES: readonly string[] = ['none', 'default', 'onion'];

/** The `router` value of a VM that sits behind no router: offline, or a router's own uplink. */
export const NO_ROUTER = 'none';

/**
 * The `router` value of a VM attached to the host's onion device instead of a router VM: a point-to-point
 * link of its own whose TCP and DNS hostd's tor carries, and whose other traffic is dropped.
 */
export const ONION_ROUTER = 'onion';

export const ROUTER_RULE = `"${NO_ROUTER}", "${ONION_ROUTER}" or a router VM's name (${VM_NAME_RULE})`;

/** A `router` value: null for none, "onion" for the onion device, else a router VM's name; undefined: invalid. */
export function parseRouter(text: string): string | null | undefined {
  if (text === NO_ROUTER) return null;
  if (text === ONION_ROUTER) return ONION_ROUTER;
  return isVmName(text) ? text : undefined;
}

export function isVmName(value: string): boolean {
  return VM_NAME_PATTERN.test(value) && !RESERVED_VM_NAMES.includes(value);
}

/** A base image as a template names it: `tiny`, or pinned to one build, `tiny@<sha256>`. */
export interface ImageSelector {
  readonly name: string;
  /** The image id (64 lowercase hex digits), or null to take the newest verified build. */
  readonly sha256: string | null;
}

const IMAGE_NAME_PATTERN = /^[a-z][a-z0-9-]{0,31}$/;
const SHA256_PATTERN = /^[0-9a-f]{64}$/;

export const IMAGE_SELECTOR_RULE =
  'an image name (1 to 32 lowercase letters, digits or hyphens, starting with a letter), optionally pinned as NAME@SHA256 with 64 lowercase hex digits';

export function parseImageSelector(value: string): ImageSelector | undefined {
  const at = value.indexOf('@');
  const name = at === -1 ? value : value.slice(0, at);
  const sha256 = at === -1 ? null : value.slice(at + 1);
  if (!IMAGE_NAME_PATTERN.test(name)) return undefined;
  if (sha256 !== null && !SHA256_PATTERN.test(sha256)) return undefined;
  return { name, sha256 };
}

export function formatImageSelector(image: ImageSelector): string {
  return image.sha256 === null ? image.name : `${image.name}@${image.sha256}`;
}

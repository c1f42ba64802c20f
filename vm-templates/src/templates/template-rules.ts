import { DEBIAN_IMAGE_NAME } from '../images/debian/debian-recipe.js';
import { TINY_IMAGE_NAME } from '../images/tiny/tiny-recipe.js';
import type { TemplateFile, VmRole, VmTemplate } from './template-schema.js';
import { ONION_ROUTER } from './vm-names.js';

/** A template that is well-formed field by field but breaks a rule of its role. */
export interface RuleViolation {
  /** The field to change, as written in the template file. */
  readonly path: readonly string[];
  readonly message: string;
}

/** The only image whose traits the rules rely on: kernel + initramfs, no disk, boots in a second. */
const TINY_IMAGE = TINY_IMAGE_NAME;

/** The images whose guests configure their NIC from `multiverse.ipv4=` on the kernel command line. */
const IMAGES_READING_IPV4: readonly string[] = [TINY_IMAGE_NAME, DEBIAN_IMAGE_NAME];

/** Roles whose VMs are always thrown away when they stop, and so default to ephemeral. */
const ALWAYS_EPHEMERAL: readonly VmRole[] = ['disposable', 'fallback'];

/**
 * The rules that tie fields to each other and to the role. Each says why, since the fix is
 * rarely obvious from the field alone.
 */
export function checkRoleRules(file: TemplateFile): RuleViolation[] {
  const violations: RuleViolation[] = [];
  const violate = (path: string[], message: string) => violations.push({ path, message });
  const ephemeral = file.ephemeral ?? ALWAYS_EPHEMERAL.includes(file.role);

  if (ALWAYS_EPHEMERAL.includes(file.role) && !ephemeral) {
    violate(['ephemeral'], `a ${file.role} VM is always ephemeral: remove "ephemeral: false"`);
  }
  if (file.role === 'controller' && ephemeral) {
    violate(
      ['ephemeral'],
      'the controller is the owner\'s management VM and must survive a stop: set "ephemeral: false"',
    );
  }
  if (ephemeral && file.autostart) {
    violate(
      ['autostart'],
      'an ephemeral VM is deleted when it stops, so there is nothing to start at boot: set "autostart: false"',
    );
  }

  if (file.role === 'router') {
    if (file.tunnel === undefined) {
      violate(['tunnel'], 'a router must say what carries its traffic out: one of tor, wireguard, openvpn');
    }
    if (file.disks.private !== undefined) {
      violate(
        ['disks', 'private'],
        'a router keeps no state of its own and has no private volume: remove it',
      );
    }
    if (file.router === file.name) {
      violate(['router'], `a router cannot sit behind itself: name another router, or "none" for the uplink`);
    }
  } else if (file.tunnel !== undefined) {
    violate(['tunnel'], `only routers have a tunnel, and this template's role is ${file.role}: remove it`);
  }

  if (file.router === ONION_ROUTER) {
    if (file.role === 'router') {
      violate(
        ['router'],
        'a router carries other VMs\' traffic out through its tunnel and cannot sit behind the onion device, which carries only TCP and DNS: name another router, or "none" for the uplink',
      );
    }
    if (!IMAGES_READING_IPV4.includes(file.image.name)) {
      violate(
        ['image'],
        `a VM behind the onion device configures its link from the kernel command line, and only the ${IMAGES_READING_IPV4.join(' and ')} images do that: use one of them, or a router VM`,
      );
    } else if (file.boot !== 'kernel' && file.image.name !== TINY_IMAGE) {
      // (The tiny image's own rule below already asks for a kernel boot.)
      violate(
        ['boot'],
        'a VM behind the onion device reads its link from the kernel command line, which only a kernel boot passes: set "boot: kernel"',
      );
    }
  }

  if (
    file.encrypted &&
    file.disks.root === undefined &&
    file.disks.private === undefined &&
    file.disks.volatile === undefined
  ) {
    violate(
      ['encrypted'],
      'this template has no volume (root, private or volatile) a VM would write, so there is nothing to encrypt: remove "encrypted: true", or give it a volume',
    );
  }

  if (file.role === 'fallback') {
    if (file.image.name !== TINY_IMAGE) {
      violate(
        ['image'],
        `the fallback VM must boot the ${TINY_IMAGE} image, the one known to boot when others fail`,
      );
    }
    if (file.router !== null) {
      violate(
        ['router'],
        'the fallback VM inspects a failed VM\'s disk and must stay offline: set "router: none"',
      );
    }
    for (const volume of ['root', 'private', 'volatile'] as const) {
      if (file.disks[volume] !== undefined) {
        violate(
          ['disks', volume],
          "the fallback VM has no volumes of its own (the failed VM's disk is attached read-only): remove it",
        );
      }
    }
    if (file.pinning === 'dedicated') {
      violate(
        ['pinning'],
        'the fallback VM must boot even when every dedicated CPU is taken: set "pinning: shared"',
      );
    }
  }

  if (file.image.name === TINY_IMAGE) {
    if (file.boot !== 'kernel') {
      violate(
        ['boot'],
        `the ${TINY_IMAGE} image is a kernel and an initramfs, with no disk to boot: set "boot: kernel"`,
      );
    }
    if (file.disks.root !== undefined) {
      violate(['disks', 'root'], `the ${TINY_IMAGE} image has no disk to lay a root volume on: remove it`);
    }
  } else if (file.boot === 'disk' && file.disks.root === undefined) {
    violate(
      ['disks', 'root'],
      '"boot: disk" boots the root volume, so the template needs one: add disks.root',
    );
  }
  return violations;
}

/** The template with defaults filled in; call only when `checkRoleRules` found nothing. */
export function toVmTemplate(file: TemplateFile): VmTemplate {
  return {
    name: file.name,
    description: file.description,
    role: file.role,
    tunnel: file.tunnel ?? null,
    image: file.image,
    vcpus: file.vcpus,
    memoryBytes: file.memory,
    pinning: file.pinning,
    diskBytes: {
      root: file.disks.root ?? null,
      private: file.disks.private ?? null,
      volatile: file.disks.volatile ?? null,
    },
    router: file.router,
    boot: file.boot,
    autostart: file.autostart,
    ephemeral: file.ephemeral ?? ALWAYS_EPHEMERAL.includes(file.role),
    encrypted: file.encrypted,
    readyTimeoutSeconds: file.readyTimeout,
  };
}

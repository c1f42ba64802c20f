import {
  IPV4_FROM_KERNEL_COMMAND_LINE,
  READY_ANNOUNCEMENT,
  hostnameFromKernelCommandLine,
} from '../guest-shell-snippets.js';

export { HOSTNAME_KERNEL_PARAMETER } from '../guest-shell-snippets.js';

/** Hostname of a tiny guest booted without `multiverse.hostname=` on its kernel command line. */
export const TINY_DEFAULT_HOSTNAME = 'tiny';

/** In the initramfs: the kernel modules /init loads, one path per line, dependencies first. */
export const TINY_MODULE_LIST = 'etc/multiverse/kernel-modules';

export interface GuestFile {
  readonly path: string;
  readonly mode: number;
  readonly contents: string;
}

/**
 * /init: the kernel runs it as PID 1. It prepares the pseudo file systems, loads the packed virtio
 * drivers (so disks and NICs appear), names the machine, configures eth0 when hostd gave it static settings
 * (a VM behind the onion device), announces READY on ttyS0 (see
 * serial-protocol.ts) and hands PID 1 to busybox init, which reaps orphans and respawns the
 * console shell if it exits (a shell as PID 1 would panic the kernel on `exit`).
 */
const INIT_SCRIPT = `#!/bin/sh
# Multiverse tiny guest, PID 1 until busybox init takes over. Protocol: vm-templates/README.md.
set -f
export PATH=/sbin:/usr/sbin:/bin:/usr/bin

mount -t proc -o nosuid,nodev,noexec proc /proc
mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
mount -t devtmpfs -o nosuid,mode=0755 devtmpfs /dev
mkdir -p /dev/pts
mount -t devpts -o nosuid,noexec,gid=5,mode=0620,ptmxmode=0666 devpts /dev/pts

# Dependencies first, as the image builder resolved them from the kernel's modules.dep. Drivers
# probe their devices while they load, so the disks and NICs exist once this loop ends.
while read -r module; do
  insmod "/$module" || echo "multiverse: cannot load kernel module /$module" > /dev/ttyS0
done < /${TINY_MODULE_LIST}

${hostnameFromKernelCommandLine(TINY_DEFAULT_HOSTNAME)}hostname "$guest_hostname"

ip link set lo up
${IPV4_FROM_KERNEL_COMMAND_LINE}
${READY_ANNOUNCEMENT}
exec /sbin/init
`;

/** busybox init's table: a login shell on the serial console, respawned when it exits. */
const INITTAB = `# Multiverse tiny guest: busybox init table.
ttyS0::respawn:-/bin/sh
::ctrlaltdel:/sbin/reboot
::shutdown:/bin/umount -a -r
`;

/** Read by the console's login shell; the prompt is \`<hostname>:<cwd># \`. */
const PROFILE = `export PATH=/sbin:/usr/sbin:/bin:/usr/bin
export HOME=/root
PS1='\\h:\\w\\$ '
`;

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\n';
const GROUP = 'root:x:0:\ntty:x:5:\n';

/** The tiny guest's own files, besides busybox and its applet links. */
export function tinyGuestFiles(): readonly GuestFile[] {
  return [
    { path: 'init', mode: 0o755, contents: INIT_SCRIPT },
    { path: 'etc/inittab', mode: 0o644, contents: INITTAB },
    { path: 'etc/profile', mode: 0o644, contents: PROFILE },
    { path: 'etc/passwd', mode: 0o644, contents: PASSWD },
    { path: 'etc/group', mode: 0o644, contents: GROUP },
  ];
}

/** The prompt of the tiny guest's console shell in its first directory, `/`. */
export function tinyShellPrompt(hostname: string): string {
  return `${hostname}:/# `;
}

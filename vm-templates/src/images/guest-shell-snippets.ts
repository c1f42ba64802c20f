import { READY_LINE_PREFIX, SERIAL_PROTOCOL_VERSION } from './serial-protocol.js';

/** Kernel command-line parameter that names the guest (the kernel ignores dotted unknown parameters). */
export const HOSTNAME_KERNEL_PARAMETER = 'multiverse.hostname';

/**
 * POSIX sh (busybox ash, dash) that sets `guest_hostname` from `multiverse.hostname=` on the kernel
 * command line, or to `defaultHostname` when it is absent or not an RFC 1123 label. Every Multiverse
 * guest names itself this way, so the name hostd gives a VM is the one its READY line reports.
 */
export function hostnameFromKernelCommandLine(defaultHostname: string): string {
  return `guest_hostname=${defaultHostname}
for parameter in $(cat /proc/cmdline); do
  case "$parameter" in
    ${HOSTNAME_KERNEL_PARAMETER}=*) guest_hostname="\${parameter#${HOSTNAME_KERNEL_PARAMETER}=}" ;;
  esac
done
# Only RFC 1123 labels: anything else on the command line falls back to the default.
case "$guest_hostname" in
  '' | -* | *- | *[!a-z0-9-]*) guest_hostname=${defaultHostname} ;;
esac
[ \${#guest_hostname} -le 63 ] || guest_hostname=${defaultHostname}
`;
}

/**
 * POSIX sh that writes the READY line (serial-protocol.ts) on ttyS0 with the hostname the kernel
 * has, and the disks and network interfaces the guest sees. Needs /proc and /sys mounted. Only
 * sysfs entries with a `device` link are listed: real (virtio) devices, not loop, ram or lo.
 */
export const READY_ANNOUNCEMENT = `# Comma-separated, sorted names of a sysfs class directory's entries that are backed by a device.
# A subshell, so the globbing it turns on does not leak into a caller that runs with set -f.
multiverse_devices() (
  set +f
  names=
  for entry in "$1"/*; do
    [ -e "$entry/device" ] || continue
    names="\${names:+$names,}\${entry##*/}"
  done
  printf '%s' "$names"
)
ready_disks=$(multiverse_devices /sys/block)
ready_nics=$(multiverse_devices /sys/class/net)
read -r ready_hostname < /proc/sys/kernel/hostname
read -r ready_boot_id < /proc/sys/kernel/random/boot_id
read -r ready_uptime _ < /proc/uptime
# The leading newline puts the announcement at the start of a line whatever the console held before.
printf '\\n${READY_LINE_PREFIX} v${SERIAL_PROTOCOL_VERSION} boot_id=%s uptime=%s hostname=%s disks=%s nics=%s\\n' \\
  "$ready_boot_id" "$ready_uptime" "$ready_hostname" "$ready_disks" "$ready_nics" > /dev/ttyS0
`;

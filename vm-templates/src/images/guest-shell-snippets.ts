import { READY_LINE_PREFIX, SERIAL_PROTOCOL_VERSION } from './serial-protocol.js';

/** Kernel command-line parameter that names the guest (the kernel ignores dotted unknown parameters). */
export const HOSTNAME_KERNEL_PARAMETER = 'multiverse.hostname';

/**
 * Kernel command-line parameter with the first NIC's static IPv4 settings, `ADDRESS/PREFIX,GATEWAY`; the gateway
 * is also the nameserver. hostd sets it for a VM behind the onion device, whose link has no DHCP server.
 */
export const IPV4_KERNEL_PARAMETER = 'multiverse.ipv4';

/**
 * POSIX sh (busybox ash, dash) that reads `multiverse.ipv4=` from the kernel command line and, when it is
 * well-formed, runs `configure` with `guest_ipv4`, `guest_ipv4_address` (`ADDRESS/PREFIX`) and
 * `guest_ipv4_gateway` set. A value with anything but digits, dots, one slash and one comma is ignored and
 * said on ttyS0; `configure` refuses the rest (it is indented into a case branch). Needs /proc mounted and
 * `set -f` (no globbing).
 */
export function staticIpv4FromKernelCommandLine(configure: string): string {
  return `guest_ipv4=
for parameter in $(cat /proc/cmdline); do
  case "$parameter" in
    ${IPV4_KERNEL_PARAMETER}=*) guest_ipv4="\${parameter#${IPV4_KERNEL_PARAMETER}=}" ;;
  esac
done
case "$guest_ipv4" in
  '') ;;
  *[!0-9./,]* | *,*,* | */*/* | [!0-9]*) echo "multiverse: ignoring malformed ${IPV4_KERNEL_PARAMETER}=$guest_ipv4" > /dev/ttyS0 ;;
  */*,[0-9]*)
    guest_ipv4_address="\${guest_ipv4%%,*}"
    guest_ipv4_gateway="\${guest_ipv4#*,}"
${configure}    ;;
  *) echo "multiverse: ignoring malformed ${IPV4_KERNEL_PARAMETER}=$guest_ipv4" > /dev/ttyS0 ;;
esac
`;
}

/**
 * The tiny image's (busybox ash): configures eth0 from `multiverse.ipv4=` when the kernel command line has
 * it: IPv6 off before the link is up (no link-local address, no router solicitation), the address, a default
 * route and the nameserver; `ip` refuses what the pattern let through. Needs the NIC driver loaded.
 */
export const IPV4_FROM_KERNEL_COMMAND_LINE =
  staticIpv4FromKernelCommandLine(`    for setting in all default eth0; do
      [ -w "/proc/sys/net/ipv6/conf/$setting/disable_ipv6" ] && echo 1 > "/proc/sys/net/ipv6/conf/$setting/disable_ipv6"
    done
    if ip address add "$guest_ipv4_address" dev eth0 && ip link set eth0 up &&
      ip route add default via "$guest_ipv4_gateway" dev eth0; then
      echo "nameserver $guest_ipv4_gateway" > /etc/resolv.conf
    else
      echo "multiverse: cannot configure eth0 from ${IPV4_KERNEL_PARAMETER}=$guest_ipv4" > /dev/ttyS0
    fi
`);

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

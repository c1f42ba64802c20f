import {
  HOSTNAME_KERNEL_PARAMETER,
  IPV4_KERNEL_PARAMETER,
  READY_ANNOUNCEMENT,
  hostnameFromKernelCommandLine,
  staticIpv4FromKernelCommandLine,
} from '../guest-shell-snippets.js';

/** Hostname of a Debian guest booted without `multiverse.hostname=` on its kernel command line. */
export const DEBIAN_DEFAULT_HOSTNAME = 'debian';

/** The guest's root: the whole qcow2 is one ext4 file system, no partition table. */
export const DEBIAN_ROOT_DEVICE = '/dev/vda';

/**
 * Modules the guest's initramfs holds (Debian's initramfs-tools builds it inside the image; ext4
 * is built into the cloud kernel): the root's disk driver, and the NIC driver so that NICs exist
 * from the initramfs on rather than whenever udev gets to them after the switch to the root.
 * The rest load from the root via udev.
 */
export const DEBIAN_INITRAMFS_MODULES: readonly string[] = ['virtio_pci', 'virtio_blk', 'virtio_net'];

export type DebianGuestEntry =
  | { readonly kind: 'file'; readonly path: string; readonly mode: number; readonly contents: string }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string };

/**
 * Written before packages are configured: dpkg skips documentation on every later unpack, and
 * initramfs-tools builds a small initramfs (only the listed modules, gzip: the guest has no zstd)
 * when the kernel is installed. Nothing starts services inside the build chroot.
 */
export function debianBuildTimeEntries(): DebianGuestEntry[] {
  return [
    {
      kind: 'file',
      path: 'etc/dpkg/dpkg.cfg.d/multiverse-no-docs',
      mode: 0o644,
      contents: `# Multiverse guest images carry no documentation; licences stay.
path-exclude=/usr/share/doc/*
path-include=/usr/share/doc/*/copyright
path-exclude=/usr/share/man/*
path-exclude=/usr/share/info/*
path-exclude=/usr/share/locale/*
path-include=/usr/share/locale/locale.alias
`,
    },
    {
      kind: 'file',
      path: 'etc/initramfs-tools/conf.d/multiverse',
      mode: 0o644,
      contents:
        '# Multiverse: only what finding the root needs (see hooks/multiverse).\nMODULES=list\nCOMPRESS=gzip\n',
    },
    {
      kind: 'file',
      path: 'etc/initramfs-tools/hooks/multiverse',
      mode: 0o755,
      contents: `#!/bin/sh
# Multiverse: the root is a virtio disk (${DEBIAN_ROOT_DEVICE}) on q35's PCIe; NICs are virtio too.
set -e
[ "$1" = prereqs ] && exit 0
. /usr/share/initramfs-tools/hook-functions
manual_add_modules ${DEBIAN_INITRAMFS_MODULES.join(' ')}
`,
    },
    {
      kind: 'file',
      path: 'usr/sbin/policy-rc.d',
      mode: 0o755,
      contents:
        '#!/bin/sh\n# Removed when the image is finished: no service starts inside the build chroot.\nexit 101\n',
    },
  ];
}

/** Paths of build-time entries that the finished image must not keep. */
export const BUILD_ONLY_PATHS: readonly string[] = ['usr/sbin/policy-rc.d'];

const GUEST_LIBRARY = 'usr/lib/multiverse';

/** Where the guest's static link settings go: systemd-networkd's runtime directory, gone at every boot. */
export const DEBIAN_IPV4_NETWORK_FILE = '/run/systemd/network/10-multiverse-ipv4.network';

/**
 * dash: the link of a VM behind the onion device, from `multiverse.ipv4=` (the tiny init's semantics). IPv6
 * goes off before any link is up; systemd-networkd (part of the image's systemd, started only here) gives the
 * one NIC the address and default route, with every dynamic protocol off; the gateway is the nameserver.
 * Octets and prefix are checked here, since networkd would skip a bad Address= and carry on.
 */
const CONFIGURE_IPV4 =
  staticIpv4FromKernelCommandLine(`    if ipv4_valid "\${guest_ipv4_address%/*}" && ipv4_valid "$guest_ipv4_gateway" &&
      prefix_valid "\${guest_ipv4_address#*/}"; then
      echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6
      echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6
      mkdir -p "\${network_file%/*}"
      printf '%s\\n' '# Multiverse: from ${IPV4_KERNEL_PARAMETER}= on the kernel command line. The VM has one NIC.' \\
        '[Match]' 'Type=ether' '' '[Network]' "Address=$guest_ipv4_address" "Gateway=$guest_ipv4_gateway" \\
        'DHCP=no' 'LinkLocalAddressing=no' 'IPv6AcceptRA=no' 'LLMNR=no' 'MulticastDNS=no' 'LLDP=no' \\
        'EmitLLDP=no' > "$network_file"
      echo "nameserver $guest_ipv4_gateway" > /etc/resolv.conf
      systemctl start --no-block systemd-networkd.service
    else
      echo "multiverse: ignoring malformed ${IPV4_KERNEL_PARAMETER}=$guest_ipv4" > /dev/ttyS0
    fi
`);

/**
 * Units that cost boot time and do nothing useful in a VM whose root is fresh at every start:
 * no first-boot wizard may wait for input on the console, there is no VGA console for the static
 * gettys, and ext4 scrubbing of an immutable root is pointless.
 */
export const MASKED_UNITS: readonly string[] = [
  'systemd-firstboot.service',
  'getty-static.service',
  'e2scrub_reap.service',
  'e2scrub_all.timer',
];

/** The guest's own configuration, written once every package is installed. */
export function debianGuestEntries(
  mirror: string,
  securityMirror: string,
  suite: string,
): DebianGuestEntry[] {
  return [
    { kind: 'file', path: 'etc/hostname', mode: 0o644, contents: `${DEBIAN_DEFAULT_HOSTNAME}\n` },
    {
      kind: 'file',
      path: 'etc/hosts',
      mode: 0o644,
      contents: '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n',
    },
    // Empty, not absent: systemd makes up a fresh transient id at every boot (every VM and every clone
    // differs), without treating the boot as a first boot.
    { kind: 'file', path: 'etc/machine-id', mode: 0o444, contents: '' },
    // The build host's resolver must not leak into guests; a guest's network configuration brings its own.
    { kind: 'file', path: 'etc/resolv.conf', mode: 0o644, contents: '' },
    {
      kind: 'file',
      path: 'etc/fstab',
      mode: 0o644,
      contents: `# Multiverse: the root volume is a fresh overlay of the image at every start.\n${DEBIAN_ROOT_DEVICE}\t/\text4\terrors=remount-ro\t0\t1\n`,
    },
    {
      kind: 'file',
      path: 'etc/apt/sources.list',
      mode: 0o644,
      contents: aptSources(mirror, securityMirror, suite),
    },
    { kind: 'file', path: 'etc/default/locale', mode: 0o644, contents: 'LANG=C.UTF-8\n' },
    { kind: 'file', path: 'etc/motd', mode: 0o644, contents: '' },
    ...MASKED_UNITS.map((unit): DebianGuestEntry => ({
      kind: 'symlink',
      path: `etc/systemd/system/${unit}`,
      target: '/dev/null',
    })),
    {
      kind: 'file',
      path: `${GUEST_LIBRARY}/set-hostname`,
      mode: 0o755,
      contents: `#!/bin/sh
# Multiverse: names the guest after the VM (${HOSTNAME_KERNEL_PARAMETER}= on the kernel command line).
set -f
${hostnameFromKernelCommandLine(DEBIAN_DEFAULT_HOSTNAME)}exec hostname "$guest_hostname"
`,
    },
    {
      kind: 'file',
      path: `${GUEST_LIBRARY}/announce-ready`,
      mode: 0o755,
      contents: `#!/bin/sh
# Multiverse: the READY line of the serial protocol (vm-templates/README.md), once multi-user is up.
# udev probes devices in the background (coldplug): let it finish, so the lists below are complete.
udevadm settle --timeout=30 || true
${READY_ANNOUNCEMENT}`,
    },
    {
      kind: 'file',
      path: `${GUEST_LIBRARY}/configure-ipv4`,
      mode: 0o755,
      contents: `#!/bin/sh
# Multiverse: the static IPv4 link of a VM behind the onion device (${IPV4_KERNEL_PARAMETER}=ADDRESS/PREFIX,GATEWAY
# on the kernel command line). Nothing else in the image configures a network: no DHCP client, no resolver
# daemon, no time sync.
set -f
network_file=${DEBIAN_IPV4_NETWORK_FILE}
ipv4_valid() {
  saved_ifs=$IFS
  IFS=.
  set -- $1
  IFS=$saved_ifs
  [ $# -eq 4 ] || return 1
  for octet in "$@"; do
    case "$octet" in '' | ????* | *[!0-9]*) return 1 ;; esac
    [ "$octet" -le 255 ] || return 1
  done
}
prefix_valid() {
  case "$1" in '' | ???* | *[!0-9]*) return 1 ;; esac
  [ "$1" -ge 1 ] && [ "$1" -le 30 ]
}
${CONFIGURE_IPV4}`,
    },
    {
      kind: 'file',
      path: 'etc/systemd/system/multiverse-ipv4.service',
      mode: 0o644,
      contents: `[Unit]
Description=Multiverse: static IPv4 link from the kernel command line
DefaultDependencies=no
ConditionKernelCommandLine=${IPV4_KERNEL_PARAMETER}
# /etc/resolv.conf is written, so the root must be read-write; IPv6 goes off before networkd brings a link up.
After=systemd-remount-fs.service systemd-sysctl.service
Before=network-pre.target systemd-networkd.service sysinit.target
Wants=network-pre.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/${GUEST_LIBRARY}/configure-ipv4

[Install]
WantedBy=sysinit.target
`,
    },
    {
      kind: 'file',
      path: 'etc/systemd/system/multiverse-hostname.service',
      mode: 0o644,
      contents: `[Unit]
Description=Multiverse: hostname from the kernel command line
DefaultDependencies=no
Before=sysinit.target
Conflicts=shutdown.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/${GUEST_LIBRARY}/set-hostname

[Install]
WantedBy=sysinit.target
`,
    },
    {
      kind: 'file',
      path: 'etc/systemd/system/multiverse-ready.service',
      mode: 0o644,
      contents: `[Unit]
Description=Multiverse: announce READY on the serial console
After=multi-user.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/${GUEST_LIBRARY}/announce-ready

[Install]
WantedBy=multi-user.target
`,
    },
    {
      kind: 'file',
      path: 'etc/systemd/system/multiverse-grow-root.service',
      mode: 0o644,
      contents: `[Unit]
Description=Multiverse: grow the root file system to the root volume's size
# The image's file system is just large enough for its files; hostd's overlay is the template's size.
After=systemd-remount-fs.service
ConditionPathIsReadWrite=/

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/sbin/resize2fs ${DEBIAN_ROOT_DEVICE}

[Install]
WantedBy=multi-user.target
`,
    },
    // The fallback console: the serial getty logs root in without a password. Only the host reaches
    // this console (a pty or socket of libvirt's), never the network; root has no password at all.
    {
      kind: 'file',
      path: 'etc/systemd/system/serial-getty@ttyS0.service.d/multiverse-autologin.conf',
      mode: 0o644,
      contents: `[Service]
ExecStart=
ExecStart=-/sbin/agetty --autologin root --keep-baud 115200,57600,38400,9600 - $TERM
`,
    },
    ...[
      'multiverse-hostname.service:sysinit.target',
      'multiverse-ipv4.service:sysinit.target',
      'multiverse-ready.service:multi-user.target',
      'multiverse-grow-root.service:multi-user.target',
    ].map((entry): DebianGuestEntry => {
      const [unit, target] = entry.split(':') as [string, string];
      return {
        kind: 'symlink',
        path: `etc/systemd/system/${target}.wants/${unit}`,
        target: `/etc/systemd/system/${unit}`,
      };
    }),
  ];
}

/**
 * What the finished image drops: package caches and indexes (the root is immutable, nothing
 * installs into it), logs of the build, temporary files and documentation (licences stay).
 * `keep` names the entries, relative to `directory`, that survive.
 */
export const PRUNED_TREES: readonly {
  readonly directory: string;
  readonly keep: RegExp | null;
  readonly keepDirectories: boolean;
}[] = [
  { directory: 'var/cache/apt', keep: null, keepDirectories: true },
  { directory: 'var/lib/apt/lists', keep: null, keepDirectories: true },
  { directory: 'var/cache/debconf', keep: /^(config|templates)\.dat$/, keepDirectories: true },
  { directory: 'var/log', keep: null, keepDirectories: true },
  { directory: 'tmp', keep: null, keepDirectories: false },
  { directory: 'var/tmp', keep: null, keepDirectories: false },
  { directory: 'usr/share/doc', keep: /^[^/]+\/copyright$/, keepDirectories: true },
  { directory: 'usr/share/man', keep: null, keepDirectories: false },
  { directory: 'usr/share/info', keep: null, keepDirectories: false },
  { directory: 'usr/share/locale', keep: /^locale\.alias$/, keepDirectories: false },
];

export function aptSources(mirror: string, securityMirror: string, suite: string): string {
  return [
    `deb ${mirror} ${suite} main`,
    `deb ${mirror} ${suite}-updates main`,
    `deb ${securityMirror} ${suite}-security main`,
    '',
  ].join('\n');
}

#!/usr/bin/env bash
# Shared setup for both README commands: Debian packages, npm ci, build, libvirt daemons.
# Idempotent: a second run installs nothing new and only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
  echo "error: run as root (it installs Debian packages and starts libvirtd): sudo $0" >&2
  exit 1
fi

# Debian packages the host needs. Later issues add to this list (tor, nftables, ...).
DEBIAN_PACKAGES=(
  qemu-system-x86 qemu-utils ovmf
  libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients libvirt-dev
  busybox-static cpio zstd
  zbar-tools libxml2-utils
  tor curl openssh-client netcat-openbsd
  bubblewrap openssh-server
  nftables tcpdump
  virtinst
  dnsmasq-base
  chromium
  linux-image-cloud-amd64
  debootstrap e2fsprogs debian-archive-keyring
  python3 make g++ git ca-certificates
)
missing=()
for pkg in "${DEBIAN_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "==> installing Debian packages: ${missing[*]}"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The unprivileged user every SSH jail session's sandbox runs as (jail-shell, hostd/src/jail/).
if ! id -u multiverse-jail >/dev/null 2>&1; then
  echo "==> creating system user multiverse-jail"
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin multiverse-jail
fi

# npm ci only when the lock file changed since the last install (keeps a second run fast).
lock_stamp=node_modules/.multiverse-lock.sha256
if [ ! -f "$lock_stamp" ] || ! sha256sum --status -c "$lock_stamp" 2>/dev/null; then
  echo "==> npm ci"
  npm ci --no-audit --no-fund
  sha256sum package-lock.json > "$lock_stamp"
fi

echo "==> build"
npm run --silent build

bash scripts/start-libvirt.sh

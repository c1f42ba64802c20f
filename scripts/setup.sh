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
  tor curl openssh-client
  nftables tcpdump
  linux-image-cloud-amd64
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

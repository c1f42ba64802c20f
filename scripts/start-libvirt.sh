#!/usr/bin/env bash
# Starts virtlogd and libvirtd when nothing runs them. With systemd as PID 1 the units are used;
# otherwise (containers, this build machine) the daemons are started directly with -d.
set -euo pipefail

socket=/run/libvirt/libvirt-sock
if [ -S "$socket" ] && virsh -c qemu:///system version >/dev/null 2>&1; then
  echo "==> libvirtd already running"
  exit 0
fi

if [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
  echo "==> starting libvirtd through systemd"
  systemctl start virtlogd.socket libvirtd.socket libvirtd.service
else
  echo "==> starting virtlogd and libvirtd (no service manager runs them)"
  mkdir -p /run/libvirt
  pgrep -x virtlogd >/dev/null || virtlogd -d
  pgrep -x libvirtd >/dev/null || libvirtd -d
fi

for _ in $(seq 1 100); do
  if [ -S "$socket" ] && virsh -c qemu:///system version >/dev/null 2>&1; then exit 0; fi
  sleep 0.1
done
echo "error: libvirtd did not answer on $socket within 10 s; see /var/log/libvirt/ or run 'libvirtd -v' by hand" >&2
exit 1

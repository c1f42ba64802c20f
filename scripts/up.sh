#!/usr/bin/env bash
# README command 1: set everything up and start hostd. Idempotent: a second run installs nothing new,
# keeps the already-built guest image, and restarts hostd on the freshly built code.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh

state_dir=${MULTIVERSE_STATE_DIR:-/var/lib/multiverse}
run_dir=${MULTIVERSE_RUN_DIR:-/run/multiverse}
log_dir=${MULTIVERSE_LOG_DIR:-/var/log/multiverse}
mkdir -p "$state_dir/images" "$run_dir" "$log_dir"

echo "==> default guest image (tiny: Debian cloud kernel + busybox initramfs)"
node vm-templates/dist/image-build-cli.js tiny --images-dir "$state_dir/images"

pidfile=$run_dir/hostd.pid
if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
  echo "==> stopping the running hostd (pid $(cat "$pidfile")) to start the new build"
  kill "$(cat "$pidfile")"
  for _ in $(seq 1 50); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.1; done
fi
rm -f "$run_dir/hostd.status.json"

echo "==> starting hostd"
MULTIVERSE_STATE_DIR=$state_dir MULTIVERSE_RUN_DIR=$run_dir \
  nohup node hostd/dist/main.js >>"$log_dir/hostd.log" 2>&1 </dev/null &
echo $! >"$pidfile"

# Wait until hostd has connected to libvirt and decided KVM or TCG (the probe boots a guest: up to ~15 s).
status=$run_dir/hostd.status.json
for _ in $(seq 1 300); do
  if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    echo "error: hostd exited at start; its log:" >&2
    tail -n 20 "$log_dir/hostd.log" >&2
    exit 1
  fi
  if [ -f "$status" ] && grep -q '"accelerator"' "$status"; then break; fi
  sleep 0.1
done

node -e '
const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log(`hostd is running (pid ${s.pid}), connected to ${s.libvirtUri}: QEMU ${s.hypervisorVersion}, libvirt ${s.libvirtVersion}`);
console.log(`accelerator: ${s.accelerator ? s.accelerator.accelerator + " (" + s.accelerator.reason + ")" : "still probing"}`);
' "$status"
echo "log: $log_dir/hostd.log    status: $status"
node -e '
const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
console.log(s.webAddress
  ? `web: ${s.webAddress} (the vault unseal page; the web VM manager is a later issue)`
  : "web: not listening (MULTIVERSE_WEB_LISTEN=off, or its port was taken: see the log)");
' "$status"

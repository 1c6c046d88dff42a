#!/usr/bin/env bash
# Boot the vmgate test VM in the foreground until Ctrl-C (or until QEMU exits).
#
#   scripts/vm-run.sh [--build] [--agent PATH] [--image DIR] [--mode echo|agent] [--accel auto|tcg|kvm]
#                     [--qmp] [--tcp-bridge N]... [--port NAME] [--mem 128M] [--append "ARGS"]
#                     [--run DIR] [-- EXTRA-QEMU-ARGS...]
#
#   --build        run scripts/build-vm-image.sh on the image dir first (with --agent PATH)
#   --image DIR    default $VMGATE_BUILD/vm, else build/vm
#   --mode         agent (default: /bin/vmgate-agent --port-name org.vmgate.0) or echo
#   --accel        auto (default): kvm only when a probe boot reaches the marker, else tcg
#   --qmp          also a QMP socket (RUN/qmp.sock)
#   --tcp-bridge N a second port org.vmgate.tcp.N (RUN/tcp-N.sock) bridged to 127.0.0.1:N in the
#                  guest: e.g. --tcp-bridge 22, then ssh -o ProxyCommand='nc -U RUN/tcp-22.sock'
#   --run DIR      where the sockets and console.log go (default: a new /tmp/vmgate-vm-PID.XXXXXX,
#                  removed on exit; keep paths short: unix socket paths are limited to 107 bytes)
# The functions behind it are in tests/system/vmlib.sh (source that from scripts and tests).
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export VM_IMAGE=${VM_IMAGE:-${VMGATE_BUILD:-$SRC/build}/vm}
build=0 agent='' args=()
while [[ $# -gt 0 ]]; do
    case $1 in
    --build) build=1; shift ;;
    --agent) agent=$2; shift 2 ;;
    --image) VM_IMAGE=$2; shift 2 ;;
    -h | --help) sed -n '2,20p' "$0"; exit 0 ;;
    --) args+=("$@"); break ;;
    *) args+=("$1"); shift ;;
    esac
done
source "$SRC/tests/system/vmlib.sh"
if ((build)); then
    bash "$SRC/scripts/build-vm-image.sh" "$VM_IMAGE" ${agent:+--agent "$agent"}
fi
trap vm_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
vm_start "${args[@]}"
echo "vm-run: QEMU PID $VM_PID ($VM_ACCEL), run dir $VM_RUN"
echo "vm-run: console $VM_CONSOLE"
echo "vm-run: port org.vmgate.0 -> $VM_SOCK${VM_QMP:+, QMP $VM_QMP}"
for n in "${!VM_TCP_SOCK[@]}"; do echo "vm-run: guest 127.0.0.1:$n -> ${VM_TCP_SOCK[$n]}"; done
if line=$(vm_wait_ready 180); then
    echo "vm-run: $line ($(vm_elapsed) s after start)"
else
    exit 1
fi
if [[ -n ${VM_TCP_SOCK[22]:-} ]]; then
    echo "vm-run: ssh -i $VM_IMAGE/id_ed25519 -o UserKnownHostsFile=$VM_IMAGE/known_hosts -o ProxyCommand='nc -U ${VM_TCP_SOCK[22]}' root@vm"
fi
echo "vm-run: Ctrl-C stops the VM"
while vm_alive; do wait "$VM_PID" 2>/dev/null || true; done
echo "vm-run: QEMU exited"

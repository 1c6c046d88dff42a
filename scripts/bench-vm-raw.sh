#!/usr/bin/env bash
# Raw virtio-serial baseline: boot the test VM in echo mode (vmgate-echo on org.vmgate.0, no
# agent, no yamux) and measure what the bare port carries, for comparison with the agent's relay.
#
#   scripts/bench-vm-raw.sh [--image DIR] [--mib N] [--runs N] [--accel auto|tcg|kvm] [--blocking]
#                           [--help]
#
# --image: default $VMGATE_BUILD/vm-raw (else build/vm-raw), built here without an agent.
#
# --blocking: the guest echo uses blocking read()/write() on the port (a blocking write to a
# virtio-serial port spins in the guest until the host took the buffer): shows what that costs.
#
# Prints figures, never pass/fail.  Throughput = bytes echoed back / wall time, with the host
# writing and reading at once (each byte crosses the port twice: host→guest and back).
set -euo pipefail
BENCH_NAME=bench-vm-raw
# shellcheck source=benchlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"
SRC=$ROOT
main_img=${VMGATE_BUILD:-$SRC/build}/vm
img=${main_img}-raw
mib=64 runs=3 accel=auto mode=echo
bench_opts 2,16 --image=img --mib=mib --runs=runs --accel=accel --blocking:mode=echo-blocking -- "$@"
source "$SRC/tests/system/vmlib.sh"
HOSTPY=$SRC/tests/vm/vmhost.py
# an image of its own, without agent (its kernel copied from the main image's cache when there);
# the build is idempotent: a no-op when the image is current
if [[ ! -d $img/cache && -d $main_img/cache ]]; then
    mkdir -p "$img"
    cp -a "$main_img/cache" "$img/"
fi
bash "$SRC/scripts/build-vm-image.sh" "$img" >&2
VM_IMAGE=$(cd "$img" && pwd)
trap vm_stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

vm_start --mode "$mode" --accel "$accel"
vm_roundtrip 180 >/dev/null
boot=$(vm_elapsed)
vm_wait_ready 60 >/dev/null
printf 'bench-vm-raw: guest vmgate-echo (%s), microvm, %s, 1 vCPU, %s; host %s, load %s\n' \
    "$( [[ $mode == echo ]] && echo non-blocking || echo blocking)" "$VM_ACCEL" "$VM_MEM" \
    "$(cpu_model)" "$(cut -d' ' -f1-3 /proc/loadavg)"
printf 'boot to first round trip: %.2f s\n' "$boot"
python3 "$HOSTPY" transfer "$VM_SOCK" --bytes $((4 << 20)) >/dev/null # warm-up
vals=()
for ((i = 1; i <= runs; i++)); do
    out=$(python3 "$HOSTPY" transfer "$VM_SOCK" --bytes $((mib << 20)) --seed "$i" --timeout 600)
    read -r _ nbytes _ secs _ mibps _ s1 _ s2 _ <<<"$out"
    ok=ok
    [[ $s1 == "$s2" && $nbytes == $((mib << 20)) ]] || ok=MISMATCH
    printf 'run %d: %d MiB echoed in %.2f s = %s MiB/s (sha256 %s)\n' "$i" "$mib" "$secs" "$mibps" "$ok"
    vals+=("$mibps")
done
med=$(median "${vals[@]}")
lat=$(python3 "$HOSTPY" latency "$VM_SOCK" --count 500)
read -r _ _ _ p50 _ p99 <<<"$lat"
echo "raw virtio-serial echo throughput: median $med MiB/s over $runs runs of $mib MiB"
echo "raw virtio-serial 1-byte round trip: p50 ${p50} us, p99 ${p99} us"
echo "RESULT raw_echo_mibps=$med boot_to_roundtrip_s=$(printf '%.2f' "$boot") rtt_p50_us=$p50 rtt_p99_us=$p99 accel=$VM_ACCEL guest_io=$( [[ $mode == echo ]] && echo nonblocking || echo blocking)"

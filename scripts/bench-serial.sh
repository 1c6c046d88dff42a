#!/usr/bin/env bash
# Throughput through the real serial channel:
#   client namespace → vmgate-gw → serial:PATH (QEMU chardev) → virtio-serial → vmgate-agent
#   → the guest's test service (vmgate-echo --serve 7000: SOURCE n / ECHO)
# compared with the raw virtio-serial echo over the same port without multiplexing (the
# image booted in echo mode, as scripts/bench-vm-raw.sh does).
#
#   scripts/bench-serial.sh [--mib N] [--runs N] [--accel auto|tcg|kvm] [--help]
#
# --mib: MiB per stream (default 32; the 8-stream runs move 8 × N/2 MiB), --runs: runs per
# figure (default 3; medians are printed).  Needs root (network namespaces) and a build with
# guest/vmgate-agent-static ($VMGATE_BUILD, default build/).
#
# Figures (never pass/fail):
#   raw echo        bytes echoed back per wall second, host writing and reading at once
#   1xSOURCE   one stream downloading N MiB from the test service (one direction)
#   1xECHO     one stream echoing N MiB (both directions: like for like with raw echo)
#   1xHTTP     one download of /big.bin (10 MiB) from busybox httpd (sendfile in the guest)
#   8xHTTP     eight /big.bin downloads at once; each stream's MiB/s vs the mean (its share)
#   guest-tcp  inside the guest only: SOURCE → busybox nc → /dev/null (the TCP hop every relayed
#              byte takes in the guest, without port or mux: a ceiling for 1xSOURCE)
#   8xSOURCE   eight SOURCE streams of N/2 MiB at once (eight CPU-bound writer processes in
#              the guest compete for its one vCPU: less even than 8xHTTP, see docs/test-vm.md)
# Every byte is checked (sha256).  The ratios use the raw echo figure (target ≥ 0.8); the
# per-stream shares target ±25%.
set -euo pipefail
BENCH_NAME=bench-serial
# shellcheck source=benchlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"
SRC=$ROOT
export VMGATE_SRC=${VMGATE_SRC:-$SRC}
export VMGATE_BUILD=${VMGATE_BUILD:-$SRC/build}
mib=32 runs=3 accel=auto
bench_opts 2,20 --mib=mib --runs=runs --accel=accel -- "$@"
source "$SRC/tests/system/lib.sh"
source "$SRC/tests/system/vmlib.sh"
vg_init
AGENT_BIN=$VMGATE_BUILD/guest/vmgate-agent-static
[[ -x $AGENT_BIN ]] || vg_die "no $AGENT_BIN: build without sanitizers first"
export VM_IMAGE=$VMGATE_BUILD/vm
bash "$SRC/scripts/build-vm-image.sh" "$VM_IMAGE" --agent "$AGENT_BIN" >&2
HOSTPY=$SRC/tests/vm/vmhost.py
T=$VG_TMP
GW=$HV4:1080
streams() { ip netns exec "$NS_CL" "$VG_PY" "$HOSTPY" streams --gw "$GW" --name vm1.vm.test --port 7000 --timeout 600 "$@"; }

printf 'bench-serial: microvm, 1 vCPU, 128M; host %s, %s cores, load %s\n' \
    "$(cpu_model)" "$(nproc)" "$(cut -d' ' -f1-3 /proc/loadavg)"

# --- raw baseline: the same image in echo mode ------------------------------------------------
vm_start --mode echo --accel "$accel"
vm_roundtrip 180 >/dev/null
vm_wait_ready 60 >/dev/null
echo "accel: $VM_ACCEL"
python3 "$HOSTPY" transfer "$VM_SOCK" --bytes $((4 << 20)) >/dev/null || true # warm-up
raw=()
for ((i = 1; i <= runs; i++)); do
    out=$(python3 "$HOSTPY" transfer "$VM_SOCK" --bytes $((mib << 20)) --seed "$i" --timeout 600) || true
    read -r _ _ _ secs _ m _ s1 _ s2 _ <<<"$out"
    [[ $s1 == "$s2" ]] || echo "raw run $i: MISMATCH"
    printf 'raw echo         run %d: %3d MiB in %6.2f s = %6.1f MiB/s\n' "$i" "$mib" "$secs" "$m"
    raw+=("$m")
done
vm_stop
RAW=$(median "${raw[@]}")

# --- through the gateway and the agent --------------------------------------------------------
vg_net_init
gw_conf "$T/gw.conf" log-level=notice
vm_start --mode agent --accel "$accel"
vm_set vm1.vm.test channel="serial:$VM_SOCK"
gw_start gw "$T/gw.conf"
vm_wait_ready 120 >/dev/null
streams --streams 1 --bytes $((4 << 20)) >/dev/null || vg_die "warm-up through the gateway failed"

BIG_SHA=$(awk '$2=="big.bin"{print $1}' "$VM_IMAGE/www.sha256")
HTTP=(--mode http --port 80 --path /big.bin --sha "$BIG_SHA")
declare -A fig=()
# one(LABEL, streams args...): a run; prints its line, appends TOTAL MiB/s to fig[LABEL]
one() {
    local label=$1 out m sp pg shares
    shift
    out=$(streams "$@") || echo "$label: FAILED: $(grep -E 'BAD|REP' <<<"$out" | head -n 3)"
    m=$(awk '$1=="TOTAL"{print $7}' <<<"$out")
    fig[$label]+=" $m"
    if [[ $label == 8* ]]; then
        sp=$(awk '$1=="SPREAD_PCT"{print $2}' <<<"$out")
        pg=$(awk '$1=="PROGRESS_AT_FIRST_DONE"{print $3}' <<<"$out")
        shares=$(awk '$1=="STREAM"{printf "%s ", $10}' <<<"$out")
        fig[$label.spread]+=" $sp"
        fig[$label.prog]+=" $pg"
        printf '%-14s run %d: %6.1f MiB/s total; shares %s; largest deviation %s%%; slowest/fastest bytes at first finish %s\n' \
            "$label" "$i" "$m" "$shares" "$sp" "$pg"
    else
        printf '%-14s run %d: %6.1f MiB/s\n' "$label" "$i" "$m"
    fi
}
for ((i = 1; i <= runs; i++)); do
    one 1xSOURCE --streams 1 --bytes $((mib << 20))
    one 1xECHO --streams 1 --bytes $((mib << 20)) --mode echo
    one 1xHTTP --streams 1 --bytes $((10 << 20)) "${HTTP[@]}"
    one 8xHTTP --streams 8 --bytes $((10 << 20)) "${HTTP[@]}"
    one 8xSOURCE --streams 8 --bytes $((mib << 20 >> 1))
done
# what the guest alone spends on the TCP hop to a service (no port, no mux): SOURCE → busybox nc
ssh_vm() {
    ip netns exec "$NS_CL" timeout 120 ssh -F /dev/null -i "$VM_IMAGE/id_ed25519" -o IdentitiesOnly=yes \
        -o UserKnownHostsFile="$VM_IMAGE/known_hosts" -o BatchMode=yes -o ProxyCommand="nc -X 5 -x $GW %h %p" -n root@vm1.vm.test "$@"
}
for ((i = 1; i <= runs; i++)); do
    t=$(ssh_vm "time sh -c 'echo SOURCE $((mib << 20)) | nc 127.0.0.1 7000 >/dev/null'" 2>&1 | awk '$1=="real"{m=$2; s=$3; sub("m", "", m); sub("s", "", s); print m * 60 + s}') || true
    m=$(awk -v t="${t%s}" -v n="$mib" 'BEGIN{if (t > 0) printf "%.1f", n / t; else print 0}')
    printf '%-14s run %d: %6.1f MiB/s (in the guest: SOURCE → busybox nc → /dev/null, %s s)\n' guest-tcp "$i" "$m" "$t"
    fig[guest-tcp]+=" $m"
done
med() { median ${fig[$1]}; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}'; }
echo
echo "medians of $runs runs:"
printf '%-52s %6s MiB/s\n' "raw virtio-serial echo, no mux (bytes echoed / s)" "$RAW"
printf '%-52s %6s MiB/s\n' "guest alone: SOURCE → nc over the guest's loopback" "$(med guest-tcp)"
printf '%-52s %6s MiB/s = %s × raw\n' "serial, 1 stream SOURCE download ($mib MiB)" "$(med 1xSOURCE)" "$(ratio "$(med 1xSOURCE)" "$RAW")"
printf '%-52s %6s MiB/s = %s × raw\n' "serial, 1 stream http big.bin (10 MiB, sendfile)" "$(med 1xHTTP)" "$(ratio "$(med 1xHTTP)" "$RAW")"
printf '%-52s %6s MiB/s = %s × raw (like for like)\n' "serial, 1 stream ECHO (bytes echoed / s)" "$(med 1xECHO)" "$(ratio "$(med 1xECHO)" "$RAW")"
printf '%-52s %6s MiB/s = %s × raw; largest deviation %s%%, slowest/fastest at first finish %s\n' "serial, 8 streams http big.bin (total)" \
    "$(med 8xHTTP)" "$(ratio "$(med 8xHTTP)" "$RAW")" "$(med 8xHTTP.spread)" "$(med 8xHTTP.prog)"
printf '%-52s %6s MiB/s = %s × raw; largest deviation %s%%, slowest/fastest at first finish %s\n' "serial, 8 streams SOURCE (total)" \
    "$(med 8xSOURCE)" "$(ratio "$(med 8xSOURCE)" "$RAW")" "$(med 8xSOURCE.spread)" "$(med 8xSOURCE.prog)"
echo "RESULT raw_echo_mibps=$RAW serial1_source_mibps=$(med 1xSOURCE) serial1_http_mibps=$(med 1xHTTP) serial1_echo_mibps=$(med 1xECHO) serial8_http_mibps=$(med 8xHTTP) serial8_source_mibps=$(med 8xSOURCE) ratio1=$(ratio "$(med 1xSOURCE)" "$RAW") ratio1_echo=$(ratio "$(med 1xECHO)" "$RAW") ratio8=$(ratio "$(med 8xHTTP)" "$RAW") spread8_http_pct=$(med 8xHTTP.spread) spread8_source_pct=$(med 8xSOURCE.spread) guest_tcp_mibps=$(med guest-tcp) accel=$VM_ACCEL"
vm_stop
vg_stop gw
VG_FAIL=0

#!/usr/bin/env bash
# bench-reg.sh — register and withdraw N VMs (default 1000) on BIND and on Knot, same run:
#   vmgate-reg add --batch / del --batch (VM table on tmpfs, and on the disk of $TMPDIR)
#   nsupdate sending one UPDATE per VM (same records, same prerequisites, same key)
# Prints a table; never passes or fails on time.  Servers run on 127.0.0.1 high ports in a temp
# dir (tests/system/dnslib.sh).  Needs named, knotd, nsupdate, dig and a built vmgate-reg.
#
#   scripts/bench-reg.sh [BUILD_DIR] [N] [RUNS]      (defaults: build, 1000, 3; median of RUNS)
set -u
BENCH_NAME=bench-reg
# shellcheck source=benchlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"
SRC=$ROOT
export VMGATE_SRC=$SRC
export VMGATE_BUILD=${1:-${VMGATE_BUILD:-$SRC/build}}
N=${2:-1000}
RUNS=${3:-3}
source "$SRC/tests/system/dnslib.sh"
dns_init
SHM=$(mktemp -d /dev/shm/vmgate-bench.XXXXXX)
trap 'dns_cleanup; rm -rf "$SHM"' EXIT

now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

for ((i = 1; i <= N; i++)); do echo "bvm$i vsock:$((1000 + i))"; done >"$DNS_TMP/add.batch"
sed 's/ .*//' "$DNS_TMP/add.batch" >"$DNS_TMP/del.batch"
KEY_Y="hmac-sha256:$(key_name "$DNS_KEY"):$(key_secret "$DNS_KEY")"

# nsupdate scripts: one UPDATE ("send") per VM, with the records and prerequisites vmgate-reg uses
nsu_scripts() { # PORT
    local i
    {
        echo "server 127.0.0.1 $1"
        echo "zone $ZONE."
        for ((i = 1; i <= N; i++)); do
            echo "prereq nxdomain bvm$i.$ZONE."
            echo "update add bvm$i.$ZONE. 30 A 127.0.0.1"
            echo "update add bvm$i.$ZONE. 30 TXT \"vmgate-owner=nsu\""
            echo "update add _vmgate._tcp.bvm$i.$ZONE. 30 SRV 0 0 1080 nsu.vmgate-hosts.$ZONE."
            echo "send"
        done
    } >"$DNS_TMP/nsu.add"
    {
        echo "server 127.0.0.1 $1"
        echo "zone $ZONE."
        for ((i = 1; i <= N; i++)); do
            echo "prereq yxrrset bvm$i.$ZONE. TXT \"vmgate-owner=nsu\""
            echo "update delete bvm$i.$ZONE."
            echo "update delete _vmgate._tcp.bvm$i.$ZONE."
            echo "send"
        done
    } >"$DNS_TMP/nsu.del"
}

ROWS=()
row() { ROWS+=("$(printf '%-6s %-34s %9s s %9s s %8s   %s' "$@")"); }

bench_vmgate() { # KIND PORT VMDIR-LABEL VMDIR
    local kind=$1 port=$2 label=$3 vmdir=$4 r t0 t1 adds=() dels=() msgs_a msgs_d present
    local C
    C=$(host_config "bench-$kind-$label" "127.0.0.1" "$port")
    sed -i "s|^vm-dir = .*|vm-dir = $vmdir|" "$C"
    for ((r = 0; r < RUNS; r++)); do
        t0=$(now)
        "$VMGATE_BUILD/registrar/vmgate-reg" -c "$C" -vv --direct add --batch "$DNS_TMP/add.batch" \
            >/dev/null 2>"$DNS_TMP/a.err" || { echo "add failed:" >&2; tail -3 "$DNS_TMP/a.err" >&2; }
        t1=$(now)
        adds+=("$(secs "$t0" "$t1")")
        present=$(owned_by "$port" "bench-$kind-$label")
        t0=$(now)
        "$VMGATE_BUILD/registrar/vmgate-reg" -c "$C" -vv --direct del --batch "$DNS_TMP/del.batch" \
            >/dev/null 2>"$DNS_TMP/d.err" || { echo "del failed:" >&2; tail -3 "$DNS_TMP/d.err" >&2; }
        t1=$(now)
        dels+=("$(secs "$t0" "$t1")")
    done
    msgs_a=$(sed -n 's/.*\] \([0-9]*\) UPDATE message(s)/\1/p' "$DNS_TMP/a.err")
    msgs_d=$(sed -n 's/.*\] \([0-9]*\) UPDATE message(s)/\1/p' "$DNS_TMP/d.err")
    row "$kind" "vmgate-reg, VM table on $label" \
        "$(median "${adds[@]}")" "$(median "${dels[@]}")" \
        "$msgs_a+$msgs_d" "$present/$N present after add; runs: add ${adds[*]} / del ${dels[*]}"
}

bench_nsupdate() { # KIND PORT
    local kind=$1 port=$2 t0 t1 ta td present
    nsu_scripts "$port"
    t0=$(now)
    nsupdate -y "$KEY_Y" "$DNS_TMP/nsu.add" >/dev/null 2>"$DNS_TMP/n.err" || echo "nsupdate add: $(tail -1 "$DNS_TMP/n.err")" >&2
    t1=$(now)
    ta=$(secs "$t0" "$t1")
    present=$(owned_by "$port" nsu)
    t0=$(now)
    nsupdate -y "$KEY_Y" "$DNS_TMP/nsu.del" >/dev/null 2>"$DNS_TMP/n.err" || echo "nsupdate del: $(tail -1 "$DNS_TMP/n.err")" >&2
    t1=$(now)
    td=$(secs "$t0" "$t1")
    row "$kind" "nsupdate, one UPDATE per VM (UDP)" "$ta" "$td" "$((2 * N))" "$present/$N present after add; 1 run"
}

for kind in bind knot; do
    DNS_SCEN=$kind
    echo "# $kind: starting" >&2
    dns_start "$kind" S
    bench_vmgate "$kind" "$S_PORT" tmpfs "$SHM/$kind-vms"
    bench_vmgate "$kind" "$S_PORT" disk "$DNS_TMP/$kind-vms"
    echo "# $kind: nsupdate one by one (Knot takes ~10 ms per commit: be patient)" >&2
    bench_nsupdate "$kind" "$S_PORT"
    dns_stop S
done

echo
echo "Register and withdraw $N VMs (A + owner TXT + SRV each, TSIG hmac-sha256, prerequisites);"
echo "vmgate-reg: median of $RUNS runs, whole process (config, key, UPDATEs over TCP, VM table, journal)."
printf '%-6s %-34s %11s %11s %8s   %s\n' server tool register withdraw UPDATEs notes
for r in "${ROWS[@]}"; do echo "$r"; done
echo "($(nproc) cores; $(uname -r); $(named -v | head -1); knotd $(knotd -V | awk '{print $NF}'))"

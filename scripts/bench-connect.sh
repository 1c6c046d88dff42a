#!/usr/bin/env bash
# bench-connect.sh [BUILD] [RUNS] — connection set-up latency of vmgate-connect beside
# `nc -X 5 -x HOST:PORT` given the owning host by hand, and lookups/s of the resolver library.
#
# Topology of tests/system/test_resolve_connect.sh (network namespaces: BIND in `dns`, gateways
# + registrars on hv1/hv2, VMs behind them, the client with routes to the LAN only).  In the VM
# web2 (behind hv2, gateway port 1081 published by SRV) a service sends a banner at once; each run
# times from starting the client process to the first banner byte on its stdout:
#
#   nc                    nc -X 5 -x 198.18.0.12:1081 web2.vm.test 2222   (host given by hand)
#   vmgate-connect        DNS (A, AAAA, TXT, SRV) + connect + pipelined SOCKS5, anonymous
#   vmgate-connect -g     the same without DNS (gateway given by hand, like nc)
#   vmgate-connect auth   with RFC 1929 user/password (adds the gateway's crypt(3) check)
#
# Runs are interleaved; p50/p90/mean in ms.  Then resolvebench (tests/bench/resolvebench.c)
# against BIND: 500 VM names, cache off (4 queries a lookup) at several concurrencies, and on.
# A query BIND drops (its UDP receive buffer overflows when bursts of hundreds arrive) costs its
# lookup the c-ares retry timeout (1 s): the drops are printed beside each line.
# Prints figures; judges nothing.  Needs root (namespaces).
set -Eeuo pipefail
BENCH_NAME=bench-connect
# shellcheck source=benchlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"
SRC=$ROOT
export VMGATE_SRC=$SRC
export VMGATE_BUILD=$(cd "${1:-$SRC/build}" && pwd)
RUNS=${2:-50}
export VG_TOPO_ONLY=1
export TOPO_ANON="127.0.0.1/32, 198.18.0.100/32, fd00:76::100/128"
# shellcheck source=../tests/system/test_resolve_connect.sh
source "$SRC/tests/system/test_resolve_connect.sh"
BENCH=$VMGATE_BUILD/tests/bench/resolvebench
[[ -x $BENCH ]] || vg_die "resolvebench not built in $VMGATE_BUILD/tests/bench"
topo_up
T=$VG_TMP
printf 'wonderland\n' >"$T/alice.pw"
topo_client_conf "$T/client.conf" "user = alice" "password-file = $T/alice.pw"
topo_client_conf "$T/anon.conf"

cat >"$T/banner.py" <<'PY'
import socket, sys, threading
def serve(fam, addr):
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, 2222)); s.listen(128)
    while True:
        c, _ = s.accept()
        c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        c.sendall(b"SSH-2.0-vmgate-bench\r\n")
        threading.Thread(target=lambda c=c: (c.recv(1), c.close()), daemon=True).start()
threading.Thread(target=serve, args=(socket.AF_INET6, "fd00:76:2::2"), daemon=True).start()
serve(socket.AF_INET, "198.18.2.2")
PY
vg_start banner "$VG_ID-vm2" "$VG_PY" "$T/banner.py"
wait_port "$VG_ID-vm2" 198.18.2.2 2222 10 banner || vg_die "banner service did not start"

cat >"$T/time.py" <<'PY'
import os, statistics, subprocess, sys, time
runs = int(sys.argv[1])
variants = []
for spec in sys.argv[2:]:
    label, cmd = spec.split("=", 1)
    variants.append((label, cmd.split("\x1f")))
def once(cmd):
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    b = os.read(p.stdout.fileno(), 1)
    t1 = time.perf_counter()
    p.kill(); p.wait()
    if not b:
        raise SystemExit("no banner from %s: %s" % (cmd, p.stderr.read().decode(errors="replace")))
    return (t1 - t0) * 1000.0
for label, cmd in variants:          # warm-up: page cache, ARP/ND, gateway caches
    for _ in range(3):
        once(cmd)
res = {label: [] for label, _ in variants}
for _ in range(runs):
    for label, cmd in variants:
        res[label].append(once(cmd))
def pct(v, q):
    v = sorted(v); return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]
print("%-22s %8s %8s %8s   (ms, %d runs each, interleaved)" % ("client", "p50", "p90", "mean", runs))
for label, _ in variants:
    v = res[label]
    print("%-22s %8.2f %8.2f %8.2f" % (label, pct(v, .5), pct(v, .9), statistics.mean(v)))
base = pct(res[variants[0][0]], .5)
for label, _ in variants[1:]:
    print("p50 %-18s %+7.2f ms vs %s" % (label, pct(res[label], .5) - base, variants[0][0]))
PY

US=$'\x1f'
echo "== connection set-up: process start → first byte of the VM's banner"
ip netns exec "$NS_C" "$VG_PY" "$T/time.py" "$RUNS" \
    "nc -X 5 (by hand)=nc${US}-X${US}5${US}-x${US}198.18.0.12:1081${US}web2.vm.test${US}2222" \
    "vmgate-connect=$VC${US}-c${US}$T/anon.conf${US}web2${US}2222" \
    "vmgate-connect -g=$VC${US}-c${US}$T/anon.conf${US}-g${US}198.18.0.12:1081${US}web2${US}2222" \
    "vmgate-connect auth=$VC${US}-c${US}$T/client.conf${US}web2${US}2222"

echo
echo "== resolver library (resolvebench) against BIND in its namespace"
for i in $(seq 1 500); do echo "b$i tcp:198.18.1.2"; done >"$T/batch"
reg hv1 add --batch "$T/batch" >"$T/batch.log" 2>&1 || vg_die "batch registration failed: $(tail -n 3 "$T/batch.log")"
rcvbuf() { ip netns exec "$NS_DNS" nstat -az UdpRcvbufErrors | awk '$1=="UdpRcvbufErrors"{print $2}'; }
for conc in 1 4 16 64; do
    before=$(rcvbuf)
    ip netns exec "$NS_C" "$BENCH" --server "$DNS4:53" --zone "$ZONE" --prefix b --names 500 \
        --lookups 20000 --conc "$conc" || true
    echo "    queries BIND dropped (UdpRcvbufErrors in its namespace): $(($(rcvbuf) - before))"
done
ip netns exec "$NS_C" "$BENCH" --server "$DNS4:53" --zone "$ZONE" --prefix b --names 500 \
    --lookups 200000 --conc 64 --cache || true

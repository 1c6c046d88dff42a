#!/usr/bin/env bash
# bench-admin.sh — the admin socket under load: vmgate-gw holding N live relayed sessions
# (default 10,000; vgbench idle through SOCKS5 to a vgbench target on loopback), then
#   - the time of `vmgatectl sessions --json` (the whole command: connect, reply, exit), median
#     and max of --reps runs, and the reply's size (target: <= 100 ms at 10,000 sessions);
#   - the gateway's memory per live session (VmRSS with N sessions minus before, over N), and
#     what the session table adds to each one (sizeof(struct gw_conn) of this tree against the
#     tree before the table, from the debug information; target: <= 512 bytes).
# Prints figures; never passes or fails on timing.  Every process is started here and stopped by
# its PID on exit; root is needed only to raise the descriptor limit beyond the hard one.
#
# Usage: scripts/bench-admin.sh [--build-dir DIR] [--no-build] [--conns N] [--reps N]
#                               [--port BASE] [--base-rev REV]
set -euo pipefail

BENCH_NAME=bench-admin
# shellcheck source=benchlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"
BUILD=$ROOT/build-bench
DO_BUILD=1
CONNS=10000
REPS=7
PORT_BASE=21180
BASE_REV=37f5400 # the last commit before the session table

bench_opts 2,14 --build-dir=BUILD --no-build:DO_BUILD=0 --conns=CONNS --reps=REPS \
  --port=PORT_BASE --base-rev=BASE_REV -- "$@"
bench_check count --conns "$CONNS"
bench_check reps --reps "$REPS"
bench_check port --port "$PORT_BASE"

if ((DO_BUILD)); then bench_build RelWithDebInfo vgbench vmgate-gw vmgatectl; fi
VGBENCH=$BUILD/tests/bench/vgbench
GW=$BUILD/socks-gw/vmgate-gw
CTL=$BUILD/socks-gw/vmgatectl
for b in "$VGBENCH" "$GW" "$CTL"; do [[ -x $b ]] || die "no $b (build first, or drop --no-build)"; done

bench_processes

# descriptors: the gateway holds two per relayed session, client and target one each.  Where
# the hard limit cannot be raised (no CAP_SYS_RESOURCE), the sessions beyond it are held in
# their handshake (one descriptor each in the gateway; listed like every other session).
want=$((2 * CONNS + 1000))
hard=$(ulimit -Hn)
if [[ $hard != unlimited ]] && ((hard < want)); then
  ulimit -Hn "$want" 2>/dev/null || { want=$hard; log "hard descriptor limit $hard"; }
fi
ulimit -n "$want" || die "cannot raise ulimit -n to $want"
RELAYED=$(((want - 200) / 2))
((RELAYED > CONNS)) && RELAYED=$CONNS
HANDSHAKE=$((CONNS - RELAYED))
((HANDSHAKE <= RELAYED / 20)) || die "descriptor limit $want too low for $CONNS sessions"

wait_for() { # DESC cmd...: poll every 10 ms, 10 s at most
  local desc=$1 i
  shift
  for ((i = 0; i < 1000; i++)); do "$@" && return 0; sleep 0.01; done
  die "$desc: not within 10 s"
}
bench_free_ports 2
PT=$PORT_BASE PG=$((PORT_BASE + 1))

start target "$VGBENCH" target --listen "127.0.0.1:$PT" --threads 2 --max-seconds 1800
wait_listen "${PID[target]}" 127.0.0.1 "$PT" "vgbench target" || die "target server did not start"

mkdir -p "$WORK/vms"
echo "channel = tcp:127.0.0.1" >"$WORK/vms/bench.vm.test"
cat >"$WORK/gw.conf" <<EOF
[dns]
zone = vm.test
[gateway]
listen = 127.0.0.1:$PG
vm-dir = $WORK/vms
allow-anonymous-from = 127.0.0.0/8
max-connections = $((CONNS + 100))
max-per-client = $((CONNS + 100))
handshake-timeout = 3600
admin-socket = $WORK/admin.sock
log-level = warn
EOF
start gw "$GW" -c "$WORK/gw.conf" -f
GW_PID=${PID[gw]}
wait_listen "$GW_PID" 127.0.0.1 "$PG" vmgate-gw || { tail -n 20 "$WORK/gw.log" >&2; die "vmgate-gw did not start"; }
wait_for "admin socket" test -S "$WORK/admin.sock"
rss() { awk '/^VmRSS/ {print $2}' "/proc/$GW_PID/status"; }
"$CTL" --socket "$WORK/admin.sock" sessions --json >/dev/null # warm: the code paths are paged in
RSS0=$(rss)

mkfifo "$WORK/hold"
"$VGBENCH" idle --target "127.0.0.1:$PT" --socks "127.0.0.1:$PG" --name bench.vm.test \
  --conns "$RELAYED" --hold 600 <"$WORK/hold" >"$WORK/idle.out" 2>"$WORK/idle.err" &
STARTED+=("$!")
exec 9>"$WORK/hold" # holds the fifo open: vgbench releases its connections when it closes
log "opening $RELAYED relayed sessions${HANDSHAKE:+ and $HANDSHAKE in their handshake}"
for ((i = 0; i < 12000; i++)); do
  grep -q '^ready' "$WORK/idle.out" 2>/dev/null && break
  grep -q '^mode=idle' "$WORK/idle.out" 2>/dev/null && { cat "$WORK/idle.err" >&2; die "vgbench idle failed"; }
  sleep 0.05
done
grep -q '^ready' "$WORK/idle.out" || die "vgbench idle did not get ready"
if ((HANDSHAKE > 0)); then
  python3 -c '
import socket, sys, time
s = [socket.create_connection(("127.0.0.1", int(sys.argv[1]))) for _ in range(int(sys.argv[2]))]
print("held", flush=True)
sys.stdin.read()' "$PG" "$HANDSHAKE" <"$WORK/hold" >"$WORK/hs.out" &
  STARTED+=("$!")
  wait_for "handshake connections" grep -q held "$WORK/hs.out"
fi
sleep 1
RSS1=$(rss)
n=$("$CTL" --socket "$WORK/admin.sock" stats | awk -F': ' '$1 == "connections" {print $2}')
((n >= CONNS)) || die "the gateway holds $n sessions, expected $CONNS"

times=()
for ((r = 0; r < REPS; r++)); do
  t0=$EPOCHREALTIME
  "$CTL" --socket "$WORK/admin.sock" sessions --json >"$WORK/sessions.json"
  t1=$EPOCHREALTIME
  times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')")
done
listed=$(grep -o '"id":' "$WORK/sessions.json" | wc -l)
bytes=$(stat -c %s "$WORK/sessions.json")
t0=$EPOCHREALTIME
"$CTL" --socket "$WORK/admin.sock" sessions --user nobody --json >/dev/null
tf=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
exec 9>&- # release the sessions

# what the table adds per session: sizeof(struct gw_conn) now and before it
sizeof_conn() { # OBJECT-or-BINARY
  gdb -batch -ex 'print sizeof(struct gw_conn)' "$1" 2>/dev/null | awk '/^\$1 = / {print $3}'
}
SZ_NOW=$(sizeof_conn "$GW")
SZ_BASE=
if command -v gdb >/dev/null && git -C "$ROOT" cat-file -e "$BASE_REV:socks-gw/conn.c" 2>/dev/null; then
  git -C "$ROOT" show "$BASE_REV:socks-gw/conn.c" >"$WORK/conn_base.c"
  if cc -g -c -D_GNU_SOURCE -I"$ROOT/socks-gw" -I"$ROOT/common" -I"$BUILD/common/include" \
    "$WORK/conn_base.c" -o "$WORK/conn_base.o" 2>"$WORK/cc.log"; then
    SZ_BASE=$(sizeof_conn "$WORK/conn_base.o")
  fi
fi

sorted=$(printf '%s\n' "${times[@]}" | sort -n)
median=$(sed -n "$(((REPS + 1) / 2))p" <<<"$sorted")
max=$(tail -n 1 <<<"$sorted")
echo "vmgate-gw with $CONNS live sessions, $RELAYED of them relayed (loopback; client, target, gateway share the CPUs)"
printf '  vmgatectl sessions --json: median %s ms, max %s ms over %d runs (target <= 100 ms); %d sessions, %d bytes\n' \
  "$median" "$max" "$REPS" "$listed" "$bytes"
printf '  vmgatectl sessions --user nobody (filtered, empty reply): %s ms\n' "$tf"
printf '  gateway VmRSS: %d kB before, %d kB with the sessions: %d bytes per session (all of it)\n' \
  "$RSS0" "$RSS1" "$(((RSS1 - RSS0) * 1024 / CONNS))"
printf '  (the vgbench client and target, for comparison: not included)\n'

if [[ -n $SZ_NOW && -n $SZ_BASE ]]; then
  printf '  struct gw_conn: %d bytes, %d before the session table: +%d bytes per session (target <= 512)\n' \
    "$SZ_NOW" "$SZ_BASE" "$((SZ_NOW - SZ_BASE))"
else
  echo "  struct gw_conn: ${SZ_NOW:-?} bytes (no gdb or base revision: the table's share not computed)"
fi

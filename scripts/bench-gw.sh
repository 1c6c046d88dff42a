#!/usr/bin/env bash
# bench-gw.sh — relay benchmark: vmgate-gw beside direct TCP, Dante (danted) and microsocks, all on
# loopback, in one run.  Prints figures; never passes or fails on timing.
#
# Starts on 127.0.0.1 high ports (below the ephemeral range): the vgbench target server, vmgate-gw,
# danted and microsocks; every process is started here and stopped by its PID on exit.
# Load comes from tests/bench/vgbench.c (see its header for the modes).
#
# Measurements (each the median of --reps repetitions, rows interleaved within a repetition):
#   1-stream and 8-stream throughput, upload and download (Gbit/s of payload)
#   connections/s: 2 and 8 client threads, each looping connect + SOCKS handshake + 1-byte
#                  echo + close (the target closes first, so TIME_WAIT stays on listening ports);
#                  2 threads are bound by round-trip latency, 8 load the proxy's CPU more
#   latency: 1-byte ping-pong on one connection; client, target and proxy pinned to one CPU
#            (see the note printed below the table); "added" = proxy − direct
#   memory: VmRSS / PSS of the proxy's process tree holding 1000 idle relayed connections
#   CPU per connection (8-thread connections/s runs): user and kernel time of the client, the
#            target and the proxy's process tree, and the rate at which those costs would keep
#            every CPU busy (what bounds connections/s when all of them share the machine)
#
# Usage: scripts/bench-gw.sh [--build-dir DIR] [--no-build] [--gw PATH] [--reps N]
#                            [--seconds T] [--port BASE] [--idle-conns N] [--keep]
#                            [--wait-quiet S]
# The machine's other load skews every figure: the report prints how busy the CPUs were just
# before and after the run; --wait-quiet S first waits (up to S s) until they are < 15 % busy.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-bench
DO_BUILD=1
GW=
REPS=3
SECS=2
PORT_BASE=21080
IDLE_CONNS=1000
KEEP=0
WAIT_QUIET=0
LAT_COUNT=10000
ZONE=vm.test
VMNAME=bench.$ZONE

die() { echo "bench-gw: $*" >&2; exit 1; }
log() { echo "bench-gw: $*" >&2; }

while (($#)); do
  case $1 in
    --build-dir) BUILD=${2:?}; shift 2 ;;
    --no-build) DO_BUILD=0; shift ;;
    --gw) GW=${2:?}; shift 2 ;;
    --reps) REPS=${2:?}; shift 2 ;;
    --seconds) SECS=${2:?}; shift 2 ;;
    --port) PORT_BASE=${2:?}; shift 2 ;;
    --idle-conns) IDLE_CONNS=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    --wait-quiet) WAIT_QUIET=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
done
[[ $REPS =~ ^[1-9][0-9]?$ ]] || die "--reps wants 1..99"
[[ $SECS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--seconds wants a number"
if ! [[ $PORT_BASE =~ ^[0-9]+$ ]] || ((PORT_BASE < 1024 || PORT_BASE > 32000)); then
  die "--port wants 1024..32000 (below the ephemeral range)"
fi
[[ $IDLE_CONNS =~ ^[1-9][0-9]*$ ]] || die "--idle-conns wants a positive number"
[[ $WAIT_QUIET =~ ^[0-9]+$ ]] || die "--wait-quiet wants seconds"

# ---------------------------------------------------------------------------------------------
# build

if ((DO_BUILD)); then
  log "building (Release) in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$BUILD.cmake.log" 2>&1 ||
    { cat "$BUILD.cmake.log" >&2; die "cmake configure failed"; }
  rm -f "$BUILD.cmake.log"
  cmake --build "$BUILD" --target vgbench -j "$(nproc)" >/dev/null || die "building vgbench failed"
  if [[ -z $GW ]]; then
    cmake --build "$BUILD" --target vmgate-gw -j "$(nproc)" >/dev/null 2>&1 ||
      log "vmgate-gw did not build (the vmgate-gw row will be n/a; --gw PATH uses another binary)"
  fi
fi
VGBENCH=$BUILD/tests/bench/vgbench
[[ -x $VGBENCH ]] || die "no $VGBENCH (build first, or drop --no-build)"
GW=${GW:-$BUILD/socks-gw/vmgate-gw}
DANTED=$(command -v danted || true)
MICROSOCKS=$(command -v microsocks || true)

# ---------------------------------------------------------------------------------------------
# other load on the machine

cpu_busy() { # percent of all CPU time spent busy over the next second
  local -a a b
  read -r -a a </proc/stat
  sleep 1
  read -r -a b </proc/stat
  awk -v a="${a[*]:1:8}" -v b="${b[*]:1:8}" 'BEGIN {
    split(a, x); split(b, y)
    for (i = 1; i <= 8; i++) { t += y[i] - x[i]; if (i == 4 || i == 5) idle += y[i] - x[i] }
    printf "%d", t ? 100 * (t - idle) / t : 0 }'
}
BUSY_BEFORE=$(cpu_busy)
for ((waited = 0; waited < WAIT_QUIET && BUSY_BEFORE >= 15; waited += 5)); do
  ((waited == 0)) && log "CPUs ${BUSY_BEFORE}% busy with other work: waiting up to ${WAIT_QUIET} s"
  sleep 4
  BUSY_BEFORE=$(cpu_busy)
done
((BUSY_BEFORE < 15)) || log "CPUs ${BUSY_BEFORE}% busy with other work: figures will be low and noisy"

# ---------------------------------------------------------------------------------------------
# processes: started here, stopped by PID

WORK=$(mktemp -d /tmp/bench-gw.XXXXXX)
declare -a STARTED=()

descendants() { # PID → its descendants, deepest last
  local c
  for c in $(pgrep -P "$1" 2>/dev/null || true); do
    echo "$c"
    descendants "$c"
  done
}

stop_tree() { # PID: TERM it, wait up to 5 s for it and its descendants, then KILL what is left
  local root=$1 p left i
  local -a tree
  mapfile -t tree < <(echo "$root"; descendants "$root")
  kill -TERM "$root" 2>/dev/null || true
  for ((i = 0; i < 100; i++)); do
    left=0
    for p in "${tree[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    ((left)) || break
    sleep 0.05
  done
  for p in "${tree[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$root" 2>/dev/null || true
}

cleanup() {
  local i
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_tree "${STARTED[i]}"; done
  if ((KEEP)); then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { # PORT: is something listening on 127.0.0.1:PORT (or 0.0.0.0:PORT)?
  local hex
  hex=$(printf '%04X' "$1")
  awk -v p="$hex" 'NR > 1 && $4 == "0A" && ($2 == "0100007F:" p || $2 == "00000000:" p) { f = 1 }
                   END { exit !f }' /proc/net/tcp
}

wait_listen() { # PID PORT NAME: poll until PID listens on PORT (10 s bound)
  local i
  for ((i = 0; i < 1000; i++)); do
    listening "$2" && return 0
    kill -0 "$1" 2>/dev/null || { log "$3 exited during start-up"; return 1; }
    sleep 0.01
  done
  log "$3 is not listening on port $2 after 10 s"
  return 1
}

# Raise the descriptor limit: 1000 idle relayed connections need ~3000 descriptors in the proxy.
hard=$(ulimit -Hn)
want=65536
[[ $hard != unlimited ]] && ((hard < want)) && want=$hard
ulimit -n "$want" 2>/dev/null || true
(($(ulimit -n) >= 3 * IDLE_CONNS + 100)) || log "ulimit -n is $(ulimit -n): idle test may fail"

# Four free ports: target, vmgate-gw, Dante, microsocks.
for ((try = 0; try < 20; try++)); do
  busy=0
  for off in 0 1 2 3; do listening $((PORT_BASE + off)) && busy=1; done
  ((busy)) || break
  PORT_BASE=$((PORT_BASE + 10))
done
((busy == 0)) || die "no four free ports found"
PT=$PORT_BASE PG=$((PORT_BASE + 1)) PD=$((PORT_BASE + 2)) PM=$((PORT_BASE + 3))

"$VGBENCH" target --listen "127.0.0.1:$PT" --threads 2 --max-seconds 1800 2>"$WORK/target.log" &
TARGET_PID=$!
STARTED+=("$TARGET_PID")
wait_listen "$TARGET_PID" "$PT" "vgbench target" || die "target server did not start"

declare -A PID=() ARGS=() LABEL=()
ROWS=(direct vmgate dante microsocks)
LABEL=([direct]="direct" [vmgate]="vmgate-gw" [dante]="Dante 1.4.2" [microsocks]="microsocks")
ARGS[direct]="--target 127.0.0.1:$PT"

# vmgate-gw: the VM table maps bench.vm.test to the channel tcp:127.0.0.1; the gateway connects
# to 127.0.0.1:<requested port>.  It refuses IP literals, so clients send the name (ATYP 3).
if [[ -x $GW ]]; then
  mkdir -p "$WORK/vms"
  echo "channel = tcp:127.0.0.1" >"$WORK/vms/$VMNAME"
  cat >"$WORK/gw.conf" <<EOF
[dns]
zone = $ZONE
[gateway]
listen = 127.0.0.1:$PG
vm-dir = $WORK/vms
allow-anonymous-from = 127.0.0.0/8
max-connections = 20000
max-per-client = 20000
log-level = warn
EOF
  "$GW" -c "$WORK/gw.conf" -f 2>"$WORK/gw.log" &
  PID[vmgate]=$!
  STARTED+=("${PID[vmgate]}")
  if wait_listen "${PID[vmgate]}" "$PG" vmgate-gw; then
    ARGS[vmgate]="--target 127.0.0.1:$PT --socks 127.0.0.1:$PG --name $VMNAME"
  else
    tail -n 20 "$WORK/gw.log" >&2
  fi
else
  log "no vmgate-gw binary at $GW: row n/a"
fi

# Dante: foreground (no -D), config from -f, 2 main processes (-N 2, one per core: measured better
# than -N 1 at 8 streams, equal elsewhere).  Root on loopback, no authentication.
if [[ -n $DANTED ]]; then
  cat >"$WORK/danted.conf" <<EOF
logoutput: $WORK/danted.log
internal: 127.0.0.1 port = $PD
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: root
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
socks pass { from: 127.0.0.0/8 to: 0.0.0.0/0 command: connect }
EOF
  TMPDIR=$WORK "$DANTED" -f "$WORK/danted.conf" -N 2 2>"$WORK/danted.err" &
  PID[dante]=$!
  STARTED+=("${PID[dante]}")
  if wait_listen "${PID[dante]}" "$PD" danted; then
    ARGS[dante]="--target 127.0.0.1:$PT --socks 127.0.0.1:$PD"
  else
    tail -n 20 "$WORK/danted.err" "$WORK/danted.log" >&2 || true
  fi
else
  log "danted not installed (package dante-server): row n/a"
fi

if [[ -n $MICROSOCKS ]]; then
  "$MICROSOCKS" -i 127.0.0.1 -p "$PM" >"$WORK/microsocks.log" 2>&1 &
  PID[microsocks]=$!
  STARTED+=("${PID[microsocks]}")
  wait_listen "${PID[microsocks]}" "$PM" microsocks &&
    ARGS[microsocks]="--target 127.0.0.1:$PT --socks 127.0.0.1:$PM"
else
  log "microsocks not installed: row n/a"
fi

# ---------------------------------------------------------------------------------------------
# measurements

mkdir -p "$WORK/res"

# run ROW METRIC KEY vgbench-args…: one measurement; appends KEY's value (or ERR) to res/ROW.METRIC
run() {
  local row=$1 metric=$2 key=$3 out val
  shift 3
  # shellcheck disable=SC2086  # ARGS holds several words on purpose
  if out=$("$@" ${ARGS[$row]} 2>>"$WORK/client.log"); then :; else
    log "$row $metric: vgbench failed (see below)"
    tail -n 2 "$WORK/client.log" >&2
  fi
  val=$(sed -n "s/.*\b$key=\([0-9.]*\).*/\1/p" <<<"$out")
  echo "${val:-ERR}" >>"$WORK/res/$row.$metric"
  [[ -n $out ]] && echo "$row $metric $out" >>"$WORK/raw.log"
  return 0
}

active_rows() {
  local r
  for r in "${ROWS[@]}"; do [[ -n ${ARGS[$r]:-} ]] && echo "$r"; done
}
mapfile -t ACTIVE < <(active_rows)

all_cpus=$(cat /sys/devices/system/cpu/online)
pin_all() { # CPULIST: the target and every proxy, all threads of all their processes
  local root p
  for root in "$TARGET_PID" "${PID[@]}"; do
    for p in "$root" $(descendants "$root"); do taskset -a -p -c "$1" "$p" >/dev/null 2>&1 || true; done
  done
}

total=$((REPS * ${#ACTIVE[@]}))
log "rows: ${ACTIVE[*]}; ${REPS} repetitions of ${SECS} s; ports $PT-$PM; work dir $WORK"

# Repetitions outermost, so a burst of other load on the machine hits one repetition of every
# metric rather than every repetition of one metric.
for ((rep = 1; rep <= REPS; rep++)); do
  log "repetition $rep/$REPS: throughput 1 and 8 streams up/down, connections/s 2 and 8 threads"
  for spec in "up 1 up1" "down 1 down1" "up 8 up8" "down 8 down8"; do
    read -r dir streams metric <<<"$spec"
    for row in "${ACTIVE[@]}"; do
      run "$row" "$metric" gbps "$VGBENCH" tput --dir "$dir" --streams "$streams" --seconds "$SECS"
    done
  done
  for row in "${ACTIVE[@]}"; do
    run "$row" conn conn_per_s "$VGBENCH" conn --threads 2 --seconds "$SECS"
  done
  for row in "${ACTIVE[@]}"; do
    pidopt=()
    [[ $row != direct ]] && pidopt=(--pid "${PID[$row]}")
    run "$row" conn8 conn_per_s "$VGBENCH" conn --threads 8 --seconds "$SECS" "${pidopt[@]}" --target-pid "$TARGET_PID"
    line=$(tail -n 1 "$WORK/raw.log")
    for k in client_user client_sys proxy_user proxy_sys target_user target_sys; do
      sed -n "s/.*\bcpu_${k}_us=\([0-9.]*\).*/\1/p" <<<"$line" >>"$WORK/res/$row.cpu_$k"
    done
  done
done

log "latency, pinned to CPU 0 ($total runs)"
pin_all 0
for ((rep = 1; rep <= REPS; rep++)); do
  for row in "${ACTIVE[@]}"; do
    run "$row" lat50 p50_us taskset -c 0 "$VGBENCH" lat --count "$LAT_COUNT"
    tail -n 1 "$WORK/raw.log" | sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' >>"$WORK/res/$row.lat99"
  done
done
pin_all "$all_cpus"

log "latency, unpinned ($total runs)"
for ((rep = 1; rep <= REPS; rep++)); do
  for row in "${ACTIVE[@]}"; do
    run "$row" ulat50 p50_us "$VGBENCH" lat --count "$LAT_COUNT"
    tail -n 1 "$WORK/raw.log" | sed -n 's/.*p99_us=\([0-9.]*\).*/\1/p' >>"$WORK/res/$row.ulat99"
  done
done

log "memory at $IDLE_CONNS idle relayed connections"
for row in "${ACTIVE[@]}"; do
  [[ $row == direct ]] && continue
  run "$row" rss rss_kb "$VGBENCH" idle --conns "$IDLE_CONNS" --pid "${PID[$row]}" --settle 1
  line=$(tail -n 1 "$WORK/raw.log")
  for k in pss_kb base_rss_kb base_pss_kb procs alive; do
    sed -n "s/.*\b$k=\([0-9]*\).*/\1/p" <<<"$line" >"$WORK/res/$row.$k"
  done
done

BUSY_AFTER=$(cpu_busy) # our processes are idle now

# ---------------------------------------------------------------------------------------------
# report

# med ROW METRIC: median of the recorded values ("n/a" when none; "*" appended when a run failed)
med() {
  local f=$WORK/res/$1.$2
  [[ -s $f ]] || { echo n/a; return; }
  awk '$1 == "ERR" { bad = 1; next } $1 != "" { v[n++] = $1 + 0 }
       END {
         if (!n) { print "n/a"; exit }
         for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
         m = n % 2 ? v[int(n / 2)] : (v[n / 2 - 1] + v[n / 2]) / 2
         printf "%s%s\n", m, bad ? "*" : ""
       }' "$f"
}
num() { [[ $1 =~ ^[0-9.]+ ]] && echo "${BASH_REMATCH[0]}"; }
fmt() { # FORMAT VALUE: numbers formatted, anything else passed through
  local n
  n=$(num "$2") || { echo "$2"; return; }
  printf "$1%s" "$n" "${2#"$n"}"
}
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
added() { # ROW METRIC: proxy - direct ("-" for the direct row)
  local p d
  [[ $1 == direct ]] && { echo "-"; return; }
  if ! p=$(num "$(med "$1" "$2")") || ! d=$(num "$(med direct "$2")"); then echo n/a; return; fi
  calc "%+.1f" "$p - $d"
}
mb() { local v; v=$(num "$(med "$1" "$2")") && calc "%.1f" "$v / 1024" || echo "-"; }
ratio() { # ROW-A ROW-B METRIC: median A / median B
  local a b
  if ! a=$(num "$(med "$1" "$3")") || ! b=$(num "$(med "$2" "$3")") || [[ $b == 0 ]]; then
    echo n/a
    return
  fi
  calc "%.2f" "$a / $b"
}

ROWFMT="%-12s %7s %7s  %7s %7s  %7s %7s  %8s %8s  %7s %7s\n" # ASCII cells only: byte widths align
echo
echo "vmgate relay benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), kernel $(uname -r)"
echo "loopback; client, proxy and target share the CPUs; medians of $REPS runs (${SECS} s per throughput and conn/s run)"
echo "CPU busy with other work: ${BUSY_BEFORE}% just before the run, ${BUSY_AFTER}% just after"
echo
echo "             1 stream Gbit/s  8 streams Gbit/s   conn/s, threads  added latency µs   MB, ${IDLE_CONNS} idle"
echo "                  up    down       up    down        2       8       p50      p99      RSS     PSS"
for row in "${ROWS[@]}"; do
  if [[ -z ${ARGS[$row]:-} ]]; then
    printf "%-12s %s\n" "${LABEL[$row]}" "n/a (not running)"
    continue
  fi
  if [[ $row == direct ]]; then rss="-" pss="-"; else rss=$(mb "$row" rss) pss=$(mb "$row" pss_kb); fi
  # shellcheck disable=SC2059  # the format is ours
  printf "$ROWFMT" "${LABEL[$row]}" \
    "$(fmt %.2f "$(med "$row" up1)")" "$(fmt %.2f "$(med "$row" down1)")" \
    "$(fmt %.2f "$(med "$row" up8)")" "$(fmt %.2f "$(med "$row" down8)")" \
    "$(fmt %.0f "$(med "$row" conn)")" "$(fmt %.0f "$(med "$row" conn8)")" "$(added "$row" lat50)" "$(added "$row" lat99)" "$rss" "$pss"
done
if grep -qs ERR "$WORK"/res/*; then echo "(* = at least one run of that cell failed; see the messages above)"; fi

echo
echo "project targets:"
[[ -n ${ARGS[vmgate]:-} ]] || echo "  (vmgate-gw did not run: no figures)"
echo "  vmgate-gw 1 stream / Dante          up $(ratio vmgate dante up1), down $(ratio vmgate dante down1)   (target >= 1.5)"
echo "  vmgate-gw conn/s / microsocks       $(ratio vmgate microsocks conn) with 2 client threads, $(ratio vmgate microsocks conn8) with 8   (target >= 1.5)"
echo "  added latency p50                   vmgate-gw $(added vmgate lat50) µs, microsocks $(added microsocks lat50) µs   (lower is better)"
echo "  vmgate-gw RSS, ${IDLE_CONNS} idle relayed   $(mb vmgate rss) MB   (target <= 10 MB)"

echo
echo "CPU per connection, 8 client threads (µs, user + kernel, medians; every process of each side):"
printf "  %-12s %8s %8s %12s %12s %8s   %s\n" "" client target "proxy user" "proxy kernel" total "all CPUs / total"
ncpu=$(nproc)
for row in "${ACTIVE[@]}"; do
  cl=$(calc "%.1f" "$(num "$(med "$row" cpu_client_user)" || echo 0) + $(num "$(med "$row" cpu_client_sys)" || echo 0)")
  tg=$(calc "%.1f" "$(num "$(med "$row" cpu_target_user)" || echo 0) + $(num "$(med "$row" cpu_target_sys)" || echo 0)")
  if [[ $row == direct ]]; then pu=0 ps=0; pu_s="-" ps_s="-"; else
    pu=$(num "$(med "$row" cpu_proxy_user)" || echo 0) ps=$(num "$(med "$row" cpu_proxy_sys)" || echo 0)
    pu_s=$pu ps_s=$ps
  fi
  tot=$(calc "%.1f" "$cl + $tg + $pu + $ps")
  printf "  %-12s %8s %8s %12s %12s %8s   %s\n" "${LABEL[$row]}" "$cl" "$tg" "$pu_s" "$ps_s" "$tot" \
    "$(awk -v t="$tot" -v n="$ncpu" 'BEGIN { if (t > 0) printf "%.0f conn/s", n * 1e6 / t; else print "n/a" }')"
done
echo "  (the last column is the rate at which these costs would keep every CPU busy.  The costs are"
echo "   those of this run's operating point: a proxy that gets more of the CPUs handles more per"
echo "   wake-up and costs less per connection)"

echo
echo "details:"
echo "               latency µs pinned   latency µs unpinned   RSS MB before idle test   processes / still relaying"
for row in "${ACTIVE[@]}"; do
  printf "  %-12s %18s   %19s   %23s   %s\n" "${LABEL[$row]}" \
    "$(med "$row" lat50) / $(med "$row" lat99)" "$(med "$row" ulat50) / $(med "$row" ulat99)" \
    "$(mb "$row" base_rss_kb)" "$(med "$row" procs) / $(med "$row" alive)"
done
runs() { [[ -s $WORK/res/$1.$2 ]] && tr '\n' ' ' <"$WORK/res/$1.$2" || echo n/a; }
echo
echo "every run (1 stream up | 1 stream down | conn/s 2 threads):"
for row in "${ACTIVE[@]}"; do
  printf "  %-12s %s| %s| %s\n" "${LABEL[$row]}" "$(runs "$row" up1)" "$(runs "$row" down1)" "$(runs "$row" conn)"
done
cat <<EOF

notes:
  Latency: on this 2-CPU VM an unpinned ping-pong pays cross-CPU wake-ups whose cost depends on
  where the scheduler puts client, proxy and target, so unpinned figures swing by ~2x between runs
  (direct can come out slower than a proxy).  The table's "added latency" is measured with client,
  target and every proxy process and thread pinned to CPU 0: the relay's own cost per round trip.
  Dante runs with -N 2; its memory sums all its processes (RSS counts shared pages in every
  process, PSS shares them out).  vmgate-gw is asked for the name $VMNAME (ATYP 3), Dante and
  microsocks for the IPv4 address (ATYP 1).  microsocks logs every connection to stderr (to a file
  in the work dir); vmgate-gw runs at log-level warn; Dante logs no connections.
EOF

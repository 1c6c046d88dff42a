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

BENCH_NAME=bench-gw
# shellcheck source=benchlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"
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

bench_opts 2,25 --build-dir=BUILD --no-build:DO_BUILD=0 --gw=GW --reps=REPS --seconds=SECS \
  --port=PORT_BASE --idle-conns=IDLE_CONNS --keep:KEEP=1 --wait-quiet=WAIT_QUIET -- "$@"
bench_check reps --reps "$REPS"
bench_check seconds --seconds "$SECS"
bench_check port --port "$PORT_BASE"
bench_check count --idle-conns "$IDLE_CONNS"
bench_check wait --wait-quiet "$WAIT_QUIET"

# ---------------------------------------------------------------------------------------------
# build

if ((DO_BUILD)); then
  bench_build Release vgbench
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

bench_wait_quiet "$WAIT_QUIET"

# ---------------------------------------------------------------------------------------------
# processes: started here, stopped by PID

bench_processes

# Raise the descriptor limit: 1000 idle relayed connections need ~3000 descriptors in the proxy.
bench_nofile 65536
(($(ulimit -n) >= 3 * IDLE_CONNS + 100)) || log "ulimit -n is $(ulimit -n): idle test may fail"

# Four free ports: target, vmgate-gw, Dante, microsocks.
bench_free_ports 4
PT=$PORT_BASE PG=$((PORT_BASE + 1)) PD=$((PORT_BASE + 2)) PM=$((PORT_BASE + 3))

start target "$VGBENCH" target --listen "127.0.0.1:$PT" --threads 2 --max-seconds 1800
TARGET_PID=${PID[target]}
wait_listen "$TARGET_PID" 127.0.0.1 "$PT" "vgbench target" || die "target server did not start"

declare -A ARGS=() LABEL=()
ROWS=(direct vmgate dante microsocks)
LABEL=([direct]="direct" [vmgate]="vmgate-gw" [dante]="Dante 1.4.2" [microsocks]="microsocks")
ARGS[direct]="--target 127.0.0.1:$PT"

# vmgate-gw: the VM table maps bench.vm.test to the channel tcp:127.0.0.1; the gateway connects
# to 127.0.0.1:<requested port>.  It refuses IP literals, so clients send the name (ATYP 3).
if [[ -x $GW ]]; then
  mkdir -p "$WORK/vms"
  echo "channel = tcp:127.0.0.1" >"$WORK/vms/$VMNAME"
  bench_gw_conf "127.0.0.1:$PG" >"$WORK/gw.conf"
  start vmgate "$GW" -c "$WORK/gw.conf" -f
  if wait_listen "${PID[vmgate]}" 127.0.0.1 "$PG" vmgate-gw; then
    ARGS[vmgate]="--target 127.0.0.1:$PT --socks 127.0.0.1:$PG --name $VMNAME"
  else
    tail -n 20 "$WORK/vmgate.log" >&2
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
  start dante env TMPDIR="$WORK" "$DANTED" -f "$WORK/danted.conf" -N 2
  if wait_listen "${PID[dante]}" 127.0.0.1 "$PD" danted; then
    ARGS[dante]="--target 127.0.0.1:$PT --socks 127.0.0.1:$PD"
  else
    tail -n 20 "$WORK/dante.log" "$WORK/danted.log" >&2 || true
  fi
else
  log "danted not installed (package dante-server): row n/a"
fi

if [[ -n $MICROSOCKS ]]; then
  start microsocks "$MICROSOCKS" -i 127.0.0.1 -p "$PM"
  wait_listen "${PID[microsocks]}" 127.0.0.1 "$PM" microsocks &&
    ARGS[microsocks]="--target 127.0.0.1:$PT --socks 127.0.0.1:$PM"
else
  log "microsocks not installed: row n/a"
fi

# ---------------------------------------------------------------------------------------------
# measurements

active_rows() {
  local r
  for r in "${ROWS[@]}"; do [[ -n ${ARGS[$r]:-} ]] && echo "$r"; done
}
mapfile -t ACTIVE < <(active_rows)

all_cpus=$(cat /sys/devices/system/cpu/online)
pin_all() { # CPULIST: the target and every proxy, all threads of all their processes
  local root p
  for root in "${PID[@]}"; do
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
    for k in client_user client_sys proxy_user proxy_sys target_user target_sys; do
      last "cpu_${k}_us" >>"$WORK/res/$row.cpu_$k"
    done
  done
done

log "latency, pinned to CPU 0 ($total runs)"
pin_all 0
for ((rep = 1; rep <= REPS; rep++)); do
  for row in "${ACTIVE[@]}"; do
    run "$row" lat50 p50_us taskset -c 0 "$VGBENCH" lat --count "$LAT_COUNT"
    last p99_us >>"$WORK/res/$row.lat99"
  done
done
pin_all "$all_cpus"

log "latency, unpinned ($total runs)"
for ((rep = 1; rep <= REPS; rep++)); do
  for row in "${ACTIVE[@]}"; do
    run "$row" ulat50 p50_us "$VGBENCH" lat --count "$LAT_COUNT"
    last p99_us >>"$WORK/res/$row.ulat99"
  done
done

log "memory at $IDLE_CONNS idle relayed connections"
for row in "${ACTIVE[@]}"; do
  [[ $row == direct ]] && continue
  run "$row" rss rss_kb "$VGBENCH" idle --conns "$IDLE_CONNS" --pid "${PID[$row]}" --settle 1
  for k in pss_kb base_rss_kb base_pss_kb procs alive; do last "$k" >"$WORK/res/$row.$k"; done
done

# ---------------------------------------------------------------------------------------------
# report

added() { # ROW METRIC: proxy - direct ("-" for the direct row)
  local p d
  [[ $1 == direct ]] && { echo "-"; return; }
  if ! p=$(num "$(med "$1" "$2")") || ! d=$(num "$(med direct "$2")"); then echo n/a; return; fi
  calc "%+.1f" "$p - $d"
}
mb() { local v; v=$(num "$(med "$1" "$2")") && calc "%.1f" "$v / 1024" || echo "-"; }

ROWFMT="%-12s %7s %7s  %7s %7s  %7s %7s  %8s %8s  %7s %7s\n" # ASCII cells only: byte widths align
echo
echo "vmgate relay benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): $(bench_host)"
echo "loopback; client, proxy and target share the CPUs; medians of $REPS runs (${SECS} s per throughput and conn/s run)"
bench_busy_report # our processes are idle now
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
bench_err_note

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

# shellcheck shell=bash
# scripts/benchlib.sh — what the scripts/bench-*.sh share.  Sourced, never run:
#
#   BENCH_NAME=bench-x
#   source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"
#
# Sourcing only defines ROOT (the source tree) and functions; nothing runs and no trap is set
# until a script calls bench_processes.  Scripts that also source tests/system/*.sh source this
# first (those libraries own their processes and traps; nothing here overrides them).
#
#   die/log MSG          "$BENCH_NAME: MSG" on stderr (die exits 1)
#   bench_opts …         option parsing: bench_opts HELP-LINES SPEC… -- "$@"
#   bench_check KIND OPT VALUE   validates an option's value (reps, seconds, count, wait, port)
#   bench_build TYPE TARGET…     cmake configure + build of ROOT in $BUILD
#   cpu_busy, bench_wait_quiet S, bench_busy_report   other load on the machine
#   bench_processes      $WORK, STARTED, PID[], the EXIT trap that stops them (descendants, stop_tree)
#   start NAME CMD…, bench_stop NAME   processes started in the background, by name
#   listening, wait_listen, bench_free_ports, bench_nofile   ports and descriptors
#   bench_gw_conf LISTEN [LINE…]   a loopback vmgate-gw config (zone $ZONE, VM table $WORK/vms)
#   run, last, med, num, fmt, calc, ratio, runs, bench_err_note   vgbench results in $WORK/res
#   median VALUE…, cpu_model, bench_host   plain figures and the machine

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH_NAME=${BENCH_NAME:-bench}
KEEP=${KEEP:-0}

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
log() { echo "$BENCH_NAME: $*" >&2; }

# ---------------------------------------------------------------------------------------------
# options

# bench_opts HELP-LINES SPEC… -- ARGS…: parse ARGS.  SPEC is --name=VAR (the option takes a
# non-empty value, stored in VAR) or --name:VAR=VALUE (a flag: VAR is set to VALUE).  -h/--help
# prints lines HELP-LINES (a sed range such as 2,25) of the script's header without the "# ";
# an unknown option or a missing value is a usage error (exit 2).
bench_opts() {
  local help=$1 spec arg found
  local -a specs=()
  shift
  while (($#)) && [[ $1 != -- ]]; do specs+=("$1"); shift; done
  (($#)) && shift
  while (($#)); do
    arg=$1 found=0
    if [[ $arg == -h || $arg == --help ]]; then
      sed -n "${help}p" "${BASH_SOURCE[-1]}" | sed 's/^# \{0,1\}//'
      exit 0
    fi
    for spec in "${specs[@]}"; do
      if [[ $spec == "$arg="* ]]; then
        [[ -n ${2:-} ]] || { echo "$BENCH_NAME: $arg wants a value" >&2; exit 2; }
        printf -v "${spec#*=}" '%s' "$2"
        shift 2
        found=1
        break
      elif [[ $spec == "$arg:"* ]]; then
        spec=${spec#*:}
        printf -v "${spec%%=*}" '%s' "${spec#*=}"
        shift
        found=1
        break
      fi
    done
    ((found)) || { echo "$BENCH_NAME: unknown option $arg (try --help)" >&2; exit 2; }
  done
}

# bench_check KIND OPTION VALUE: die unless VALUE suits KIND — reps (1..99), seconds (a number),
# count (a positive integer), wait (whole seconds), port (1024..32000, below the ephemeral range)
bench_check() {
  case $1 in
    reps) [[ $3 =~ ^[1-9][0-9]?$ ]] || die "$2 wants 1..99" ;;
    seconds) [[ $3 =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "$2 wants a number" ;;
    count) [[ $3 =~ ^[1-9][0-9]*$ ]] || die "$2 wants a positive number" ;;
    wait) [[ $3 =~ ^[0-9]+$ ]] || die "$2 wants seconds" ;;
    port)
      if ! [[ $3 =~ ^[0-9]+$ ]] || (($3 < 1024 || $3 > 32000)); then
        die "$2 wants 1024..32000 (below the ephemeral range)"
      fi
      ;;
    *) die "bench_check: no kind $1" ;;
  esac
}

# bench_build TYPE TARGET…: configure ROOT in $BUILD with CMAKE_BUILD_TYPE=TYPE (cmake's output
# shown only when it fails), then build the TARGETs quietly
bench_build() {
  local type=$1
  shift
  log "building ($type) in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE="$type" >"$BUILD.cmake.log" 2>&1 ||
    { cat "$BUILD.cmake.log" >&2; die "cmake configure failed"; }
  rm -f "$BUILD.cmake.log"
  cmake --build "$BUILD" --target "$@" -j "$(nproc)" >/dev/null || die "building $* failed"
}

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

# bench_wait_quiet S: BUSY_BEFORE = how busy the CPUs are now; first waits (up to S s) until
# they are < 15 % busy, and says so when they are not
bench_wait_quiet() {
  local waited
  BUSY_BEFORE=$(cpu_busy)
  for ((waited = 0; waited < $1 && BUSY_BEFORE >= 15; waited += 5)); do
    ((waited == 0)) && log "CPUs ${BUSY_BEFORE}% busy with other work: waiting up to $1 s"
    sleep 4
    BUSY_BEFORE=$(cpu_busy)
  done
  ((BUSY_BEFORE < 15)) || log "CPUs ${BUSY_BEFORE}% busy with other work: figures will be low and noisy"
}

bench_busy_report() { # BUSY_AFTER = how busy now (our processes idle); the report's line on both
  BUSY_AFTER=$(cpu_busy)
  echo "CPU busy with other work: ${BUSY_BEFORE}% just before the run, ${BUSY_AFTER}% just after"
}

# ---------------------------------------------------------------------------------------------
# processes: started here, stopped by PID

# bench_processes: WORK (a temp dir with res/ for run; removed on exit unless KEEP=1), STARTED
# (PIDs, stopped on exit last first, each with its descendants), PID (NAME → PID, see start)
bench_processes() {
  WORK=$(mktemp -d "/tmp/$BENCH_NAME.XXXXXX")
  mkdir -p "$WORK/res"
  STARTED=()
  declare -gA PID=()
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
}

descendants() { # PID → its descendants, deepest last
  local c
  for c in $(pgrep -P "$1" 2>/dev/null || true); do
    echo "$c"
    descendants "$c"
  done
}

stop_tree() { # PID: TERM it and its descendants, wait up to 5 s for them, then KILL what is left
  local root=$1 p left i
  local -a tree
  mapfile -t tree < <(echo "$root"; descendants "$root")
  for p in "${tree[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 100; i++)); do
    left=0
    for p in "${tree[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    ((left)) || break
    sleep 0.05
  done
  for p in "${tree[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  wait "$root" 2>/dev/null || true
}

bench_cleanup() {
  local i
  for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_tree "${STARTED[i]}"; done
  if ((KEEP)); then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}

# start NAME COMMAND…: in the background, its PID in PID[NAME] and STARTED, its stdout and stderr
# to WORK/NAME.log
start() {
  local name=$1
  shift
  "$@" >"$WORK/$name.log" 2>&1 &
  PID[$name]=$!
  STARTED+=("$!")
}

bench_stop() { # NAME: stop what start NAME began, now (then no longer stopped on exit)
  local pid=${PID[$1]} i
  stop_tree "$pid"
  for i in "${!STARTED[@]}"; do [[ ${STARTED[i]} == "$pid" ]] && unset 'STARTED[i]'; done
  STARTED=("${STARTED[@]}")
  unset 'PID[$1]'
}

# ---------------------------------------------------------------------------------------------
# ports and descriptors

listening() { # ADDR PORT [udp]: is something listening on ADDR:PORT or 0.0.0.0:PORT (TCP, or UDP)?
  local hex any file=/proc/net/tcp state=0A a
  [[ ${3:-} == udp ]] && file=/proc/net/udp state=07
  IFS=. read -r -a a <<<"$1"
  hex=$(printf '%02X%02X%02X%02X:%04X' "${a[3]}" "${a[2]}" "${a[1]}" "${a[0]}" "$2")
  any=$(printf '00000000:%04X' "$2")
  awk -v h="$hex" -v any="$any" -v s="$state" \
    'NR > 1 && $4 == s && ($2 == h || $2 == any) { f = 1 } END { exit !f }' "$file"
}

wait_listen() { # PID ADDR PORT NAME [udp]: poll until PID listens on ADDR:PORT (10 s bound)
  local i
  for ((i = 0; i < 1000; i++)); do
    listening "$2" "$3" "${5:-}" && return 0
    kill -0 "$1" 2>/dev/null || { log "$4 exited during start-up"; return 1; }
    sleep 0.01
  done
  log "$4 is not listening on $2:$3 after 10 s"
  return 1
}

# bench_free_ports N [ADDR…]: moves PORT_BASE on (by N rounded up to tens, 20 tries at most)
# until PORT_BASE … PORT_BASE+N-1 are free, TCP and UDP, on every ADDR (default 127.0.0.1)
bench_free_ports() {
  local n=$1 try off a busy=1
  shift
  (($#)) || set -- 127.0.0.1
  for ((try = 0; try < 20; try++)); do
    busy=0
    for ((off = 0; off < n; off++)); do
      for a in "$@"; do
        listening "$a" $((PORT_BASE + off)) && busy=1
        listening "$a" $((PORT_BASE + off)) udp && busy=1
      done
    done
    ((busy)) || return 0
    PORT_BASE=$((PORT_BASE + (n + 9) / 10 * 10))
  done
  die "no $n free ports found"
}

# bench_gw_conf LISTEN [LINE…]: on stdout, a vmgate-gw config for loopback benchmarks — zone
# $ZONE, VM table $WORK/vms, anonymous clients from 127.0.0.0/8, 20000 connections in all and
# per client, log-level warn — then each LINE (more [gateway] keys)
bench_gw_conf() {
  local listen=$1
  shift
  printf '[dns]\nzone = %s\n[gateway]\nlisten = %s\nvm-dir = %s\n' "$ZONE" "$listen" "$WORK/vms"
  printf 'allow-anonymous-from = 127.0.0.0/8\nmax-connections = 20000\nmax-per-client = 20000\n'
  printf 'log-level = warn\n'
  (($#)) && printf '%s\n' "$@"
  return 0
}

bench_nofile() { # N: raise the descriptor limit to N (the hard limit at most)
  local want=$1 hard
  hard=$(ulimit -Hn)
  [[ $hard != unlimited ]] && ((hard < want)) && want=$hard
  ulimit -n "$want" 2>/dev/null || true
}

# ---------------------------------------------------------------------------------------------
# vgbench results: WORK/res/ROW.METRIC, one value a line (ERR for a failed run); WORK/raw.log

# run ROW METRIC KEY vgbench-args…: one measurement with the row's arguments ARGS[ROW] appended;
# appends KEY's value (or ERR) to res/ROW.METRIC and vgbench's line to raw.log
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
last() { tail -n 1 "$WORK/raw.log" | sed -n "s/.*\b$1=\([0-9.]*\).*/\1/p"; } # KEY of the last run

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
  # shellcheck disable=SC2059  # the format is ours
  printf "$1%s" "$n" "${2#"$n"}"
}
calc() { awk "BEGIN { printf \"$1\", $2 }"; }
ratio() { # ROW-A ROW-B METRIC [FORMAT]: median A / median B (FORMAT default %.2f)
  local a b
  if ! a=$(num "$(med "$1" "$3")") || ! b=$(num "$(med "$2" "$3")") || [[ $b == 0 ]]; then
    echo n/a
    return
  fi
  calc "${4:-%.2f}" "$a / $b"
}
runs() { [[ -s $WORK/res/$1.$2 ]] && tr '\n' ' ' <"$WORK/res/$1.$2" || echo n/a; } # every value
bench_err_note() {
  if grep -qs ERR "$WORK"/res/*; then echo "(* = at least one run of that cell failed; see the messages above)"; fi
}

# ---------------------------------------------------------------------------------------------
# plain figures and the machine

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; } # the middle one (lower of two)
cpu_model() { sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1; }
bench_host() { echo "$(nproc) CPUs ($(cpu_model)), kernel $(uname -r)"; }

#!/usr/bin/env bash
# bench-policy.sh — what the access policy costs (issue 11's targets), from one run on loopback.
# Prints figures; never passes or fails on timing.
#
# Starts on 127.0.0.1 high ports a vgbench target and four vmgate-gw, identical but for:
#   no policy         no policy-file, no audit-log
#   policy            policy-file of --rules rules (default 10,000), no audit-log
#   policy, other VM  the same, but its 5% from= rules for the benchmark's VM name other VMs
#                     (rules with an exact VM name are indexed by it: a decision scans all the
#                     rules of the asked VM's name in file order)
#   policy+audit      the policy and an audit-log (one JSON line per session start and end)
# Every process is started here and stopped by its PID on exit.  Load: tests/bench/vgbench.c.
#
# The policy: --rules − 1 rules that do not match the benchmark's client (user=, group=, deny,
# from= other networks — some of them for the benchmark's own VM, so its index bucket is scanned —
# and vm= guest rules), then `allow from=127.0.0.1/32 bench.vm.test *` on the LAST line (worst
# case for first-match).  The client is anonymous (allow-anonymous-from = 127.0.0.0/8), a subject
# of from= rules: an authenticated client would pay a password check per connection (milliseconds
# with crypt, on the worker threads), which would hide the policy's cost.
#
# Measurements:
#   conn/s   vgbench conn (connect, SOCKS5 handshake asking for the name, 1-byte echo, close),
#            2 and 8 client threads, --seconds each; medians of --reps repetitions, the rows
#            interleaved within each repetition; ratio to "plain" (target >= 0.95); and the
#            gateway's CPU per connection (µs, user + kernel, and user alone; /proc of its
#            threads), which other load on a shared machine disturbs less than conn/s
#   decision tests/bench/policybench: ns per decision of the policy engine alone (10,000 rules)
#   memory   VmRSS of each gateway, fresh, holding --idle-conns idle relayed sessions (vgbench
#            idle), per session; and the sizeof accounting: struct gw_conn now against the commits
#            before the session table (37f5400) and before the policy/audit (6625073), compiled
#            with -g from `git archive`, plus the heap copy of the deciding rule's text
#            (target: <= 512 bytes per session added)
#   The time of `vmgatectl sessions --json` with many sessions: scripts/bench-admin.sh.
#
# Usage: scripts/bench-policy.sh [--build-dir DIR] [--no-build] [--reps N] [--seconds T]
#                                [--rules N] [--idle-conns N] [--port BASE] [--keep]
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build-bench
DO_BUILD=1
REPS=3
SECS=2
RULES=10000
IDLE_CONNS=1000
PORT_BASE=21280
KEEP=0
BASE_TABLE=37f5400  # the last commit before the session table
BASE_POLICY=6625073 # the last commit before the policy, audit log and metrics
ZONE=vm.test
VMNAME=bench.$ZONE

die() { echo "bench-policy: $*" >&2; exit 1; }
log() { echo "bench-policy: $*" >&2; }

while (($#)); do
  case $1 in
    --build-dir) BUILD=${2:?}; shift 2 ;;
    --no-build) DO_BUILD=0; shift ;;
    --reps) REPS=${2:?}; shift 2 ;;
    --seconds) SECS=${2:?}; shift 2 ;;
    --rules) RULES=${2:?}; shift 2 ;;
    --idle-conns) IDLE_CONNS=${2:?}; shift 2 ;;
    --port) PORT_BASE=${2:?}; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,36p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option $1 (try --help)" ;;
  esac
done
[[ $REPS =~ ^[1-9][0-9]?$ ]] || die "--reps wants 1..99"
[[ $SECS =~ ^[0-9]+(\.[0-9]+)?$ ]] || die "--seconds wants a number"
if ! [[ $RULES =~ ^[0-9]+$ ]] || ((RULES < 10 || RULES > 1000000)); then die "--rules wants 10..1000000"; fi
[[ $IDLE_CONNS =~ ^[1-9][0-9]*$ ]] || die "--idle-conns wants a positive number"
if ! [[ $PORT_BASE =~ ^[0-9]+$ ]] || ((PORT_BASE < 1024 || PORT_BASE > 32000)); then
  die "--port wants 1024..32000 (below the ephemeral range)"
fi

if ((DO_BUILD)); then
  log "building (Release) in $BUILD"
  cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=Release >"$BUILD.cmake.log" 2>&1 ||
    { cat "$BUILD.cmake.log" >&2; die "cmake configure failed"; }
  rm -f "$BUILD.cmake.log"
  cmake --build "$BUILD" --target vgbench vmgate-gw policybench -j "$(nproc)" >/dev/null ||
    die "build failed"
fi
VGBENCH=$BUILD/tests/bench/vgbench
POLICYBENCH=$BUILD/tests/bench/policybench
GW=$BUILD/socks-gw/vmgate-gw
for b in "$VGBENCH" "$GW"; do [[ -x $b ]] || die "no $b (build first, or drop --no-build)"; done

# ---------------------------------------------------------------------------------------------
# processes: started here, stopped by PID

WORK=$(mktemp -d /tmp/bench-policy.XXXXXX)
STARTED=()
cleanup() {
  local p
  for p in "${STARTED[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${STARTED[@]}"; do wait "$p" 2>/dev/null || true; done
  if ((KEEP)); then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

listening() { # PORT
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

hard=$(ulimit -Hn)
want=65536
[[ $hard != unlimited ]] && ((hard < want)) && want=$hard
ulimit -n "$want" 2>/dev/null || true
(($(ulimit -n) >= 3 * IDLE_CONNS + 100)) || log "ulimit -n is $(ulimit -n): the memory test may fail"

for ((try = 0; try < 20; try++)); do
  busy=0
  for off in 0 1 2 3 4; do listening $((PORT_BASE + off)) && busy=1; done
  ((busy)) || break
  PORT_BASE=$((PORT_BASE + 10))
done
((busy == 0)) || die "no five free ports found"
PT=$PORT_BASE

# the policy: RULES − 1 rules that do not match, then the benchmark client's rule
gen_policy() { # RULES SAME-VM: SAME-VM 0 gives the from= rules of every 20th line other VMs
  local n=$1 same=$2
  echo "# bench-policy.sh: $n rules; the benchmark's client (anonymous, 127.0.0.1) matches the last"
  awk -v n="$n" -v vm="$VMNAME" -v same="$same" 'BEGIN {
    for (i = 1; i < n; i++) {
      k = i % 20
      if (k < 10)      printf "allow user=u%05d *.vm.test 22,80,443\n", i
      else if (k < 13) printf "allow group=g%03d web*.vm.test * idle-timeout=600\n", i % 200
      else if (k < 14) printf "allow user=u%05d,group=ops *.vm.test * max-sessions=20\n", i
      else if (k < 17) printf "allow from=10.%d.%d.0/24 *.vm.test 22\n", int(i / 256) % 256, i % 256
      else if (k < 18) printf "allow from=172.16.%d.0/24 %s 80,443\n", i % 256, same ? vm : "db" i ".vm.test"
      else if (k < 19) printf "deny user=u%05d %s *\n", i, vm
      else             printf "allow vm=ci%d.vm.test *.vm.test 80,443\n", i
    }
    printf "allow from=127.0.0.1/32 %s *\n", vm
  }'
}
gen_policy "$RULES" 1 >"$WORK/policy"
gen_policy "$RULES" 0 >"$WORK/policy-other"
POLICY_LAST=$(tail -n 1 "$WORK/policy")

"$VGBENCH" target --listen "127.0.0.1:$PT" --threads 2 --max-seconds 1800 2>"$WORK/target.log" &
TARGET_PID=$!
STARTED+=("$TARGET_PID")
wait_listen "$TARGET_PID" "$PT" "vgbench target" || die "target server did not start"

mkdir -p "$WORK/vms"
echo "channel = tcp:127.0.0.1" >"$WORK/vms/$VMNAME"

ROWS=(plain policy other audit)
declare -A PID=() PORT=() LABEL=([plain]="no policy" [policy]="policy" [other]="policy, other VM" [audit]="policy+audit")
start_gw() { # ROW PORT EXTRA-CONFIG-LINES
  local row=$1 port=$2
  cat >"$WORK/gw-$row.conf" <<EOF
[dns]
zone = $ZONE
[gateway]
listen = 127.0.0.1:$port
vm-dir = $WORK/vms
allow-anonymous-from = 127.0.0.0/8
max-connections = 20000
max-per-client = 20000
log-level = warn
$3
EOF
  "$GW" -c "$WORK/gw-$row.conf" -f 2>"$WORK/gw-$row.log" &
  PID[$row]=$!
  PORT[$row]=$port
  STARTED+=("${PID[$row]}")
  wait_listen "${PID[$row]}" "$port" "vmgate-gw ($row)" || { tail -n 20 "$WORK/gw-$row.log" >&2; die "vmgate-gw ($row) did not start"; }
}
start_gw plain $((PT + 1)) ""
start_gw policy $((PT + 2)) "policy-file = $WORK/policy"
start_gw other $((PT + 3)) "policy-file = $WORK/policy-other"
start_gw audit $((PT + 4)) "policy-file = $WORK/policy
audit-log = $WORK/audit.log"
log "gateways up: ${RULES}-rule policy, ports $PT-$((PT + 4)), work dir $WORK"

mkdir -p "$WORK/res"
# run ROW METRIC KEY vgbench-args…: appends KEY's value (or ERR) to res/ROW.METRIC
run() {
  local row=$1 metric=$2 key=$3 out val
  shift 3
  out=$("$@" --target "127.0.0.1:$PT" --socks "127.0.0.1:${PORT[$row]}" --name "$VMNAME" \
    2>>"$WORK/client.log") || { log "$row $metric: vgbench failed"; tail -n 2 "$WORK/client.log" >&2; }
  val=$(sed -n "s/.*\b$key=\([0-9.]*\).*/\1/p" <<<"$out")
  echo "${val:-ERR}" >>"$WORK/res/$row.$metric"
  [[ -n $out ]] && echo "$row $metric $out" >>"$WORK/raw.log"
  return 0
}

# ---------------------------------------------------------------------------------------------
# memory first, on fresh gateways (afterwards the heap the conn/s runs left would absorb it)

log "memory: $IDLE_CONNS idle relayed sessions per gateway"
for row in "${ROWS[@]}"; do
  run "$row" rss rss_kb "$VGBENCH" idle --conns "$IDLE_CONNS" --pid "${PID[$row]}" --settle 1
  sed -n 's/.*\bbase_rss_kb=\([0-9]*\).*/\1/p' <<<"$(tail -n 1 "$WORK/raw.log")" >"$WORK/res/$row.base"
  sed -n 's/.*\balive=\([0-9]*\).*/\1/p' <<<"$(tail -n 1 "$WORK/raw.log")" >"$WORK/res/$row.alive"
done

# ---------------------------------------------------------------------------------------------
# conn/s, rows interleaved within each repetition

for ((rep = 1; rep <= REPS; rep++)); do
  log "repetition $rep/$REPS: conn/s with 2 and 8 client threads"
  for threads in 2 8; do
    for row in "${ROWS[@]}"; do
      run "$row" "conn$threads" conn_per_s "$VGBENCH" conn --threads "$threads" --seconds "$SECS" \
        --pid "${PID[$row]}"
      line=$(tail -n 1 "$WORK/raw.log")
      u=$(sed -n 's/.*\bcpu_proxy_user_us=\([0-9.]*\).*/\1/p' <<<"$line")
      k=$(sed -n 's/.*\bcpu_proxy_sys_us=\([0-9.]*\).*/\1/p' <<<"$line")
      echo "${u:-ERR}" >>"$WORK/res/$row.user$threads"
      if [[ -n $u && -n $k ]]; then awk -v u="$u" -v k="$k" 'BEGIN { printf "%.1f\n", u + k }'; else echo ERR; fi \
        >>"$WORK/res/$row.cpu$threads"
    done
  done
done
refused=$(grep -c '"session.refused"' "$WORK/audit.log" 2>/dev/null || true)
started=$(grep -c '"session.start"' "$WORK/audit.log" 2>/dev/null || true)

# ---------------------------------------------------------------------------------------------
# the policy engine alone

PB_OUT=
if [[ -x $POLICYBENCH ]]; then
  log "policybench --rules $RULES"
  PB_OUT=$("$POLICYBENCH" --rules "$RULES" 2>&1) || PB_OUT="policybench failed: $PB_OUT"
fi

# ---------------------------------------------------------------------------------------------
# sizeof accounting: struct gw_conn now and at the base commits, each compiled with its own headers

sizeof_conn() { # OBJECT
  gdb -batch -ex 'print sizeof(struct gw_conn)' "$1" 2>/dev/null | awk '/^\$1 = / {print $3}'
}
conn_size_at() { # REV ("" = the work tree): sizeof(struct gw_conn), or nothing
  local rev=$1 dir=$WORK/src-${1:-now}
  mkdir -p "$dir"
  if [[ -z $rev ]]; then
    cp -r "$ROOT/common" "$ROOT/socks-gw" "$dir/"
  else
    git -C "$ROOT" archive "$rev" common socks-gw | tar -x -C "$dir" 2>/dev/null || return 0
  fi
  cc -g -O0 -c -D_GNU_SOURCE -I"$dir/socks-gw" -I"$dir/common" -I"$BUILD/common/include" \
    "$dir/socks-gw/conn.c" -o "$dir/conn.o" 2>>"$WORK/cc.log" || return 0
  sizeof_conn "$dir/conn.o"
}
SZ_NOW='' SZ_TABLE='' SZ_POLICY=''
if command -v gdb >/dev/null; then
  SZ_NOW=$(conn_size_at "")
  git -C "$ROOT" cat-file -e "$BASE_TABLE^{commit}" 2>/dev/null && SZ_TABLE=$(conn_size_at "$BASE_TABLE")
  git -C "$ROOT" cat-file -e "$BASE_POLICY^{commit}" 2>/dev/null && SZ_POLICY=$(conn_size_at "$BASE_POLICY")
else
  log "no gdb: sizeof accounting skipped"
fi
# the rule text the connection keeps (vg_strdup of "line N: <rule>"), as a glibc malloc chunk
rule_text="line $RULES: $POLICY_LAST"
RULE_HEAP=$(awk -v n=$((${#rule_text} + 1)) 'BEGIN { c = int((n + 8 + 15) / 16) * 16; print c < 32 ? 32 : c }')

# ---------------------------------------------------------------------------------------------
# report

med() { # ROW METRIC: median ("n/a" when none; "*" when a run failed)
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
ratio() { # ROW METRIC: median of ROW / median of plain
  local a b
  if ! a=$(num "$(med "$1" "$2")") || ! b=$(num "$(med plain "$2")") || [[ $b == 0 ]]; then
    echo n/a
    return
  fi
  awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", a / b }'
}
per_session() { # ROW: (RSS with the sessions − before) / sessions, bytes
  local r b
  if ! r=$(num "$(med "$1" rss)") || ! b=$(num "$(med "$1" base)"); then echo n/a; return; fi
  echo $(((r - b) * 1024 / IDLE_CONNS))
}
runs() { [[ -s $WORK/res/$1.$2 ]] && tr '\n' ' ' <"$WORK/res/$1.$2" || echo n/a; }

echo
echo "vmgate access policy benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -n 1)), kernel $(uname -r)"
echo "loopback; client, gateways and target share the CPUs; medians of $REPS runs of ${SECS} s, rows interleaved"
echo "policy: $RULES rules, the client's on the last line: '$POLICY_LAST';"
echo "        $((RULES / 20)) of them 'allow from=172.16.N.0/24 $VMNAME 80,443' (in 'other VM': dbN.vm.test)"
echo "client: anonymous from 127.0.0.1 (allow-anonymous-from), SOCKS5 asking for $VMNAME; no password"
echo "        check, so the figures show the policy's cost rather than crypt's"
echo
printf "%-17s %9s %9s   %7s %7s   %9s %9s   %9s %9s\n" "" "conn/s 2" "conn/s 8" "ratio 2" "ratio 8" "gw us 8" "user 8" "B/session" "alive"
for row in "${ROWS[@]}"; do
  r2="-" r8="-"
  [[ $row != plain ]] && r2=$(ratio "$row" conn2) r8=$(ratio "$row" conn8)
  printf "%-17s %9s %9s   %7s %7s   %9s %9s   %9s %9s\n" "${LABEL[$row]}" \
    "$(med "$row" conn2)" "$(med "$row" conn8)" "$r2" "$r8" "$(med "$row" cpu8)" "$(med "$row" user8)" \
    "$(per_session "$row")" "$(med "$row" alive)/$IDLE_CONNS"
done
if grep -qs ERR "$WORK"/res/*; then echo "(* = at least one run of that cell failed)"; fi
echo "(ratio = conn/s / conn/s without a policy; gw us 8 = the gateway's CPU per connection, user +"
echo " kernel, 8 client threads; user 8 = its user-space part, what the policy decision adds to: both"
echo " are less disturbed than conn/s by other load on the machine; B/session = VmRSS growth of a fresh gateway holding"
echo " $IDLE_CONNS idle relayed sessions, over $IDLE_CONNS: everything, not only what the policy adds)"
echo "audit log: ${started:-0} session.start, ${refused:-0} session.refused lines"
echo
echo "every run, conn/s (2 threads | 8 threads):"
for row in "${ROWS[@]}"; do
  printf "  %-17s %s| %s\n" "${LABEL[$row]}" "$(runs "$row" conn2)" "$(runs "$row" conn8)"
done

echo
echo "policy engine alone (tests/bench/policybench --rules $RULES, CPU ns per decision):"
if [[ -n $PB_OUT ]]; then
  printf '  %s\n' "${PB_OUT//$'\n'/$'\n'  }"
else
  echo "  n/a (no $POLICYBENCH)"
fi

echo
echo "memory per session, sizeof accounting:"
if [[ -n $SZ_NOW ]]; then
  echo "  struct gw_conn now: $SZ_NOW bytes; before the session table ($BASE_TABLE): ${SZ_TABLE:-?};" \
    "before the policy and audit ($BASE_POLICY): ${SZ_POLICY:-?}"
  echo "  the deciding rule's text, kept per session: ${#rule_text} + 1 bytes = $RULE_HEAP bytes of heap"
  if [[ -n $SZ_TABLE ]]; then
    echo "  added by session table + policy verdict + audit fields: $((SZ_NOW - SZ_TABLE)) + $RULE_HEAP" \
      "= $((SZ_NOW - SZ_TABLE + RULE_HEAP)) bytes per session (target <= 512)"
  fi
  if [[ -n $SZ_POLICY ]]; then
    echo "    of which policy verdict + audit: $((SZ_NOW - SZ_POLICY)) + $RULE_HEAP = $((SZ_NOW - SZ_POLICY + RULE_HEAP)) bytes"
  fi
  echo "  (per-user max-sessions counters are per user, not per session; audit events are queued"
  echo "   and written by the audit thread, not kept with the session)"
else
  echo "  n/a (no gdb, or conn.c did not compile: see the work dir's cc.log with --keep)"
fi
p=$(per_session plain) a=$(per_session audit)
if [[ $p =~ ^[0-9]+$ && $a =~ ^[0-9]+$ ]]; then
  echo "  measured: policy+audit − no policy = $((a - p)) bytes per session of VmRSS (page-granular, noisy)"
fi

cat <<EOF

vmgatectl sessions --json with many live sessions: scripts/bench-admin.sh (not repeated here).
EOF

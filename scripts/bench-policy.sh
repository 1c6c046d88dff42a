#!/usr/bin/env bash
# bench-policy.sh — what the access policy costs (issue 11's targets), from one run on loopback.
# Prints figures; never passes or fails on timing.
#
# Starts on 127.0.0.1 high ports a vgbench target and four vmgate-gw, identical but for:
#   no policy         no policy-file, no audit-log
#   policy            policy-file of --rules rules (default 10,000), no audit-log
#   policy, other VM  the same, but its 5% from= rules for the benchmark's VM name other VMs
#                     (since 6affec6 a from= rule is indexed by its CIDR before its exact VM
#                     name, so the two should cost the same; before, the same-VM rules shared the
#                     VM name's bucket, which a decision scanned in file order)
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
#                                [--wait-quiet S]
# The machine's other load skews every figure: the report prints how busy the CPUs were just
# before and after the run; --wait-quiet S first waits (up to S s) until they are < 15 % busy.
set -euo pipefail

BENCH_NAME=bench-policy
# shellcheck source=benchlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"
BUILD=$ROOT/build-bench
DO_BUILD=1
REPS=3
SECS=2
RULES=10000
IDLE_CONNS=1000
PORT_BASE=21280
KEEP=0
WAIT_QUIET=0
BASE_TABLE=37f5400  # the last commit before the session table
BASE_POLICY=6625073 # the last commit before the policy, audit log and metrics
ZONE=vm.test
VMNAME=bench.$ZONE

bench_opts 2,40 --build-dir=BUILD --no-build:DO_BUILD=0 --reps=REPS --seconds=SECS --rules=RULES \
  --idle-conns=IDLE_CONNS --port=PORT_BASE --keep:KEEP=1 --wait-quiet=WAIT_QUIET -- "$@"
bench_check reps --reps "$REPS"
bench_check seconds --seconds "$SECS"
if ! [[ $RULES =~ ^[0-9]+$ ]] || ((RULES < 10 || RULES > 1000000)); then die "--rules wants 10..1000000"; fi
bench_check count --idle-conns "$IDLE_CONNS"
bench_check port --port "$PORT_BASE"
bench_check wait --wait-quiet "$WAIT_QUIET"

((DO_BUILD)) && bench_build Release vgbench vmgate-gw policybench
VGBENCH=$BUILD/tests/bench/vgbench
POLICYBENCH=$BUILD/tests/bench/policybench
GW=$BUILD/socks-gw/vmgate-gw
for b in "$VGBENCH" "$GW"; do [[ -x $b ]] || die "no $b (build first, or drop --no-build)"; done

# ---------------------------------------------------------------------------------------------
# other load on the machine; processes: started here, stopped by PID

bench_wait_quiet "$WAIT_QUIET"
bench_processes

bench_nofile 65536
(($(ulimit -n) >= 3 * IDLE_CONNS + 100)) || log "ulimit -n is $(ulimit -n): the memory test may fail"

bench_free_ports 5 # target and four gateways
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

start target "$VGBENCH" target --listen "127.0.0.1:$PT" --threads 2 --max-seconds 1800
wait_listen "${PID[target]}" 127.0.0.1 "$PT" "vgbench target" || die "target server did not start"

mkdir -p "$WORK/vms"
echo "channel = tcp:127.0.0.1" >"$WORK/vms/$VMNAME"

ROWS=(plain policy other audit)
declare -A ARGS=() LABEL=([plain]="no policy" [policy]="policy" [other]="policy, other VM" [audit]="policy+audit")
start_gw() { # ROW PORT [EXTRA-CONFIG-LINE…]
  local row=$1 port=$2
  shift 2
  bench_gw_conf "127.0.0.1:$port" "$@" >"$WORK/gw-$row.conf"
  start "gw-$row" "$GW" -c "$WORK/gw-$row.conf" -f
  PID[$row]=${PID[gw-$row]}
  ARGS[$row]="--target 127.0.0.1:$PT --socks 127.0.0.1:$port --name $VMNAME"
  wait_listen "${PID[$row]}" 127.0.0.1 "$port" "vmgate-gw ($row)" ||
    { tail -n 20 "$WORK/gw-$row.log" >&2; die "vmgate-gw ($row) did not start"; }
}
start_gw plain $((PT + 1))
start_gw policy $((PT + 2)) "policy-file = $WORK/policy"
start_gw other $((PT + 3)) "policy-file = $WORK/policy-other"
start_gw audit $((PT + 4)) "policy-file = $WORK/policy" "audit-log = $WORK/audit.log"
log "gateways up: ${RULES}-rule policy, ports $PT-$((PT + 4)), work dir $WORK"

# ---------------------------------------------------------------------------------------------
# memory first, on fresh gateways (afterwards the heap the conn/s runs left would absorb it)

log "memory: $IDLE_CONNS idle relayed sessions per gateway"
for row in "${ROWS[@]}"; do
  run "$row" rss rss_kb "$VGBENCH" idle --conns "$IDLE_CONNS" --pid "${PID[$row]}" --settle 1
  last base_rss_kb >"$WORK/res/$row.base"
  last alive >"$WORK/res/$row.alive"
done

# ---------------------------------------------------------------------------------------------
# conn/s, rows interleaved within each repetition

for ((rep = 1; rep <= REPS; rep++)); do
  log "repetition $rep/$REPS: conn/s with 2 and 8 client threads"
  for threads in 2 8; do
    for row in "${ROWS[@]}"; do
      run "$row" "conn$threads" conn_per_s "$VGBENCH" conn --threads "$threads" --seconds "$SECS" \
        --pid "${PID[$row]}"
      u=$(last cpu_proxy_user_us) k=$(last cpu_proxy_sys_us)
      echo "${u:-ERR}" >>"$WORK/res/$row.user$threads"
      if [[ -n $u && -n $k ]]; then calc "%.1f\n" "$u + $k"; else echo ERR; fi >>"$WORK/res/$row.cpu$threads"
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

per_session() { # ROW: (RSS with the sessions − before) / sessions, bytes
  local r b
  if ! r=$(num "$(med "$1" rss)") || ! b=$(num "$(med "$1" base)"); then echo n/a; return; fi
  echo $(((r - b) * 1024 / IDLE_CONNS))
}

echo
echo "vmgate access policy benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): $(bench_host)"
echo "loopback; client, gateways and target share the CPUs; medians of $REPS runs of ${SECS} s, rows interleaved"
bench_busy_report # our processes are idle now
echo "policy: $RULES rules, the client's on the last line: '$POLICY_LAST';"
echo "        $((RULES / 20)) of them 'allow from=172.16.N.0/24 $VMNAME 80,443' (in 'other VM': dbN.vm.test)"
echo "client: anonymous from 127.0.0.1 (allow-anonymous-from), SOCKS5 asking for $VMNAME; no password"
echo "        check, so the figures show the policy's cost rather than crypt's"
echo
printf "%-17s %9s %9s   %7s %7s   %9s %9s   %9s %9s\n" "" "conn/s 2" "conn/s 8" "ratio 2" "ratio 8" "gw us 8" "user 8" "B/session" "alive"
for row in "${ROWS[@]}"; do
  r2="-" r8="-"
  [[ $row != plain ]] && r2=$(ratio "$row" plain conn2 %.3f) r8=$(ratio "$row" plain conn8 %.3f)
  printf "%-17s %9s %9s   %7s %7s   %9s %9s   %9s %9s\n" "${LABEL[$row]}" \
    "$(med "$row" conn2)" "$(med "$row" conn8)" "$r2" "$r8" "$(med "$row" cpu8)" "$(med "$row" user8)" \
    "$(per_session "$row")" "$(med "$row" alive)/$IDLE_CONNS"
done
bench_err_note
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

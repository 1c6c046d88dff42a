#!/usr/bin/env bash
# bench-auth.sh — what password guessing costs everyone else, and whether login time tells
# known from unknown users (audit #10, finding 3).  Prints figures; never passes or fails.
#
# For each hash method (yescrypt as `mkpasswd -m yescrypt` makes it, sha512 as `openssl passwd
# -6`): a vmgate-gw on 127.0.0.1, an echo target, and
#   relay round trip  1-byte ping-pong through an established tunnel, p50 / p99 / max, idle and
#                     while 8 threads guess passwords (each waits for its answer, as in the
#                     audit): wrong passwords for 64 user names from 200 loopback source
#                     addresses, so that back-off holds almost none back and both workers hash
#                     nearly all the time; "checked" is how many the workers hashed;
#   login time        RFC 1929 answer time, median of --logins: a known user's right password,
#                     a known user's wrong password, an unknown user (each attempt from a fresh
#                     address for a user with no failures, so no back-off is involved).
# Everything started here is stopped by its PID on exit.
#
# Usage: scripts/bench-auth.sh [--build-dir DIR] [--port BASE] [--seconds T] [--logins N]
set -euo pipefail

BENCH_NAME=bench-auth
# shellcheck source=benchlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"
BUILD=$ROOT/build
PORT_BASE=21180
SECS=4
LOGINS=20
bench_opts 2,17 --build-dir=BUILD --port=PORT_BASE --seconds=SECS --logins=LOGINS -- "$@"
GW=$BUILD/socks-gw/vmgate-gw
VGT=$ROOT/tests/system/vgtest.py
[[ -x $GW ]] || die "no $GW (build first, or --build-dir)"
PY=python3

bench_processes
bench_free_ports 2
PORT=$PORT_BASE

start target "$PY" "$VGT" serve --listen "127.0.0.1:$((PORT + 1))" --label bench
wait_listen "${PID[target]}" 127.0.0.1 $((PORT + 1)) "echo target" || die "echo target did not start"
mkdir -p "$WORK/vms"
echo "channel = tcp:127.0.0.1" >"$WORK/vms/bench.vm.test"

SRCS=$(for i in $(seq 1 200); do printf '127.0.%d.%d,' $((10 + i / 250)) $((1 + i % 250)); done)
SRCS=${SRCS%,}
USERS=$(seq -s, -f 'guess%g' 0 63)
fresh() { for i in $(seq 1 "$LOGINS"); do printf '127.%d.%d.%d,' "$1" $((i / 250)) $((1 + i % 250)); done | sed 's/,$//'; }
field() { awk -v k="$1" '{for (i = 1; i < NF; i++) if ($i == k) print $(i + 1)}' <<<"$2"; }

printf '%-9s | %-26s | %-26s | %-13s | %-27s\n' method "relay RTT idle p50/p99/max" \
  "during 8 guessers" "sent/checked" "login ms: known ok/bad/unknown"
n=0
for method in '$y$' '$6$'; do
  n=$((n + 1))
  {
    printf 'alice:%s\n' "$("$PY" "$VGT" hash --method "$method" --password alice-pw)"
    for i in $(seq 1 "$LOGINS"); do
      printf 'k%d:%s\n' "$i" "$("$PY" "$VGT" hash --method "$method" --password k-pw)"
    done
  } >"$WORK/users"
  cat >"$WORK/gw.conf" <<CONF
[dns]
zone = vm.test
[host]
name = bench
[gateway]
listen = 127.0.0.1:$PORT
vm-dir = $WORK/vms
users-file = $WORK/users
allow-anonymous-from = 127.0.0.1/32
log-level = notice
CONF
  start gw "$GW" -c "$WORK/gw.conf" -f
  wait_listen "${PID[gw]}" 127.0.0.1 "$PORT" vmgate-gw || { tail -n 20 "$WORK/gw.log" >&2; die "vmgate-gw did not start"; }
  tun=(--gw "127.0.0.1:$PORT" --name bench.vm.test --port $((PORT + 1)) --seconds "$SECS")
  idle=$("$PY" "$VGT" rtt "${tun[@]}")
  "$PY" "$VGT" guess --gw "127.0.0.1:$PORT" --srcs "$SRCS" --user "$USERS" --threads 8 \
    --seconds $((SECS + 1)) >"$WORK/guess" &
  gpid=$!
  sleep 0.5 # let the guessers get going before measuring (a benchmark: no assertion rides on it)
  busy=$("$PY" "$VGT" rtt "${tun[@]}")
  wait "$gpid" || true
  guess=$(cat "$WORK/guess")
  kok=$("$PY" "$VGT" authtime --gw "127.0.0.1:$PORT" --srcs "$(fresh $((20 + n * 3)))" --user alice --password alice-pw --n "$LOGINS")
  kbad=$("$PY" "$VGT" authtime --gw "127.0.0.1:$PORT" --srcs "$(fresh $((21 + n * 3)))" --user "$(seq -s, -f 'k%g' 1 "$LOGINS")" --password nope --n "$LOGINS")
  unk=$("$PY" "$VGT" authtime --gw "127.0.0.1:$PORT" --srcs "$(fresh $((22 + n * 3)))" --user "$(seq -s, -f 'nobody%g' 1 "$LOGINS")" --password nope --n "$LOGINS")
  bench_stop gw
  checked=$(grep -oE 'authentication: [0-9]+ passwords checked' "$WORK/gw.log" | awk '{print $2}')
  checked=$((checked - 3 * LOGINS)) # the login-time runs come after the guessing
  printf '%-9s | %-26s | %-26s | %-13s | %-27s\n' "$method" \
    "$(field p50_ms "$idle") / $(field p99_ms "$idle") / $(field max_ms "$idle")" \
    "$(field p50_ms "$busy") / $(field p99_ms "$busy") / $(field max_ms "$busy")" \
    "$(field attempts "$guess")/$checked" \
    "$(field p50_ms "$kok") / $(field p50_ms "$kbad") / $(field p50_ms "$unk")"
done
echo "(ms; one run: figures move between runs and with the machine's other load)"

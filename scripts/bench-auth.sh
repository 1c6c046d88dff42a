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

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$ROOT/build
PORT=21180
SECS=4
LOGINS=20
while (($#)); do
  case $1 in
    --build-dir) BUILD=${2:?}; shift 2 ;;
    --port) PORT=${2:?}; shift 2 ;;
    --seconds) SECS=${2:?}; shift 2 ;;
    --logins) LOGINS=${2:?}; shift 2 ;;
    -h|--help) sed -n '2,17p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-auth: unknown option $1" >&2; exit 2 ;;
  esac
done
GW=$BUILD/socks-gw/vmgate-gw
VGT=$ROOT/tests/system/vgtest.py
[[ -x $GW ]] || { echo "bench-auth: no $GW (build first, or --build-dir)" >&2; exit 1; }
PY=python3

TMP=$(mktemp -d /tmp/bench-auth.XXXXXX)
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT

listening() { ss -Hltn "( sport = :$1 )" | grep -q .; }
wait_port() {
  local i
  for ((i = 0; i < 200; i++)); do listening "$1" && return 0; sleep 0.05; done
  echo "bench-auth: nothing listens on port $1" >&2; exit 1
}

"$PY" "$VGT" serve --listen "127.0.0.1:$((PORT + 1))" --label bench >/dev/null 2>&1 &
PIDS+=($!)
wait_port $((PORT + 1))
mkdir -p "$TMP/vms"
echo "channel = tcp:127.0.0.1" >"$TMP/vms/bench.vm.test"

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
  } >"$TMP/users"
  cat >"$TMP/gw.conf" <<CONF
[dns]
zone = vm.test
[host]
name = bench
[gateway]
listen = 127.0.0.1:$PORT
vm-dir = $TMP/vms
users-file = $TMP/users
allow-anonymous-from = 127.0.0.1/32
log-level = notice
CONF
  "$GW" -c "$TMP/gw.conf" -f 2>"$TMP/gw.log" &
  gwpid=$!
  PIDS+=($gwpid)
  wait_port "$PORT"
  tun=(--gw "127.0.0.1:$PORT" --name bench.vm.test --port $((PORT + 1)) --seconds "$SECS")
  idle=$("$PY" "$VGT" rtt "${tun[@]}")
  "$PY" "$VGT" guess --gw "127.0.0.1:$PORT" --srcs "$SRCS" --user "$USERS" --threads 8 \
    --seconds $((SECS + 1)) >"$TMP/guess" &
  gpid=$!
  sleep 0.5 # let the guessers get going before measuring (a benchmark: no assertion rides on it)
  busy=$("$PY" "$VGT" rtt "${tun[@]}")
  wait "$gpid" || true
  guess=$(cat "$TMP/guess")
  kok=$("$PY" "$VGT" authtime --gw "127.0.0.1:$PORT" --srcs "$(fresh $((20 + n * 3)))" --user alice --password alice-pw --n "$LOGINS")
  kbad=$("$PY" "$VGT" authtime --gw "127.0.0.1:$PORT" --srcs "$(fresh $((21 + n * 3)))" --user "$(seq -s, -f 'k%g' 1 "$LOGINS")" --password nope --n "$LOGINS")
  unk=$("$PY" "$VGT" authtime --gw "127.0.0.1:$PORT" --srcs "$(fresh $((22 + n * 3)))" --user "$(seq -s, -f 'nobody%g' 1 "$LOGINS")" --password nope --n "$LOGINS")
  kill "$gwpid"
  wait "$gwpid" 2>/dev/null || true
  checked=$(grep -oE 'authentication: [0-9]+ passwords checked' "$TMP/gw.log" | awk '{print $2}')
  checked=$((checked - 3 * LOGINS)) # the login-time runs come after the guessing
  printf '%-9s | %-26s | %-26s | %-13s | %-27s\n' "$method" \
    "$(field p50_ms "$idle") / $(field p99_ms "$idle") / $(field max_ms "$idle")" \
    "$(field p50_ms "$busy") / $(field p99_ms "$busy") / $(field max_ms "$busy")" \
    "$(field attempts "$guess")/$checked" \
    "$(field p50_ms "$kok") / $(field p50_ms "$kbad") / $(field p50_ms "$unk")"
done
echo "(ms; one run: figures move between runs and with the machine's other load)"

#!/usr/bin/env bash
# Authentication under attack (audit #10, findings 3, 8, 9, 10), against the real vmgate-gw with
# yescrypt hashes (the README's `mkpasswd -m yescrypt`):
#   - an established relay keeps echoing while 8 threads guess passwords from 16 addresses
#     (the hashing runs on the worker pool, not in the loop; the round trips are printed, the
#     benchmark is scripts/bench-auth.sh);
#   - back-off: 8 guessers from one address get most answers without a hash (log lines);
#   - the user's owner still logs in from a clean address at once, and the guessers' address
#     after its back-off ran out;
#   - an unknown user's password is hashed with the same method and cost as a known user's;
#   - clients that close while their password is being hashed leave nothing behind;
#   - a full check queue refuses logins unchecked (auth-threads=1, auth-queue=1);
#   - a user name with a newline forges no log line;
#   - the README's `listen = 0.0.0.0:P, [::]:P` starts and serves both families;
#   - max-per-client counts a client once on an IPv4 and a v4-mapped IPv6 listener.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vg_init
vg_net_init
GUESSERS=$(seq -s, -f '198.18.0.%g' 16 31)
GUESSERS2=$(seq -s, -f '198.18.0.%g' 32 47)
OWNER=198.18.0.4
for i in $(seq 4 9) $(seq 16 47); do ip -n "$NS_CL" addr add "198.18.0.$i/24" dev cl0; done
vg_add_vm 1
vm_serve 1 7000
vm_set web1.vm.test "channel=tcp:$(vm4 1)"
{
    vg_user_line_m '$y$' alice alice-pw
    vg_user_line_m '$y$' bob bob-pw
} >"$VG_TMP/users"
gw_conf "$VG_TMP/gw.conf" log-level=debug
gw_start gw "$VG_TMP/gw.conf"
gw_serves "an anonymous request"
base_fds=$(gw_fds "${VG_PID[gw]}")
gwlog() { cat "$VG_TMP/gw.log"; }
socks_as() { # SRC USER PASS: an authenticated request (HELLO round trip)
    cl_vgt socks --gw "$HV4:1080" --src "$1" --user "$2" --password "$3" --name web1.vm.test \
        --port 7000 --action hello 2>&1 || true
}

# ---- 1. a relay during 8 guessers (16 addresses: every attempt but the throttled is hashed)
vg_start rtt "$NS_CL" "$VG_PY" "$VG_VGTEST" rtt --gw "$HV4:1080" --name web1.vm.test --port 7000 \
    --seconds 4 --start-file "$VG_TMP/rtt.started"
wait_until "the measured tunnel" 10 test -s "$VG_TMP/rtt.started" || vg_die "no tunnel for the round trips"
guess=$(cl_vgt guess --gw "$HV4:1080" --srcs "$GUESSERS" --user alice --threads 8 --seconds 3)
wait "${VG_PID[rtt]}" || true
rtt=$(cat "$VG_TMP/rtt.log")
vg_log "during the attack: $guess"
vg_log "relay round trips: $(tail -n 1 <<<"$rtt")"
check_match "an established relay keeps echoing during 8 guessers" 'ECHO OK' "$rtt"
check_match "every guess was refused with RFC 1929 status 1" '^GUESS attempts [1-9][0-9]* failed [0-9]+ ok 0 other 0' "$guess"
check_match "guesses were hashed on the workers (debug line)" "password checked for known user 'alice' with \\\$y\\\$" "$(gwlog)"

# ---- 2. back-off: 8 guessers from one address, most attempts refused without a hash
guess=$(cl_vgt guess --gw "$HV4:1080" --src "$CL4_AUTH" --user bob --threads 8 --seconds 3)
vg_log "one address: $guess"
attempts=$(awk '{print $3}' <<<"$guess")
hashed=$(grep -cE "^[^ ]+ [^ ]+ c[0-9]+ $CL4_AUTH:[0-9]+: password checked" "$VG_TMP/gw.log" || true)
throttled=$(grep -cE "c[0-9]+ $CL4_AUTH:[0-9]+: authentication refused for user 'bob' without a check: back-off" "$VG_TMP/gw.log" || true)
check_ge "the guessers made attempts" 16 "$attempts"
# the first 5 answered at once, 8 in flight when the back-off starts, then one per round
check_le "passwords hashed for the one address" 16 "$hashed"
check_ge "attempts refused without a hash during the back-off" $((attempts - hashed)) "$throttled"
check_match "the back-off is logged at notice" "authentication failed for user 'bob'; back-off [0-9.]+ s" "$(gwlog)"

# ---- 3. the owner logs in from a clean address at once; the guessers' address after its back-off
check_match "bob logs in from an address without failures despite the guessing" 'HELLO vm1' \
    "$(socks_as "$OWNER" bob bob-pw)"
# one more wrong guess: refused in the back-off, or checked and then starting the next one
socks_as "$CL4_AUTH" bob wrong >/dev/null
out=$(socks_as "$CL4_AUTH" bob bob-pw)
check_match "the right password from the guessing address is refused during its back-off" '^AUTH 0101' "$out"
poll_match "... and accepted once the back-off ran out" 'HELLO vm1' 30 socks_as "$CL4_AUTH" bob bob-pw

# ---- 4. an unknown user costs what a known one costs: the same method and parameters
socks_as 198.18.0.5 nobody whatever >/dev/null
check_match "alice logs in from a clean address" 'HELLO vm1' "$(socks_as 198.18.0.8 alice alice-pw)"
m_unknown=$(grep -oE "password checked for unknown user 'nobody' with [^ ]+" "$VG_TMP/gw.log" | tail -n 1 | awk '{print $NF}')
m_known=$(grep -oE "password checked for known user 'alice' with [^ ]+" "$VG_TMP/gw.log" | tail -n 1 | awk '{print $NF}')
check_eq "an unknown user's password is hashed with yescrypt, the users' method" '$y$j9T' "$m_unknown"
check_eq "... the same method and cost as a known user's" "$m_known" "$m_unknown"

# ---- 5. clients that close while their password is being hashed (the answer finds them gone)
cl_vgt guess --gw "$HV4:1080" --srcs "$GUESSERS" --user carol,dave,erin --threads 8 --seconds 1 --abandon >/dev/null
gw_alive_and_serving gw "after abandoned checks"

# ---- 6. a user name with a newline forges no log line
forged=$'x\n00:00:00.000 vmgate-gw[notice] FORGED c1 198.18.0.9:1: CONNECT admin'
cl_vgt socks --gw "$HV4:1080" --src 198.18.0.6 --user "$forged" --password p --name web1.vm.test --port 7000 >/dev/null 2>&1 || true
poll_match "the user name is logged with its newline escaped" "user 'x\\\\x0a00:00:00.000 vmgate-gw\\[notice\\] FORGED" 5 gwlog
check_nomatch "no forged line in the log" '^00:00:00.000 vmgate-gw\[notice\] FORGED' "$(gwlog)"
check_no_leak gw "$base_fds" "after the attacks"

# ---- 7. a full check queue refuses unchecked
gw_conf "$VG_TMP/gwq.conf" listen="$HV4:1085" listen-http= auth-threads=1 auth-queue=1 log-level=debug
gw_start gwq "$VG_TMP/gwq.conf"
guess=$(cl_vgt guess --gw "$HV4:1085" --srcs "$GUESSERS" --user alice,bob,x,y --threads 8 --seconds 2)
check_match "with auth-queue=1 every guess is still answered status 1" '^GUESS attempts [1-9][0-9]* failed [0-9]+ ok 0 other 0' "$guess"
check_match "... and some were refused with the queue full" 'without a check: 1 checks waiting' "$(cat "$VG_TMP/gwq.log")"
check_match "a login after works" 'HELLO vm1' "$(cl_vgt socks --gw "$HV4:1085" --src 198.18.0.7 --user alice --password alice-pw --name web1.vm.test --port 7000 --action hello 2>&1)"
# SIGTERM while checks are queued and running: the connections waiting for them are closed,
# the workers joined, the jobs freed
vg_start guessq "$NS_CL" "$VG_PY" "$VG_VGTEST" guess --gw "$HV4:1085" --srcs "$GUESSERS2" --user p,q,r --threads 8 --seconds 3
poll_match "checks are running on gwq" 'password checked for unknown user .[pqr].' 10 cat "$VG_TMP/gwq.log"
kill -TERM "${VG_PID[gwq]}"
rc=0
wait_until "gwq to exit after SIGTERM" 10 vg_gone "${VG_PID[gwq]}" || rc=1
wait "${VG_PID[gwq]}" || rc=$?
check_eq "SIGTERM during password checks: exit 0" 0 "$rc"
check_match "... after printing its counters" 'authentication: [0-9]+ passwords checked' "$(cat "$VG_TMP/gwq.log")"
vg_stop guessq

# ---- 8. the README's dual-stack example starts (IPV6_V6ONLY on [::])
gw_conf "$VG_TMP/gw2.conf" listen="0.0.0.0:1090, [::]:1090" listen-http=
gw_start gw2 "$VG_TMP/gw2.conf"
ls=$(ip netns exec "$NS_HV" ss -Hltn "( sport = :1090 )" | awk '{print $4}' | sort | tr '\n' ' ')
check_eq "listen = 0.0.0.0:1090, [::]:1090: two listeners" "0.0.0.0:1090 [::]:1090 " "$ls"
check_match "served over IPv4" 'HELLO vm1' "$(cl_vgt socks --gw "$HV4:1090" --name web1.vm.test --port 7000 --action hello 2>&1)"
check_match "served over IPv6" 'HELLO vm1' "$(cl_vgt socks --gw "[$HV6]:1090" --name web1.vm.test --port 7000 --action hello 2>&1)"
vg_stop gw2

# ---- 9. max-per-client counts a client once on an IPv4 and a v4-mapped listener
gw_conf "$VG_TMP/gw3.conf" listen="$HV4:1091, [::ffff:$HV4]:1092" listen-http= max-per-client=2
gw_start gw3 "$VG_TMP/gw3.conf"
vg_start holder "$NS_CL" "$VG_PY" "$VG_VGTEST" socks --gw "$HV4:1091" --name web1.vm.test --port 7000 --action hold --wait 30
poll_match "one tunnel held through the IPv4 listener" "c[0-9]+ $CL4:[0-9]+: CONNECT web1" 10 cat "$VG_TMP/gw3.log"
out=$(cl_vgt percap --gw "$HV4:1092" --name web1.vm.test --port 7000 --limit 1 2>&1) || true
check_match "through the v4-mapped listener only one more fits (max-per-client=2)" '^PERCAP OK' "$out"
check_nomatch "the v4-mapped client is logged as its IPv4 address" 'c[0-9]+ \[?::ffff:' "$(cat "$VG_TMP/gw3.log")"
check_match "... and the refusal at accept names it so" "^[^ ]+ [^ ]+ $CL4:[0-9]+: max-per-client \\(2\\) reached" "$(cat "$VG_TMP/gw3.log")"
vg_stop holder
vg_stop gw3

vg_finish

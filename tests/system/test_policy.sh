#!/usr/bin/env bash
# The access policy (docs/policy.md) against the real gateways, in the topology of
# test_resolve_connect.sh (real BIND, hv1 and hv2 chaining over mutual TLS, a client namespace).
# hv2 serves web2, db2 and build2 and has a policy file and an audit log; hv1 has none.
#
# Checked: a matrix of 3 users (2 with groups), 2 client networks (the client's IPv4 and IPv6
# addresses) x 3 VMs x 2 ports through SOCKS5 and HTTP CONNECT straight to hv2, and chained
# through hv1 (hv2 decides, on the identity hv1 states); vmgate-connect + OpenSSH;
# `vmgate-gw --front` (its user is a person like any other); every verdict's deciding rule in
# its audit line and from `vmgatectl policy test`; max-sessions, idle-timeout and max-duration
# of a rule; a bad policy file keeps the running one (file:line in the log); `vmgatectl reload`
# keeps running sessions, `reload --enforce` ends those the new policy denies.
# Guest-originated streams (the vm= subject): test_policy_guest.sh.
VG_TOPO_ONLY=1 source "$(dirname "${BASH_SOURCE[0]}")/test_resolve_connect.sh"
vg_require_tools nsupdate

TOPO_TLS=1
TOPO_GW_EXTRA_hv2="listen-http = 198.18.0.12:3128"
topo_up
T=$VG_TMP
CTL=$VMGATE_BUILD/socks-gw/vmgatectl
[[ -x $CTL ]] || vg_die "vmgatectl not built"
ctl() { ip netns exec "$NS_H2" "$CTL" --socket "$T/hv2/admin.sock" "$@"; }

# users with groups on both hosts (hv1 authenticates, hv2 decides)
for h in hv1 hv2; do
    {
        printf 'alice:%s:ops\n' "$(openssl passwd -6 wonderland)"
        printf 'bob:%s:dev,ops2\n' "$(openssl passwd -6 builder)"
        printf 'carol:%s\n' "$(openssl passwd -6 singer)"
        vg_user_line "$FWD_USER" "$FWD_PASS"
    } >"$T/$h/users"
done
cat >"$T/hv2/policy" <<EOF
# verdict  who                          VM                 ports       options
allow      user=alice                   web*.vm.test       7000,7001
allow      group=dev                    db*.vm.test        7000        max-sessions=1
allow      from=fd00:76::/64            build*.vm.test     7000-7001
allow      user=carol,from=198.18.0.0/24  build?.vm.test   7000        idle-timeout=2
allow      user=$FWD_USER               web2.vm.test       7000
allow      user=alice                   db2.vm.test        7001        max-duration=2
allow      user=bob                     web2.vm.test       22
deny       any                          *                  *
EOF
sed -i "/^\[gateway\]/a policy-file = $T/hv2/policy\naudit-log = $T/hv2/audit.log" "$T/hv2/vmgate.conf"
kill -HUP "${VG_PID[gw-hv1]}" "${VG_PID[gw-hv2]}"
poll_match "hv2 reloaded with the policy and the audit log" '"event":"policy.reloaded"' 10 \
    cat "$T/hv2/audit.log"
reg hv2 add db2 --channel "tcp:198.18.4.2" >>"$T/reg.log" 2>&1 || vg_die "register db2"
reg hv2 add build2 --channel "tcp:198.18.2.2" >>"$T/reg.log" 2>&1 || vg_die "register build2"
vm_serve 2 7001
vm_serve 4 7001

declare -A PW=([alice]=wonderland [bob]=builder [carol]=singer)
# try HOW USER VM PORT: HOW = s4 (SOCKS5 to hv2 over IPv4), s6 (over IPv6), h4 (HTTP CONNECT),
# c4 (SOCKS5 to hv1, chained over the TLS hop); prints "allow" or "deny" (or what else happened)
try() {
    local how=$1 u=$2 vm=$3 port=$4 gw out extra=()
    [[ $how == h4 ]] && extra=(--http)
    case $how in
    s4) gw=198.18.0.12:1081 ;;
    s6) gw=[fd00:76::12]:1081 ;;
    h4) gw=198.18.0.12:3128 ;;
    c4) gw=198.18.0.11:1080 ;;
    esac
    out=$(ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw "$gw" "${extra[@]}" \
        --user "$u" --password "${PW[$u]}" --name "$vm.vm.test" --port "$port" --action hello 2>&1) || true
    if grep -qE '^HELLO vm' <<<"$out"; then echo allow
    elif grep -qE '^REP 0x02|^STATUS 403' <<<"$out"; then echo deny
    else echo "other: $(head -c 120 <<<"$out" | tr '\n' ' ')"; fi
}
# the expected verdict and deciding line for USER VM PORT FAMILY
expect() {
    local u=$1 vm=$2 port=$3 fam=$4
    case "$u/$vm/$port" in
    alice/web2/7000 | alice/web2/7001) echo "allow 2" ;;
    bob/db2/7000) echo "allow 3" ;;
    alice/db2/7001) echo "allow 7" ;;
    */build2/7000 | */build2/7001)
        if [[ $fam == 6 ]]; then echo "allow 4"
        elif [[ $u == carol && $port == 7000 ]]; then echo "allow 5"
        else echo "deny 9"; fi ;;
    *) echo "deny 9" ;;
    esac
}
n=0
for how in s4 s6 h4 c4; do
    fam=4
    [[ $how == s6 ]] && fam=6
    for u in alice bob carol; do
        for vm in web2 db2 build2; do
            for port in 7000 7001; do
                want=$(expect "$u" "$vm" "$port" "$fam")
                got=$(try "$how" "$u" "$vm" "$port")
                check_eq "$how $u -> $vm:$port" "${want%% *}" "$got"
                n=$((n + 1))
            done
        done
    done
done
echo "       ($n requests)"

# every verdict's audit line names its rule: one session.start or session.refused per request
A=$T/hv2/audit.log
audited() { (($(grep -cE '"event":"session.(start|refused)"' "$A") >= n)); }
wait_until "the audit writer has written every verdict" 5 audited || true
check_eq "one start-or-refused audit line per request" "$n" \
    "$(grep -cE '"event":"session.(start|refused)"' "$A")"
check_match "a refusal's audit line names the deny rule's line" \
    '"event":"session.refused".*"user":"carol".*"vm":"web2.vm.test".*"rule":"line 9: deny any \* \*"' "$(cat "$A")"
check_match "an allowed session's line names its rule (group=dev)" \
    '"event":"session.start".*"user":"bob".*"vm":"db2.vm.test".*"rule":"line 3: allow group=dev' "$(cat "$A")"
check_match "a chained session: hv2 decided on hv1's identity (via hv1, the client's address)" \
    '"event":"session.start".*"user":"alice","client":"198.18.0.100".*"via":"hv1".*"rule":"line 2' "$(cat "$A")"
check_match "an IPv6 client matched from=fd00:76::/64" \
    '"event":"session.start".*"client":"\[fd00:76::100\]:[0-9]+".*"vm":"build2.vm.test".*"rule":"line 4' "$(cat "$A")"
check_eq "every audit line is one JSON object" 0 \
    "$("$VG_PY" -c 'import json,sys
bad=0
for l in open(sys.argv[1]):
    try: json.loads(l)
    except Exception: bad+=1
print(bad)' "$A")"

# vmgatectl policy test: the same verdicts
check_match "policy test alice web2 7000: allow, line 2" '"verdict":"allow","line":2' \
    "$(ctl --json policy test alice web2.vm.test 7000)"
check_match "policy test carol build2 7000 --from the v6 net: line 4" '"verdict":"allow","line":4' \
    "$(ctl --json policy test carol build2.vm.test 7000 --from fd00:76::100)"
check_match "policy test bob web2 7000: deny, line 9" '"verdict":"deny","line":9' \
    "$(ctl --json policy test bob web2.vm.test 7000)"

# --- vmgate-connect + OpenSSH: bob may ssh to web2, alice may not ------------------------------
vg_sshd sshd "$VG_ID-vm2" 198.18.2.2 web2.vm.test
topo_client_conf "$T/vc.conf"
sshv() { # USER: ssh root@web2 through vmgate-connect as USER; prints what ssh printed, and rc
    local rc=0 out
    out=$(ip netns exec "$NS_C" env VMGATE_PASSWORD="${PW[$1]}" ssh -F /dev/null \
        -o "ProxyCommand $VC -c $T/vc.conf -u $1 %h %p" -o User=root -o BatchMode=yes \
        "${VG_SSH_OPTS[@]}" \
        -o ConnectTimeout=15 web2.vm.test echo SSH-OK 2>&1) || rc=$?
    printf '%s\nrc=%s\n' "$out" "$rc"
}
check_match "vmgate-connect + ssh as bob (line 8 allows web2:22): the command ran" "^SSH-OK$" "$(sshv bob)"
out=$(sshv alice)
check_nomatch "vmgate-connect + ssh as alice: no rule allows web2:22" "^SSH-OK$" "$out"
check_match "... vmgate-connect says why" "not allowed" "$out"

# --- the front: its user is a person hv2 decides on ---------------------------------------------
topo_front_conf "$T/front.conf" "admin-socket = $T/front-admin.sock"
vg_start front "$NS_C" "$VG_GW_BIN" --front -c "$T/front.conf" -f
wait_port "$NS_C" 127.0.0.1 1080 10 front || vg_die "front gateway did not start"
fr() { ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 127.0.0.1:1080 --name "$1" --port "$2" --action hello 2>&1 || true; }
check_match "front -> web2:7000: allowed for its user (line 6)" "^HELLO vm2" "$(fr web2.vm.test 7000)"
check_match "front -> db2:7000: denied for its user" "^REP 0x02" "$(fr db2.vm.test 7000)"

# --- rule options -----------------------------------------------------------------------------
relays_of() { # USER: how many of USER's sessions are relaying
    ctl --json sessions --user "$1" | grep -o '"state":"relay"' | wc -l
}
relays_ge() { (($(relays_of "$1") >= $2)); }
s5h() { # USER VM PORT ACTION WAIT: SOCKS5 to hv2
    ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 198.18.0.12:1081 --user "$1" \
        --password "${PW[$1]}" --name "$2.vm.test" --port "$3" --action "$4" --wait "$5" 2>&1 || true
}
s5h bob db2 7000 hold 8 >"$T/bob1.out" &
holder=$!
wait_until "bob's first session is up" 10 relays_ge bob 1
check_match "max-sessions=1: bob's second concurrent session is refused" "^REP 0x02" \
    "$(s5h bob db2 7000 hello 5)"
check_match "... with the reason in the audit log" '"reason":"policy: max-sessions \(1\) reached' "$(cat "$A")"
ctl kill --user bob >/dev/null
wait "$holder" || true
check_match "after bob's session ended, a new one is allowed" "^HELLO vm4" "$(s5h bob db2 7000 hello 5)"
out=$(ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 198.18.0.12:1081 --user carol \
    --password singer --name build2.vm.test --port 7000 --action idle --wait 10 2>&1) || true
check_match "idle-timeout=2 of carol's rule ends her idle session after ~2 s (not the 3600 s default)" \
    "IDLE_END (EOF|RESET) AFTER (1\.[5-9]|2\.|3\.)" "$out"
out=$(s5h alice db2 7001 hold 10)
check_match "max-duration=2 ends alice's db2 session (held, not idle)" "HOLD_END EOF" "$out"
check_match "... audit: session.end with reason max-duration" '"event":"session.end".*"user":"alice".*"vm":"db2.vm.test".*"reason":"max-duration"' "$(cat "$A")"

# --- reload: a bad file keeps the running policy; --enforce ends what the new one denies --------
cp "$T/hv2/policy" "$T/hv2/policy.good"
printf 'allow user=alice web*.vm.test 7000\nallow bogus=1 * *\n' >"$T/hv2/policy"
out=$(ctl reload 2>&1) || true
check_match "a bad policy file: reload refused with file:line" "policy:2: " "$out"
check_match "... and the running policy still allows alice on web2:7001" "^HELLO vm2" "$(s5h alice web2 7001 hello 5)"
s5h alice web2 7001 hold 15 >"$T/hold1.out" &
h1=$!
s5h alice web2 7000 hold 15 >"$T/hold2.out" &
h2=$!
wait_until "alice's two sessions are up" 10 relays_ge alice 2
printf 'allow user=alice web*.vm.test 7000\ndeny any * *\n' >"$T/hv2/policy"
check_match "reload (no --enforce) keeps running sessions" "^reloaded$" "$(ctl reload 2>&1)"
check_eq "... both of alice's sessions still listed" 2 "$(relays_of alice)"
check_match "... and a new web2:7001 session is denied" "^REP 0x02" "$(s5h alice web2 7001 hello 5)"
out=$(ctl reload --enforce 2>&1) || true
check_match "reload --enforce ends the one session the new policy denies" "1 session" "$out"
wait "$h1" || true
check_match "... the web2:7001 client saw its session end" "HOLD_END EOF" "$(cat "$T/hold1.out")"
check_eq "... the web2:7000 session lives on" 1 "$(relays_of alice)"
check_match "... audit: session.killed by reload --enforce" \
    '"event":"session.killed".*"user":"alice".*"port":7001.*"by":".*reload --enforce' "$(cat "$A")"
ctl kill --user alice >/dev/null
wait "$h2" || true
vg_alive gw-hv2 && pass "hv2's gateway still runs" || fail "hv2's gateway still runs"

vg_finish

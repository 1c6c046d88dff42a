#!/usr/bin/env bash
# Forged and unsigned replies (issue 10, finding 5) against BIND and Knot: vmgate-reg talks to a
# man in the middle (fake_dns.py) in front of the real server.  Unsigned NXRRSET / NXDOMAIN /
# YXDOMAIN / NOERROR, a reply signed with another secret and one with another id are not
# believed: the change is journaled (exit 75, "unsigned/forged reply from …") and the records on
# the real server stay; a replay against the real server then settles it.  TSIG errors
# BADSIG/BADKEY/BADTIME are explicit errors (exit 12/13/14), never "done".  The ownership query is
# TSIG-signed (the fake checks its MAC) and an unsigned answer to it is not believed.
source "$(dirname "${BASH_SOURCE[0]}")/dnslib.sh"
dns_init
FAKE="$(dirname "${BASH_SOURCE[0]}")/fake_dns.py"

# start_fake UPSTREAM-PORT: the man in the middle, our child; sets FP (its port)
start_fake() {
    local dir="$DNS_TMP/fake-$DNS_SCEN" i
    mkdir -p "$dir"
    RULES="$dir/rules"
    FLOG="$dir/requests.log"
    : >"$RULES"
    : >"$FLOG"
    python3 "$FAKE" --upstream "$1" --secret "$(key_secret "$DNS_KEY")" --rules "$RULES" \
        --log "$FLOG" --port-file "$dir/port" 2>"$dir/fake.err" &
    FAKE_PID=$!
    DNS_PIDS+=("$FAKE_PID")
    for ((i = 0; i < 200; i++)); do
        [[ -s "$dir/port" ]] && break
        sleep 0.05
    done
    [[ -s "$dir/port" ]] || { echo "FATAL: fake_dns.py did not start" >&2; cat "$dir/fake.err" >&2; exit 1; }
    FP=$(cat "$dir/port")
}
rules() { printf 'update %s\nquery %s\n' "$1" "${2:-pass}" >"$RULES"; }
journaled() { test -e "$(hostdir hv1)/state/journal/$1.$ZONE"; }
not_journaled() { ! journaled "$1"; }
no_match() { ! grep -q "$1" "$DNS_TMP/last.err"; }
owner_is() { [[ $(dq "$P" "$1.$ZONE" TXT) == "\"vmgate-owner=$2\"" ]]; }
records_there() { # NAME HOST: owner TXT, A and SRV still on the real server
    owner_is "$1" "$2" && [[ -n $(dq "$P" "$1.$ZONE" A) ]] &&
        [[ -n $(dq "$P" "_vmgate._tcp.$1.$ZONE" SRV) ]]
}

scenario() {
    local kind=$1
    DNS_SCEN=$kind
    echo "# --- $kind"
    dns_start "$kind" S
    P=$S_PORT
    start_fake "$P"
    local C CF C2
    C=$(host_config hv1 "127.0.0.1" "$P")
    CF="$(hostdir hv1)/fake.conf" # same host, state and VM table; the server is the fake
    sed "s/^server = .*/server = 127.0.0.1:$FP/" "$C" >"$CF"
    C2=$(host_config hv2 "127.0.0.2" "$P")

    rules pass
    expect_rc "$kind: add through the fake passing everything" 0 "$REG" -c "$CF" add web0 --channel vsock:12
    check "$kind: web0 published on the real server" records_there web0 hv1

    # unsigned / forged replies to a del: not believed, journaled, the records stay
    local r
    for r in unsigned:NXRRSET unsigned:NXDOMAIN unsigned:NOERROR unsigned:YXDOMAIN wrongkey:NXRRSET badid:NXRRSET; do
        expect_rc "$kind: add web1 (real server)" 0 "$REG" -c "$C" add web1 --channel vsock:3
        rules "$r"
        expect_rc "$kind: del answered $r is queued, not done" 75 "$REG" -c "$CF" del web1
        check "$kind: $r: says unsigned/forged reply from the fake" grep -q "unsigned/forged reply from 127.0.0.1:$FP" "$DNS_TMP/last.err"
        check "$kind: $r: not reported already absent" no_match "already absent"
        check "$kind: $r: del journaled for retry" journaled web1
        check "$kind: $r: records still on the real server" records_there web1 hv1
        expect_rc "$kind: $r: replay against the real server" 0 "$REG" -c "$C" replay
        check "$kind: $r: the replay deleted web1" test -z "$(dq "$P" web1.$ZONE TXT)"
        check "$kind: $r: journal settled" not_journaled web1
    done
    case "$(grep -c "^UPDATE vm.test. SOA tsig=valid" "$FLOG")" in
    0) fail "$kind: the fake saw no validly signed UPDATE" ;;
    *) ok "$kind: every UPDATE the fake saw was signed" ;;
    esac
    check "$kind: no unsigned request reached the fake" no_match_file "$FLOG"

    # an add the server applied but whose reply was replaced by an unsigned YXDOMAIN
    rules fwd-unsigned:YXDOMAIN
    expect_rc "$kind: add answered by a forged YXDOMAIN is queued, not in use" 75 "$REG" -c "$CF" add web2 --channel vsock:4
    check "$kind: forged YXDOMAIN: no wrong diagnosis" no_match "in use"
    check "$kind: forged YXDOMAIN: add journaled" journaled web2
    expect_rc "$kind: forged YXDOMAIN: replay settles it" 0 "$REG" -c "$C" replay
    check "$kind: web2 is hv1's" records_there web2 hv1

    # TSIG errors: explicit errors, nothing done, nothing journaled, the records stay
    local e want msg
    for e in 16:12:"key secret mismatch" 17:13:"unknown to the server" 18:14:"clock skew"; do
        want=${e#*:}
        msg=${want#*:}
        want=${want%%:*}
        e=${e%%:*}
        rules "tsigerr:$e"
        expect_rc "$kind: TSIG error $e on del → exit $want" "$want" "$REG" -c "$CF" del web2
        check "$kind: TSIG error $e: says $msg" grep -q "$msg" "$DNS_TMP/last.err"
        check "$kind: TSIG error $e: not done" no_match "already absent"
        check "$kind: TSIG error $e: records still there" records_there web2 hv1
        check "$kind: TSIG error $e: nothing journaled" not_journaled web2
        expect_rc "$kind: TSIG error $e on add → exit $want" "$want" "$REG" -c "$CF" add web2 --channel vsock:4
    done
    expect_rc "$kind: del web2 (real server)" 0 "$REG" -c "$C" del web2

    # the ownership query: signed, and an unsigned answer to it is not believed
    expect_rc "$kind: hv2 adds web3" 0 "$REG" -c "$C2" add web3 --channel vsock:5
    : >"$FLOG"
    rules pass unsigned:NXDOMAIN
    expect_rc "$kind: hv1 del of hv2's web3, owner query forged NXDOMAIN → queued" 75 "$REG" -c "$CF" del web3
    check "$kind: owner query: not reported already absent" no_match "already absent"
    check "$kind: owner query: says unsigned/forged" grep -q "owner unknown: unsigned/forged reply from 127.0.0.1:$FP" "$DNS_TMP/last.err"
    check "$kind: the owner query was TSIG-signed (MAC verified by the fake)" grep -q "^QUERY web3.vm.test. TXT tsig=valid key=reg-key." "$FLOG"
    check "$kind: web3 still hv2's" records_there web3 hv2
    rules pass pass
    expect_rc "$kind: with the true answer the del is refused (NXRRSET)" 11 "$REG" -c "$CF" del web3
    check "$kind: names the owner hv2" grep -q "owned by host hv2" "$DNS_TMP/last.err"
    check "$kind: journal settled" not_journaled web3
    rules pass unsigned:NOERROR
    expect_rc "$kind: add of hv2's web3, owner query forged empty → in use, owner unknown" 10 "$REG" -c "$CF" add web3 --channel vsock:6
    check "$kind: no wrong diagnosis (records not managed by vmgate)" no_match "not managed"
    check "$kind: says the owner answer was not believed" grep -q "owner unknown: unsigned/forged" "$DNS_TMP/last.err"
    check "$kind: web3 still hv2's after the add" records_there web3 hv2
    check "$kind: every request the fake saw was validly signed" no_match_file "$FLOG"

    dns_kill_pid "$FAKE_PID" && _dns_forget "$FAKE_PID"
    dns_stop S
}
no_match_file() { ! grep -v "tsig=valid" "$1" | grep -q .; }

scenario bind
scenario knot
dns_summary

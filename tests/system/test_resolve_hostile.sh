#!/usr/bin/env bash
# What the resolver refuses (docs/clients.md, "What the resolver refuses"), through the real
# programs: a fake DNS server (hostile_dns.py) answers with records an attacker who controls or
# spoofs DNS would send, and a front gateway (vmgate-gw --front, which chains every VM name to the
# owning host's gateway with the forward credential) and vmgate-resolve must not follow them.
#
# One namespace: loopback, and a veth link with 198.18.0.11 and 198.18.0.12 (owning hosts,
# inside [dns] host-networks = 198.18.0.0/24) and 198.18.1.66 (outside it).  "Traps" listen where
# the hostile records point and log every connection they accept, so "refused" is checked as
# "no connection was ever made", beside the SOCKS5 reply code and the logged reason:
#   - a CNAME out of the zone (to a name whose A is 127.0.0.1), a DNAME out of the zone;
#   - an A record on 127.0.0.1 (outside host-networks; without host-networks loopback is refused
#     anyway, and allowed when host-networks lists it);
#   - an SRV whose VM address is outside host-networks, an SRV whose target leaves the zone;
#   - a TTL of a week, capped by cache-ttl-max = 2: vmgate-resolve prints 2, and the front
#     follows a changed answer within the cap.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/tlslib.sh"

VR=$VMGATE_BUILD/resolver/vmgate-resolve
HD=$VG_LIB_DIR/hostile_dns.py
vg_init
[[ -x $VR ]] || vg_die "vmgate-resolve not built in $VMGATE_BUILD/resolver"
T=$VG_TMP
NS=$VG_ID-h
vg_netns_add "$NS"
ip -n "$NS" link add d0 type veth peer name d1 # a link to hold the addresses (no dummy module)
for a in 198.18.0.11/24 198.18.0.12/24 198.18.1.66/24; do ip -n "$NS" addr add "$a" dev d0; done
ip -n "$NS" link set d0 up
ip -n "$NS" link set d1 up

# records: every name of the zone vm.test as an owning host would publish it, and hostile ones
records() { # A-ADDRESS-OF-big
    cat <<EOF
soa-ttl 86400
good.vm.test                 A     30 198.18.0.11
good.vm.test                 TXT   30 vmgate-owner=hv1
_vmgate._tcp.good.vm.test    SRV   30 0 0 1080 hv1.vmgate-hosts.vm.test
# a CNAME out of the zone, to a name on loopback
cname.vm.test                CNAME 30 gw.evil.example
gw.evil.example              A     30 127.0.0.1
_vmgate._tcp.cname.vm.test   SRV   30 0 0 1080 hv1.vmgate-hosts.vm.test
# a chain inside the zone is fine
chain.vm.test                CNAME 30 chain2.vm.test
chain2.vm.test               A     30 198.18.0.11
_vmgate._tcp.chain.vm.test   SRV   30 0 0 1080 hv1.vmgate-hosts.vm.test
# a DNAME out of the zone
sub.vm.test                  DNAME 30 evil.example
web9.evil.example            A     30 198.18.0.11
# the owning host on loopback
lo.vm.test                   A     30 127.0.0.1
lo.vm.test                   TXT   30 vmgate-owner=hv1
_vmgate._tcp.lo.vm.test      SRV   30 0 0 1080 hv1.vmgate-hosts.vm.test
# an SRV to an address outside host-networks
srvnet.vm.test               A     30 198.18.1.66
_vmgate._tcp.srvnet.vm.test  SRV   30 0 0 2222 hv9.vmgate-hosts.vm.test
# an SRV whose target leaves the zone (its port leads to a trap on a good address)
srvzone.vm.test              A     30 198.18.0.11
_vmgate._tcp.srvzone.vm.test SRV   30 0 0 2222 ssh.evil.example
# a week's TTL (and the SOA: a day for the missing AAAA)
big.vm.test                  A     604800 $1
big.vm.test                  TXT   604800 vmgate-owner=hv1
_vmgate._tcp.big.vm.test     SRV   604800 0 0 1080 hv1.vmgate-hosts.vm.test
EOF
}
set_records() { records "$1" >"$T/records.tmp" && mv "$T/records.tmp" "$T/records"; }
set_records 198.18.0.11

vg_start dns "$NS" "$VG_PY" "$HD" dns --records "$T/records" --listen 127.0.0.1:5353
: >"$T/traps"
# the traps are "hosts" of the fleet, with hv1's certificate: only the DNS checks stop the front
tls_fleet "$T/pki" hv1 || vg_die "test PKI"
vg_start traps "$NS" "$VG_PY" "$HD" trap --log "$T/traps" --listen 127.0.0.1:1080 \
    --tls-cert "$T/pki/hv1.crt" --tls-key "$T/pki/hv1.key" \
    --listen 198.18.0.11:1080 --listen 198.18.0.12:1080 --listen 198.18.0.11:2222 --listen 198.18.1.66:2222
wait_port "$NS" 198.18.1.66 2222 10 traps || vg_die "traps did not start"
wait_until "fake DNS" 10 grep -q listening "$T/dns.log" || vg_die "fake DNS did not start: $(cat "$T/dns.log")"

base_conf() { # extra [dns] lines on stdin
    cat <<EOF
[dns]
zone = vm.test
server = 127.0.0.1:5353
timeout = 2
$(cat)

[gateway]
listen = 127.0.0.1:1090
allow-anonymous-from = 127.0.0.1/32
tls-ca = $T/pki/fleet-ca.crt
forward-user = vmgate-forward
forward-password = fwd-secret
connect-timeout = 2
log-level = info
EOF
}
base_conf <<<$'host-networks = 198.18.0.0/24\ncache-ttl-max = 2' >"$T/front.conf"
base_conf <<<"" >"$T/plain.conf"
base_conf <<<"host-networks = 127.0.0.0/8" >"$T/lo.conf"

traps_of() { grep -c -F "CONN $1" "$T/traps" || true; }
s5() { vgt "$NS" socks --gw 127.0.0.1:1090 --name "$1" --port 7000 --action hello 2>&1 || true; }

# --- vmgate-resolve ---------------------------------------------------------------------------
rs() { ip netns exec "$NS" "$VR" -c "$T/$1.conf" "${@:2}"; }
rc=0
out=$(rs front good 2>&1) || rc=$?
check_eq "vmgate-resolve good: found" 0 "$rc"
check_match "vmgate-resolve good: the owning host's address" "^address +198.18.0.11$" "$out"
out=$(rs front chain 2>&1) || true
check_match "vmgate-resolve: a CNAME chain inside the zone is followed" "^address +198.18.0.11$" "$out"
out=$(rs front big 2>&1) || true
check_match "vmgate-resolve: a week's TTL is shown capped at cache-ttl-max 2" "^ttl +2$" "$out"
out=$(rs plain big 2>&1) || true
check_match "vmgate-resolve: default cache-ttl-max is 300" "^ttl +300$" "$out"
rc=0
out=$(rs front cname 2>&1) || rc=$?
check_eq "vmgate-resolve CNAME out of the zone: exit 12 (DNS failure)" 12 "$rc"
check_match "vmgate-resolve CNAME out of the zone: the reason" \
    "cname: DNS answer refused: .*: CNAME cname.vm.test -> gw.evil.example leaves zone vm.test" "$out"
out=$(rs front --json cname 2>/dev/null) || true
check_match "vmgate-resolve --json: status offzone with the detail" \
    '"status":"offzone",.*"detail":"CNAME cname.vm.test -> gw.evil.example leaves zone vm.test"' "$out"
rc=0
out=$(rs front web9.sub.vm.test 2>&1) || rc=$?
check_eq "vmgate-resolve DNAME out of the zone: exit 12" 12 "$rc"
check_match "vmgate-resolve DNAME out of the zone: the reason" "DNAME sub.vm.test -> evil.example leaves zone vm.test" "$out"
rc=0
out=$(rs front lo 2>&1) || rc=$?
check_eq "vmgate-resolve A on 127.0.0.1, host-networks 198.18.0.0/24: exit 12" 12 "$rc"
check_match "vmgate-resolve A on 127.0.0.1: the reason" "address 127.0.0.1 of lo.vm.test is outside \[dns\] host-networks" "$out"
rc=0
out=$(rs plain lo 2>&1) || rc=$?
check_eq "vmgate-resolve A on 127.0.0.1 without host-networks: refused too (exit 12)" 12 "$rc"
check_match "... and told how to allow it" "loopback.*allow it with \[dns\] host-networks" "$out"
rc=0
out=$(rs lo lo 2>&1) || rc=$?
check_eq "vmgate-resolve A on 127.0.0.1 with host-networks = 127.0.0.0/8: found" 0 "$rc"
rc=0
out=$(rs front srvnet 2>&1) || rc=$?
check_eq "vmgate-resolve address outside host-networks: exit 12" 12 "$rc"
check_match "... the reason" "address 198.18.1.66 of srvnet.vm.test is outside" "$out"
rc=0
out=$(rs front srvzone 2>&1) || rc=$?
check_eq "vmgate-resolve SRV target out of the zone: exit 12" 12 "$rc"
check_match "... the reason" "SRV target ssh.evil.example leaves zone vm.test" "$out"

# --- chaining through the front gateway ---------------------------------------------------------
check_cmd "vmgate-gw --front --check-config accepts host-networks and cache-ttl-max" \
    ip netns exec "$NS" "$VG_GW_BIN" --front -c "$T/front.conf" --check-config
vg_start front "$NS" "$VG_GW_BIN" --front -c "$T/front.conf" -f
wait_port "$NS" 127.0.0.1 1090 10 front || vg_die "front gateway did not start"

out=$(s5 good.vm.test)
check_match "front: good VM chained to its owning host (the traps see connections)" "^HELLO 198.18.0.11:1080$" "$out"
check_eq "front: one connection to 198.18.0.11:1080" 1 "$(traps_of 198.18.0.11:1080)"
for n in cname.vm.test web9.sub.vm.test lo.vm.test srvnet.vm.test srvzone.vm.test; do
    out=$(s5 "$n")
    check_match "front: $n -> 0x04" "^REP 0x04" "$out"
done
check_eq "front: nothing ever connected to 127.0.0.1:1080 (CNAME target, loopback A)" 0 "$(traps_of 127.0.0.1:1080)"
check_eq "front: nothing connected to 198.18.1.66:2222 (outside host-networks)" 0 "$(traps_of 198.18.1.66:2222)"
check_eq "front: nothing connected to 198.18.0.11:2222 (SRV target out of the zone)" 0 "$(traps_of 198.18.0.11:2222)"
check_eq "front: no other connection to 198.18.0.11:1080 (the DNAME's target)" 1 "$(traps_of 198.18.0.11:1080)"
log=$(cat "$T/front.log")
check_match "front log: the CNAME refusal and its reason" \
    "DNS cname.vm.test: refused: CNAME cname.vm.test -> gw.evil.example leaves zone vm.test" "$log"
check_match "front log: the DNAME refusal" "refused: DNAME sub.vm.test -> evil.example leaves zone vm.test" "$log"
check_match "front log: the loopback refusal" "DNS lo.vm.test: refused: address 127.0.0.1 of lo.vm.test is outside \[dns\] host-networks" "$log"
check_match "front log: the SRV target refusal" "DNS srvzone.vm.test: refused: SRV target ssh.evil.example leaves zone" "$log"
check_match "front log: the request's refusal names the rule" "DNS answer refused" "$log"
# refusals are not cached as usable: asked again, refused again, still no connection
out=$(s5 lo.vm.test)
check_match "front: lo.vm.test asked again -> 0x04 again" "^REP 0x04" "$out"
check_eq "front: still nothing connected to 127.0.0.1:1080" 0 "$(traps_of 127.0.0.1:1080)"

# the cap: big.vm.test's week-long TTL is held to 2 s; change the answer, the front follows
out=$(s5 big.vm.test)
check_match "front: big.vm.test on 198.18.0.11" "^HELLO 198.18.0.11:1080$" "$out"
set_records 198.18.0.12
t0=$(date +%s%N)
poll_match "front follows big.vm.test to 198.18.0.12 within cache-ttl-max 2 s (+3 s slack)" \
    "^HELLO 198.18.0.12:1080$" 5 s5 big.vm.test
ms=$((($(date +%s%N) - t0) / 1000000))
check_le "followed after (ms)" 5000 "$ms"
vg_alive front && pass "front gateway still running" || fail "front gateway still running"

vg_finish

#!/usr/bin/env bash
# Gateway forwarding (chaining) and front mode, with real BIND, registrars and clients, in the
# topology of test_resolve_connect.sh (dns, hv1, hv2, cl; VMs behind one host each).
#
# The contract under test (docs/gateway.md, "VMs of other hosts"):
#   - a host's gateway chains a name of its zone that is not in its VM table to the owning host's
#     gateway (DNS: A/AAAA, owner TXT, SRV port) over TLS: both present host certificates of the
#     fleet CA (tls-ca, tls-cert, tls-key), then the first states the person's identity (SOCKS5
#     method 0x80: user, client address) and the owner applies its own rules to that person;
#   - a request that arrives over such a hop is never chained again: VM not local → 0x04;
#   - an owner TXT naming the local host while the VM table lacks the VM → 0x04 at once (stale);
#   - `vmgate-gw --front -c FILE` has no VM table and chains every in-zone name over TLS, checking
#     the host's certificate against tls-ca, then authenticating as its user (forward-user /
#     forward-password: the person's own account; a front holds no host certificate).
# Checked with curl (via hv1 to a VM on hv2), proxychains4 + a local front gateway (VMs on both
# hosts), vmgate-connect through the front, deliberately wrong records (a loop is refused quickly
# and nothing spins), a wrong forward password (0x02) and a migration the front follows once the
# TTL has passed.
VG_TOPO_ONLY=1 source "$(dirname "${BASH_SOURCE[0]}")/test_resolve_connect.sh"

"$VG_GW_BIN" --help 2>&1 | grep -- '--front' >/dev/null || {
    echo "FATAL: $VG_GW_BIN has no --front mode (gateway forwarding not built)" >&2
    exit 1
}
vg_require_tools curl proxychains4 nsupdate

TOPO_TLS=1
topo_up
T=$VG_TMP
SECRET=$(sed -n 's/.*secret "\(.*\)";.*/\1/p' "$T/reg-key.conf")
nsu() { # commands on stdin, sent to BIND from the client namespace with the registrars' key
    { echo "server $DNS4 53"; echo "zone $ZONE."; cat; echo send; } |
        ip netns exec "$NS_C" nsupdate -y "hmac-sha256:reg-key:$SECRET"
}

mkdir -p "$T/www"
head -c 2000000 /dev/urandom >"$T/www/blob.bin"
BLOB_SHA=$(sha256sum <"$T/www/blob.bin" | cut -d' ' -f1)
sha_of() { sha256sum <"$1" | cut -d' ' -f1; }
vg_start web1http "$VG_ID-vm1" "$VG_PY" -m http.server --bind 198.18.1.2 --directory "$T/www" 8080
vg_start web2http "$VG_ID-vm2" "$VG_PY" -m http.server --bind 198.18.2.2 --directory "$T/www" 8080
wait_port "$VG_ID-vm1" 198.18.1.2 8080 10 web1http || vg_die "web1 http did not start"
wait_port "$VG_ID-vm2" 198.18.2.2 8080 10 web2http || vg_die "web2 http did not start"

# One client.conf for vmgate-connect and the local front gateway
printf 'wonderland\n' >"$T/alice.pw"
topo_front_conf "$T/client.conf" "log-level = info" "" "[client]" "server = 127.0.0.1:1080"
sed "s/^forward-password = .*/forward-password = not-the-password/; s/127.0.0.1:1080/127.0.0.1:1090/" \
    "$T/client.conf" >"$T/client-badfwd.conf"

# --- a host's gateway chains to the owning host ------------------------------------------------
curl_cl() { ip netns exec "$NS_C" curl -sS --max-time 20 "$@"; }
mark2=$(wc -l <"$T/gw-hv2.log")
rm -f "$T/o"
code=$(curl_cl -x "socks5h://alice:wonderland@198.18.0.11:1080" -o "$T/o" -w '%{http_code}' \
    http://web2.vm.test:8080/blob.bin 2>&1) || true
check_eq "curl via hv1's gateway to web2 on hv2: HTTP 200 + 2 MB intact" "200 $BLOB_SHA" \
    "$code $(sha_of "$T/o" 2>/dev/null || echo none)"
sleep 0.2
check_match "hv2 saw a TLS hop from hv1 for alice, with her client address" \
    "CONNECT web2.vm.test:8080 .* hop from hv1 for user alice client 198.18.0.100" \
    "$(tail -n +"$((mark2 + 1))" "$T/gw-hv2.log")"
out=$(printf 'HELLO\nping\n' | ip netns exec "$NS_C" env VMGATE_PASSWORD=wonderland \
    "$VC" -c "$T/client.conf" -g 198.18.0.11:1080 -u alice web2 7000 2>&1) || true
check_eq "vmgate-connect -g hv1 to web2 (chained, half-close through two gateways)" \
    "HELLO vm2 ping" "$(tr '\n' ' ' <<<"$out" | sed 's/ $//')"
out=$(ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 198.18.0.11:1080 \
    --user alice --password wonderland --name web2.vm.test --port 9 2>&1) || true
check_match "hv1 passes on hv2's 0x05 (port closed in web2)" "^REP 0x05" "$out"
out=$(ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 198.18.0.11:1080 \
    --user alice --password wonderland --name nosuchvm.vm.test --port 22 2>&1) || true
check_match "hv1: a name DNS does not know -> 0x04" "^REP 0x04" "$out"
# a hop is never chained again: hv2 asked directly over TLS with hv1's certificate for web1
hop=(--tls-ca "$T/pki/fleet-ca.crt" --tls-cert "$T/pki/hv1.crt" --tls-key "$T/pki/hv1.key")
out=$(ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 198.18.0.12:1081 "${hop[@]}" \
    --hop-user alice --hop-client 198.18.0.100 --name web1.vm.test --port 7000 2>&1) || true
check_match "a request that came over a hop is not chained again (0x04)" "^REP 0x04" "$out"
out=$(ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 198.18.0.12:1081 "${hop[@]}" \
    --hop-user alice --hop-client 198.18.0.100 --name web2.vm.test --port 7000 --action hello 2>&1) || true
check_match "a hop's identity for web2 on hv2 is served" "^HELLO vm2" "$out"

# --- front mode on the client --------------------------------------------------------------------
check_cmd "vmgate-gw --front --check-config accepts client.conf" \
    ip netns exec "$NS_C" "$VG_GW_BIN" --front -c "$T/client.conf" --check-config
vg_start front "$NS_C" "$VG_GW_BIN" --front -c "$T/client.conf" -f
wait_port "$NS_C" 127.0.0.1 1080 10 front || vg_die "front gateway did not start"
cat >"$T/proxychains.conf" <<EOF
strict_chain
proxy_dns
remote_dns_subnet 224
tcp_read_time_out 15000
tcp_connect_time_out 8000
[ProxyList]
socks5 127.0.0.1 1080
EOF
printf '127.0.0.1 localhost\n::1 localhost\n' >"$T/hosts"
pc() { # proxychains4 in the client namespace with a private /etc/hosts (names go out as ATYP 3)
    ip netns exec "$NS_C" unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/hosts" \
        proxychains4 -q -f "$T/proxychains.conf" "$@"
}
for vm in web1 web2; do
    rm -f "$T/o"
    code=$(pc curl -sS --max-time 20 -o "$T/o" -w '%{http_code}' "http://$vm.vm.test:8080/blob.bin" 2>&1) || true
    check_eq "proxychains4 + front gateway: curl $vm (on ${vm/web/hv})" "200 $BLOB_SHA" \
        "$code $(sha_of "$T/o" 2>/dev/null || echo none)"
done
out=$(printf 'HELLO\n' | ip netns exec "$NS_C" "$VC" -c "$T/client.conf" web1 7000 2>&1) || true
check_eq "vmgate-connect with [client] server = the front gateway: web1" "HELLO vm1" "$out"
out=$(printf 'HELLO\n' | ip netns exec "$NS_C" "$VC" -c "$T/client.conf" web2 7000 2>&1) || true
check_eq "vmgate-connect with [client] server = the front gateway: web2" "HELLO vm2" "$out"
rc=0
out=$(ip netns exec "$NS_C" "$VC" -c "$T/client.conf" nosuchvm 7000 </dev/null 2>&1) || rc=$?
check_eq "front: unknown VM -> vmgate-connect exit 23 (0x04)" 23 "$rc"
rc=0
out=$(ip netns exec "$NS_C" "$VC" -c "$T/client.conf" www.example.org 80 </dev/null 2>&1) || rc=$?
check_eq "front: a name outside the zone is refused before anything is sent (exit 65)" 65 "$rc"
out=$(ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 127.0.0.1:1080 --name www.example.org --port 80 2>&1) || true
check_match "front: a name outside the zone -> 0x02 (never an open proxy)" "^REP 0x02" "$out"

# --- wrong forward password: the owning gateway refuses the forward user ------------------------
vg_start frontbad "$NS_C" "$VG_GW_BIN" --front -c "$T/client-badfwd.conf" -f
wait_port "$NS_C" 127.0.0.1 1090 10 frontbad || vg_die "second front gateway did not start"
out=$(ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 127.0.0.1:1090 --name web2.vm.test --port 7000 2>&1) || true
check_match "front with a wrong forward password -> 0x02" "^REP 0x02" "$out"
check_match "hv2 saw the front over TLS without a host certificate (a user, not a hop)" \
    "authentication failed for user '$FWD_USER'" "$(cat "$T/gw-hv2.log")"
vg_stop frontbad

# --- deliberately wrong records: no loop, no spinning ----------------------------------------------
cpu_of() { awk '{print $14 + $15}' "/proc/$1/stat"; }
conns_hv1() { ip netns exec "$NS_H1" ss -Htn state established '( sport = :1080 or dport = :1080 )' | wc -l; }
# stale: the owner TXT names hv1 itself, hv1's table lacks the VM
nsu <<EOF
update add stale.$ZONE. $TTL A 198.18.0.11
update add stale.$ZONE. $TTL TXT "vmgate-owner=hv1"
update add _vmgate._tcp.stale.$ZONE. $TTL SRV 0 0 1080 hv1.vmgate-hosts.$ZONE.
EOF
# loop: the records send the request to hv1 while naming hv2 as the owner
nsu <<EOF
update add loopy.$ZONE. $TTL A 198.18.0.11
update add loopy.$ZONE. $TTL TXT "vmgate-owner=hv2"
update add _vmgate._tcp.loopy.$ZONE. $TTL SRV 0 0 1080 hv1.vmgate-hosts.$ZONE.
EOF
cpu0=$(cpu_of "${VG_PID[gw-hv1]}")
mark1=$(wc -l <"$T/gw-hv1.log")
for n in stale loopy; do
    t0=$(date +%s%N)
    out=$(ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 198.18.0.11:1080 \
        --user alice --password wonderland --name "$n.$ZONE" --port 7000 2>&1) || true
    ms=$((($(date +%s%N) - t0) / 1000000))
    check_match "$n records via hv1 -> 0x04" "^REP 0x04" "$out"
    check_le "$n records: refused quickly (ms)" 2000 "$ms"
    out=$(ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 127.0.0.1:1080 \
        --name "$n.$ZONE" --port 7000 2>&1) || true
    check_match "$n records via the front -> 0x04" "^REP 0x04" "$out"
done
sleep 1
check_le "hv1 log lines about the loop name (one hop at most, no repetition)" 12 \
    "$(tail -n +"$((mark1 + 1))" "$T/gw-hv1.log" | grep -c 'loopy' || true)"
check_le "hv1 CPU time spent on the bad records (s)" 0.5 \
    "$(awk -v a="$cpu0" -v b="$(cpu_of "${VG_PID[gw-hv1]}")" -v hz="$(getconf CLK_TCK)" 'BEGIN{printf "%.2f", (b-a)/hz}')"
wait_until "hv1 connections gone" 5 test "$(conns_hv1)" -eq 0 &&
    pass "no connection of the loop left open on hv1" ||
    fail "no connection of the loop left open on hv1" "got: $(ip netns exec "$NS_H1" ss -Htn state established | head -n 5 | tr '\n' ';')"
gw_serves_fwd() {
    local out
    out=$(printf 'HELLO\n' | ip netns exec "$NS_C" "$VC" -c "$T/client.conf" web1 7000 2>&1) || true
    check_eq "$1" "HELLO vm1" "$out"
}
gw_serves_fwd "hv1 and the front still serve after the bad records"

# --- migration: the front follows once the TTL has passed ------------------------------------------
reg hv1 add mig --channel tcp:198.18.3.2 >/dev/null 2>&1 || fail "register mig on hv1"
out=$(printf 'HELLO\n' | ip netns exec "$NS_C" "$VC" -c "$T/client.conf" mig 7000 2>&1) || true
check_eq "front: mig on hv1 (vm3)" "HELLO vm3" "$out"
t0=$(date +%s%N)
reg hv2 add mig --channel tcp:198.18.4.2 --takeover >/dev/null 2>&1 || fail "hv2 takes mig over"
reg hv1 del mig >/dev/null 2>&1 || true
poll_match "front follows mig to hv2 (vm4) within TTL + 2 s" "^HELLO vm4$" $((TTL + 2)) \
    sh -c "printf 'HELLO\n' | ip netns exec $NS_C $VC -c $T/client.conf mig 7000"
echo "       (followed after $((($(date +%s%N) - t0) / 1000000)) ms; TTL $TTL s)"
# and hv1's gateway, asked directly, chains mig to hv2 now
out=$(ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 198.18.0.11:1080 --user alice \
    --password wonderland --name mig.vm.test --port 7000 --action hello 2>&1) || true
check_match "hv1 chains the migrated VM to hv2" "^HELLO vm4" "$out"

vg_finish

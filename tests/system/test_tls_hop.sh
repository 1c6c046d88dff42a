#!/usr/bin/env bash
# The authenticated hop between gateways and the TLS front for users (issue 10, finding 2), in
# the topology of test_resolve_connect.sh (real BIND, two host gateways, a client namespace).
#
# The contract under test (docs/gateway.md, "VMs of other hosts" and "listen-https"):
#   - a host's gateway chains over TLS and sends nothing — no identity, no request — before the
#     peer's certificate chains to tls-ca, is in its validity period and names the owning host:
#     fake gateways named by forged DNS records (a certificate of another CA, an expired one of
#     the fleet CA, one of the fleet naming another host, no TLS at all) receive no byte of it;
#   - a gateway accepts the hop method (0x80, the person's identity) only from a peer whose
#     client certificate chains to tls-ca; a certificate of another CA or an expired one ends
#     the handshake; a TLS client without a certificate is an ordinary user;
#   - listen-https is HTTP CONNECT over TLS: curl --proxy https://… --proxy-cacert reaches a VM
#     of this host and, chained, of the other; a wrong password gets 407 inside TLS.
VG_TOPO_ONLY=1 source "$(dirname "${BASH_SOURCE[0]}")/test_resolve_connect.sh"
vg_require_tools curl openssl nc nsupdate

# the fleet: hv2's certificate also names its address (listen-https clients check it)
TOPO_TLS=1
TOPO_TLS_HOSTS="hv1 hv2=198.18.0.12"
TOPO_GW_EXTRA_hv2="listen-https = 198.18.0.12:1443"
topo_up
T=$VG_TMP
P=$T/pki
tls_ca "$P" other-ca || vg_die "other CA"
tls_cert "$P" other-ca other-hv2 hv2 hv2.vmgate-hosts.vm.test || vg_die "other-CA certificate"
tls_cert_expired "$P" fleet-ca expired-hv2 hv2 hv2.vmgate-hosts.vm.test || vg_die "expired certificate"
tls_cert "$P" fleet-ca hv9 hv9 hv9.vmgate-hosts.vm.test || vg_die "hv9 certificate"
wait_port "$NS_H2" 198.18.0.12 1443 10 gw-hv2 || vg_die "hv2's listen-https did not come up"
SECRET=$(sed -n 's/.*secret "\(.*\)";.*/\1/p' "$T/reg-key.conf")
nsu() {
    { echo "server $DNS4 53"; echo "zone $ZONE."; cat; echo send; } |
        ip netns exec "$NS_C" nsupdate -y "hmac-sha256:reg-key:$SECRET"
}

# --- fake gateways named by forged records: nothing leaves hv1 --------------------------------
# each in hv2's namespace on its own port; what each receives (decrypted, for TLS) is kept
vg_start fake-otherca "$NS_H2" sh -c "exec openssl s_server -accept 198.18.0.12:1091 -quiet \
    -cert $P/other-hv2.crt -key $P/other-hv2.key >$T/fake-otherca.got 2>$T/fake-otherca.err"
vg_start fake-expired "$NS_H2" sh -c "exec openssl s_server -accept 198.18.0.12:1092 -quiet \
    -cert $P/expired-hv2.crt -key $P/expired-hv2.key >$T/fake-expired.got 2>$T/fake-expired.err"
vg_start fake-wrongname "$NS_H2" sh -c "exec openssl s_server -accept 198.18.0.12:1094 -quiet \
    -cert $P/hv9.crt -key $P/hv9.key >$T/fake-wrongname.got 2>$T/fake-wrongname.err"
vg_start fake-plain "$NS_H2" sh -c "exec nc -lk -s 198.18.0.12 -p 1093 >$T/fake-plain.got"
declare -A FAKE_PORT=([otherca]=1091 [expired]=1092 [plain]=1093 [wrongname]=1094)
for f in otherca expired plain wrongname; do
    wait_port "$NS_H2" 198.18.0.12 "${FAKE_PORT[$f]}" 10 "fake-$f" || vg_die "fake gateway $f did not start"
done
for f in otherca expired plain wrongname; do
    nsu <<EOF
update add fake-$f.$ZONE. $TTL A 198.18.0.12
update add fake-$f.$ZONE. $TTL TXT "vmgate-owner=hv2"
update add _vmgate._tcp.fake-$f.$ZONE. $TTL SRV 0 0 ${FAKE_PORT[$f]} hv2.vmgate-hosts.$ZONE.
EOF
done
mark1=$(wc -l <"$T/gw-hv1.log")
for f in otherca expired plain wrongname; do
    out=$(ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 198.18.0.11:1080 \
        --user alice --password wonderland --name "fake-$f.$ZONE" --port 7000 2>&1) || true
    check_match "hv1 to a fake gateway ($f): refused, 0x04" "^REP 0x04" "$out"
done
# the fakes got nothing: no identity (method 0x80 greeting, the user), no request
for f in otherca expired wrongname plain; do
    got=$(od -An -tx1 "$T/fake-$f.got" | tr -d ' \n')
    check_nomatch "fake gateway ($f) received no greeting/identity/request byte" \
        "050180|616c696365|66616b65" "$got"
done
check_eq "the TLS fakes received no application data at all" "0 0 0" \
    "$(stat -c %s "$T/fake-otherca.got" "$T/fake-expired.got" "$T/fake-wrongname.got" | tr '\n' ' ' | sed 's/ $//')"
check_match "the plain fake saw only a TLS ClientHello" "^1603" \
    "$(od -An -tx1 -N2 "$T/fake-plain.got" | tr -d ' \n')"
log1=$(tail -n +"$((mark1 + 1))" "$T/gw-hv1.log")
check_match "hv1 logs why: a certificate of another CA" "fake-otherca.*(unable to get local issuer|certificate verify failed).*nothing sent" "$log1"
check_match "hv1 logs why: an expired certificate" "fake-expired.*(expired|certificate verify failed).*nothing sent" "$log1"
check_match "hv1 logs why: a certificate naming another host" "fake-wrongname.*(hostname mismatch|certificate verify failed).*nothing sent" "$log1"
for f in otherca expired wrongname plain; do vg_stop "fake-$f"; done

# --- hv2 accepting: who may state an identity ------------------------------------------------
vt() { ip netns exec "$NS_C" "$VG_PY" "$VG_VGTEST" socks --gw 198.18.0.12:1081 --tls-ca "$P/fleet-ca.crt" "$@" 2>&1 || true; }
out=$(vt --tls-cert "$P/hv1.crt" --tls-key "$P/hv1.key" --hop-user alice \
    --hop-client 198.18.0.100 --name web2.vm.test --port 7000 --action hello)
check_match "hop with hv1's certificate: served" "^HELLO vm2" "$out"
out=$(vt --tls-cert "$P/other-hv2.crt" --tls-key "$P/other-hv2.key" --hop-user alice \
    --hop-client 198.18.0.100 --name web2.vm.test --port 7000)
check_match "hop with a certificate of another CA: the handshake fails" "ERROR|CLOSED|RESET" "$out"
check_nomatch "... and nothing is served" "REP 0x00" "$out"
out=$(vt --tls-cert "$P/expired-hv2.crt" --tls-key "$P/expired-hv2.key" --hop-user alice \
    --hop-client 198.18.0.100 --name web2.vm.test --port 7000)
check_match "hop with an expired certificate: the handshake fails" "ERROR|CLOSED|RESET" "$out"
out=$(vt --hop-user alice --hop-client 198.18.0.100 --name web2.vm.test --port 7000)
check_match "TLS without a certificate may not state an identity (method 0xff)" "^METHOD 05ff" "$out"
out=$(vt --user alice --password wonderland --name web2.vm.test --port 7000 --action hello)
check_match "TLS without a certificate, as a user with her password: served" "^HELLO vm2" "$out"
out=$(vt --tls-cert "$P/hv1.crt" --tls-key "$P/hv1.key" --hop-client 198.18.9.9 \
    --name web2.vm.test --port 7000)
check_match "hop for an anonymous client from an address hv2 does not let in: refused" \
    "^AUTH 0101" "$out"
log2=$(cat "$T/gw-hv2.log")
check_match "hv2 logs the refused client certificate" "TLS: .*(unknown ca|certificate|expired)" "$log2"
check_match "hv2 logs the hop with the person's identity" \
    "hop from hv1 for user alice client 198.18.0.100" "$log2"

# --- listen-https: curl through TLS to the gateway ---------------------------------------------
mkdir -p "$T/www"
head -c 1000000 /dev/urandom >"$T/www/blob.bin"
sha=$(sha256sum <"$T/www/blob.bin" | cut -d' ' -f1)
vg_start web1http "$VG_ID-vm1" "$VG_PY" -m http.server --bind 198.18.1.2 --directory "$T/www" 8080
vg_start web2http "$VG_ID-vm2" "$VG_PY" -m http.server --bind 198.18.2.2 --directory "$T/www" 8080
wait_port "$VG_ID-vm1" 198.18.1.2 8080 10 web1http || vg_die "web1 http did not start"
wait_port "$VG_ID-vm2" 198.18.2.2 8080 10 web2http || vg_die "web2 http did not start"
hc() { ip netns exec "$NS_C" curl -sS --max-time 20 -p --proxy https://198.18.0.12:1443 \
    --proxy-cacert "$P/fleet-ca.crt" "$@"; }
for vm in web2 web1; do
    rm -f "$T/o"
    code=$(hc --proxy-user alice:wonderland -o "$T/o" -w '%{http_code}' \
        "http://$vm.vm.test:8080/blob.bin" 2>&1) || true
    check_eq "curl --proxy https://hv2 to $vm: 200 + 1 MB intact" "200 $sha" \
        "$code $(sha256sum <"$T/o" 2>/dev/null | cut -d' ' -f1)"
done
code=$(hc --proxy-user alice:wrong -o /dev/null -w '%{http_connect}' http://web2.vm.test:8080/ 2>&1) || true
check_match "listen-https: a wrong password gets 407" "407" "$code"
code=$(ip netns exec "$NS_C" curl -sS --max-time 10 -p --proxy https://198.18.0.12:1443 \
    --proxy-cacert "$P/other-ca.crt" --proxy-user alice:wonderland -o /dev/null \
    http://web2.vm.test:8080/ 2>&1) || true
check_match "curl trusting another CA refuses hv2's certificate (no password sent)" \
    "SSL certificate problem|certificate verify failed|unable to get local issuer" "$code"
out=$(printf 'GET / HTTP/1.0\r\n\r\n' | ip netns exec "$NS_C" nc -w 3 198.18.0.12 1443 | head -c 200 | od -An -c | tr -d ' \n') || true
check_nomatch "plain HTTP on listen-https gets no HTTP answer" "HTTP/1" "$out"
vg_alive gw-hv2 && pass "hv2's gateway still runs" || fail "hv2's gateway still runs"

grep -E "nothing sent|TLS: " "$T/gw-hv1.log" "$T/gw-hv2.log" | head -n 8 | sed "s/^/       /"
vg_finish

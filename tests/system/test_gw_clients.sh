#!/usr/bin/env bash
# vmgate-gw with real clients, by name, into services that run in VM namespaces reachable only
# from the host namespace: curl (SOCKS5 hostname, HTTP CONNECT, SOCKS5 user/password),
# proxychains4 (proxy_dns, private /etc/hosts), OpenSSH through `nc -X 5` and `nc -X connect`,
# the IPv6 listener and IPv6 channels, and the vsock-mux channel (Firecracker hybrid vsock,
# simulated by vsock_mux_sim.py inside the VM namespace).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vg_init
vg_require_tools curl proxychains4 nc ssh ssh-keygen /usr/sbin/sshd
vg_net_init
vg_add_vm 1          # tcp channel, IPv4: web server, test server, sshd
vg_add_vm 2          # tcp channel, IPv6
vg_add_vm 3 nolink   # vsock-mux channel only: no network link at all

T=$VG_TMP
GW=$HV4:1080
GWH=$HV4:3128

# --- content and services in the VMs ---------------------------------------------------------
mkdir -p "$T/www"
head -c 3000000 /dev/urandom >"$T/www/blob.bin"
echo "hello from the guest" >"$T/www/hello.txt"
BLOB_SHA=$(sha256sum <"$T/www/blob.bin" | cut -d' ' -f1)
HELLO_SHA=$(sha256sum <"$T/www/hello.txt" | cut -d' ' -f1)

vg_start web1 "$NS_VM1" "$VG_PY" -m http.server --bind "$(vm4 1)" --directory "$T/www" 8080
vg_start web2 "$NS_VM2" "$VG_PY" -m http.server --bind "$(vm6 2)" --directory "$T/www" 8080
vg_start web3 "$NS_VM3" "$VG_PY" -m http.server --bind 127.0.0.1 --directory "$T/www" 8080
vm_serve 1 7000
vm_serve 3 7000
vg_start mux3 "$NS_VM3" "$VG_PY" "$VG_MUXSIM" --path "$T/vm3.vsock"
vg_start mux3c "$NS_VM3" "$VG_PY" "$VG_MUXSIM" --path "$T/vm3c.vsock" --coalesce
vg_start mux3s "$NS_VM3" "$VG_PY" "$VG_MUXSIM" --path "$T/vm3s.vsock" --split-ok
vm_serve 2 7000

# sshd in vm1 with generated keys, all in the temp dir
vg_sshd -o "LogLevel VERBOSE" sshd "$NS_VM1" "$(vm4 1)" web1.vm.test web3.vm.test web3c.vm.test
# the same sshd configuration on the loopback of the vsock-only VM
sed "s/^ListenAddress .*/ListenAddress 127.0.0.1/" "$T/sshd/sshd_config" >"$T/sshd/sshd3_config"
vg_start sshd3 "$NS_VM3" /usr/sbin/sshd -D -e -f "$T/sshd/sshd3_config"

wait_port "$NS_VM1" "$(vm4 1)" 8080 10 web1 || vg_die "web1 did not start"
wait_port "$NS_VM2" "$(vm6 2)" 8080 10 web2 || vg_die "web2 did not start"
wait_port "$NS_VM3" 127.0.0.1 8080 10 web3 || vg_die "web3 did not start"
wait_port "$NS_VM3" 127.0.0.1 22 10 sshd3 || vg_die "sshd in vm3 did not start"
for m in vm3 vm3c vm3s; do wait_unix "$T/$m.vsock" || vg_die "vsock-mux simulator $m did not start"; done

# --- VM table, users, gateway ---------------------------------------------------------------
vm_set web1.vm.test channel="tcp:$(vm4 1)"
vm_set web2.vm.test channel="tcp:[$(vm6 2)]"
vm_set web2b.vm.test channel="tcp:$(vm6 2)"
vm_set web3.vm.test channel="vsock-mux:$T/vm3.vsock"
vm_set web3c.vm.test channel="vsock-mux:$T/vm3c.vsock"
vm_set web3s.vm.test channel="vsock-mux:$T/vm3s.vsock"
vg_users alice:wonderland
gw_conf "$T/gw.conf"
check_cmd "--check-config accepts the test config" "$VG_GW_BIN" -c "$T/gw.conf" --check-config
gw_start gw "$T/gw.conf"

# --- the topology really isolates the VMs ------------------------------------------------------
out=$(cl_vgt raw --to "$(vm4 1):8080" --wait 1 2>&1) || true
check_match "client cannot reach the VM directly (no route)" "ERROR .*(unreachable|Network)" "$out"

curl_cl() { ip netns exec "$NS_CL" curl -sS --max-time 20 "$@"; }
sha_of() { sha256sum <"$1" | cut -d' ' -f1; }

# --- curl --socks5-hostname ------------------------------------------------------------------
rm -f "$T/o"
code=$(curl_cl --socks5-hostname "$GW" -o "$T/o" -w '%{http_code}' http://web1.vm.test:8080/blob.bin 2>&1) || true
check_eq "curl --socks5-hostname: HTTP status" 200 "$code"
check_eq "curl --socks5-hostname: 3 MB body intact" "$BLOB_SHA" "$(sha_of "$T/o" 2>/dev/null || echo none)"

rm -f "$T/o"
code=$(curl_cl -x "socks5h://$GW" -o "$T/o" -w '%{http_code}' http://WEB1.VM.Test.:8080/hello.txt 2>&1) || true
check_eq "curl socks5h:// with an upper-case name and trailing dot" "200 $HELLO_SHA" "$code $(sha_of "$T/o" 2>/dev/null || echo none)"

out=$(curl_cl --socks5-hostname "$GW" -o /dev/null -w '%{http_code}' http://nosuchvm.vm.test:8080/ 2>&1) || true
check_match "curl to an unknown VM fails (reply 0x04 'host unreachable')" "([Hh]ost unreachable|SOCKS5.*(4|unreachable))" "$out"

# --- curl through HTTP CONNECT ---------------------------------------------------------------
rm -f "$T/o"
code=$(curl_cl -p -x "http://$GWH" -o "$T/o" -w '%{http_code}' http://web1.vm.test:8080/blob.bin 2>&1) || true
check_eq "curl -p -x http:// (CONNECT): HTTP status" 200 "$code"
check_eq "curl -p -x http:// (CONNECT): body intact" "$BLOB_SHA" "$(sha_of "$T/o" 2>/dev/null || echo none)"
out=$(curl_cl -p -x "http://$GWH" -o /dev/null -w '%{http_code}' http://nosuchvm.vm.test:8080/ 2>&1) || true
check_match "curl CONNECT to an unknown VM: 404" "CONNECT.*404|response 404" "$out"

# --- authentication (client address 198.18.0.3 is not in allow-anonymous-from) ---------------
rm -f "$T/o"
code=$(curl_cl --interface "$CL4_AUTH" -x "socks5h://alice:wonderland@$GW" -o "$T/o" -w '%{http_code}' \
    http://web1.vm.test:8080/hello.txt 2>&1) || true
check_eq "curl socks5h with user:password" "200 $HELLO_SHA" "$code $(sha_of "$T/o" 2>/dev/null || echo none)"
rc=0
out=$(curl_cl --interface "$CL4_AUTH" -x "socks5h://alice:wrong@$GW" -o /dev/null http://web1.vm.test:8080/hello.txt 2>&1) || rc=$?
check_match "curl socks5h with a wrong password is refused" "(fail|[Aa]uth|SOCKS)" "rc=$rc $out"
((rc != 0)) && pass "curl socks5h wrong password: curl exits non-zero" || fail "curl socks5h wrong password: curl exits non-zero" "got rc=0"
rc=0
out=$(curl_cl --interface "$CL4_AUTH" --socks5-hostname "$GW" -o /dev/null http://web1.vm.test:8080/hello.txt 2>&1) || rc=$?
((rc != 0)) && pass "curl without credentials from a non-anonymous address is refused" ||
    fail "curl without credentials from a non-anonymous address is refused" "got rc=0: $out"
rm -f "$T/o"
code=$(curl_cl --interface "$CL4_AUTH" -p -x "http://alice:wonderland@$GWH" -o "$T/o" -w '%{http_code}' \
    http://web1.vm.test:8080/hello.txt 2>&1) || true
check_eq "curl CONNECT with Basic proxy auth" "200 $HELLO_SHA" "$code $(sha_of "$T/o" 2>/dev/null || echo none)"
out=$(curl_cl --interface "$CL4_AUTH" -p -x "http://$GWH" -o /dev/null http://web1.vm.test:8080/hello.txt 2>&1) || true
check_match "curl CONNECT without credentials from a non-anonymous address: 407" "407" "$out"

# --- proxychains4 with proxy_dns, private /etc/hosts -------------------------------------------
cat >"$T/proxychains.conf" <<EOF
strict_chain
proxy_dns
remote_dns_subnet 224
tcp_read_time_out 15000
tcp_connect_time_out 8000
[ProxyList]
socks5 $HV4 1080
EOF
printf '127.0.0.1 localhost\n::1 localhost\n' >"$T/hosts"
mark=$(wc -l <"$T/gw.log")
rm -f "$T/o"
out=$(ip netns exec "$NS_CL" unshare -m sh -c 'mount --bind "$0" /etc/hosts && exec "$@"' "$T/hosts" \
    proxychains4 -q -f "$T/proxychains.conf" curl -sS --max-time 20 -o "$T/o" -w '%{http_code}' \
    http://web1.vm.test:8080/blob.bin 2>&1) || true
check_eq "proxychains4 + curl: HTTP status" 200 "$out"
check_eq "proxychains4 + curl: body intact" "$BLOB_SHA" "$(sha_of "$T/o" 2>/dev/null || echo none)"
sleep 0.2 # the gateway's log line is written by another process; give it a moment to land
check_match "proxychains4 sent the name (ATYP 3): the gateway log names web1.vm.test" \
    "web1\.vm\.test" "$(tail -n +"$((mark + 1))" "$T/gw.log")"

# --- OpenSSH through nc -X 5 (SOCKS5) and nc -X connect (HTTP CONNECT) -------------------------
ssh_cl() { # PROXYCOMMAND remote-command...   (host: $SSH_HOST, default web1.vm.test)
    local pc=$1
    shift
    ip netns exec "$NS_CL" timeout 30 ssh -F /dev/null "${VG_SSH_OPTS[@]}" -o BatchMode=yes \
        -o ConnectTimeout=15 -o ProxyCommand="$pc" "root@${SSH_HOST:-web1.vm.test}" "$@"
}
out=$(ssh_cl "nc -X 5 -x $GW %h %p" 'echo vmgate-$((6*7)); hostname -I' 2>&1) || true
check_match "ssh via nc -X 5: remote command ran" "^vmgate-42$" "$out"
check_match "ssh via nc -X 5: it ran in the VM namespace" "$(vm4 1)" "$out"
out=$(ssh_cl "nc -X 5 -x $GW %h %p" sha256sum <"$T/www/blob.bin" 2>&1) || true
check_match "ssh via nc -X 5: 3 MB piped to the VM arrive intact" "^$BLOB_SHA " "$out"
out=$(ssh_cl "nc -X connect -x $GWH %h %p" 'echo over-http-$((2+3))' 2>&1) || true
check_match "ssh via nc -X connect (HTTP CONNECT)" "^over-http-5$" "$out"

# --- IPv6: listener and channels ---------------------------------------------------------------
rm -f "$T/o"
code=$(curl_cl --socks5-hostname "[$HV6]:1080" -o "$T/o" -w '%{http_code}' http://web1.vm.test:8080/hello.txt 2>&1) || true
check_eq "IPv6 listener [$HV6]:1080 (curl)" "200 $HELLO_SHA" "$code $(sha_of "$T/o" 2>/dev/null || echo none)"
out=$(cl_vgt socks --gw "[$HV6]:1080" --name web1.vm.test --port 7000 --action hello 2>&1) || true
check_match "IPv6 listener: SOCKS5 tunnel works (vgtest)" "^HELLO vm1" "$out"
for n in web2 web2b; do
    rm -f "$T/o"
    code=$(curl_cl --socks5-hostname "$GW" -o "$T/o" -w '%{http_code}' "http://$n.vm.test:8080/blob.bin" 2>&1) || true
    check_eq "IPv6 channel ($(cat "$T/vms/$n.vm.test")): curl" "200 $BLOB_SHA" "$code $(sha_of "$T/o" 2>/dev/null || echo none)"
done

# --- honest BND.ADDR: the gateway's outgoing address and port, as the VM saw them -------------
out=$(cl_vgt socks --gw "$GW" --name web1.vm.test --port 7000 --action peer 2>&1) || true
bnd=$(field REP "$out")
bnd_addr=$(awk '$1=="REP"{print $4}' <<<"$out")
peer=$(awk '$1=="PEER"{print $2":"$3}' <<<"$out")
check_eq "SOCKS5 success reply 0x00" 0x00 "$bnd"
check_eq "BND.ADDR:BND.PORT is the gateway's outgoing endpoint the VM saw" "$peer" "$bnd_addr"
check_match "BND.ADDR is the host's address on the VM link" "^$(hv4_vm 1):[1-9]" "$bnd_addr"
out=$(cl_vgt socks --gw "$GW" --name web2.vm.test --port 7000 --action peer 2>&1) || true
bnd_addr=$(awk '$1=="REP"{print $4}' <<<"$out")
peer=$(awk '$1=="PEER"{print "["$2"]:"$3}' <<<"$out")
check_eq "IPv6 channel: BND is the gateway's IPv6 endpoint the VM saw" "$peer" "$bnd_addr"
check_match "IPv6 channel: BND.ADDR is fd00:76:2::1" "^\[fd00:76:2::1\]:[1-9]" "$bnd_addr"

# --- vsock-mux channel ----------------------------------------------------------------------
rm -f "$T/o"
code=$(curl_cl --socks5-hostname "$GW" -o "$T/o" -w '%{http_code}' http://web3.vm.test:8080/blob.bin 2>&1) || true
check_eq "vsock-mux: curl --socks5-hostname" "200 $BLOB_SHA" "$code $(sha_of "$T/o" 2>/dev/null || echo none)"
rm -f "$T/o"
code=$(curl_cl -p -x "http://$GWH" -o "$T/o" -w '%{http_code}' http://web3.vm.test:8080/hello.txt 2>&1) || true
check_eq "vsock-mux: curl CONNECT" "200 $HELLO_SHA" "$code $(sha_of "$T/o" 2>/dev/null || echo none)"
out=$(cl_vgt socks --gw "$GW" --name web3.vm.test --port 7000 --action hello 2>&1) || true
check_match "vsock-mux: tunnel reaches the guest's 127.0.0.1:7000" "^HELLO vm3" "$out"
check_match "vsock-mux: BND is 0.0.0.0:0 (a unix channel has no IP address)" "^REP 0x00 BND 0\.0\.0\.0:0$" "$out"
check_match "vsock-mux: simulator saw CONNECT 7000" "CONNECT 7000 -> OK" "$(cat "$T/mux3.log")"
out=$(cl_vgt socks --gw "$GW" --name web3.vm.test --port 9 2>&1) || true
check_match "vsock-mux: closed guest port -> 0x05" "^REP 0x05" "$out"
out=$(cl_vgt http --gw "$GWH" --target web3.vm.test:9 2>&1) || true
check_match "vsock-mux: closed guest port over CONNECT -> 502" "^STATUS 502" "$out"
out=$(cl_vgt bulk --gw "$GW" --name web3.vm.test --port 7000 --up 3000000 --after-eof --down 3000000 --tag mux 2>&1) || true
check_match "vsock-mux: client half-close, then the full reply arrives" "^BULK OK" "$out"
out=$(cl_vgt socks --gw "$GW" --name web3.vm.test --port 7000 --action hello --chunk 1 --delay 0.01 2>&1) || true
check_match "vsock-mux: byte-by-byte handshake" "^HELLO vm3" "$out"

out=$(SSH_HOST=web3.vm.test ssh_cl "nc -X 5 -x $GW %h %p" 'echo mux-$((6*7))' 2>&1) || true
check_match "vsock-mux: ssh via nc -X 5 to sshd on the guest's loopback" "^mux-42$" "$out"
out=$(SSH_HOST=web3c.vm.test ssh_cl "nc -X 5 -x $GW %h %p" 'echo coalesced-$((6*7))' 2>&1) || true
check_match "vsock-mux: guest banner in the same write as OK (ssh)" "^coalesced-42$" "$out"
check_match "vsock-mux: (the simulator really coalesced the banner)" "coalesced [1-9][0-9]* guest bytes" "$(cat "$T/mux3c.log")"
rm -f "$T/o"
code=$(curl_cl --socks5-hostname "$GW" -o "$T/o" -w '%{http_code}' http://web3s.vm.test:8080/blob.bin 2>&1) || true
check_eq "vsock-mux: OK line split over three writes (curl)" "200 $BLOB_SHA" "$code $(sha_of "$T/o" 2>/dev/null || echo none)"
out=$(cl_vgt socks --gw "$GW" --name web3s.vm.test --port 9 2>&1) || true
check_match "vsock-mux (split OK): closed guest port -> 0x05" "^REP 0x05" "$out"

gw_alive_and_serving gw "after the client tests"
vg_finish

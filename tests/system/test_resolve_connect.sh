#!/usr/bin/env bash
# vmgate-resolve and vmgate-connect against real BIND, real registrars and real gateways, one
# network namespace per machine:
#
#   dns     br0 198.18.0.53, fd00:76::53     BIND, the zone vm.test (TSIG updates from the registrars)
#   hv1     lan0 198.18.0.11, fd00:76::11    vmgate-gw (IPv4 listener only, port 1080) + vmgate-reg
#   hv2     lan0 198.18.0.12, fd00:76::12    vmgate-gw (IPv4 + IPv6, port 1081: the SRV says so) + vmgate-reg
#   cl      lan0 198.18.0.100, fd00:76::100  the client: routes only to the LAN, none to the VMs
#   vm1 (web1), vm3 (mig, first home)  behind hv1 only;  vm2 (web2), vm4 (mig, new home)  behind hv2 only
#
# Through real clients: ssh with ProxyCommand vmgate-connect (and --fdpass + ProxyUseFdpass) to a
# VM on hv2; vmgate-resolve checked against dig; unknown VM, stopped gateway, wrong password,
# missing credentials, closed port, stale DNS → the documented messages and exit codes; a VM
# migrating hv1 → hv2 (vmgate-reg add --takeover) followed by new clients within the TTL.
#
# test_forwarding.sh reuses the topology: sourced with VG_TOPO_ONLY=1 this file only defines
# the functions below.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$(dirname "${BASH_SOURCE[0]}")/tlslib.sh"

VC=$VMGATE_BUILD/resolver/vmgate-connect
VR=$VMGATE_BUILD/resolver/vmgate-resolve
REG=$VMGATE_BUILD/registrar/vmgate-reg
ZONE=vm.test
TTL=5
DNS4=198.18.0.53
DNS6=fd00:76::53
NS_DNS=$VG_ID-dns
NS_H1=$VG_ID-hv1
NS_H2=$VG_ID-hv2
NS_C=$VG_ID-cl
declare -A HOST_N=([hv1]=11 [hv2]=12 [cl]=100)
declare -A HOST_NS=([hv1]=$NS_H1 [hv2]=$NS_H2 [cl]=$NS_C)
declare -A GW_PORT=([hv1]=1080 [hv2]=1081)
FWD_USER=vmgate-forward
FWD_PASS=fwd-$$-secret

topo_require() {
    vg_init
    vg_require_tools named tsig-keygen dig ssh ssh-keygen /usr/sbin/sshd
    [[ -x $VC && -x $VR ]] || vg_die "resolver programs not built in $VMGATE_BUILD/resolver"
    [[ -x $REG ]] || vg_die "vmgate-reg not built"
}

# The LAN: a bridge in the dns namespace; every other machine has one veth on it.
topo_net() {
    local h ns n
    vg_netns_add "$NS_DNS"
    ip -n "$NS_DNS" link add br0 type bridge
    ip -n "$NS_DNS" addr add "$DNS4/24" dev br0
    ip -n "$NS_DNS" addr add "$DNS6/64" dev br0 nodad
    ip -n "$NS_DNS" link set br0 up
    for h in hv1 hv2 cl; do
        ns=${HOST_NS[$h]}
        n=${HOST_N[$h]}
        vg_netns_add "$ns"
        ip -n "$NS_DNS" link add "v-$h" type veth peer name lan0 netns "$ns"
        ip -n "$NS_DNS" link set "v-$h" master br0 up
        ip -n "$ns" addr add "198.18.0.$n/24" dev lan0
        ip -n "$ns" addr add "fd00:76::$n/64" dev lan0 nodad
        ip -n "$ns" link set lan0 up
        ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
    done
}

# topo_vm IDX HOST: a VM namespace reachable only from HOST (198.18.IDX.2, fd00:76:IDX::2)
topo_vm() {
    local i=$1 hns=${HOST_NS[$2]} ns=$VG_ID-vm$1
    vg_netns_add "$ns"
    ip -n "$hns" link add "vm$i" type veth peer name eth0 netns "$ns"
    ip -n "$hns" addr add "198.18.$i.1/24" dev "vm$i"
    ip -n "$hns" addr add "fd00:76:$i::1/64" dev "vm$i" nodad
    ip -n "$ns" addr add "198.18.$i.2/24" dev eth0
    ip -n "$ns" addr add "fd00:76:$i::2/64" dev eth0 nodad
    ip -n "$hns" link set "vm$i" up
    ip -n "$ns" link set eth0 up
}

topo_dns() {
    local d=$VG_TMP/dns
    mkdir -p "$d"
    tsig-keygen -a hmac-sha256 reg-key >"$VG_TMP/reg-key.conf"
    cat >"$d/$ZONE.zone" <<EOF
\$ORIGIN $ZONE.
\$TTL 300
@   SOA ns.$ZONE. hostmaster.$ZONE. 1 3600 600 86400 $TTL
@   NS  ns.$ZONE.
ns  A   $DNS4
EOF
    cat >"$d/named.conf" <<EOF
include "$VG_TMP/reg-key.conf";
options {
    directory "$d"; pid-file "$d/named.pid"; session-keyfile "$d/session.key";
    listen-on port 53 { $DNS4; }; listen-on-v6 port 53 { $DNS6; };
    recursion no; dnssec-validation no; notify no;
};
controls { };
logging { channel f { file "$d/named.log"; severity info; }; category default { f; }; };
zone "$ZONE." {
    type primary; file "$d/$ZONE.zone"; journal "$d/$ZONE.zone.jnl";
    update-policy { grant reg-key zonesub ANY; };
    allow-transfer { key reg-key; };
};
EOF
    vg_start named "$NS_DNS" named -f -c "$d/named.conf"
    wait_until "BIND answering" 10 dns_up || vg_die "named did not come up: $(tail -n 20 "$VG_TMP/named.log" "$d/named.log" 2>/dev/null)"
}
dns_up() { ip netns exec "$NS_C" dig @"$DNS4" +time=1 +tries=1 +norec +short "$ZONE." SOA | grep -q hostmaster; }

# dq NAME TYPE: dig +short from the client namespace, sorted
dq() { ip netns exec "$NS_C" dig @"$DNS4" +norec +short +time=2 +tries=1 "$1" "$2" 2>/dev/null | sort; }

# topo_host HOST LISTEN: users file, config, VM table; the gateway is started by topo_gw
topo_host() {
    local h=$1 listen=$2 n=${HOST_N[$1]} d=$VG_TMP/$1
    mkdir -p "$d/vms" "$d/state"
    {
        vg_user_line alice wonderland
        vg_user_line "$FWD_USER" "$FWD_PASS"
    } >"$d/users"
    cat >"$d/vmgate.conf" <<EOF
[dns]
zone = $ZONE
server = $DNS4:53
tsig-key-file = $VG_TMP/reg-key.conf
ttl = $TTL
timeout = 2

[host]
name = $h
address = 198.18.0.$n, fd00:76::$n

[gateway]
listen = $listen
vm-dir = $d/vms
users-file = $d/users
allow-anonymous-from = ${TOPO_ANON:-127.0.0.1/32}
admin-socket = $d/admin.sock
connect-timeout = 3
log-level = info
${TOPO_TLS:+$(tls_gw_conf "$VG_TMP/pki" "$h")}
${TOPO_GW_EXTRA:-}
$(v=TOPO_GW_EXTRA_$h; printf '%s' "${!v:-}")

[registrar]
state-dir = $d/state
gc-interval = 0
EOF
}

topo_gw() { # HOST
    local h=$1 ns=${HOST_NS[$1]} l addr port
    vg_start "gw-$h" "$ns" "$VG_GW_BIN" -c "$VG_TMP/$h/vmgate.conf" -f
    for l in $(awk -F= '/^listen *=/{print $2}' "$VG_TMP/$h/vmgate.conf" | tr ',' ' '); do
        port=${l##*:}
        addr=${l%:*}
        addr=${addr#[}
        addr=${addr%]}
        wait_port "$ns" "$addr" "$port" 10 "gw-$h" || vg_die "gateway of $h did not come up"
    done
}

reg() { # HOST args...
    local h=$1
    shift
    ip netns exec "${HOST_NS[$h]}" "$REG" -c "$VG_TMP/$h/vmgate.conf" --direct "$@"
}

# in the client namespace
cl() { ip netns exec "$NS_C" "$@"; }

topo_client_conf() { # FILE [extra [client] lines...]
    local f=$1 l
    shift
    {
        printf '[dns]\nzone = %s\nserver = %s:53, [%s]:53\ntimeout = 2\n\n[client]\n' "$ZONE" "$DNS4" "$DNS6"
        for l in "$@"; do echo "$l"; done
    } >"$f"
}

topo_front_conf() { # FILE [extra lines...]: a front gateway (TOPO_TLS, FWD_USER/FWD_PASS) on 127.0.0.1:1080
    local f=$1 l
    shift
    {
        printf '[dns]\nzone = %s\nserver = %s:53\ntimeout = 2\n\n' "$ZONE" "$DNS4"
        printf '%s\n' "[gateway]" "listen = 127.0.0.1:1080" "allow-anonymous-from = 127.0.0.1/32" \
            "tls-ca = $VG_TMP/pki/fleet-ca.crt" "forward-user = $FWD_USER" \
            "forward-password = $FWD_PASS" "connect-timeout = 3"
        for l in "$@"; do echo "$l"; done
    } >"$f"
}

topo_up() { # the whole topology with registrars' records for web1 (hv1) and web2 (hv2)
    topo_require
    # TOPO_TLS=1: host certificates of one fleet CA (tests/system/tlslib.sh): TLS hops, chaining
    # (TOPO_TLS_HOSTS: host[=IP] list, for certificates that also name an address)
    [[ -z ${TOPO_TLS:-} ]] || tls_fleet "$VG_TMP/pki" ${TOPO_TLS_HOSTS:-hv1 hv2} || vg_die "test PKI"
    topo_net
    topo_vm 1 hv1
    topo_vm 2 hv2
    topo_vm 3 hv1
    topo_vm 4 hv2
    topo_dns
    topo_host hv1 "198.18.0.11:1080"
    topo_host hv2 "198.18.0.12:1081, [fd00:76::12]:1081"
    topo_gw hv1
    topo_gw hv2
    vm_serve 1 7000
    vm_serve 2 7000
    vm_serve 3 7000
    vm_serve 4 7000
    reg hv1 add web1 --channel "tcp:198.18.1.2" >"$VG_TMP/reg.log" 2>&1 || vg_die "register web1: $(cat "$VG_TMP/reg.log")"
    reg hv2 add web2 --channel "tcp:198.18.2.2" >>"$VG_TMP/reg.log" 2>&1 || vg_die "register web2: $(cat "$VG_TMP/reg.log")"
}

[[ -n ${VG_TOPO_ONLY:-} ]] && return 0

# =============================================================================================
topo_up
T=$VG_TMP
printf 'wonderland\n' >"$T/alice.pw"
topo_client_conf "$T/client.conf" "user = alice" "password-file = $T/alice.pw"
topo_client_conf "$T/anon.conf"

# --- services: web server + sshd in vm2 (behind hv2), web server in vm1 ----------------------
mkdir -p "$T/www"
head -c 2000000 /dev/urandom >"$T/www/blob.bin"
BLOB_SHA=$(sha256sum <"$T/www/blob.bin" | cut -d' ' -f1)
vg_start web2http "$VG_ID-vm2" "$VG_PY" -m http.server --bind 198.18.2.2 --directory "$T/www" 8080
vg_sshd sshd "$VG_ID-vm2" 198.18.2.2 web2.vm.test
wait_port "$VG_ID-vm2" 198.18.2.2 8080 10 web2http || vg_die "web server did not start"

# the client's ssh_config, as docs/clients.md shows it
cat >"$T/sshd/config" <<EOF
Host *.vm.test
    User root
    ProxyCommand $VC -c $T/client.conf %h %p
    CheckHostIP no
    IdentityFile $T/sshd/client_key
    IdentitiesOnly yes
    UserKnownHostsFile $T/sshd/known_hosts
    StrictHostKeyChecking yes
    BatchMode yes
    ConnectTimeout 15
EOF

# --- the topology isolates the VMs -----------------------------------------------------------
rc=0
out=$(cl timeout 5 "$VG_PY" "$VG_VGTEST" raw --to 198.18.2.2:22 --wait 1 2>&1) || rc=$?
check_match "client cannot reach a VM directly (no route)" "ERROR .*(unreachable|Network)" "$out"

# --- vmgate-resolve against dig ---------------------------------------------------------------
out=$(cl "$VR" -c "$T/anon.conf" web2 2>&1) || true
check_eq "vmgate-resolve web2: addresses = dig A + AAAA" \
    "$( (dq web2.$ZONE A; dq web2.$ZONE AAAA) | sort | tr '\n' ' ')" \
    "$(awk '$1=="address"{print $2}' <<<"$out" | sort | tr '\n' ' ')"
check_eq "vmgate-resolve web2: owner = dig TXT" \
    "$(dq web2.$ZONE TXT | sed 's/"vmgate-owner=\(.*\)"/\1/')" "$(awk '$1=="owner"{print $2}' <<<"$out")"
check_eq "vmgate-resolve web2: port and gateway = dig SRV" \
    "$(dq _vmgate._tcp.web2.$ZONE SRV | awk '{print $3, $4}')" \
    "$(awk '$1=="port"{p=$2} $1=="gateway"{g=$2} END{print p, g"."}' <<<"$out")"
check_eq "vmgate-resolve web2: TTL is the zone's" "$TTL" "$(awk '$1=="ttl"{print $2}' <<<"$out")"
check_match "vmgate-resolve web2: IPv6 first" "^address +fd00:76::12$" "$(grep -m1 '^address' <<<"$out")"
out=$(cl "$VR" -c "$T/anon.conf" --json web1.VM.test. 2>&1) || true
check_match "vmgate-resolve --json web1" \
    '^\{"query":"web1.VM.test.","status":"ok","name":"web1.vm.test","owner":"hv1","gateway":"hv1.vmgate-hosts.vm.test","port":1080,"addresses":\["fd00:76::11","198.18.0.11"\],"ttl":5\}$' "$out"
out=$(cl "$VR" -c "$T/anon.conf" --server "[$DNS6]:53" web1 2>&1) || true
check_match "vmgate-resolve --server over IPv6" "^owner +hv1$" "$out"
rc=0
out=$(cl "$VR" -c "$T/anon.conf" nosuchvm 2>&1) || rc=$?
check_eq "vmgate-resolve unknown VM: exit 10" 10 "$rc"
check_match "vmgate-resolve unknown VM: message" "nosuchvm: no such VM" "$out"
rc=0
out=$(cl "$VR" -c "$T/anon.conf" --json nosuchvm 2>/dev/null) || rc=$?
check_match "vmgate-resolve --json unknown VM" '"status":"nxdomain"' "$out"
rc=0
out=$(cl "$VR" -c "$T/anon.conf" 'bad_name' 2>&1) || rc=$?
check_eq "vmgate-resolve bad name: exit 65" 65 "$rc"
rc=0
out=$(cl "$VR" -c "$T/anon.conf" web1.example.org 2>&1) || rc=$?
check_eq "vmgate-resolve name outside the zone: exit 65" 65 "$rc"
rc=0
out=$(cl "$VR" -c "$T/nonexistent.conf" web1 2>&1) || rc=$?
check_eq "vmgate-resolve missing config: exit 78" 78 "$rc"
rc=0
out=$(cl "$VR" -c "$T/anon.conf" 2>&1) || rc=$?
check_eq "vmgate-resolve without NAME: exit 64" 64 "$rc"

# --- ssh through vmgate-connect (ProxyCommand) to the VM on hv2 -------------------------------
mark=$(wc -l <"$T/gw-hv2.log")
out=$(cl timeout 30 ssh -F "$T/sshd/config" web2.vm.test 'echo vmgate-$((6*7)); hostname -I' 2>&1) || true
check_match "ssh ProxyCommand vmgate-connect: remote command ran" "^vmgate-42$" "$out"
check_match "ssh ProxyCommand vmgate-connect: in the VM namespace" "198\.18\.2\.2" "$out"
sleep 0.2
check_match "the connection went through hv2's gateway by name, authenticated" \
    "web2\.vm\.test:22" "$(tail -n +"$((mark + 1))" "$T/gw-hv2.log")"
out=$(cl timeout 30 ssh -F "$T/sshd/config" web2.vm.test sha256sum <"$T/www/blob.bin" 2>&1) || true
check_match "ssh ProxyCommand: 2 MB piped to the VM arrive intact" "^$BLOB_SHA " "$out"
out=$(cl timeout 30 ssh -F "$T/sshd/config" web2.vm.test cat "$T/www/blob.bin" 2>/dev/null | sha256sum | cut -d' ' -f1) || true
check_eq "ssh ProxyCommand: 2 MB from the VM arrive intact" "$BLOB_SHA" "$out"
out=$(cl timeout 30 ssh -F "$T/sshd/config" -o ProxyUseFdpass=yes \
    -o ProxyCommand="$VC --fdpass -c $T/client.conf %h %p" web2.vm.test 'echo fdpass-$((6*7))' 2>&1) || true
check_match "ssh ProxyUseFdpass=yes + vmgate-connect --fdpass" "^fdpass-42$" "$out"
out=$(cl timeout 30 ssh -F "$T/sshd/config" -o ProxyUseFdpass=yes \
    -o ProxyCommand="$VC --fdpass -c $T/client.conf %h %p" web2.vm.test sha256sum <"$T/www/blob.bin" 2>&1) || true
check_match "ssh --fdpass: 2 MB intact" "^$BLOB_SHA " "$out"
# credentials from the environment instead of the file
out=$(cl env VMGATE_USER=alice VMGATE_PASSWORD=wonderland timeout 30 ssh -F "$T/sshd/config" \
    -o ProxyCommand="$VC -c $T/anon.conf %h %p" web2.vm.test 'echo env-creds' 2>&1) || true
check_match "ssh with VMGATE_USER / VMGATE_PASSWORD" "^env-creds$" "$out"

# --- plain relays: exact half-close, SRV port, address fallback ----------------------------
out=$(printf 'HELLO\nping\n' | cl "$VC" -c "$T/client.conf" -v web2 7000 2>"$T/vc.err") || true
check_eq "vmgate-connect web2 7000: HELLO + echo until our EOF, then the VM's EOF" \
    "HELLO vm2 ping" "$(tr '\n' ' ' <<<"$out" | sed 's/ $//')"
check_match "-v: the SRV port 1081 and the owner" "owner hv2, gateway hv2\.vmgate-hosts\.vm\.test port 1081" "$(cat "$T/vc.err")"
check_match "-v: IPv6 tried first and answered" "connected to \[fd00:76::12\]:1081" "$(cat "$T/vc.err")"
out=$(printf 'HELLO\n' | cl "$VC" -c "$T/client.conf" -v web1 7000 2>"$T/vc.err") || true
check_eq "vmgate-connect web1 7000 (hv1)" "HELLO vm1" "$out"
check_match "hv1 has no IPv6 listener: IPv4 after the refused IPv6 address" \
    "connected to 198\.18\.0\.11:1080" "$(cat "$T/vc.err")"
out=$(head -c 300000 /dev/urandom | tee "$T/up.bin" | { printf 'ECHO\n'; cat; } | cl "$VC" -c "$T/client.conf" web2 7000 | sha256sum | cut -d' ' -f1) || true
check_eq "vmgate-connect: 300 kB echoed back after our half-close" "$(sha256sum <"$T/up.bin" | cut -d' ' -f1)" "$out"
out=$(printf 'GET /blob.bin HTTP/1.0\r\n\r\n' | cl "$VC" -c "$T/client.conf" web2.vm.test. 8080 | sed '1,/^\r$/d' | sha256sum | cut -d' ' -f1) || true
check_eq "vmgate-connect: HTTP/1.0 GET of 2 MB (request, half-close, response)" "$BLOB_SHA" "$out"

# --- errors and exit codes -------------------------------------------------------------------
vc_rc() { # DESC WANT-RC ERE args... (stdin /dev/null)
    local desc=$1 want=$2 ere=$3 rc=0 out
    shift 3
    out=$(cl "$@" </dev/null 2>&1 >/dev/null) || rc=$?
    check_eq "$desc: exit $want" "$want" "$rc"
    check_match "$desc: message" "$ere" "$out"
}
vc_rc "unknown VM" 10 "nosuchvm\.vm\.test: no such VM" "$VC" -c "$T/client.conf" nosuchvm 22
vc_rc "bad name" 65 "not a valid VM name" "$VC" -c "$T/client.conf" 'web_1' 22
vc_rc "name outside the zone" 65 "outside the configured zone" "$VC" -c "$T/client.conf" www.example.org 22
vc_rc "bad port" 64 "PORT" "$VC" -c "$T/client.conf" web2 22x
vc_rc "wrong password" 21 "authentication failed .*wrong user name or password" \
    env VMGATE_PASSWORD=wrong "$VC" -c "$T/client.conf" web2 7000
vc_rc "no credentials" 21 "authentication required.*VMGATE_USER" "$VC" -c "$T/anon.conf" web2 7000
vc_rc "user without password" 78 "no password" env VMGATE_USER=bob "$VC" -c "$T/anon.conf" web2 7000
vc_rc "port closed in the VM" 24 "port closed in the VM" "$VC" -c "$T/client.conf" web2 9
vc_rc "unreadable config" 78 "nonexistent" "$VC" -c "$T/nonexistent.conf" web2 22
# stale DNS: the name points at hv1, whose VM table lacks it
reg hv1 add ghost --channel tcp:198.18.1.2 >/dev/null 2>&1 || fail "register ghost"
rm -f "$T/hv1/vms/ghost.$ZONE"
vc_rc "VM not on the host DNS names" 23 "VM unreachable \(0x04" "$VC" -c "$T/client.conf" ghost 22
# stopped gateway: every address refused
vg_stop gw-hv1
check_down "hv1's gateway stopped: nothing listens on 198.18.0.11:1080" "$NS_H1" 198.18.0.11 1080
vc_rc "stopped gateway" 20 "gateway of host hv1 unreachable: \[fd00:76::11\]:1080 Connection refused; 198\.18\.0\.11:1080 Connection refused" \
    "$VC" -c "$T/client.conf" web1 7000
topo_gw hv1

# --- migration hv1 → hv2: new clients follow within the TTL --------------------------------------
reg hv1 add mig --channel tcp:198.18.3.2 >/dev/null 2>&1 || fail "register mig on hv1"
out=$(printf 'HELLO\n' | cl "$VC" -c "$T/client.conf" mig 7000 2>&1) || true
check_eq "mig on hv1 (vm3)" "HELLO vm3" "$out"
t0=$(date +%s%N)
reg hv2 add mig --channel tcp:198.18.4.2 --takeover >/dev/null 2>&1 || fail "hv2 takes mig over"
rc=0
reg hv1 del mig >/dev/null 2>&1 || rc=$?
check_eq "hv1's late del of mig deletes nothing (NXRRSET, exit 11)" 11 "$rc"
check_cmd "hv1 no longer has mig in its VM table" test ! -e "$T/hv1/vms/mig.$ZONE"
poll_match "a new vmgate-connect reaches mig on hv2 (vm4) within TTL + 2 s" "^HELLO vm4$" $((TTL + 2)) \
    sh -c "printf 'HELLO\n' | ip netns exec $NS_C $VC -c $T/client.conf mig 7000"
echo "       (followed after $((($(date +%s%N) - t0) / 1000000)) ms)"
out=$(cl "$VR" -c "$T/anon.conf" mig 2>&1) || true
check_match "vmgate-resolve mig: owner hv2 now" "^owner +hv2$" "$out"
check_match "vmgate-resolve mig: port 1081 now" "^port +1081$" "$out"

# --- DNS down ---------------------------------------------------------------------------------
vg_stop named
check_down "BIND stopped: nothing listens on $DNS4:53" "$NS_DNS" "$DNS4" 53
vc_rc "DNS server down (vmgate-resolve)" 11 "DNS" "$VR" -c "$T/anon.conf" web2
vc_rc "DNS server down (vmgate-connect)" 11 "DNS" "$VC" -c "$T/client.conf" web2 22

vg_finish

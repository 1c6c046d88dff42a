#!/usr/bin/env bash
# The VM table entry has one owner (common/vg_vmentry): what an operator writes into an entry
# survives every rewrite by vmgate-reg — a plain `add`, the libvirt hook at "started" and
# "reconnect", the QEMU wrapper — and the gateway enforces it afterwards; vmgate-reg and the
# gateway accept and refuse the same channel specs with the same message.
#
#   root ns   BIND on 127.0.0.1 (the zone vm.test, TSIG updates), vmgate-reg
#   $NS_HV    vmgate-gw reading the VM table vmgate-reg writes ($VG_TMP/vms)
#   $NS_VM1   a VM on tcp:198.18.1.2 with test servers on 7000 and 7001
#   $NS_VM2   a VM reached over IPv6 only: tcp:[fd00:76:2::2]
#   $NS_CL    the client
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

REG=$VMGATE_BUILD/registrar/vmgate-reg
vg_init
vg_require_tools named tsig-keygen dig
[[ -x $REG ]] || vg_die "vmgate-reg not built"
vg_net_init
vg_add_vm 1
vg_add_vm 2
T=$VG_TMP
VMS=$T/vms
GW=$HV4:1080

# --- BIND --------------------------------------------------------------------------------------
mkdir -p "$T/dns"
tsig-keygen -a hmac-sha256 reg-key >"$T/dns/key.conf"
DNSPORT=$("$VG_PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
printf '%s\n' '$TTL 30' '@  SOA ns.vm.test. hostmaster.vm.test. 1 3600 600 86400 30' \
    '@  NS  ns.vm.test.' 'ns A   127.0.0.1' >"$T/dns/vm.test.zone"
cat >"$T/dns/named.conf" <<NAMED
include "$T/dns/key.conf";
options { directory "$T/dns"; pid-file none; session-keyfile "$T/dns/session.key";
  listen-on port $DNSPORT { 127.0.0.1; }; listen-on-v6 { none; };
  recursion no; dnssec-validation no; notify no; };
controls { };
zone "vm.test." { type primary; file "$T/dns/vm.test.zone"; journal "$T/dns/vm.test.jnl";
  update-policy { grant reg-key zonesub ANY; }; };
NAMED
vg_start named - named -g -c "$T/dns/named.conf"
wait_until "BIND answers" 10 bash -c "dig @127.0.0.1 -p $DNSPORT +tcp +short +time=1 +tries=1 vm.test SOA | grep -q hostmaster" ||
    vg_die "BIND did not come up: $(tail -n 5 "$T/named.log")"

cat >"$T/reg.conf" <<CONF
[dns]
zone = vm.test
server = 127.0.0.1:$DNSPORT
tsig-key-file = $T/dns/key.conf
ttl = 30
timeout = 2
[host]
name = hv1
address = $HV4
[gateway]
vm-dir = $VMS
[registrar]
state-dir = $T/state
CONF
reg() { "$REG" -c "$T/reg.conf" "$@"; }

gw_conf "$T/gw.conf"
gw_start gw "$T/gw.conf"
vm_serve 1 7000
vm_serve 1 7001
vm_serve 2 7000

# REP code of a SOCKS5 CONNECT from the client
rep() { cl_vgt socks --gw "$GW" --name "$1" --port "$2" --action hello 2>&1 | awk '$1=="REP"{print $2; exit}'; }
entry() { cat "$VMS/$1.vm.test" 2>/dev/null || echo "(no entry)"; }
vm_set_raw() { printf '%s\n' "$2" >"$VMS/.$1.tmp" && mv "$VMS/.$1.tmp" "$VMS/$1"; }

# --- an operator's entry survives vmgate-reg add -----------------------------------------------
vm_set_raw web1.vm.test "# web1: only the test server on 7000; it may call web2:7000   (the operator's comment)
channel = tcp:198.18.1.2
ports = 7000   # not 7001
allow-out = web2.vm.test:7000
x-team = blue"
check_eq "before any add: port 7000 allowed" 0x00 "$(rep web1.vm.test 7000)"
check_eq "before any add: port 7001 refused (0x02)" 0x02 "$(rep web1.vm.test 7001)"
rc=0; out=$(reg add web1 --channel tcp:198.18.1.2 2>&1) || rc=$?
check_eq "vmgate-reg add publishes web1" 0 "$rc"
e=$(entry web1)
check_match "add keeps ports and its comment" '^ports = 7000   # not 7001$' "$e"
check_match "add keeps allow-out" '^allow-out = web2\.vm\.test:7000$' "$e"
check_match "add keeps an unknown key" '^x-team = blue$' "$e"
check_match "add keeps the operator's comment" "^# web1: only the test server" "$e"
check_match "add writes owner" '^owner = hv1$' "$e"
check_eq "after add: port 7000 allowed" 0x00 "$(rep web1.vm.test 7000)"
check_eq "after add: port 7001 still refused (0x02)" 0x02 "$(rep web1.vm.test 7001)"
check_match "DNS has web1" "^$HV4\$" "$(dig @127.0.0.1 -p "$DNSPORT" +tcp +short web1.vm.test A)"

# --ports changes the key in place; --allow-out= removes a key; bad values and keys are refused
rc=0; out=$(reg add web1 --channel tcp:198.18.1.2 --ports 7001 --allow-out= 2>&1) || rc=$?
check_eq "add --ports 7001 --allow-out=" 0 "$rc"
e=$(entry web1)
check_match "--ports replaced the value, its comment kept" '^ports = 7001   # not 7001$' "$e"
check_nomatch "--allow-out= removed the key" '^allow-out' "$e"
check_eq "after --ports 7001: 7001 allowed" 0x00 "$(rep web1.vm.test 7001)"
check_eq "after --ports 7001: 7000 refused" 0x02 "$(rep web1.vm.test 7000)"
rc=0; out=$(reg add web1 --channel tcp:198.18.1.2 --set ports=0 2>&1) || rc=$?
check_eq "a bad port is refused before anything is sent (65)" 65 "$rc"
check_match "... with the reason" "ports: '0' is not a port" "$out"
rc=0; out=$(reg add web1 --channel tcp:198.18.1.2 --set prots=22 2>&1) || rc=$?
check_eq "a mistyped key is refused (65)" 65 "$rc"
check_match "... naming it" "'prots' is not a VM table key" "$out"
check_match "the refused adds changed nothing" '^ports = 7001' "$(entry web1)"

# batch lines carry keys too
printf 'web1 tcp:198.18.1.2 ports=7000,7001 allow-out=web2.vm.test:7000\n' >"$T/batch"
rc=0; out=$(reg add --batch "$T/batch" 2>&1) || rc=$?
check_eq "add --batch with KEY=VALUE words" 0 "$rc"
check_match "the batch line set ports" '^ports = 7000,7001   # not 7001$' "$(entry web1)"
check_eq "after the batch: 7001 allowed" 0x00 "$(rep web1.vm.test 7001)"

# --- the libvirt hook: reconnect keeps the entry; metadata sets keys at every start ------------
xml() { # NAME [METADATA]
    printf "<domain type='kvm'><name>%s</name>%s<devices><vsock model='virtio'><cid auto='no' address='44'/></vsock></devices></domain>\n" "$1" "${2:-}"
}
rc=0; out=$(xml web1 | reg libvirt-hook qemu web1 reconnect begin - 2>&1) || rc=$?
check_eq "libvirt reconnect" 0 "$rc"
e=$(entry web1)
check_match "libvirt reconnect keeps ports" '^ports = 7000,7001' "$e"
check_match "libvirt reconnect keeps x-team" '^x-team = blue$' "$e"
META="<metadata><vmgate:vm xmlns:vmgate='urn:vmgate:libvirt:1' ports='7001' allow-out='*.vm.test:7000'/></metadata>"
rc=0; out=$(xml web1 "$META" | reg libvirt-hook qemu web1 started begin - 2>&1) || rc=$?
check_eq "libvirt started with vmgate metadata" 0 "$rc"
e=$(entry web1)
check_match "metadata set ports" '^ports = 7001' "$e"
check_match "metadata set allow-out" '^allow-out = \*\.vm\.test:7000$' "$e"
check_match "the hook wrote the domain's channel" '^channel = vsock:44$' "$e"
rc=0; out=$(xml web1 "<metadata><vmgate:vm xmlns:vmgate='urn:vmgate:libvirt:1' ports='x'/></metadata>" |
    reg libvirt-hook qemu web1 started begin - 2>&1) || rc=$?
check_eq "bad metadata refuses the start's registration (65)" 65 "$rc"
check_match "... with the reason" "ports: 'x' is not a port" "$out"
rc=0; out=$(xml web1 | reg libvirt-hook qemu web1 stopped end - 2>&1) || rc=$?
check_eq "libvirt stopped" 0 "$rc"
check_eq "stopped removed the entry" "(no entry)" "$(entry web1)"

# --- the QEMU wrapper: --ports holds while QEMU runs, the gateway enforces it ------------------
mkdir -p "$T/bin"
printf '%s\n' '#!/bin/sh' '# a stand-in QEMU: "runs" until the test says stop' \
    "while [ ! -e '$T/qemu-stop' ]; do sleep 0.05; done" 'exit 0' >"$T/bin/qemu-system-x86_64"
chmod +x "$T/bin/qemu-system-x86_64"
vg_start wrap - env PATH="$T/bin:$PATH" "$REG" -c "$T/reg.conf" qemu --ports 7001 \
    --channel tcp:198.18.1.2 -- qemu-system-x86_64 -name web1 -m 128M
wait_until "the wrapper registered web1" 15 test -e "$VMS/web1.vm.test" || vg_die "wrapper: $(cat "$T/wrap.log")"
check_match "wrapper --ports in the entry" '^ports = 7001$' "$(entry web1)"
check_eq "while QEMU runs: 7001 allowed" 0x00 "$(rep web1.vm.test 7001)"
check_eq "while QEMU runs: 7000 refused" 0x02 "$(rep web1.vm.test 7000)"
# the operator tightens it while the VM runs; a re-add (as a libvirtd restart does) keeps that
vm_set_raw web1.vm.test "$(entry web1 | sed 's/^ports = .*/ports = 7000/')"
rc=0; out=$(reg add web1 --channel tcp:198.18.1.2 2>&1) || rc=$?
check_eq "re-add while running" 0 "$rc"
check_eq "the operator's change holds: 7001 refused" 0x02 "$(rep web1.vm.test 7001)"
touch "$T/qemu-stop"
wait_until "the wrapper exits with QEMU" 15 bash -c "! kill -0 ${VG_PID[wrap]} 2>/dev/null"
vg_stop wrap
check_eq "QEMU exited: entry withdrawn" "(no entry)" "$(entry web1)"
check_eq "QEMU exited: the gateway no longer knows web1 (0x04)" 0x04 "$(rep web1.vm.test 7000)"

# --- channel specs: the same answer from both programs -------------------------------------------
rc=0; out=$(reg add web2 --channel 'tcp:[fd00:76:2::2]' 2>&1) || rc=$?
check_eq "vmgate-reg accepts tcp:[fd00:76:2::2]" 0 "$rc"
check_eq "the gateway reaches web2 over tcp:[fd00:76:2::2]" 0x00 "$(rep web2.vm.test 7000)"
rc=0; out=$(reg add web3 --channel tcp:198.18.1.2:22 2>&1) || rc=$?
check_eq "vmgate-reg refuses tcp:198.18.1.2:22 (65)" 65 "$rc"
msg="tcp channel wants an IPv4 or IPv6 address without port"
check_match "vmgate-reg's reason" "$msg" "$out"
vm_set_raw web3.vm.test "channel = tcp:198.18.1.2:22"
check_eq "the gateway refuses a VM with tcp:198.18.1.2:22 (0x04)" 0x04 "$(rep web3.vm.test 7000)"
poll_match "the gateway's log gives the same reason" "$msg" 5 cat "$VG_TMP/gw.log"
rc=0; out=$(reg add web3 --channel 'serial:/run/with space' 2>&1) || rc=$?
check_eq "vmgate-reg refuses a path with white space (65)" 65 "$rc"
# a broken entry is rewritten by the next add, its lines kept as comments
rc=0; out=$(reg add web3 --channel tcp:198.18.1.2 2>&1) || rc=$?
check_eq "add over a broken entry" 0 "$rc"
check_match "the broken line is kept as a comment" '^# channel = tcp:198\.18\.1\.2:22$' "$(entry web3)"
check_eq "web3 now works" 0x00 "$(rep web3.vm.test 7000)"
rc=0; reg del web2 web3 >/dev/null 2>&1 || rc=$?
check_eq "withdraw web2 and web3" 0 "$rc"
vg_finish

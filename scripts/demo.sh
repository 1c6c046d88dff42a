#!/usr/bin/env bash
# vmgate's main job on one machine, end to end:
#   installs what it needs, builds, makes a client, a hypervisor host and a VM (network
#   namespaces: the VM is reachable only from its host), starts a DNS server (BIND) with the
#   zone, the gateway and the registrar on the host and a web server in the VM; the registrar
#   publishes the VM in DNS (RFC 2136 + TSIG), the client resolves the name and curl reaches the
#   VM by name through the gateway — while a direct connection to the VM's address fails.
#   Then a real VM: a tiny Debian-kernel VM under QEMU with no network at all, only a
#   virtio-serial port to its host where vmgate-agent runs; the registrar publishes it and the
#   client reaches its web server (curl) and its sshd (ssh with ProxyCommand vmgate-connect) by
#   name.  VMGATE_DEMO_NO_VM=1 skips that part.
#   scripts/demo.sh            run, show, clean up
#   scripts/demo.sh --keep     leave everything running until Ctrl-C, to try clients by hand
# Needs root (network namespaces).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$PWD
keep=false
[[ ${1:-} == --keep ]] && keep=true
[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (network namespaces)" >&2; exit 1; }

bash scripts/install-deps.sh
cmake -S . -B build >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
gw=$src/build/socks-gw/vmgate-gw
reg=$src/build/registrar/vmgate-reg
connect=$src/build/resolver/vmgate-connect
source tests/system/vmlib.sh

CLIENT=vgdemo-client HOST=vgdemo-host VM=vgdemo-web1
work=$(mktemp -d /tmp/vmgate-demo.XXXXXX)
pids=()
cleanup() {
  vm_stop 2>/dev/null || true
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del $VM 2>/dev/null || true
  ip netns del $HOST 2>/dev/null || true
  ip netns del $CLIENT 2>/dev/null || true
  [[ -n ${VMGATE_DEMO_KEEP_WORK:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
# a previous run that was killed hard may have left its namespaces
for ns in $VM $HOST $CLIENT; do ip netns del $ns 2>/dev/null || true; done

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "network: client $CLIENT — host $HOST — VM $VM (reachable only from the host)"
ip netns add $CLIENT
ip netns add $HOST
ip netns add $VM
ip -n $CLIENT link add vgd-c type veth peer name vgd-h netns $HOST
ip -n $CLIENT addr add 198.18.0.2/24 dev vgd-c && ip -n $CLIENT link set vgd-c up
ip -n $CLIENT link set lo up
ip -n $HOST addr add 198.18.0.1/24 dev vgd-h && ip -n $HOST link set vgd-h up
ip -n $HOST link set lo up
ip -n $HOST link add vgd-hv type veth peer name vgd-v netns $VM
ip -n $HOST addr add 198.18.1.1/24 dev vgd-hv && ip -n $HOST link set vgd-hv up
ip -n $VM addr add 198.18.1.2/24 dev vgd-v && ip -n $VM link set vgd-v up
ip -n $VM link set lo up
echo "client 198.18.0.2  →  host 198.18.0.1 | 198.18.1.1  →  VM 198.18.1.2 (no route from the client)"

say "the VM runs a web server on 198.18.1.2:80"
mkdir -p "$work/www" "$work/vms"
echo "Hello from web1, a VM your network cannot reach." > "$work/www/index.html"
ip netns exec $VM python3 -m http.server 80 --bind 198.18.1.2 --directory "$work/www" \
  >/dev/null 2>&1 &
pids+=($!)

say "a DNS server (BIND) for the zone vm.test on 198.18.0.1:5353, accepting signed UPDATEs"
mkdir -p "$work/dns" "$work/state"
tsig-keygen -a hmac-sha256 reg-key > "$work/reg-key.conf"
cp zones/vm.test.zone "$work/dns/vm.test.zone"
sed -e "s|@DIR@|$work/dns|g" -e "s|@PORT@|5353|g" -e "s|@KEYFILE@|$work/reg-key.conf|g" \
    -e "s|{ 127.0.0.1; }|{ 198.18.0.1; }|" -e 's|listen-on-v6 port [0-9]* { ::1; };||' zones/named.conf.in > "$work/dns/named.conf"
ip netns exec $HOST named -f -c "$work/dns/named.conf" > "$work/named.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  ip netns exec $CLIENT dig +short +time=1 +tries=1 @198.18.0.1 -p 5353 vm.test SOA 2>/dev/null | grep -q . && break
  sleep 0.05
done

cat > "$work/vmgate.conf" <<CONF
[dns]
zone = vm.test
server = 198.18.0.1:5353
tsig-key-file = $work/reg-key.conf
ttl = 30
[host]
name = hv1
address = 198.18.0.1
[registrar]
state-dir = $work/state
[gateway]
listen = 198.18.0.1:1080
listen-http = 198.18.0.1:3128
vm-dir = $work/vms
allow-anonymous-from = 198.18.0.0/24
log-level = info
CONF
say "starting vmgate-gw on the host (198.18.0.1:1080 SOCKS5, :3128 HTTP CONNECT)"
ip netns exec $HOST "$gw" -c "$work/vmgate.conf" -f 2> "$work/gw.log" &
pids+=($!)
for _ in $(seq 100); do
  ip netns exec $VM bash -c 'exec 3<>/dev/tcp/198.18.1.2/80' 2>/dev/null &&
    ip netns exec $CLIENT bash -c 'exec 3<>/dev/tcp/198.18.0.1/1080' 2>/dev/null && break
  sleep 0.05
done

say "the registrar publishes web1 (VM table entry + DNS records): vmgate-reg add web1 --channel tcp:198.18.1.2"
ip netns exec $HOST "$reg" -c "$work/vmgate.conf" -v add web1 --channel tcp:198.18.1.2
echo "$work/vms/web1.vm.test:"; sed 's/^/    /' "$work/vms/web1.vm.test"

client() { ip netns exec $CLIENT "$@"; }
say "the client resolves web1.vm.test like any other name"
for t in A TXT; do client dig +noall +answer @198.18.0.1 -p 5353 web1.vm.test $t; done
client dig +noall +answer @198.18.0.1 -p 5353 _vmgate._tcp.web1.vm.test SRV
host_addr=$(client dig +short @198.18.0.1 -p 5353 web1.vm.test A)
[[ $host_addr == 198.18.0.1 ]] || { echo "demo: web1.vm.test did not resolve to its host"; exit 1; }

say "direct to the VM's address: no route"
if client curl -s --max-time 2 http://198.18.1.2/ ; then echo "unexpected: the VM is reachable directly"; exit 1; fi
echo "curl http://198.18.1.2/ → failed, as it should"

say "curl --socks5-hostname $host_addr:1080 http://web1.vm.test/   (the gateway of the host DNS named)"
out=$(client curl -sS --max-time 5 --socks5-hostname "$host_addr:1080" http://web1.vm.test/)
echo "$out"
[[ $out == "Hello from web1"* ]]

say "curl -p -x http://198.18.0.1:3128 http://web1.vm.test/   (HTTP CONNECT)"
client curl -sS --max-time 5 -p -x http://198.18.0.1:3128 http://web1.vm.test/

say "a name the host does not serve is refused"
client curl -sS --max-time 5 --socks5-hostname 198.18.0.1:1080 http://example.com/ || true

say "the registrar withdraws web1 (vmgate-reg del web1): the name and the route are gone"
ip netns exec $HOST "$reg" -c "$work/vmgate.conf" -v del web1
echo "dig web1.vm.test A: '$(client dig +short @198.18.0.1 -p 5353 web1.vm.test A)'"
client curl -sS --max-time 5 --socks5-hostname 198.18.0.1:1080 http://web1.vm.test/ || true

if [[ -z ${VMGATE_DEMO_NO_VM:-} ]]; then
  say "a real VM: QEMU (no network device), vmgate-agent on its virtio-serial port"
  scripts/build-vm-image.sh build/vm --agent build/guest/vmgate-agent-static >"$work/image.log" 2>&1 ||
    { tail -20 "$work/image.log"; exit 1; }
  vm_start --image build/vm --mode agent --run "$work/vm1"
  vm_wait_ready 180
  echo "QEMU $VM_PID booted (accel $VM_ACCEL); host side of the port: $VM_SOCK"

  say "vmgate-reg add vm1 --channel serial:$VM_SOCK"
  ip netns exec $HOST "$reg" -c "$work/vmgate.conf" -v add vm1 --channel "serial:$VM_SOCK"
  client dig +noall +answer @198.18.0.1 -p 5353 vm1.vm.test A

  say "curl --socks5-hostname 198.18.0.1:1080 http://vm1.vm.test/   (gateway → serial → agent → httpd in the VM)"
  client curl -sS --max-time 20 --socks5-hostname 198.18.0.1:1080 http://vm1.vm.test/

  say "ssh -o ProxyCommand='vmgate-connect %h %p' root@vm1.vm.test   (DNS finds the host, SOCKS5 by name)"
  cat > "$work/client.conf" <<CONF
[dns]
zone = vm.test
server = 198.18.0.1:5353
CONF
  client ssh -F none -i build/vm/id_ed25519 -o UserKnownHostsFile=build/vm/known_hosts \
    -o StrictHostKeyChecking=yes -o BatchMode=yes -o ConnectTimeout=30 \
    -o ProxyCommand="$connect -c $work/client.conf %h %p" \
    root@vm1.vm.test 'echo "inside $(hostname): $(uname -sr), up $(cut -d" " -f1 /proc/uptime) s; network interfaces: $(ls /sys/class/net | tr "\n" " ")"'
  ip netns exec $HOST "$reg" -c "$work/vmgate.conf" -v del vm1
fi

say "the gateway's log"
sed 's/^/    /' "$work/gw.log"

if $keep; then
  say "running; try: ip netns exec $CLIENT curl --socks5-hostname 198.18.0.1:1080 http://web1.vm.test/   (Ctrl-C ends)"
  wait
fi
say "demo done"

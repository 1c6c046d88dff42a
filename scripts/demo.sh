#!/usr/bin/env bash
# vmgate's main job on one machine, end to end:
#   installs what it needs, builds, makes a hypervisor host and a VM (network namespaces: the VM
#   is reachable only from its host), starts the gateway on the host and a web server in the VM,
#   and shows a real client (curl) reaching the VM by name through the gateway — while a direct
#   connection to the VM's address fails.
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

CLIENT=vgdemo-client HOST=vgdemo-host VM=vgdemo-web1
work=$(mktemp -d /tmp/vmgate-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  ip netns del $VM 2>/dev/null || true
  ip netns del $HOST 2>/dev/null || true
  ip netns del $CLIENT 2>/dev/null || true
  rm -rf "$work"
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

say "the host's VM table says how to reach web1.vm.test"
echo "channel = tcp:198.18.1.2" > "$work/vms/web1.vm.test"
echo "$work/vms/web1.vm.test:"; sed 's/^/    /' "$work/vms/web1.vm.test"

cat > "$work/vmgate.conf" <<CONF
[dns]
zone = vm.test
[host]
name = hv1
address = 198.18.0.1
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

say "direct to the VM's address: no route"
client() { ip netns exec $CLIENT "$@"; }
if client curl -s --max-time 2 http://198.18.1.2/ ; then echo "unexpected: the VM is reachable directly"; exit 1; fi
echo "curl http://198.18.1.2/ → failed, as it should"

say "curl --socks5-hostname 198.18.0.1:1080 http://web1.vm.test/"
out=$(client curl -sS --max-time 5 --socks5-hostname 198.18.0.1:1080 http://web1.vm.test/)
echo "$out"
[[ $out == "Hello from web1"* ]]

say "curl -p -x http://198.18.0.1:3128 http://web1.vm.test/   (HTTP CONNECT)"
client curl -sS --max-time 5 -p -x http://198.18.0.1:3128 http://web1.vm.test/

say "a name the host does not serve is refused"
client curl -sS --max-time 5 --socks5-hostname 198.18.0.1:1080 http://example.com/ || true

say "the gateway's log"
sed 's/^/    /' "$work/gw.log"

if $keep; then
  say "running; try: ip netns exec $CLIENT curl --socks5-hostname 198.18.0.1:1080 http://web1.vm.test/   (Ctrl-C ends)"
  wait
fi
say "demo done"

# dnslib.sh — shared helpers of the registrar system tests (tests/system/test_reg_*.sh).
#
# Starts BIND (named) and Knot (knotd) on 127.0.0.1 with a free high port, a private temp dir and a
# generated TSIG key; polls with dig until the server answers; stops exactly the PIDs it started
# (EXIT trap).  Writes vmgate configs for simulated hosts.  Source it, then call dns_init.
#
#   dns_init                       temp dir ($DNS_TMP), EXIT trap, key $DNS_KEY (reg-key)
#   dns_start KIND NAME            KIND bind|knot; sets ${NAME}_PORT ${NAME}_PID ${NAME}_DIR
#   dns_stop NAME                  stop that server (its data survives for a restart)
#   dns_restart NAME               start it again on the same port with the same data
#   host_config HOST ADDRS PORT [KEY] write $DNS_TMP/HOST/vmgate.conf for a host using the servers
#   dq PORT NAME TYPE              dig +short over TCP
#   ok / fail / check / expect_rc  assertions; dns_summary prints them and sets the exit code

set -u
: "${VMGATE_BUILD:?VMGATE_BUILD must point at the build directory}"
: "${VMGATE_SRC:=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
REG="$VMGATE_BUILD/registrar/vmgate-reg"
ZONE=vm.test
DNS_PIDS=()
PASS=0
FAILS=0

dns_cleanup() {
    local pid
    for pid in "${DNS_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${DNS_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    [[ -n "${DNS_TMP:-}" && -d "$DNS_TMP" && -z "${DNS_KEEP:-}" ]] && rm -rf "$DNS_TMP"
    return 0
}

dns_init() {
    DNS_TMP=$(mktemp -d /tmp/vmgate-regtest.XXXXXX)
    chmod 755 "$DNS_TMP"
    trap dns_cleanup EXIT
    DNS_KEY="$DNS_TMP/reg-key.conf"
    tsig-keygen -a hmac-sha256 reg-key >"$DNS_KEY"
    [[ -x "$REG" ]] || { echo "FATAL: $REG not built" >&2; exit 1; }
}

# A TCP+UDP port nobody listens on (the kernel picks it; a tiny race is acceptable on loopback).
dns_free_port() {
    python3 - <<'EOF'
import socket
while True:
    t = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        t.close()
        continue
    print(port)
    break
EOF
}

key_secret() { sed -n 's/.*secret "\(.*\)";.*/\1/p' "$1"; }
key_name() { sed -n 's/^key "\(.*\)" {.*/\1/p' "$1"; }

dns_zonefile() {
    cat >"$1" <<EOF
\$ORIGIN $ZONE.
\$TTL 300
@   SOA ns.$ZONE. hostmaster.$ZONE. 1 3600 600 86400 30
@   NS  ns.$ZONE.
ns  A   127.0.0.1
EOF
}

_start_bind() { # DIR PORT
    local dir=$1 port=$2
    cat >"$dir/named.conf" <<EOF
include "$DNS_KEY";
options {
    directory "$dir"; pid-file "$dir/named.pid"; session-keyfile "$dir/session.key";
    listen-on port $port { 127.0.0.1; }; listen-on-v6 { none; };
    recursion no; dnssec-validation no; notify no;
    tcp-idle-timeout 300; tcp-initial-timeout 300;
};
controls { };
logging { channel f { file "$dir/named.log"; severity info; }; category default { f; }; };
zone "$ZONE." {
    type primary; file "$dir/$ZONE.zone"; journal "$dir/$ZONE.zone.jnl";
    update-policy { grant reg-key zonesub ANY; };
    allow-transfer { key reg-key; };
};
EOF
    named -f -c "$dir/named.conf" >>"$dir/named.out" 2>&1 &
    echo $!
}

_start_knot() { # DIR PORT
    local dir=$1 port=$2
    mkdir -p "$dir/db"
    cat >"$dir/knot.conf" <<EOF
server:
    rundir: "$dir"
    pidfile: "$dir/knot.pid"
    listen: [ 127.0.0.1@$port ]
database:
    storage: "$dir/db"
log:
  - target: "$dir/knot.log"
    any: info
key:
  - id: $(key_name "$DNS_KEY")
    algorithm: hmac-sha256
    secret: $(key_secret "$DNS_KEY")
acl:
  - id: reg-acl
    key: $(key_name "$DNS_KEY")
    action: [update, transfer]
template:
  - id: default
    storage: "$dir"
    semantic-checks: off
zone:
  - domain: $ZONE.
    file: "$ZONE.zone"
    acl: reg-acl
    zonefile-sync: -1
EOF
    knotd -c "$dir/knot.conf" >>"$dir/knot.out" 2>&1 &
    echo $!
}

# Poll until the server answers the zone's SOA (dig over TCP, 1 s per try, at most ~10 s).
dns_wait() { # PORT
    local port=$1 i
    for ((i = 0; i < 200; i++)); do
        if dig @127.0.0.1 -p "$port" +tcp +time=1 +tries=1 +norec +short "$ZONE." SOA 2>/dev/null |
            grep -q hostmaster; then
            return 0
        fi
        sleep 0.05
    done
    echo "FATAL: DNS server on port $port did not come up" >&2
    return 1
}

dns_start() { # KIND NAME
    local kind=$1 name=$2 dir port pid
    dir="$DNS_TMP/$name"
    mkdir -p "$dir"
    port=$(dns_free_port)
    dns_zonefile "$dir/$ZONE.zone"
    printf -v "${name}_KIND" %s "$kind"
    printf -v "${name}_DIR" %s "$dir"
    printf -v "${name}_PORT" %s "$port"
    pid=$("_start_$kind" "$dir" "$port")
    DNS_PIDS+=("$pid")
    printf -v "${name}_PID" %s "$pid"
    dns_wait "$port" || { cat "$dir"/*.out "$dir"/*.log >&2 2>/dev/null; exit 1; }
}

dns_stop() { # NAME
    local pidvar="${1}_PID"
    local pid=${!pidvar}
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    printf -v "$pidvar" %s ""
}

dns_restart() { # NAME
    local kindv="${1}_KIND" dirv="${1}_DIR" portv="${1}_PORT" pid
    pid=$("_start_${!kindv}" "${!dirv}" "${!portv}")
    DNS_PIDS+=("$pid")
    printf -v "${1}_PID" %s "$pid"
    dns_wait "${!portv}"
}

# The directory of a simulated host (vms/, state/, vmgate.conf); one per host and scenario
# ($DNS_SCEN, e.g. the server kind, keeps the BIND and Knot runs apart).
hostdir() { echo "$DNS_TMP/${DNS_SCEN:-x}-host-$1"; }

# host_config HOST ADDRS PORT [KEYFILE]: prints the config path
host_config() {
    local host=$1 addrs=$2 port=$3 key=${4:-$DNS_KEY}
    local dir
    dir=$(hostdir "$host")
    mkdir -p "$dir/vms" "$dir/state"
    cat >"$dir/vmgate.conf" <<EOF
[dns]
zone = $ZONE
server = 127.0.0.1:$port
tsig-key-file = $key
ttl = 30
timeout = 2

[host]
name = $host
address = $addrs

[gateway]
listen = 127.0.0.1:1080
vm-dir = $dir/vms

[registrar]
state-dir = $dir/state
heartbeat-interval = 5
gc-after = 60
gc-interval = 0
retry-max = 1
EOF
    echo "$dir/vmgate.conf"
}

dq() { # PORT NAME TYPE
    dig @127.0.0.1 -p "$1" +tcp +norec +short +time=2 +tries=1 "$2" "$3" 2>/dev/null | sort
}

ok() {
    PASS=$((PASS + 1))
    echo "ok   - $*"
}
fail() {
    FAILS=$((FAILS + 1))
    echo "FAIL - $*"
}
# check DESCRIPTION COMMAND...: passes when the command succeeds
check() {
    local d=$1
    shift
    if "$@"; then ok "$d"; else fail "$d"; fi
}
# expect_rc DESCRIPTION CODE COMMAND...: passes when the command exits with CODE
expect_rc() {
    local d=$1 want=$2 rc
    shift 2
    "$@" >"$DNS_TMP/last.out" 2>"$DNS_TMP/last.err"
    rc=$?
    if [[ $rc == "$want" ]]; then
        ok "$d (exit $rc)"
    else
        fail "$d: exit $rc, wanted $want"
        sed 's/^/    | /' "$DNS_TMP/last.out" "$DNS_TMP/last.err" | head -20
    fi
}
# eq DESCRIPTION GOT WANT
eq() {
    if [[ "$2" == "$3" ]]; then ok "$1"; else fail "$1: got '$2', wanted '$3'"; fi
}

dns_summary() {
    echo "# $PASS passed, $FAILS failed"
    [[ $FAILS -eq 0 && $PASS -gt 0 ]]
}

# Zone transfer under the test key (both servers only allow AXFR with it).
axfr() { # PORT
    dig @127.0.0.1 -p "$1" +tcp +noall +answer -y "hmac-sha256:$(key_name "$DNS_KEY"):$(key_secret "$DNS_KEY")" \
        "$ZONE." AXFR 2>/dev/null
}
# How many VMs the zone says HOST owns.
owned_by() { # PORT HOST
    axfr "$1" | grep -c "\"vmgate-owner=$2\"" || true
}
# nsupdate with the test key over TCP; commands on stdin (server/zone/send added).
nsu() { # PORT
    { echo "server 127.0.0.1 $1"; echo "zone $ZONE."; cat; echo send; } |
        nsupdate -v -y "hmac-sha256:$(key_name "$DNS_KEY"):$(key_secret "$DNS_KEY")"
}
# Wait (polling, at most ~$3 s) until `dq PORT NAME TYPE` prints something matching REGEX.
wait_for() { # PORT NAME TYPE REGEX SECONDS
    local i
    for ((i = 0; i < $5 * 10; i++)); do
        dq "$1" "$2" "$3" | grep -q -- "$4" && return 0
        sleep 0.1
    done
    return 1
}

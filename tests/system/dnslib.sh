# dnslib.sh — shared helpers of the registrar system tests (tests/system/test_reg_*.sh).
#
# Starts BIND (named) and Knot (knotd) on 127.0.0.1 with a free high port, a private temp dir and a
# generated TSIG key; polls with dig until the server answers; stops exactly the PIDs it started
# (EXIT trap).  Writes vmgate configs for simulated hosts.  Source it, then call dns_init.
# The servers are children of the sourcing shell (never started inside $( … )), so a stop really
# waits for them; a stop returns only once the process is gone and its port answers nothing.
#
#   dns_init                       temp dir ($DNS_TMP), EXIT trap, key $DNS_KEY (reg-key)
#   dns_start KIND NAME            KIND bind|knot; sets ${NAME}_PORT ${NAME}_PID ${NAME}_DIR
#   dns_stop NAME                  stop that server (its data survives for a restart); returns when
#                                  it has exited and nothing answers on its port (else FATAL, exit 1)
#   dns_restart NAME               start it again on the same port with the same data
#   dns_kill_pid PID               SIGTERM, poll (bounded) until PID has exited, SIGKILL if it must;
#                                  non-zero if it still runs (for any process a test started)
#   dns_port_down PORT             true when nothing listens on PORT and no DNS answer comes from it
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

# _dns_gone PID: the process has exited (no such process, or a zombie not yet reaped)
_dns_gone() {
    local st
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 0
    st=${st##*) }
    [[ ${st%% *} == Z ]]
}

# dns_kill_pid PID: SIGTERM; poll until it has exited (DNS_STOP_TIMEOUT s, default 20: BIND takes
# ~1.2 s, Knot ~1.8 s on an idle machine, more under load); then SIGKILL and poll 5 s more; reap it
# (wait: it is our child).  Returns 1 if the process still runs.
dns_kill_pid() {
    local pid=$1 i
    [[ -n $pid ]] || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < ${DNS_STOP_TIMEOUT:-20} * 20; i++)); do
        _dns_gone "$pid" && break
        sleep 0.05
    done
    if ! _dns_gone "$pid"; then
        echo "dnslib: PID $pid still runs ${DNS_STOP_TIMEOUT:-20} s after SIGTERM: SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            _dns_gone "$pid" && break
            sleep 0.05
        done
    fi
    _dns_gone "$pid" || return 1
    wait "$pid" 2>/dev/null || true
    return 0
}

_dns_forget() { # PID: no longer ours to stop (it has exited; its number may be reused)
    local p keep=()
    for p in "${DNS_PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
    DNS_PIDS=("${keep[@]}")
}

dns_cleanup() {
    local pid
    for pid in "${DNS_PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${DNS_PIDS[@]}"; do
        dns_kill_pid "$pid" || echo "dnslib: PID $pid did not exit" >&2
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

# _start_bind / _start_knot DIR PORT: start the server as a child of this shell and set
# DNS_STARTED to its PID.  Call them directly, never inside $( … ): the server must be our child.
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
    named -f -c "$dir/named.conf" >>"$dir/named.out" 2>&1 </dev/null &
    DNS_STARTED=$!
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
    knotd -c "$dir/knot.conf" >>"$dir/knot.out" 2>&1 </dev/null &
    DNS_STARTED=$!
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
    "_start_$kind" "$dir" "$port"
    pid=$DNS_STARTED
    DNS_PIDS+=("$pid")
    printf -v "${name}_PID" %s "$pid"
    dns_wait "$port" || { cat "$dir"/*.out "$dir"/*.log >&2 2>/dev/null; exit 1; }
}

# dns_port_down PORT: nothing listens on 127.0.0.1:PORT (TCP or UDP) and a query gets no answer
dns_port_down() {
    local port=$1 l
    l=$(ss -Hlntu "( sport = :$port )" 2>/dev/null)
    [[ -z $l ]] || return 1
    # dig exits 0 on any reply (whatever its RCODE), 9 when no server answered
    dig @127.0.0.1 -p "$port" +tcp +time=1 +tries=1 +norec "$ZONE." SOA >/dev/null 2>&1 && return 1
    dig @127.0.0.1 -p "$port" +notcp +time=1 +tries=1 +norec "$ZONE." SOA >/dev/null 2>&1 && return 1
    return 0
}

dns_stop() { # NAME
    local pidvar="${1}_PID" portvar="${1}_PORT"
    local pid=${!pidvar} port=${!portvar}
    if ! dns_kill_pid "$pid"; then
        echo "FATAL: DNS server $1 (PID $pid) did not exit, even after SIGKILL" >&2
        exit 1
    fi
    _dns_forget "$pid"
    printf -v "$pidvar" %s ""
    if ! dns_port_down "$port"; then
        echo "FATAL: DNS server $1 (PID $pid) has exited, but port $port still answers: $(ss -Hlntup "( sport = :$port )" 2>&1)" >&2
        exit 1
    fi
}

dns_restart() { # NAME
    local kindv="${1}_KIND" dirv="${1}_DIR" portv="${1}_PORT" pid
    "_start_${!kindv}" "${!dirv}" "${!portv}"
    pid=$DNS_STARTED
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

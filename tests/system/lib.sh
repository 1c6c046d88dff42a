# shellcheck shell=bash disable=SC2034
# lib.sh — shared harness for vmgate's system tests.  Source it from a test_*.sh:
#
#   source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#   vg_net_init            # client + host namespaces
#   vg_add_vm 1            # VM namespace 1, reachable only from the host
#   ...
#   vg_finish              # "N passed, M failed", exit status
#
# Topology (every address inside namespaces this run creates; nothing in the root namespace):
#
#   $NS_CL  cl0 198.18.0.2/24 + 198.18.0.3/24, fd00:76::2/64     the client; routes only to 198.18.0.0/24
#     |
#   $NS_HV  hv0 198.18.0.1/24, fd00:76::1/64                     the hypervisor host: vmgate-gw runs here
#           vmN 198.18.N.1/24, fd00:76:N::1/64                   (forwarding off)
#     |
#   $NS_VMn eth0 198.18.N.2/24, fd00:76:N::2/64                  a "VM": routes only to its host link
#
# 198.18.0.2 is the anonymous client (allow-anonymous-from); 198.18.0.3 must authenticate.
# Processes are started with vg_start so the test holds their own PIDs; the EXIT trap kills them
# by PID, deletes the namespaces and removes the temp dir, on success and on failure alike.

set -Eeuo pipefail
shopt -s inherit_errexit 2>/dev/null || true

VG_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VMGATE_SRC=${VMGATE_SRC:-$(cd "$VG_LIB_DIR/../.." && pwd)}
VMGATE_BUILD=${VMGATE_BUILD:-$VMGATE_SRC/build}
VG_GW_BIN=${VG_GW_BIN:-$VMGATE_BUILD/socks-gw/vmgate-gw}
VG_VGTEST=$VG_LIB_DIR/vgtest.py
VG_MUXSIM=$VG_LIB_DIR/vsock_mux_sim.py
if [[ -x /usr/bin/python3 ]]; then VG_PY=/usr/bin/python3; else VG_PY=$(command -v python3 || echo python3); fi

VG_ID=vgt-$$
NS_CL=$VG_ID-cl
NS_HV=$VG_ID-hv
VG_NETNS=()
VG_PIDS=()
declare -A VG_PID=()
VG_PASS=0
VG_FAIL=0
VG_FAILED=()
VG_T0=$SECONDS

# Addresses
CL4=198.18.0.2        # anonymous client
CL4_AUTH=198.18.0.3   # client that must authenticate
CL6=fd00:76::2
HV4=198.18.0.1
HV6=fd00:76::1
vm4() { echo "198.18.$1.2"; }
vm6() { echo "fd00:76:$1::2"; }
hv4_vm() { echo "198.18.$1.1"; }

vg_log() { printf '[%4ds] %s\n' "$((SECONDS - VG_T0))" "$*"; }

vg_die() {
    echo "FATAL: $*" >&2
    VG_FAIL=$((VG_FAIL + 1))
    exit 1
}

# ---------------------------------------------------------------------------------------------
# cleanup

# vg_gone PID: the process has exited (no such process, or a zombie not yet reaped)
vg_gone() {
    local st
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 0
    st=${st##*) }
    [[ ${st%% *} == Z ]]
}

# vg_kill_pid PID: TERM, wait up to 3 s, then KILL; returns once the process has really exited
# (reaped when it is our child; polled when it is not), non-zero if it still runs 5 s after KILL
vg_kill_pid() {
    local pid=$1 i
    if ! vg_gone "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 60; i++)); do
            vg_gone "$pid" && break
            sleep 0.05
        done
        vg_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
    for ((i = 0; i < 100; i++)); do
        vg_gone "$pid" && break
        sleep 0.05
    done
    vg_gone "$pid" || { echo "vg_kill_pid: PID $pid still runs after SIGKILL" >&2; return 1; }
    wait "$pid" 2>/dev/null || true
    return 0
}

vg_cleanup() {
    local rc=$? i ns pid
    set +e
    trap - EXIT INT TERM ERR
    for ((i = ${#VG_PIDS[@]} - 1; i >= 0; i--)); do
        vg_kill_pid "${VG_PIDS[i]}"
    done
    for ns in "${VG_NETNS[@]}"; do
        # anything still running in our namespaces was started by this test (e.g. sshd children)
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
        ip netns del "$ns" 2>/dev/null
    done
    if [[ -n ${VG_TMP:-} && -d $VG_TMP ]]; then
        if ((rc != 0 || VG_FAIL > 0)) && [[ -n ${VG_KEEP_LOGS:-} ]]; then
            echo "logs kept in $VG_TMP"
        else
            rm -rf "$VG_TMP"
        fi
    fi
    exit "$rc"
}
trap vg_cleanup EXIT
trap 'echo "ERROR: ${BASH_SOURCE[0]##*/} line $LINENO: \"$BASH_COMMAND\" failed (exit $?)" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM

# Namespaces left by an earlier run of these tests that was killed (its PID is gone): delete
# them, and kill by PID what still runs inside them.
vg_reap_stale() {
    local ns pid owner
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^vgt-[0-9]+-' || true); do
        owner=${ns#vgt-}
        owner=${owner%%-*}
        kill -0 "$owner" 2>/dev/null && continue
        for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
        ip netns del "$ns" 2>/dev/null || true
    done
}

# ---------------------------------------------------------------------------------------------
# prerequisites

vg_require_root() { [[ $(id -u) -eq 0 ]] || vg_die "system tests need root (network namespaces)"; }

vg_require_tools() { # a missing tool fails loudly
    local t missing=()
    for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
    ((${#missing[@]} == 0)) || vg_die "missing tools: ${missing[*]} (run scripts/install-deps.sh)"
}

vg_require_gw() {
    [[ -x $VG_GW_BIN ]] || vg_die "no gateway binary at $VG_GW_BIN (build first: cmake --build \$VMGATE_BUILD)"
}

vg_init() {
    vg_require_root
    vg_require_tools ip ss "$VG_PY" openssl sha256sum timeout unshare mount
    vg_require_gw
    vg_reap_stale
    VG_TMP=$(mktemp -d /tmp/vgt-$$.XXXXXX)
    chmod 755 "$VG_TMP"
    mkdir -p "$VG_TMP/vms" "$VG_TMP/results"
    : >"$VG_TMP/users"
}

# ---------------------------------------------------------------------------------------------
# namespaces

vg_netns_add() {
    ip netns add "$1" || vg_die "ip netns add $1 failed"
    VG_NETNS+=("$1")
    ip -n "$1" link set lo up
}

vg_net_init() { # client and host namespaces
    vg_netns_add "$NS_CL"
    vg_netns_add "$NS_HV"
    ip netns exec "$NS_HV" sysctl -qw net.ipv4.ip_forward=0 net.ipv6.conf.all.forwarding=0
    ip -n "$NS_CL" link add cl0 type veth peer name hv0 netns "$NS_HV"
    ip -n "$NS_CL" addr add "$CL4/24" dev cl0
    ip -n "$NS_CL" addr add "$CL4_AUTH/24" dev cl0
    ip -n "$NS_CL" addr add "$CL6/64" dev cl0 nodad
    ip -n "$NS_HV" addr add "$HV4/24" dev hv0
    ip -n "$NS_HV" addr add "$HV6/64" dev hv0 nodad
    ip -n "$NS_CL" link set cl0 up
    ip -n "$NS_HV" link set hv0 up
}

vg_add_vm() { # IDX [novlink]: a VM namespace; with "nolink" it has only loopback (vsock-mux VMs)
    local i=$1 ns=$VG_ID-vm$1
    vg_netns_add "$ns"
    eval "NS_VM$i=$ns"
    [[ ${2:-} == nolink ]] && return 0
    ip -n "$NS_HV" link add "vm$i" type veth peer name eth0 netns "$ns"
    ip -n "$NS_HV" addr add "198.18.$i.1/24" dev "vm$i"
    ip -n "$NS_HV" addr add "fd00:76:$i::1/64" dev "vm$i" nodad
    ip -n "$ns" addr add "198.18.$i.2/24" dev eth0
    ip -n "$ns" addr add "fd00:76:$i::2/64" dev eth0 nodad
    ip -n "$NS_HV" link set "vm$i" up
    ip -n "$ns" link set eth0 up
}

vg_in() { # NS cmd...
    local ns=$1
    shift
    ip netns exec "$ns" "$@"
}

# vgtest.py in a namespace / in the client namespace
vgt() { local ns=$1; shift; ip netns exec "$ns" "$VG_PY" "$VG_VGTEST" "$@"; }
cl_vgt() { vgt "$NS_CL" "$@"; }

# ---------------------------------------------------------------------------------------------
# processes

# vg_start NAME NS cmd...   (NS "-" = root namespace).  Output goes to $VG_TMP/NAME.log.
# `ip netns exec` execs the command, and bash execs a backgrounded simple command, so $! is the
# PID of the program itself.
vg_start() {
    local name=$1 ns=$2
    shift 2
    if [[ $ns == - ]]; then
        "$@" >"$VG_TMP/$name.log" 2>&1 </dev/null &
    else
        ip netns exec "$ns" "$@" >"$VG_TMP/$name.log" 2>&1 </dev/null &
    fi
    VG_PID[$name]=$!
    VG_PIDS+=($!)
}

vg_stop() { # NAME: returns once that process has exited (the test dies if it cannot be stopped)
    local pid=${VG_PID[$1]:-}
    if [[ -n $pid ]]; then
        vg_kill_pid "$pid" || vg_die "$1 (PID $pid) still runs after SIGKILL"
    fi
    return 0
}

vg_alive() { kill -0 "${VG_PID[$1]}" 2>/dev/null; }

# wait_until DESC TIMEOUT cmd... : poll (50 ms) until cmd succeeds; fails the test at the deadline
wait_until() {
    local desc=$1 timeout=$2 deadline
    shift 2
    deadline=$(($(date +%s%N) + timeout * 1000000000))
    until "$@" >/dev/null 2>&1; do
        (($(date +%s%N) < deadline)) || { echo "timeout (${timeout}s) waiting for $desc" >&2; return 1; }
        sleep 0.05
    done
}

_listening() { # NS ADDR PORT
    local a=$2
    [[ $a == *:* ]] && a="[$2]"
    ip netns exec "$1" ss -Hltn 2>/dev/null | awk '{print $4}' |
        grep -qxF -e "$a:$3" -e "0.0.0.0:$3" -e "*:$3" -e "[::]:$3"
}

# wait_port NS ADDR PORT [TIMEOUT=10] [PROCNAME]: a listener exists (checked with ss, no connection
# is made); with PROCNAME, gives up at once when that process died
wait_port() {
    local ns=$1 addr=$2 port=$3 timeout=${4:-10} proc=${5:-} deadline
    deadline=$(($(date +%s%N) + timeout * 1000000000))
    until _listening "$ns" "$addr" "$port"; do
        if [[ -n $proc ]] && ! vg_alive "$proc"; then
            echo "$proc exited while waiting for $addr:$port; its log:" >&2
            tail -n 30 "$VG_TMP/$proc.log" >&2 || true
            return 1
        fi
        (($(date +%s%N) < deadline)) || { echo "timeout (${timeout}s) waiting for listener $addr:$port in $ns" >&2; return 1; }
        sleep 0.05
    done
}

wait_unix() { wait_until "unix socket $1" "${2:-10}" test -S "$1"; }

# check_down DESC NS ADDR PORT: no TCP listener on ADDR:PORT in NS any more — for tests whose next
# step depends on a server they just stopped (vg_stop) being down
check_down() {
    if _listening "$2" "$3" "$4"; then
        fail "$1" "a listener on $3:$4 in $2 is still there: $(ip netns exec "$2" ss -Hltnp "( sport = :$4 )" 2>&1 | head -c 500)"
    else
        pass "$1"
    fi
}

# ---------------------------------------------------------------------------------------------
# assertions: each prints what was expected and what came back; failures are counted and the
# test exits non-zero in vg_finish (so one run reports every broken behaviour)

pass() {
    VG_PASS=$((VG_PASS + 1))
    echo "ok   - $1"
}

fail() {
    VG_FAIL=$((VG_FAIL + 1))
    VG_FAILED+=("$1")
    echo "FAIL - $1"
    shift
    local l
    for l in "$@"; do printf '         %s\n' "$l"; done
}

check_eq() { # DESC EXPECTED GOT
    if [[ $3 == "$2" ]]; then pass "$1"; else fail "$1" "expected: $2" "got:      $3"; fi
}

check_match() { # DESC ERE GOT  (GOT, multi-line, must contain a line matching ERE)
    if grep -qE -- "$2" <<<"$3"; then pass "$1"; else fail "$1" "expected a line matching: $2" "got: $(head -c 2000 <<<"$3")"; fi
}

check_nomatch() { # DESC ERE GOT
    if grep -qE -- "$2" <<<"$3"; then fail "$1" "expected no line matching: $2" "got: $(head -c 2000 <<<"$3")"; else pass "$1"; fi
}

check_cmd() { # DESC cmd... : cmd exits 0
    local desc=$1 out rc=0
    shift
    out=$("$@" 2>&1) || rc=$?
    if ((rc == 0)); then pass "$desc"; else fail "$desc" "command: $*" "exit $rc, output: $(tail -c 2000 <<<"$out")"; fi
}

# poll_match DESC ERE TIMEOUT cmd... : rerun cmd (every 0.2 s) until its output has a line matching
# ERE; for effects that land asynchronously (a reload after SIGHUP)
poll_match() {
    local desc=$1 want=$2 timeout=$3 out deadline
    shift 3
    deadline=$(($(date +%s%N) + timeout * 1000000000))
    while :; do
        out=$("$@" 2>&1) || true
        if grep -qE -- "$want" <<<"$out"; then
            pass "$desc"
            return 0
        fi
        (($(date +%s%N) < deadline)) || break
        sleep 0.2
    done
    fail "$desc" "expected within ${timeout}s a line matching: $want" "last output: $(tr '\n' ' ' <<<"$out" | head -c 2000)"
}

check_le() { # DESC MAX GOT (numbers, GOT may be fractional)
    if awk -v g="$3" -v m="$2" 'BEGIN{exit !(g+0 <= m+0)}'; then pass "$1 (got $3)"; else fail "$1" "expected <= $2" "got: $3"; fi
}

check_ge() { # DESC MIN GOT
    if awk -v g="$3" -v m="$2" 'BEGIN{exit !(g+0 >= m+0)}'; then pass "$1 (got $3)"; else fail "$1" "expected >= $2" "got: $3"; fi
}

# first field after KEY on the line starting with KEY ("REP 0x00 BND ..." -> rep_of = 0x00)
field() { awk -v k="$1" '$1==k {print $2; exit}' <<<"$2"; }

vg_finish() {
    echo
    if [[ -n ${VG_TMP:-} && ! -d $VG_TMP ]]; then
        fail "the test's temp dir $VG_TMP still exists" "something outside this test removed it (failures above may follow from that)"
    fi
    if ((VG_FAIL > 0)); then
        echo "failed checks:"
        local f
        for f in "${VG_FAILED[@]}"; do echo "  - $f"; done
        if [[ -n ${VG_TMP:-} && -f $VG_TMP/gw.log ]]; then
            echo "--- last 40 lines of the gateway log ($VG_TMP/gw.log) ---"
            tail -n 40 "$VG_TMP/gw.log"
        fi
    fi
    echo "($((SECONDS - VG_T0)) s)"
    echo "$(basename "$0"): $VG_PASS passed, $VG_FAIL failed"
    if ((VG_FAIL > 0)); then exit 1; fi
    exit 0
}

# ---------------------------------------------------------------------------------------------
# users, VM table, gateway

vg_user_line() { printf '%s:%s\n' "$1" "$(openssl passwd -6 "$2")"; }
# vg_user_line_m METHOD USER PASS: a users-file line with a libcrypt hash of METHOD ('$y$' …)
vg_user_line_m() { printf '%s:%s\n' "$2" "$("$VG_PY" "$VG_VGTEST" hash --method "$1" --password "$3")"; }

vg_users() { # user:pass ... -> rewrites the users file atomically
    local up f=$VG_TMP/users
    : >"$f.tmp"
    for up in "$@"; do vg_user_line "${up%%:*}" "${up#*:}" >>"$f.tmp"; done
    mv -f "$f.tmp" "$f"
}

vm_set() { # NAME key=value... : write the VM file atomically (temp + rename)
    local name=$1 f=$VG_TMP/vms/$1 kv
    shift
    : >"$VG_TMP/vms/.$name.tmp"
    for kv in "$@"; do printf '%s = %s\n' "${kv%%=*}" "${kv#*=}" >>"$VG_TMP/vms/.$name.tmp"; done
    mv -f "$VG_TMP/vms/.$name.tmp" "$f"
}

vm_del() { rm -f "$VG_TMP/vms/$1"; }

# gw_conf FILE [key=value ...]: the gateway config; keys given override the defaults, other
# [gateway] keys given (agent-timeout, max-per-vm, ...) are added
gw_conf() {
    local file=$1 kv k extra=()
    shift
    local -A v=(
        [zone]=vm.test
        [name]=hv1
        [listen]="$HV4:1080, [$HV6]:1080"
        [listen-http]="$HV4:3128"
        [vm-dir]=$VG_TMP/vms
        [users-file]=$VG_TMP/users
        [allow-anonymous-from]="127.0.0.0/8, $CL4/32, $CL6/128"
        [handshake-timeout]=10
        [idle-timeout]=3600
        [connect-timeout]=5
        [drain-timeout]=30
        [max-connections]=4096
        [max-per-client]=256
        [log-level]=info
        [auth-threads]=
        [auth-queue]=
        [admin-socket]=${file%.conf}.admin.sock
    )
    for kv in "$@"; do
        [[ -v "v[${kv%%=*}]" ]] || extra+=("${kv%%=*} = ${kv#*=}")
        v[${kv%%=*}]=${kv#*=}
    done
    {
        echo "[dns]"
        echo "zone = ${v[zone]}"
        echo "[host]"
        echo "name = ${v[name]}"
        echo "[gateway]"
        for k in listen listen-http vm-dir users-file allow-anonymous-from handshake-timeout \
            idle-timeout connect-timeout drain-timeout max-connections max-per-client log-level \
            auth-threads auth-queue admin-socket; do
            [[ -n ${v[$k]} ]] && echo "$k = ${v[$k]}"
        done
        for kv in "${extra[@]}"; do echo "$kv"; done
    } >"$file.tmp"
    mv -f "$file.tmp" "$file"
}

# gw_start NAME CONF : start vmgate-gw in the host namespace and wait for each listener of CONF
gw_start() {
    local name=$1 conf=$2 l addr port
    vg_start "$name" "$NS_HV" "$VG_GW_BIN" -c "$conf" -f
    for l in $(awk -F= '/^listen(-http)? *=/{print $2}' "$conf" | tr ',' ' '); do
        port=${l##*:}
        addr=${l%:*}
        addr=${addr#[}
        addr=${addr%]}
        wait_port "$NS_HV" "$addr" "$port" 10 "$name" || vg_die "gateway $name did not come up"
    done
}

# a normal request through the gateway must still work: SOCKS HELLO to the test server
# gw_serves DESC [vgtest socks options...]
gw_serves() {
    local desc=$1 out
    shift
    out=$(cl_vgt socks --gw "$HV4:1080" --name web1.vm.test --port 7000 --action hello "$@" 2>&1) || true
    if [[ $out == *"HELLO vm1"* && $out == *"ECHOED ping"* ]]; then
        pass "$desc"
    else
        fail "$desc" "expected: REP 0x00, HELLO vm1, ECHOED ping" "got: $out"
    fi
}

gw_alive_and_serving() { # GWNAME DESC
    if vg_alive "$1"; then pass "$2: gateway process alive"; else fail "$2: gateway process alive" "process ${VG_PID[$1]} exited; log tail: $(tail -n 5 "$VG_TMP/$1.log")"; fi
    gw_serves "$2: gateway still serves a normal request"
}

# descriptors and established TCP connections of a gateway: after the clients are gone both
# must return to where they were (no leaked sockets, pipes or connection slots)
gw_fds() { find "/proc/$1/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l; }
_fds_le() { (($(gw_fds "$1") <= $2)); }
_estab_none() { (($(ip netns exec "$NS_HV" ss -Htn state established | wc -l) == 0)); }
check_no_leak() { # GWNAME BASELINE-FDS DESC
    local pid=${VG_PID[$1]} base=$2 desc=$3
    if wait_until "descriptors back to baseline" 10 _fds_le "$pid" $((base + 2)); then
        pass "$desc: descriptors back to baseline ($base, now $(gw_fds "$pid"))"
    else
        fail "$desc: descriptors back to baseline" "expected <= $((base + 2)) open descriptors" \
            "got $(gw_fds "$pid"): $(ls -l "/proc/$pid/fd" 2>/dev/null | awk '{print $NF}' | sort | uniq -c | sort -rn | head -n 5 | tr '\n' ' ')"
    fi
    if wait_until "no established connections" 10 _estab_none; then
        pass "$desc: no established TCP connections left in the host namespace"
    else
        fail "$desc: no established TCP connections left in the host namespace" \
            "got: $(ip netns exec "$NS_HV" ss -Htn state established | head -n 10 | tr '\n' ';')"
    fi
}

# Start the test server (vgtest.py serve) in VM namespace IDX on its address and loopback.
vm_serve() { # IDX PORT [extra listen...]
    local i=$1 port=$2 ns
    shift 2
    ns=$VG_ID-vm$i
    local args=(--listen "127.0.0.1:$port" --label "vm$i" --results "$VG_TMP/results")
    if ip -n "$ns" link show eth0 >/dev/null 2>&1; then
        args+=(--listen "198.18.$i.2:$port" --listen "[fd00:76:$i::2]:$port")
    fi
    local l
    for l in "$@"; do args+=(--listen "$l"); done
    vg_start "srv$i-$port" "$ns" "$VG_PY" "$VG_VGTEST" serve "${args[@]}"
    wait_port "$ns" 127.0.0.1 "$port" 10 "srv$i-$port" || vg_die "test server vm$i:$port did not start"
}

# OpenSSH test server: vg_sshd [-o CONFIG-LINE]... NAME NS ADDR KNOWN-NAME...
# Writes $VG_TMP/NAME/: host_key, client_key (+ .pub), authorized_keys, known_hosts (the host key
# under each KNOWN-NAME), sshd_config (PidFile none, no PAM, key-only root login, plus each -o
# line); checks it with sshd -t, starts `sshd -D -e` as vg_start process NAME in NS and waits for
# ADDR:22. VG_SSH_OPTS: ssh options for its clients (its client key only, its known_hosts,
# strict host key checks).
vg_sshd() {
    local extra=() d n
    while [[ ${1:-} == -o ]]; do extra+=("$2"); shift 2; done
    local name=$1 ns=$2 addr=$3
    shift 3
    d=$VG_TMP/$name
    mkdir -p "$d" /run/sshd
    ssh-keygen -q -t ed25519 -N '' -C vgt-host -f "$d/host_key"
    ssh-keygen -q -t ed25519 -N '' -C vgt-client -f "$d/client_key"
    cp "$d/client_key.pub" "$d/authorized_keys"
    : >"$d/known_hosts"
    for n in "$@"; do echo "$n $(cut -d' ' -f1,2 "$d/host_key.pub")" >>"$d/known_hosts"; done
    printf '%s\n' "Port 22" "ListenAddress $addr" "HostKey $d/host_key" \
        "AuthorizedKeysFile $d/authorized_keys" "PidFile none" "UsePAM no" "StrictModes no" \
        "PermitRootLogin prohibit-password" "PasswordAuthentication no" \
        "KbdInteractiveAuthentication no" "${extra[@]}" >"$d/sshd_config"
    /usr/sbin/sshd -t -f "$d/sshd_config" || vg_die "sshd config rejected ($name)"
    vg_start "$name" "$ns" /usr/sbin/sshd -D -e -f "$d/sshd_config"
    wait_port "$ns" "$addr" 22 10 "$name" || vg_die "sshd ($name) did not start"
    VG_SSH_OPTS=(-o "IdentityFile=$d/client_key" -o IdentitiesOnly=yes -o CheckHostIP=no
        -o "UserKnownHostsFile=$d/known_hosts" -o StrictHostKeyChecking=yes)
}


#!/usr/bin/env bash
# test_vm_serial.sh — the serial channel end to end in a real QEMU VM:
#   client namespace → vmgate-gw (host namespace) → serial:PATH (QEMU chardev socket)
#   → virtio-serial → vmgate-agent in the guest → 127.0.0.1:PORT in the guest.
#
# One VM at a time (TCG, 2 cores).  The guest (scripts/build-vm-image.sh, tests/vm/init.sh) runs
# busybox httpd :80, dropbear :22 and the test service vmgate-echo --serve :7000 (ECHO / SOURCE
# n / SINK), and the agent with --socks 127.0.0.1:1080 (vmgate.agentargs=).  Checks: curl
# --socks5-hostname and HTTP CONNECT by name (index.html, 10 MiB with sha256), ssh through
# `nc -X 5`, 8 parallel streams (integrity, per-stream throughput vs the mean), exact half-close,
# closed guest port → 0x05, guest-originated streams (denied without ACL; allowed by
# `allow-out`), the control stream seen from a guest program
# (op=info, op=host-facts), the agent killed in the guest (recovery, control stream again), the
# gateway restarted, QEMU killed (0x04 within 2 s, other VMs still served), and a VM whose agent
# does not run (0x04 within about agent-timeout).
#
# Sanitizer builds have no vmgate-agent-static: one is built from the same sources in a build
# of its own ($VMGATE_BUILD/agent-static, no sanitizer), so the sanitized gateway is still
# tested against the real agent (an image of its own: $VMGATE_BUILD/vm-serial).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source "$VG_LIB_DIR/vmlib.sh"

vg_init
vg_require_tools curl nc ssh qemu-system-x86_64 cmake
T=$VG_TMP
GW=$HV4:1080
GWH=$HV4:3128
HOSTPY=$VMGATE_SRC/tests/vm/vmhost.py
VMNAME=vm1.vm.test
# sanitizer builds: every report from the gateway lands in a file checked at the end
export ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$T/sanitizer
export UBSAN_OPTIONS=${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$T/sanitizer:print_stacktrace=1

ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# --- the image, with a static agent -----------------------------------------------------------
AGENT_BIN=$VMGATE_BUILD/guest/vmgate-agent-static
VM_IMAGE=$VMGATE_BUILD/vm
if [[ ! -x $AGENT_BIN ]]; then
    # sanitizer build (guest/CMakeLists.txt links no static agent there): build one apart
    SA=$VMGATE_BUILD/agent-static
    vg_log "no $AGENT_BIN (sanitizer build?): building vmgate-agent-static in $SA"
    if ! out=$({ cmake -S "$VMGATE_SRC" -B "$SA" -DVMGATE_SANITIZE=OFF -DVMGATE_TESTS=OFF \
        -DCMAKE_BUILD_TYPE=RelWithDebInfo && cmake --build "$SA" --target vmgate-agent-static -j2; } 2>&1); then
        vg_die "cannot build a static agent in $SA: $(tail -n 20 <<<"$out")"
    fi
    AGENT_BIN=$SA/guest/vmgate-agent-static
    [[ -x $AGENT_BIN ]] || vg_die "no static agent at $AGENT_BIN (libevent_core.a missing? run scripts/install-deps.sh)"
    VM_IMAGE=$VMGATE_BUILD/vm-serial
    # the kernel from the main image's cache: not downloaded twice
    if [[ ! -d $VM_IMAGE/cache && -d $VMGATE_BUILD/vm/cache ]]; then
        mkdir -p "$VM_IMAGE"
        cp -a "$VMGATE_BUILD/vm/cache" "$VM_IMAGE/"
    fi
fi
export VM_IMAGE
if out=$(bash "$VMGATE_SRC/scripts/build-vm-image.sh" "$VM_IMAGE" --agent "$AGENT_BIN" 2>&1); then
    pass "image $VM_IMAGE with agent $AGENT_BIN"
else
    vg_die "build-vm-image.sh failed: $(tail -n 20 <<<"$out")"
fi
BIG_SHA=$(awk '$2=="big.bin"{print $1}' "$VM_IMAGE/www.sha256")
INDEX="vmgate test VM: hello from the guest"

# --- namespaces: client, host; one namespace "VM" web2 on a tcp: channel --------------------
vg_net_init
vg_add_vm 2
mkdir -p "$T/www2"
echo "hello from web2" >"$T/www2/index.html"
vg_start web2 "$NS_VM2" "$VG_PY" -m http.server --bind "$(vm4 2)" --directory "$T/www2" 80
vm_serve 2 7000
wait_port "$NS_VM2" "$(vm4 2)" 80 10 web2 || vg_die "web2 http server did not start"
vm_set web2.vm.test channel="tcp:$(vm4 2)"
gw_conf "$T/gw.conf"

curl_cl() { ip netns exec "$NS_CL" curl -sS --max-time "${CURL_MAX:-30}" "$@"; }
ssh_vm() { # remote command... : ssh root@vm1 through nc -X 5 and the gateway
    ip netns exec "$NS_CL" timeout 60 ssh -F /dev/null -i "$VM_IMAGE/id_ed25519" -o IdentitiesOnly=yes \
        -o UserKnownHostsFile="$VM_IMAGE/known_hosts" -o StrictHostKeyChecking=yes -o BatchMode=yes \
        -o ConnectTimeout=30 -o ProxyCommand="nc -X 5 -x $GW %h %p" "root@$VMNAME" "$@"
}
index_ok() { [[ $(CURL_MAX=10 curl_cl --socks5-hostname "$GW" "http://$VMNAME/index.html" 2>/dev/null) == "$INDEX" ]]; }
web2_served() { # DESC: the tcp: VM is still served through the same gateway
    local out
    out=$(cl_vgt socks --gw "$GW" --name web2.vm.test --port 7000 --action hello 2>&1) || true
    if [[ $out == *"HELLO vm2"* && $out == *"ECHOED ping"* ]]; then pass "$1"; else fail "$1" "got: $out"; fi
}
# socks_rep NAME PORT: prints "REP 0xNN MS <milliseconds>" (or what vgtest said)
socks_rep() {
    local t0 out
    t0=$(date +%s%N)
    out=$(cl_vgt socks --gw "$GW" --name "$1" --port "$2" 2>&1) || true
    echo "$(awk '$1=="REP"{print $1, $2; exit}' <<<"$out") MS $(ms_since "$t0") ${out//$'\n'/ }"
}

# =============================================================================================
vg_log "boot the VM (agent mode, agent with --socks 127.0.0.1:1080)"
vm_start --mode agent --append "vmgate.agentargs=--socks,127.0.0.1:1080,--keepalive,5" ||
    vg_die "QEMU did not start"
vm_set "$VMNAME" channel="serial:$VM_SOCK"
gw_start gw "$T/gw.conf"
line=$(vm_wait_ready 120) || vg_die "the VM did not come up"
pass "VM up: $line ($(vm_elapsed) s after QEMU started, $VM_ACCEL)"
gw_base_fds=$(gw_fds "${VG_PID[gw]}")

# --- curl by name -----------------------------------------------------------------------------
t0=$(date +%s%N)
out=$(curl_cl --socks5-hostname "$GW" "http://$VMNAME/index.html" 2>&1) || true
check_eq "curl --socks5-hostname $VMNAME/index.html (first request: opens the agent session, $(ms_since "$t0") ms)" "$INDEX" "$out"
t0=$(date +%s%N)
got=$(curl_cl --socks5-hostname "$GW" "http://$VMNAME/big.bin" | sha256sum | cut -d' ' -f1) || true
check_eq "curl --socks5-hostname $VMNAME/big.bin: 10 MiB sha256 ($(ms_since "$t0") ms)" "$BIG_SHA" "$got"
out=$(curl_cl -x "socks5h://$GW" "http://VM1.vm.test./index.html" 2>&1) || true
check_eq "curl socks5h:// with an upper-case name and a trailing dot" "$INDEX" "$out"
got=$(curl_cl -p -x "http://$GWH" "http://$VMNAME/big.bin" | sha256sum | cut -d' ' -f1) || true
check_eq "curl through HTTP CONNECT: big.bin sha256" "$BIG_SHA" "$got"
check_match "gateway log: CONNECT via serial" "CONNECT $VMNAME:80 via serial" "$(cat "$T/gw.log")"

# --- ssh through nc -X 5 ---------------------------------------------------------------------
t0=$(date +%s%N)
out=$(ssh_vm 'echo vmgate-$((6*7)); hostname; cat /proc/sys/kernel/osrelease' 2>&1) || true
check_match "ssh -o ProxyCommand='nc -X 5 …' root@$VMNAME runs a command ($(ms_since "$t0") ms)" "^vmgate-42$" "$out"
check_match "ssh: it ran in the guest (hostname vmgate-test)" "^vmgate-test$" "$out"
head -c 1000000 /dev/urandom >"$T/up.bin"
out=$(ssh_vm sha256sum <"$T/up.bin" 2>&1) || true
check_match "ssh: 1 MB piped to the guest arrives intact (busybox sha256sum)" "^$(sha256sum <"$T/up.bin" | cut -d' ' -f1) " "$out"

# --- 8 parallel streams -------------------------------------------------------------------------
# 8 curl downloads of big.bin at once: each intact, each stream's MiB/s near the mean
pids=()
for i in 0 1 2 3 4 5 6 7; do
    ip netns exec "$NS_CL" curl -sS --max-time 120 --socks5-hostname "$GW" -o "$T/par$i.bin" \
        -w '%{speed_download}\n' "http://$VMNAME/big.bin" >"$T/par$i.speed" 2>&1 &
    pids+=($!)
done
wait "${pids[@]}" || true
bad=0
for i in 0 1 2 3 4 5 6 7; do
    [[ $(sha256sum <"$T/par$i.bin" 2>/dev/null | cut -d' ' -f1) == "$BIG_SHA" ]] || bad=$((bad + 1))
done
rm -f "$T"/par*.bin
check_eq "8 parallel curl downloads of big.bin: all 8 intact (sha256)" 0 "$bad"
fair=$(cat "$T"/par?.speed | awk '{v[NR]=$1; s+=$1} END{m=s/NR; d=0; for(i=1;i<=NR;i++){x=v[i]/m-1; if(x<0)x=-x; if(x>d)d=x; o=o sprintf(" %.2f", v[i]/m)}; printf "%.1f%s (sum of stream rates %.1f MiB/s)", d*100, o, s/1048576}')
vg_log "8 curl streams: largest deviation from the mean %, each stream's MiB/s / mean: $fair"
check_le "8 parallel curl streams: every stream's MiB/s within ±50% of the mean (largest deviation, %)" 50 "${fair%% *}"
# the same with the guest's SOURCE service, 8 × 10 MiB (vmhost.py: checks every byte, measures
# progress: how far the slowest stream got when the first one finished)
out=$(ip netns exec "$NS_CL" "$VG_PY" "$HOSTPY" streams --gw "$GW" --name "$VMNAME" \
    --port 7000 --streams 8 --bytes $((10 << 20)) 2>&1) && rc=0 || rc=$?
check_eq "8 parallel SOURCE streams × 10 MiB: every stream complete, sha256 equal" 0 "$rc"
((rc == 0)) || sed 's/^/    /' <<<"$out"
vg_log "8 SOURCE streams: $(grep -E '^(SPREAD_PCT|PROGRESS_AT_FIRST_DONE|TOTAL)' <<<"$out" | tr '\n' ' ')"
out=$(ip netns exec "$NS_CL" "$VG_PY" "$HOSTPY" streams --gw "$GW" --name "$VMNAME" \
    --port 7000 --streams 4 --bytes $((3 << 20)) --mode echo 2>&1) && rc=0 || rc=$?
check_eq "4 parallel full-duplex echo streams × 3 MiB intact" 0 "$rc" || true
((rc == 0)) || sed 's/^/    /' <<<"$out"

# --- half-close ---------------------------------------------------------------------------------
out=$(cl_vgt socks --gw "$GW" --name "$VMNAME" --port 7000 --action echo --size 3000000 2>&1) || true
check_match "half-close: client shuts down its write side after 3 MB, gets all 3 MB back, then EOF" \
    "^ECHO_BACK 3000000 OF 3000000 END EOF OK" "$out"
out=$(cl_vgt socks --gw "$GW" --name "$VMNAME" --port 7000 --action echo --size 200000 --pipeline 2>&1) || true
check_match "half-close with the data pipelined behind the SOCKS request" "^ECHO_BACK 200000 OF 200000 END EOF OK" "$out"

# --- refusals ------------------------------------------------------------------------------------
r=$(socks_rep "$VMNAME" 9)
check_match "closed port in the guest → SOCKS reply 0x05" "^REP 0x05 " "$r"
out=$(cl_vgt http --gw "$GWH" --target "$VMNAME:9" 2>&1) || true
check_match "closed port in the guest over HTTP CONNECT → 502" "^STATUS 502" "$out"

# --- guest-originated streams ------------------------------------------------------------------
out=$(ssh_vm 'vmgate-echo --socks 127.0.0.1:1080 web2.vm.test 80 </dev/null; echo "exit $?"' 2>&1) || true
check_match "guest → agent SOCKS → gateway → web2.vm.test:80 without ACL: refused 0x02" "^REP 0x02$" "$out"
check_match "  (the guest's SOCKS client exits 3)" "^exit 3$" "$out"
check_match "gateway log: the guest stream was denied" "guest(-originated)? stream .*denied" "$(cat "$T/gw.log")"
vm_set "$VMNAME" channel="serial:$VM_SOCK" allow-out="web2.vm.test:80"
out=$(ssh_vm 'printf "GET /index.html HTTP/1.0\r\n\r\n" | vmgate-echo --socks 127.0.0.1:1080 web2.vm.test 80' 2>&1) || true
check_match "allow-out = web2.vm.test:80: the guest reaches web2.vm.test:80" "^REP 0x00$" "$out"
check_match "allow-out: the guest got web2's page" "^hello from web2" "$out"
out=$(ssh_vm 'vmgate-echo --socks 127.0.0.1:1080 web2.vm.test 7000 </dev/null' 2>&1) || true
check_match "allow-out: another port of web2.vm.test is refused (0x02)" "^REP 0x02$" "$out"
out=$(ssh_vm "vmgate-echo --socks 127.0.0.1:1080 $VMNAME 80 </dev/null" 2>&1) || true
check_match "allow-out: a name not listed ($VMNAME itself) is refused (0x02)" "^REP 0x02$" "$out"
vm_set "$VMNAME" channel="serial:$VM_SOCK"

# --- the control stream, seen from a guest program (the agent's control socket) -------------------
ctl_guest() { ssh_vm "printf 'req id=1 op=info\\nreq id=2 op=host-facts\\n' | vmgate-echo --unix /run/vmgate-agent.sock" 2>&1; }
out=$(ctl_guest) || true
check_match "guest op=info: the agent got the gateway's hello (name, zone, host)" \
    "^event id=1 status=ok connected=yes name=$VMNAME zone=vm.test host=hv1" "$out"
check_match "guest op=host-facts answered by the gateway" "^event id=2 status=ok host=hv1" "$out"

# --- the agent killed in the guest ----------------------------------------------------------------
# (ssh itself runs through the agent: the kill is delayed and detached so ssh can return first)
out=$(ssh_vm 'p=$(pidof vmgate-agent); setsid sh -c "sleep 0.5; kill -9 $p" </dev/null >/dev/null 2>&1 & echo "agent pid $p"' 2>&1) || true
check_match "agent PID in the guest" "^agent pid [0-9]+$" "$out"
if wait_until "init reports the agent's exit" 20 grep -aq 'vmgate-agent exited' "$VM_CONSOLE"; then
    pass "agent killed in the guest; /init: $(grep -a -m1 'vmgate-agent exited' "$VM_CONSOLE" | tr -d '\r')"
else
    fail "agent killed in the guest" "no 'vmgate-agent exited' on the console"
fi
t0=$(date +%s%N)
first=$(socks_rep "$VMNAME" 80)
if wait_until "a request through the restarted agent" 20 index_ok; then
    pass "after the agent was killed: requests succeed again after $(ms_since "$t0") ms (first attempt: ${first:0:22})"
else
    fail "after the agent was killed: requests succeed again within 20 s" "first attempt: $first" \
        "gateway log: $(tail -n 5 "$T/gw.log" | tr '\n' '|')"
fi
got=$(curl_cl --socks5-hostname "$GW" "http://$VMNAME/big.bin" | sha256sum | cut -d' ' -f1) || true
check_eq "restarted agent: big.bin sha256" "$BIG_SHA" "$got"
# QEMU keeps the host side of the port open across the agent's restart, so the gateway learns of
# it from its control stream going unanswered (three agent-timeout checks) and starts a new
# session with a new hello: poll for it
poll_match "restarted agent: the gateway introduced itself again (op=info: connected, name)" \
    "^event id=1 status=ok connected=yes name=$VMNAME " 20 ctl_guest
out=$(ctl_guest) || true
check_match "restarted agent: guest op=host-facts answered by the gateway" "^event id=2 status=ok host=hv1" "$out"
# the stale session is noticed by whichever check fires first: the control stream's ping (three
# agent-timeouts) or yamux's keepalive (the new agent may not answer the old session's pings in
# time under a sanitizer on TCG): either way it ends and the next request opens a new one
check_match "gateway log: the stale session noticed, a new one started" \
    "control stream (unanswered|gone): the agent restarted; starting a new session|agent session ended: keepalive timeout" \
    "$(cat "$T/gw.log")"

# --- the gateway restarted ----------------------------------------------------------------------
vg_stop gw
pass "gateway stopped (SIGTERM)"
gw_start gw2 "$T/gw.conf"
t0=$(date +%s%N)
out=$(curl_cl --socks5-hostname "$GW" "http://$VMNAME/index.html" 2>&1) || true
check_eq "restarted gateway: the first request works ($(ms_since "$t0") ms)" "$INDEX" "$out"
out=$(ssh_vm 'echo again-$((2+3))' 2>&1) || true
check_match "restarted gateway: ssh works" "^again-5$" "$out"
gw_base_fds=$(gw_fds "${VG_PID[gw2]}")

# --- QEMU killed ---------------------------------------------------------------------------------
# a tunnel open at that moment must end at once, as an abort (RST), not hang nor look like a clean
# end; new requests get 0x04 at once
cl_vgt socks --gw "$GW" --name "$VMNAME" --port 7000 --action idle --wait 20 >"$T/idle.log" 2>&1 &
idle=$!
VG_PIDS+=("$idle")
wait_until "the tunnel to kill is open" 20 grep -q ECHOED "$T/idle.log" || true
qpid=$VM_PID
kill -KILL "$qpid"
wait "$qpid" 2>/dev/null || true
r=$(socks_rep "$VMNAME" 80)
ms=$(awk '{print $4}' <<<"$r")
check_match "QEMU killed: a request gets SOCKS reply 0x04" "^REP 0x04 " "$r"
check_le "QEMU killed: the 0x04 came within 2000 ms" 2000 "${ms:-99999}"
wait "$idle" 2>/dev/null || true
out=$(cat "$T/idle.log")
check_match "QEMU killed: an open tunnel is torn down at once (client sees the end within 2 s)" \
    "^IDLE_END (EOF|RESET) AFTER (0|1)\." "$out"
check_match "QEMU killed: the open tunnel ends with a reset, not a clean EOF (a cut transfer must not look complete)" \
    "^IDLE_END RESET" "$out"
if vg_alive gw2; then pass "QEMU killed: gateway still alive"; else fail "QEMU killed: gateway still alive"; fi
web2_served "QEMU killed: the gateway still serves another VM (web2.vm.test, tcp:)"
check_no_leak gw2 "$gw_base_fds" "QEMU killed"
VM_PID=
vm_stop

# --- a VM whose agent does not run ----------------------------------------------------------------
vg_log "boot the VM without its agent (vmgate.mode=none)"
vm_start --mode none || vg_die "QEMU did not start (mode none)"
vm_set "$VMNAME" channel="serial:$VM_SOCK"
line=$(vm_wait_ready 120) || vg_die "the VM (mode none) did not come up"
check_match "VM up without agent" "mode=noagent" "$line"
r=$(socks_rep "$VMNAME" 80)
ms=$(awk '{print $4}' <<<"$r")
check_match "agent not running: SOCKS reply 0x04" "^REP 0x04 " "$r"
check_le "agent not running: 0x04 within about agent-timeout (2 s; ms)" 3000 "${ms:-99999}"
check_ge "agent not running: the gateway waited for the agent (ms)" 1500 "${ms:-0}"
r=$(socks_rep "$VMNAME" 80)
check_match "agent not running: a second request also gets 0x04" "^REP 0x04 " "$r"
web2_served "agent not running: the gateway still serves another VM"
vm_stop

# --- clean exit, no sanitizer reports -------------------------------------------------------------
vg_stop gw2
reports=$(cat "$T"/sanitizer* 2>/dev/null | head -c 3000 || true)
check_eq "no sanitizer reports (ASan/UBSan/LSan) from the gateway" "" "$reports"
vg_finish

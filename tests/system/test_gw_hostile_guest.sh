#!/usr/bin/env bash
# vmgate-gw against hostile guests (audit issue 10).  The test plays QEMU's part: a python agent
# (hostile_agent.py) LISTENS on the `serial:` unix socket of a VM table entry and speaks yamux
# to the gateway, abusing it:
#   1. a control-stream flood, without granting window (cut off, RSS bounded) and with window
#      (200 MB of requests, RSS bounded) while another VM (tcp:) is served;
#   2. liveness ping ids: random, different per session, never 1;
#   3. 70 guest-opened streams: capped at max-per-vm, then at guest-share of max-connections;
#      outside SOCKS clients are still accepted;
#   4. idle-timeout ends a client's serial: connection and a guest-opened stream;
#   5. guest streams that never finish their request line are closed after handshake-timeout;
#   6. a vsock-mux peer answering "OK 1073" without a newline: no spinning, 0x06 at the timeout.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# The memory bounds measure the gateway, not AddressSanitizer: its quarantine keeps up to 256 MB
# of freed memory resident by default (the ASan build of the suite), so make it small here.
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}quarantine_size_mb=4"

vg_init
vg_net_init
vg_add_vm 1
vm_serve 1 7000
vm_set web1.vm.test "channel=tcp:$(vm4 1)"
T=$VG_TMP
HA=$VG_LIB_DIR/hostile_agent.py

ha() { # NAME args... : a hostile agent in the host namespace (log: $T/NAME.log)
    local name=$1
    shift
    vg_start "$name" "$NS_HV" "$VG_PY" -u "$HA" "$@"
}
hlog() { cat "$T/$1.log" 2>/dev/null; }
# a client request that makes the gateway open the VM's session (the agent's answer decides REP)
trigger() { cl_vgt socks --gw "$HV4:1080" --name "$1" --port "${2:-7000}" --action hello 2>&1 || true; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/${VG_PID[gw]}/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/${VG_PID[gw]}/stat"; }
restart_gw() { # key=value... : a fresh gateway with this configuration
    vg_stop gw
    gw_conf "$T/gw.conf" "$@"
    : >"$T/gw.log"
    gw_start gw "$T/gw.conf"
}

# ---- 1. control-stream flood ----------------------------------------------------------------
gw_conf "$T/gw.conf" agent-timeout=1
gw_start gw "$T/gw.conf"
rss0=$(rss_kb)
vm_set bad1.vm.test "channel=serial:$T/bad1.sock"

# (a) the audit's attack: no window on the control stream, requests as fast as ours allows
ha flood1 flood --path "$T/bad1.sock"
wait_unix "$T/bad1.sock"
trigger bad1.vm.test >/dev/null
maxrss=0
flood_over() {
    local r
    r=$(rss_kb)
    ((r > maxrss)) && maxrss=$r
    grep -qE '^(CUT|NOTCUT|NOCONTROL)' "$T/flood1.log"
}
wait_until "flood without window ends" 120 flood_over || true
vg_log "$(hlog flood1 | tail -n 1)"
check_match "no window on the control stream: the gateway cuts the session off" \
    '^CUT sent=[0-9]+ ' "$(hlog flood1)"
check_match "the gateway says why" 'does not read its control stream .* closing the session' \
    "$(cat "$T/gw.log")"
check_le "RSS during the flood without window (KiB)" 65536 "$maxrss"
gw_serves "after the cut-off guest: another VM is served"
vg_stop flood1

# (b) window granted, 200 MB of requests (4 KB lines), the replies read: nothing to cut, and the
# gateway's memory stays bounded; web1 (tcp:) is served meanwhile
ha flood2 flood --path "$T/bad1.sock" --window --pad 4000
wait_unix "$T/bad1.sock"
trigger bad1.vm.test >/dev/null
maxrss=0
served=0
served_fail=0
flood2_over() {
    local r out
    r=$(rss_kb)
    ((r > maxrss)) && maxrss=$r
    if grep -q '^FLOODING' "$T/flood2.log"; then
        out=$(cl_vgt socks --gw "$HV4:1080" --name web1.vm.test --port 7000 --action hello 2>&1) || true
        if [[ $out == *"HELLO vm1"* ]]; then served=$((served + 1)); else served_fail=$((served_fail + 1)); fi
    fi
    grep -qE '^(CUT|DONE|NOTCUT|NOCONTROL)' "$T/flood2.log"
}
wait_until "200 MB flood with window ends" 240 flood2_over || true
vg_log "$(hlog flood2 | tail -n 1)"
check_match "200 MB of control requests with window: all answered" \
    '^DONE sent=2[0-9]{8} replies=[0-9]{5}' "$(hlog flood2)"
check_le "RSS during the 200 MB control flood (KiB)" 65536 "$maxrss"
check_ge "another VM (tcp:) served during the flood (requests)" 1 "$served"
check_eq "no request to the other VM failed during the flood" 0 "$served_fail"
vg_log "gateway RSS: ${rss0} KiB at start, at most ${maxrss} KiB in the 200 MB flood"
vg_stop flood2
gw_alive_and_serving gw "after the floods"

# ---- 2. ping ids ----------------------------------------------------------------------------
vm_set good1.vm.test "channel=serial:$T/good1.sock"
ha pingid pingid --path "$T/good1.sock" --sessions 2
wait_unix "$T/good1.sock"
two_sessions() {
    (($(grep -c '^YPING' "$T/pingid.log") >= 2)) && return 0
    trigger good1.vm.test >/dev/null
    return 1
}
wait_until "two agent sessions" 30 two_sessions || true
mapfile -t pid_ids < <(awk '/^PINGID/ {print $2}' "$T/pingid.log")
mapfile -t ypings < <(awk '/^YPING/ {print $2}' "$T/pingid.log")
vg_log "control ping ids: ${pid_ids[*]}; yamux ping values: ${ypings[*]}"
check_eq "two sessions, each with a control ping" 2 "${#pid_ids[@]}"
check_match "control ping ids are numbers other than 1" '^([02-9]|[1-9][0-9]+) ([02-9]|[1-9][0-9]+)$' \
    "${pid_ids[*]}"
check_cmd "the two sessions' first control ping ids differ" test "${pid_ids[0]:-x}" != "${pid_ids[1]:-x}"
check_match "yamux ping values are numbers other than 1" '^([02-9]|[1-9][0-9]+) ([02-9]|[1-9][0-9]+)$' \
    "${ypings[*]}"
check_cmd "the two sessions' first yamux ping values differ" test "${ypings[0]:-x}" != "${ypings[1]:-x}"
vg_stop pingid

# the real vmgate-agent (--listen unix: plays QEMU's socket) answers the random ids: its session
# stays up through 5 s of requests (10 ping checks at agent-timeout 1 s; an unanswered ping
# ends a session after 3)
AGENT=$VMGATE_BUILD/guest/vmgate-agent
vm_set real.vm.test "channel=serial:$T/agent.sock"
vg_start agent "$NS_VM1" "$AGENT" --listen "unix:$T/agent.sock" --allow-ports 7000 --keepalive 1
wait_unix "$T/agent.sock"
served=0
t_end=$((SECONDS + 5))
while ((SECONDS < t_end)); do
    out=$(trigger real.vm.test)
    [[ $out == *"HELLO vm1"* ]] && served=$((served + 1))
done
check_ge "the real agent serves requests over its session" 5 "$served"
check_eq "... in one session for 5 s: its answers to the random ping ids count" 1 \
    "$(grep -c "serial $T/agent.sock (real.vm.test): agent session opened" "$T/gw.log")"
check_nomatch "... and no control stream went unanswered" 'agent.sock.*control stream unanswered' \
    "$(cat "$T/gw.log")"
vg_stop agent

# ---- 3. guest streams: max-per-vm, guest-share ------------------------------------------------
restart_gw agent-timeout=1 max-connections=40 guest-share=50 max-per-vm=12
vm_set bad2.vm.test "channel=serial:$T/bad2.sock" "allow-out=web1.vm.test:7000"
ha streams streams --path "$T/bad2.sock" --n 70 --target web1.vm.test:7000
wait_unix "$T/bad2.sock"
trigger bad2.vm.test >/dev/null
wait_until "the guest's 70 streams answered" 30 grep -q '^STREAMS' "$T/streams.log" || true
check_match "70 guest streams, max-per-vm 12: 12 served, 58 reset at once" \
    '^STREAMS acked=12 refused=58 ok=12 err=0' "$(hlog streams)"
check_match "the refusal is logged with its limit" 'guest stream refused: max-per-vm reached' \
    "$(cat "$T/gw.log")"
ip netns exec "$NS_CL" "$VG_PY" -u "$HA" hold --gw "$HV4:1080" --name web1.vm.test --port 7000 \
    --n 25 --secs 0 >"$T/hold1.log" 2>&1 || true
check_match "while the guest holds its streams, 25 outside clients are served" '^HELD ok=25 n=25' \
    "$(cat "$T/hold1.log")"

# raise max-per-vm: now guest-share (50 % of 40 = 20 for all guests) is the cap
gw_conf "$T/gw.conf" agent-timeout=1 max-connections=40 guest-share=50 max-per-vm=64
kill -HUP "${VG_PID[gw]}"
poll_match "configuration reloaded" 'configuration reloaded' 10 cat "$T/gw.log"
kill -USR1 "${VG_PID[streams]}"
second_batch() { (($(grep -c '^STREAMS' "$T/streams.log") >= 2)); }
wait_until "70 more guest streams answered" 30 second_batch || true
check_match "70 more guest streams: guest-share of max-connections (20) caps them at 8 more" \
    '^STREAMS acked=8 refused=62 ok=8 err=0' "$(hlog streams | sed -n 2p)"
ip netns exec "$NS_CL" "$VG_PY" -u "$HA" hold --gw "$HV4:1080" --name web1.vm.test --port 7000 \
    --n 20 --secs 0 >"$T/hold2.log" 2>&1 || true
check_match "guests hold their whole share: the other 20 slots still serve outside clients" \
    '^HELD ok=20 n=20' "$(cat "$T/hold2.log")"
vg_stop streams
gw_alive_and_serving gw "after the guest stream flood"

# ---- 4. idle-timeout on serial: connections ---------------------------------------------------
restart_gw agent-timeout=1 idle-timeout=2
vm_set quiet.vm.test "channel=serial:$T/quiet.sock" "allow-out=web1.vm.test:7000"
ha silent silent --path "$T/quiet.sock" --target web1.vm.test:7000
wait_unix "$T/quiet.sock"
vg_start hold3 "$NS_CL" "$VG_PY" -u "$HA" hold --gw "$HV4:1080" --name quiet.vm.test --port 7000 \
    --silent --secs 30
wait_until "the silent agent's streams ended" 30 grep -q '^GUESTSTREAM closed' "$T/silent.log" || true
wait_until "the client saw its connection end" 10 grep -q '^CLIENT closed' "$T/hold3.log" || true
vg_log "$(tr '\n' ';' <"$T/silent.log") $(tr '\n' ';' <"$T/hold3.log")"
check_match "client connection over serial: opened" '^HELD ok=1 n=1' "$(cat "$T/hold3.log")"
check_match "idle-timeout 2 s ends the client's serial connection (client side)" \
    '^CLIENT closed secs=[2-4]\.[0-9] ' "$(cat "$T/hold3.log")"
check_match "idle-timeout 2 s ends the client's serial connection (the agent's stream)" \
    '^HOSTSTREAM closed secs=[2-4]\.[0-9] how=(RST|FIN)' "$(hlog silent)"
check_match "guest-opened stream answered OK" '^GUESTSTREAM reply=OK' "$(hlog silent)"
check_match "idle-timeout 2 s ends the guest-opened stream" \
    '^GUESTSTREAM closed secs=[2-4]\.[0-9] how=(RST|FIN)' "$(hlog silent)"
vg_stop hold3
vg_stop silent

# ---- 5. unfinished preambles on guest-opened streams -------------------------------------------
restart_gw agent-timeout=1 handshake-timeout=2 max-per-vm=20
vm_set slow.vm.test "channel=serial:$T/slow.sock" "allow-out=web1.vm.test:7000"
ha partial partial --path "$T/slow.sock" --n 20 --target web1.vm.test:7000
wait_unix "$T/slow.sock"
trigger slow.vm.test >/dev/null
wait_until "the unfinished streams were closed" 40 grep -q '^AFTER' "$T/partial.log" || true
vg_log "$(tr '\n' ';' <"$T/partial.log")"
check_match "20 streams without a complete request line: all closed after handshake-timeout (2 s)" \
    '^PARTIAL closed=20 n=20 first=[2-3]\.[0-9] last=[2-3]\.[0-9] how=FIN\+ERR' "$(hlog partial)"
check_match "their slots are free again (max-per-vm 20): a complete request is served" '^AFTER OK' \
    "$(hlog partial)"
vg_stop partial

# ---- 6. vsock-mux "OK 1073" without a newline ----------------------------------------------------
restart_gw connect-timeout=3
vg_start muxsim "$NS_HV" "$VG_PY" "$VG_MUXSIM" --path "$T/nonl.vsock" --ok-nonl-port 7000
wait_unix "$T/nonl.vsock"
vm_set nonl.vm.test "channel=vsock-mux:$T/nonl.vsock"
cpu0=$(cpu_ticks)
t0=$(date +%s%N)
out=$(cl_vgt socks --gw "$HV4:1080" --name nonl.vm.test --port 7000 2>&1) || true
t1=$(date +%s%N)
cpu1=$(cpu_ticks)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", (b - a) / 1e9}')
vg_log "vsock-mux without newline: $(head -n 1 <<<"$out"), ${secs} s, $((cpu1 - cpu0)) CPU ticks"
check_eq "the client gets 0x06 (timeout) from connect-timeout" 0x06 "$(field REP "$out")"
check_ge "... after connect-timeout (s)" 2.9 "$secs"
# spinning would burn a whole CPU for the 3 s (300 ticks)
check_le "the gateway did not spin while waiting for the newline (CPU ticks in 3 s)" 20 $((cpu1 - cpu0))
vg_stop muxsim
gw_alive_and_serving gw "at the end"
vg_finish

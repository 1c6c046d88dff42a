#!/usr/bin/env bash
# vmgate-gw's relay: bulk integrity (200 MB each way, sha256 on both ends), parallel streams,
# exact half-close in both directions, SIGHUP under load (config and users reloaded, the running
# transfer intact), idle-timeout, max-per-client, and the SIGTERM drain.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vg_init
vg_net_init
vg_add_vm 1
vg_add_vm 3 nolink

T=$VG_TMP
GW=$HV4:1080
GWH=$HV4:3128
MB=1000000

vm_serve 1 7000
vm_serve 3 7000
vg_start mux3 "$NS_VM3" "$VG_PY" "$VG_MUXSIM" --path "$T/vm3.vsock"
wait_unix "$T/vm3.vsock" || vg_die "vsock-mux simulator did not start"
vm_set web1.vm.test channel="tcp:$(vm4 1)"
vm_set web3.vm.test channel="vsock-mux:$T/vm3.vsock"
vg_users alice:wonderland
gw_conf "$T/gw.conf"
gw_start gw "$T/gw.conf"
FDS0=$(gw_fds "${VG_PID[gw]}")

bulk() { # DESC [vgtest bulk options]: the transfer must end "BULK OK"
    local desc=$1 out t0
    shift
    t0=$SECONDS
    out=$(cl_vgt bulk "$@" 2>&1) || true
    if grep -q '^BULK OK' <<<"$out"; then
        pass "$desc ($((SECONDS - t0)) s)"
    else
        fail "$desc" "expected: BULK OK" "got: $(grep -v '^STREAM .* OK$' <<<"$out" | head -c 3000)"
    fi
}

# --- 1. bulk integrity ----------------------------------------------------------------------
vg_log "# bulk"
bulk "SOCKS5: 200 MB each way at once, sha256 equal on both ends" \
    --gw "$GW" --name web1.vm.test --port 7000 --up $((200 * MB)) --down $((200 * MB)) --tag big
bulk "HTTP CONNECT: 50 MB each way" \
    --gw "$GWH" --http --name web1.vm.test --port 7000 --up $((50 * MB)) --down $((50 * MB)) --tag bighttp
bulk "vsock-mux channel: 20 MB each way" \
    --gw "$GW" --name web3.vm.test --port 7000 --up $((20 * MB)) --down $((20 * MB)) --tag bigmux
bulk "8 parallel SOCKS5 streams, 16 MB each way each" \
    --gw "$GW" --name web1.vm.test --port 7000 --up $((16 * MB)) --down $((16 * MB)) --streams 8 --tag par
bulk "odd sizes (1 byte up, 0 down)" --gw "$GW" --name web1.vm.test --port 7000 --up 1 --down 0 --tag tiny1
bulk "odd sizes (0 up, 65537 down)" --gw "$GW" --name web1.vm.test --port 7000 --up 0 --down 65537 --tag tiny2

# --- 2. half-close ----------------------------------------------------------------------------
vg_log "# half-close"
bulk "client half-closes first, then receives the server's full 20 MB reply (SOCKS5)" \
    --gw "$GW" --name web1.vm.test --port 7000 --up $((5 * MB)) --down $((20 * MB)) --after-eof --tag ae1
bulk "client half-closes first, then receives the full reply (HTTP CONNECT)" \
    --gw "$GWH" --http --name web1.vm.test --port 7000 --up $((5 * MB)) --down $((20 * MB)) --after-eof --tag ae2
bulk "client half-closes first with nothing sent, reply still arrives" \
    --gw "$GW" --name web1.vm.test --port 7000 --up 0 --down $((2 * MB)) --after-eof --tag ae3
for via in socks http mux; do
    case $via in
    socks) opts=(--gw "$GW" --name web1.vm.test --port 7000) ;;
    http) opts=(--gw "$GWH" --http --name web1.vm.test --port 7000) ;;
    mux) opts=(--gw "$GW" --name web3.vm.test --port 7000) ;;
    esac
    out=$(cl_vgt serverfirst "${opts[@]}" --up $((5 * MB)) --down $((3 * MB)) --tag "sf-$via" 2>&1) || true
    check_match "server half-closes first, client still sends 5 MB that arrive intact ($via)" "^SERVERFIRST OK" "$out"
done

# --- 2a. resets ----------------------------------------------------------------------------
vg_log "# resets"
out=$(cl_vgt socks --gw "$GW" --name web1.vm.test --port 7000 --action rstserver --size 300000 2>&1) || true
check_match "VM resets after 300 KB: the client gets the bytes, then the end, promptly" \
    "^RST_END [0-9]+ OF 300000 END (EOF|RESET) AFTER [0-4]\." "$out"
out=$(cl_vgt socks --gw "$GWH" --http --name web1.vm.test --port 7000 --action rstserver --size 300000 2>&1) || true
check_match "VM resets (HTTP CONNECT): the client connection ends promptly" \
    "^RST_END [0-9]+ OF 300000 END (EOF|RESET) AFTER [0-4]\." "$out"
out=$(cl_vgt rstclient --gw "$GW" --name web1.vm.test --port 7000 --n 20 2>&1) || true
check_match "20 clients reset their tunnels mid-transfer" "^RST_SENT 20" "$out"
check_no_leak gw "$FDS0" "after resets"
gw_serves "after resets: gateway serves normally"

# --- 2c. churn ------------------------------------------------------------------------------
out=$(cl_vgt churn --gw "$GW" --name web1.vm.test --port 7000 --n 600 --threads 8 2>&1) || true
check_match "600 short tunnels from 8 threads at once all work" "^CHURN 600 OK OF 600" "$out"
for n in 0 1 1000 65535 65536 300000; do
    out=$(cl_vgt churn --gw "$GW" --name web1.vm.test --port 7000 --n 96 --threads 8 --sendclose $n 2>&1) || true
    check_match "96 tunnels whose VM answers $n bytes and closes at once: reply whole, then EOF" \
        "^CHURN 96 OK OF 96" "$out"
done
check_no_leak gw "$FDS0" "after churn"

# --- 2b. backpressure ------------------------------------------------------------------------
vg_log "# backpressure"
rss_kb() { awk '/^VmRSS/{print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
GWPID=${VG_PID[gw]}
rss0=$(rss_kb "$GWPID")
vg_start stall "$NS_CL" "$VG_PY" "$VG_VGTEST" stall --gw "$GW" --name web1.vm.test --port 7000 \
    --up $((200 * MB)) --down $((200 * MB)) --secs 4 --tag stall
rssmax=$rss0
while vg_alive stall; do
    r=$(rss_kb "$GWPID")
    ((r > rssmax)) && rssmax=$r
    sleep 0.1
done
rc=0
wait "${VG_PID[stall]}" || rc=$?
out=$(cat "$T/stall.log")
check_match "backpressure: 200 MB each way to / from a receiver that stalls 4 s arrive intact" "^STALL OK" "rc=$rc $out"
check_le "backpressure: bytes the client could push while the VM read nothing (bounded)" $((64 * MB)) \
    "$(field UP_ACCEPTED_WHILE_STALLED "$out")"
check_le "backpressure: gateway RSS growth during the stalls (kB)" 16384 "$((rssmax - rss0))"

# --- 3. SIGHUP under load ---------------------------------------------------------------------
vg_log "# SIGHUP under load"
GWPID=${VG_PID[gw]}
vg_start hupbulk "$NS_CL" "$VG_PY" "$VG_VGTEST" bulk --gw "$GW" --name web1.vm.test --port 7000 \
    --up $((64 * MB)) --down $((64 * MB)) --rate $((8 * MB)) --tag hup
estab() { # PORT: established connections to the gateway's port in the host namespace
    ip netns exec "$NS_HV" ss -Htn state established "( sport = :$1 )" | wc -l
}
estab_ge() { (($(estab "$1") >= $2)); }
wait_until "the transfer to be established" 10 estab_ge 1080 1 ||
    fail "SIGHUP: long transfer established" "no established connection on :1080"

vg_users alice:wonderland bob:builder
kill -HUP "$GWPID"
poll_match "SIGHUP: a user added to the users file can log in" "^REP 0x00" 5 \
    cl_vgt socks --gw "$GW" --src "$CL4_AUTH" --user bob --password builder --name web1.vm.test --port 7000
vg_users bob:builder
kill -HUP "$GWPID"
poll_match "SIGHUP: a user removed from the users file is refused" "^AUTH " 5 \
    cl_vgt socks --gw "$GW" --src "$CL4_AUTH" --user alice --password wonderland --name web1.vm.test --port 7000
gw_conf "$T/gw.conf" allow-anonymous-from=127.0.0.0/8
kill -HUP "$GWPID"
poll_match "SIGHUP: allow-anonymous-from narrowed -> anonymous client offering no-auth gets 05 ff" "^RECV 05ff" 5 \
    cl_vgt raw --to "$GW" --hex 050100 --wait 2
gw_conf "$T/gw.conf"
kill -HUP "$GWPID"
poll_match "SIGHUP: allow-anonymous-from restored -> anonymous works again" "^REP 0x00" 5 \
    cl_vgt socks --gw "$GW" --name web1.vm.test --port 7000
cp "$T/gw.conf" "$T/gw.conf.good"
echo "handshake-timeout = banana" >>"$T/gw.conf"
kill -HUP "$GWPID"
sleep 0.5
gw_serves "SIGHUP with a broken config: the running configuration is kept"
mv -f "$T/gw.conf.good" "$T/gw.conf"
for i in 1 2 3; do
    kill -HUP "$GWPID"
    sleep 0.1
done
if vg_alive hupbulk; then pass "SIGHUP: the transfer was still running during the reloads"; else
    fail "SIGHUP: the transfer was still running during the reloads" "it ended before the last SIGHUP: $(cat "$T/hupbulk.log")"
fi
rc=0
wait "${VG_PID[hupbulk]}" || rc=$?
check_match "SIGHUP: 64 MB each way across 8 reloads (one with a broken config) arrive intact" "^BULK OK" "rc=$rc $(cat "$T/hupbulk.log")"
if kill -0 "$GWPID" 2>/dev/null; then pass "SIGHUP: same gateway process still running"; else fail "SIGHUP: same gateway process still running" "pid $GWPID gone"; fi
gw_serves "SIGHUP: gateway serves normally afterwards"

# --- 4. idle-timeout and max-per-client (a second gateway) ---------------------------------------
vg_log "# idle-timeout, max-per-client"
gw_conf "$T/gw3.conf" listen="$HV4:1082" listen-http="$HV4:3130" idle-timeout=3 max-per-client=3
gw_start gw3 "$T/gw3.conf"
out=$(cl_vgt socks --gw "$HV4:1082" --name web1.vm.test --port 7000 --action idle --wait 12 2>&1) || true
check_match "idle-timeout 3 s: an idle relayed connection is closed" "^IDLE_END (EOF|RESET)" "$out"
after=$(awk '$1=="IDLE_END"{print $3=="AFTER" ? $4 : -1}' <<<"$out")
check_ge "idle-timeout: not closed before ~3 s" 2.5 "${after:--1}"
check_le "idle-timeout: closed within 3 s + 3 s" 6 "${after:-99}"
bulk "idle-timeout 3 s: a busy 6 s transfer is not cut" \
    --gw "$HV4:1082" --name web1.vm.test --port 7000 --up $((24 * MB)) --rate $((4 * MB)) --down $((4 * MB)) --tag busy
out=$(cl_vgt percap --gw "$HV4:1082" --http-gw "$HV4:3130" --name web1.vm.test --port 7000 --limit 3 2>&1) || true
check_match "max-per-client 3: 4th connection closed at once (SOCKS), 503 (HTTP), freed slot reusable" "^PERCAP OK" "$out"
grep '^FAIL' <<<"$out" || true
vg_stop gw3

# --- 4b. max-connections (a fourth gateway: 5 in all, 3 per client) ----------------------------
vg_log "# max-connections"
gw_conf "$T/gw4.conf" listen="$HV4:1083" listen-http="$HV4:3131" max-connections=5 max-per-client=3
gw_start gw4 "$T/gw4.conf"
for i in 1 2 3; do
    vg_start "hold$i" "$NS_CL" "$VG_PY" "$VG_VGTEST" socks --gw "$HV4:1083" --name web1.vm.test --port 7000 \
        --action hold --wait 60
done
for i in 4 5; do
    vg_start "hold$i" "$NS_CL" "$VG_PY" "$VG_VGTEST" socks --gw "$HV4:1083" --src "$CL4_AUTH" --user bob \
        --password builder --name web1.vm.test --port 7000 --action hold --wait 60
done
wait_until "five tunnels on :1083" 10 estab_ge 1083 5 ||
    fail "max-connections: five tunnels held" "got $(estab 1083): $(cat "$T"/hold?.log)"
out=$(cl_vgt raw --to "$HV4:1083" --src "$CL4_AUTH" --hex 05020002 --wait 4 2>&1) || true
check_match "max-connections 5: a 6th connection (client with 2 of 3) is closed without a reply" \
    "^RECV $" "$out"
check_match "max-connections 5: ... closed at once" "^END (EOF|RESET)" "$out"
out=$(cl_vgt http --gw "$HV4:3131" --src "$CL4_AUTH" --target web1.vm.test:7000 --auth bob:builder 2>&1) || true
check_match "max-connections 5: HTTP CONNECT over the cap -> 503" "^STATUS 503" "$out"
vg_stop hold5
poll_match "max-connections: a freed slot is usable again" "^REP 0x00" 5 \
    cl_vgt socks --gw "$HV4:1083" --src "$CL4_AUTH" --user bob --password builder --name web1.vm.test --port 7000
for i in 1 2 3 4; do
    vg_stop "hold$i"
done
vg_stop gw4

# --- 5. SIGTERM drain (a third gateway) --------------------------------------------------------
vg_log "# SIGTERM drain"
gw_conf "$T/gw2.conf" listen="$HV4:1081" listen-http="$HV4:3129" drain-timeout=6
gw_start gw2 "$T/gw2.conf"
vg_start drainbulk "$NS_CL" "$VG_PY" "$VG_VGTEST" bulk --gw "$HV4:1081" --name web1.vm.test --port 7000 \
    --up $((24 * MB)) --rate $((8 * MB)) --down $((24 * MB)) --tag drain
vg_start drainhold "$NS_CL" "$VG_PY" "$VG_VGTEST" socks --gw "$HV4:1081" --name web1.vm.test --port 7000 \
    --action hold --wait 30
wait_until "two established tunnels on :1081" 10 estab_ge 1081 2 ||
    fail "drain: two tunnels established before SIGTERM" "got $(estab 1081)"
t0=$(date +%s%N)
kill -TERM "${VG_PID[gw2]}"
poll_match "drain: new connections are refused right after SIGTERM" "^ERROR ConnectionRefused|^END (EOF|RESET)" 2 \
    cl_vgt raw --to "$HV4:1081" --hex 050100 --wait 1
poll_match "drain: new HTTP connections are refused too" "^ERROR ConnectionRefused|^END (EOF|RESET)" 2 \
    cl_vgt raw --to "$HV4:3129" --text 'CONNECT web1.vm.test:7000 HTTP/1.1\r\n\r\n' --wait 1
rc=0
wait "${VG_PID[drainbulk]}" || rc=$?
check_match "drain: the established transfer finishes intact" "^BULK OK" "rc=$rc $(cat "$T/drainbulk.log")"
if wait_until "gateway exit after SIGTERM" 12 bash -c "! kill -0 ${VG_PID[gw2]}"; then
    dt=$((($(date +%s%N) - t0) / 1000000))
    rc=0
    wait "${VG_PID[gw2]}" || rc=$?
    check_eq "drain: gateway exit status after SIGTERM" 0 "$rc"
    check_le "drain: gateway exits within drain-timeout 6 s + 2 s (ms)" 8000 "$dt"
    check_ge "drain: gateway waited for the transfer (>= 2.5 s) (ms)" 2500 "$dt"
else
    fail "drain: gateway exits after SIGTERM" "still running 12 s after SIGTERM (drain-timeout 6)"
fi
rc=0
wait "${VG_PID[drainhold]}" || rc=$?
check_match "drain: an idle tunnel is closed at the end of the drain" "^HOLD_END (EOF|RESET)" "$(cat "$T/drainhold.log")"

check_no_leak gw "$FDS0" "after the relay tests"
gw_alive_and_serving gw "after the relay tests"
vg_finish

#!/usr/bin/env bash
# vmgate-agent without a VM: the agent runs in a "guest" network namespace (loopback only) and
# listens on a unix socket (--listen unix:, playing QEMU's chardev); tests/agent/muxclient plays
# the gateway from a "host" namespace (loopback only).  Covers: CONNECT to live / closed / denied
# ports, integrity (sha256) both ways, exact half-close both ways, 8 parallel streams with fair
# progress, the control stream (hello, settings, requests both ways, unknown ops and verbs), the
# guest's local SOCKS5 listener reaching a host-side acceptor (names, IPv4 literals, refusals),
# keepalive against a frozen host, the agent killed and restarted mid-session, and the
# statically linked agent.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vg_require_root
vg_require_tools ip "$VG_PY" sha256sum timeout curl file
AGENT=$VMGATE_BUILD/guest/vmgate-agent
AGENT_STATIC=$VMGATE_BUILD/guest/vmgate-agent-static
MUXC=$VMGATE_BUILD/tests/agent/muxclient
SVC=$VMGATE_SRC/tests/agent/services.py
CTLC=$VMGATE_SRC/tests/agent/ctlclient.py
[[ -x $AGENT && -x $MUXC ]] || vg_die "build vmgate-agent and muxclient first ($VMGATE_BUILD)"
vg_reap_stale
VG_TMP=$(mktemp -d /tmp/vgt-$$.XXXXXX)
T=$VG_TMP
# sanitizer builds: every report from any of our processes lands in a file checked at the end
export ASAN_OPTIONS=log_path=$T/sanitizer UBSAN_OPTIONS=log_path=$T/sanitizer:print_stacktrace=1
NS_G=$VG_ID-guest
NS_H=$VG_ID-host
vg_netns_add "$NS_G"
vg_netns_add "$NS_H"
SOCK=$T/agent.sock
CTL=$T/agent-ctl.sock

# --- services --------------------------------------------------------------------------------
mkdir -p "$T/www-host"
head -c 3000000 /dev/urandom >"$T/www-host/blob.bin"
echo "hello from another vm" >"$T/www-host/index.html"
BLOB_SHA=$(sha256sum <"$T/www-host/blob.bin" | cut -d' ' -f1)
head -c 5000000 /dev/urandom >"$T/data5m"
DATA_SHA=$(sha256sum <"$T/data5m" | cut -d' ' -f1)

# in the guest: echo 7001, sink 7002, banner 7003, (7004 closed), denied 7005 (listening but
# not in the allowlist)
vg_start svc-guest "$NS_G" "$VG_PY" "$SVC" echo:7001 sink:7002 banner:7003:"$T/banner.log" \
    echo:7005
# on the host side: the web server guest-originated streams are routed to
vg_start svc-host "$NS_H" "$VG_PY" "$SVC" http:8080:"$T/www-host"
wait_until "guest services" 10 grep -q ready "$T/svc-guest.log"
wait_until "host services" 10 grep -q ready "$T/svc-host.log"

start_agent() { # NAME BINARY
    vg_start "$1" "$NS_G" "$2" --listen "unix:$SOCK" --allow-ports 7001-7004,8000-8100 \
        --socks 127.0.0.1:1080 --control-socket "$CTL" --keepalive 1 -v
    wait_until "agent socket" 10 test -S "$SOCK"
    wait_until "agent control socket" 10 test -S "$CTL"
}
mux() { ip netns exec "$NS_H" "$MUXC" -c "unix:$SOCK" "$@"; }
in_guest() { ip netns exec "$NS_G" "$@"; }

rm -f "$SOCK"
start_agent agent "$AGENT"
check_match "agent --help describes the options" '--allow-ports' "$("$AGENT" --help)"

# --- host → guest CONNECT --------------------------------------------------------------------
out=$(echo "hello agent" | mux connect 7001 2>"$T/err") || true
check_eq "CONNECT to a live port: echo through the stream" "hello agent" "$out"
check_match "CONNECT answered OK" '^reply: OK$' "$(cat "$T/err")"

out=$(mux connect 7002 <"$T/data5m" 2>/dev/null) || true
check_eq "5 MB host → guest intact (sha256 computed by the service after our FIN)" \
    "sha256 $DATA_SHA 5000000" "$out"

got=$(mux connect 7001 <"$T/data5m" 2>/dev/null | sha256sum | cut -d' ' -f1) || true
check_eq "5 MB echoed guest → host intact" "$DATA_SHA" "$got"

rc=0
mux connect 7004 </dev/null >/dev/null 2>"$T/err" || rc=$?
check_eq "closed port: muxclient sees ERR (exit 3)" 3 "$rc"
check_match "closed port: ERR refused" '^reply: ERR refused ' "$(cat "$T/err")"

rc=0
mux connect 7005 </dev/null >/dev/null 2>"$T/err" || rc=$?
check_eq "port outside the allowlist: ERR (exit 3)" 3 "$rc"
check_match "port outside the allowlist: ERR denied" '^reply: ERR denied ' "$(cat "$T/err")"

# --- half-close, guest side first ------------------------------------------------------------
# the banner service shuts down its sending side at once; we keep sending 5 MB afterwards
rm -f "$T/banner.log"
out=$( (sleep 0.3; cat "$T/data5m") | mux connect 7003 2>/dev/null) || true
check_eq "guest FIN first: banner then EOF while the host still sends" "banner" "$out"
wait_until "banner service log" 10 test -s "$T/banner.log"
check_eq "guest FIN first: every byte sent after it still arrives" "got 5000000 $DATA_SHA" \
    "$(cat "$T/banner.log")"

# --- 8 parallel streams ------------------------------------------------------------------------
out=$(mux parallel 8 7001 4000000 2>&1) && rc=0 || rc=$?
check_eq "8 parallel streams × 4 MB echoed intact" 0 "$rc"
echo "   $(grep -E '^(parallel|fairness)' <<<"$out" | tr '\n' ' ')"
ratio=$(sed -n 's/.*(min\/max \([0-9.]*\)).*/\1/p' <<<"$out")
check_ge "fair progress: the slowest stream had this share of the fastest when the first finished" \
    0.25 "${ratio:-0}"

# --- control stream and guest-originated streams ----------------------------------------------
vg_start host "$NS_H" "$MUXC" -c "unix:$SOCK" host --route other.vm.test=8080 \
    --route 198.18.0.9=8080 --route dead.vm.test=8099 --ready "$T/ready" \
    --hello "name=vm1.vm.test,zone=vm.test,host=hv1"
wait_until "agent's hello on the control stream" 10 test -e "$T/ready"
sleep 0.2
hlog=$(cat "$T/host.log")
check_match "CONTROL answered OK" '^control reply: OK$' "$hlog"
check_match "agent says hello" '^ctl< hello agent=vmgate-agent version=' "$hlog"
check_match "host req op=ping answered ok" '^ctl< event id=1 status=ok$' "$hlog"
check_match "host req with unknown op → unknown-op" '^ctl< event id=2 status=error reason=unknown-op$' "$hlog"
check_match "unknown verb → error event, no hang" '^ctl< event id=3 status=error reason=unknown-verb$' "$hlog"

out=$(in_guest "$VG_PY" "$CTLC" "$CTL" "req id=7 op=info" "req id=8 op=host-facts" \
    "req id=9 op=snapshot-save name=before%20upgrade" "req id=10 op=frobnicate" "noise id=11") || true
check_match "guest op=info: what the host said in hello and set" \
    '^event id=7 status=ok connected=yes name=vm1.vm.test zone=vm.test host=hv1 set.greeting=hello%20guest,%20100%25%20real$' "$out"
check_match "guest req op=host-facts → host's event, with the guest program's id" \
    '^event id=8 status=ok host=hv1 cores=2 ' "$out"
check_match "guest req op=snapshot-save (percent-encoded value round trip)" \
    '^event id=9 status=ok name=before%20upgrade$' "$out"
check_match "guest req with an op the host does not know → unknown-op" \
    '^event id=10 status=error reason=unknown-op$' "$out"
check_match "guest program's unknown verb → unknown-verb" '^event id=11 status=error reason=unknown-verb$' "$out"
check_match "host saw the guest's request with the agent's own id" '^ctl< req id=[0-9]+ op=host-facts$' \
    "$(cat "$T/host.log")"

# guest-originated: curl inside the guest through the agent's SOCKS5 listener
out=$(in_guest curl -sS --max-time 10 --socks5-hostname 127.0.0.1:1080 http://other.vm.test:8080/ 2>&1) || true
check_eq "guest curl --socks5-hostname reaches the host-side acceptor" "hello from another vm" "$out"
got=$(in_guest curl -sS --max-time 20 --socks5-hostname 127.0.0.1:1080 http://other.vm.test:8080/blob.bin |
    sha256sum | cut -d' ' -f1) || true
check_eq "3 MB download through a guest-originated stream intact" "$BLOB_SHA" "$got"
out=$(in_guest curl -sS --max-time 10 --socks5 127.0.0.1:1080 http://198.18.0.9:8080/ 2>&1) || true
check_eq "guest curl --socks5 with an IPv4 literal (ATYP 1)" "hello from another vm" "$out"
rc=0
in_guest curl -sS --max-time 10 --socks5-hostname 127.0.0.1:1080 http://denied.vm.test/ >/dev/null 2>"$T/err" || rc=$?
check_eq "name the host refuses: curl fails (SOCKS error)" 97 "$rc"
check_match "name the host refuses: SOCKS reply 2 (not allowed)" 'SOCKS5.*\(2\)' "$(cat "$T/err")"
rc=0
in_guest curl -sS --max-time 10 --socks5-hostname 127.0.0.1:1080 http://dead.vm.test:8099/ >/dev/null 2>"$T/err" || rc=$?
check_match "host says refused: SOCKS reply 5" 'SOCKS5.*\(5\)' "$(cat "$T/err")"
check_match "host side logged the guest streams" 'guest stream CONNECT other.vm.test 8080: OK' "$(cat "$T/host.log")"
check_match "host side refused the unknown name" 'guest stream CONNECT denied.vm.test 80: ERR denied' "$(cat "$T/host.log")"

# --- the agent dies mid-session and comes back ------------------------------------------------
kill -KILL "${VG_PID[agent]}"
wait "${VG_PID[agent]}" 2>/dev/null || true
rc=0
timeout 10 tail --pid="${VG_PID[host]}" -f /dev/null || rc=$?
check_eq "agent killed: the host side's session ends at once" 0 "$rc"
wait "${VG_PID[host]}" 2>/dev/null && rc=0 || rc=$?
check_eq "agent killed: muxclient host exits 3 (session closed)" 3 "$rc"
check_match "agent killed: session closed on EOF" '^session closed: EOF from peer$' "$(cat "$T/host.log")"
rm -f "$SOCK"
start_agent agent2 "$AGENT"
out=$(echo "again" | mux connect 7001 2>/dev/null) || true
check_eq "restarted agent: new session works" "again" "$out"

# control requests while no host has a control stream open
out=$(in_guest "$VG_PY" "$CTLC" "$CTL" "req id=1 op=host-facts") || true
check_eq "guest request without a host → no-host, at once" "event id=1 status=error reason=no-host" "$out"

# --- keepalive: a host that connects and then never answers ----------------------------------
out=$(ip netns exec "$NS_H" timeout 15 "$VG_PY" - "$SOCK" <<'EOF'
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
t0, got = time.time(), b""
while True:
    b = s.recv(4096)
    if not b:
        break
    got += b
print("closed after %.1f s, ping frames: %d" % (time.time() - t0, got.count(bytes([0, 2, 0, 1]))))
EOF
) || true
check_match "frozen host: the agent's pings go unanswered and it closes the session" \
    '^closed after [1-4]\.[0-9] s, ping frames: [1-9]' "$out"
check_match "frozen host: agent log says keepalive timeout" 'keepalive timeout' "$(cat "$T/agent2.log")"
out=$(echo "after freeze" | mux connect 7001 2>/dev/null) || true
check_eq "agent survives the frozen host and serves the next one" "after freeze" "$out"

# --- host goes away and comes back many times (gateway restarts) ------------------------------
for i in 1 2 3 4 5; do
    ip netns exec "$NS_H" timeout 2 "$MUXC" -c "unix:$SOCK" host >/dev/null 2>&1 || true
done
out=$(echo "still here" | mux connect 7001 2>/dev/null) || true
check_eq "after 5 host sessions that just went away: still serving" "still here" "$out"
if vg_alive agent2; then pass "agent process still alive"; else fail "agent process still alive"; fi
n=$(grep -c 'host connected' "$T/agent2.log" || true)
check_ge "agent started a new session for every host connection" 8 "$n"

# --- hostile bytes from the "host": GoAway(1), session dropped, the agent carries on ----------
out=$(ip netns exec "$NS_H" timeout 10 "$VG_PY" - "$SOCK" <<'EOF'
import os, socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
s.sendall(bytes([0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0]) + os.urandom(4096))  # SYN, then garbage
got = b""
while True:
    try:
        b = s.recv(4096)
    except ConnectionResetError:  # the agent closed with our garbage unread
        break
    if not b:
        break
    got += b
print("goaway-proto" if bytes([0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) in got else "no goaway: %r" % got[:64])
EOF
) || true
check_eq "garbage from the host: agent answers GoAway(protocol error) and closes" "goaway-proto" "$out"
check_match "garbage from the host: logged as a protocol error" 'protocol error' "$(cat "$T/agent2.log")"
out=$(echo "after garbage" | mux connect 7001 2>/dev/null) || true
check_eq "agent serves the next host after garbage" "after garbage" "$out"

# --- no virtio port yet: the agent waits on a timer, it does not spin -------------------------
vg_start agent-noport "$NS_G" "$AGENT" --port-name org.vmgate.test-absent --control-socket none -v
sleep 2
if vg_alive agent-noport; then pass "agent without its port keeps running"; else fail "agent without its port keeps running"; fi
check_match "agent without its port says it waits" 'no virtio port named org.vmgate.test-absent yet; waiting' \
    "$(cat "$T/agent-noport.log")"
ticks=$(awk '{print $14 + $15}' "/proc/${VG_PID[agent-noport]}/stat")
check_le "agent without its port: CPU ticks used in 2 s (a busy loop would use ~200)" 10 "$ticks"
vg_stop agent-noport

# --- the statically linked agent ----------------------------------------------------------------
if [[ -x $AGENT_STATIC ]]; then
    check_match "vmgate-agent-static is statically linked" 'statically linked' "$(file "$AGENT_STATIC")"
    vg_stop agent2
    rm -f "$SOCK"
    start_agent agent3 "$AGENT_STATIC"
    got=$(mux connect 7001 <"$T/data5m" 2>/dev/null | sha256sum | cut -d' ' -f1) || true
    check_eq "static agent: 5 MB echoed intact" "$DATA_SHA" "$got"
else
    echo "   (no vmgate-agent-static in this build: sanitizer builds do not link statically)"
fi

# --- clean exits, and nothing from the sanitizers ----------------------------------------------
for name in "${!VG_PID[@]}"; do
    [[ $name == agent* ]] && vg_stop "$name"
done
reports=$(cat "$T"/sanitizer* 2>/dev/null | head -c 3000 || true)
check_eq "no sanitizer reports (ASan/UBSan/LSan) from the agent or muxclient" "" "$reports"

vg_finish

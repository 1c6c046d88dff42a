#!/usr/bin/env bash
# Interop of vmgate's yamux code with the unmodified hashicorp/yamux (Debian package
# golang-github-hashicorp-yamux-dev, built offline with golang-go):
#  (1) Go yamux.Client as the host, talking to our vmgate-agent (--listen unix:);
#  (2) Go yamux.Server as the guest, talking to our vg_mux client (tests/agent/muxclient), which
#      also accepts the Go side's own streams (even ids) like a gateway would.
# Everything on loopback inside namespaces this test makes, and on unix sockets.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vg_require_root
vg_require_tools ip go "$VG_PY" sha256sum timeout
YAMUX_SRC=/usr/share/gocode/src/github.com/hashicorp/yamux
[[ -d $YAMUX_SRC ]] || vg_die "no $YAMUX_SRC (apt-get install golang-github-hashicorp-yamux-dev)"
AGENT=$VMGATE_BUILD/guest/vmgate-agent
MUXC=$VMGATE_BUILD/tests/agent/muxclient
SVC=$VMGATE_SRC/tests/agent/services.py
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

# --- build the Go peer offline (GOPATH mode against the Debian source package) ----------------
PEER=$T/yamuxpeer
if GOPATH=/usr/share/gocode GO111MODULE=off GOPROXY=off GOFLAGS= GOCACHE=$T/gocache \
    go build -o "$PEER" "$VMGATE_SRC/tests/interop/yamuxpeer.go" >"$T/gobuild.log" 2>&1; then
    pass "Go peer built offline against Debian's hashicorp/yamux"
else
    fail "Go peer built offline against Debian's hashicorp/yamux" "$(cat "$T/gobuild.log")"
    vg_finish
fi

# --- (1) Go host ↔ vmgate-agent ----------------------------------------------------------------
vg_start svc-guest "$NS_G" "$VG_PY" "$SVC" echo:7001 banner:7003:"$T/banner.log" echo:7005
wait_until "guest services" 10 grep -q ready "$T/svc-guest.log"
vg_start agent "$NS_G" "$AGENT" --listen "unix:$T/agent.sock" --allow-ports 7001-7004 \
    --control-socket "$T/ctl.sock" --keepalive 1 -v
wait_until "agent socket" 10 test -S "$T/agent.sock"

out=$(ip netns exec "$NS_H" timeout 120 "$PEER" host -sock "$T/agent.sock" -echo 7001 -closed 7004 \
    -denied 7005 -banner 7003 -streams 8 -bytes 3000000 2>"$T/gohost.err") && rc=0 || rc=$?
echo "$out" | sed 's/^/   go host: /'
check_eq "Go yamux.Client against vmgate-agent: every check passed" 0 "$rc"
for c in 'ping answered' 'bytes echoed intact' 'parallel streams echoed intact' 'ERR refused' \
    'ERR denied' 'half-close' 'control stream'; do
    check_match "Go host: $c" "^PASS .*$c" "$out"
done
sent=$(awk '/^banner-sent/ {print "got " $2 " " $3}' <<<"$out")
wait_until "banner service log" 10 test -s "$T/banner.log" || true
check_eq "Go host: bytes written after the agent's FIN all reached the service" "$sent" \
    "$(cat "$T/banner.log" 2>/dev/null)"
check_nomatch "agent logged no protocol error with the Go peer" 'protocol error' "$(cat "$T/agent.log")"
poll_match "agent saw the Go session end (EOF, reset or EPIPE: Go closes with our last frames unread)" 'session [0-9]+ ended .*(EOF from peer|reset by peer|Broken pipe)' 5 cat "$T/agent.log"

# --- (2) Go guest ↔ vg_mux (muxclient) ----------------------------------------------------------
vg_start svc-host "$NS_H" "$VG_PY" "$SVC" echo:8001
wait_until "host services" 10 grep -q ready "$T/svc-host.log"
vg_start goguest "$NS_G" "$PEER" guest -listen "$T/go.sock" -dial echo.vm.test:8001
wait_until "Go guest socket" 10 test -S "$T/go.sock"
mux() { ip netns exec "$NS_H" "$MUXC" -c "unix:$T/go.sock" "$@"; }

out=$(echo "hello go" | mux connect 1234 2>"$T/err") || true
check_eq "vg_mux client → Go yamux.Server: CONNECT, echo, half-close" "hello go" "$out"

head -c 5000000 /dev/urandom >"$T/data5m"
want=$(sha256sum <"$T/data5m" | cut -d' ' -f1)
got=$(mux connect 1234 <"$T/data5m" 2>/dev/null | sha256sum | cut -d' ' -f1) || true
check_eq "vg_mux client → Go: 5 MB echoed intact (windows both ways)" "$want" "$got"

rc=0
mux connect 9 </dev/null >/dev/null 2>"$T/err" || rc=$?
check_eq "vg_mux client → Go: ERR reply seen" 3 "$rc"
check_match "vg_mux client → Go: ERR refused parsed" '^reply: ERR refused ' "$(cat "$T/err")"

out=$(mux parallel 8 1234 3000000 2>&1) && rc=0 || rc=$?
check_eq "vg_mux client → Go: 8 parallel streams echoed intact" 0 "$rc"
echo "   $(grep -E '^(parallel|fairness)' <<<"$out" | tr '\n' ' ')"

out=$(mux ping 2>&1) || true
check_match "vg_mux ping answered by Go" '^pong: rtt ' "$out"

# the Go guest opens its own stream (even id) in every session; a gateway-like host routes it
ip netns exec "$NS_H" timeout 5 "$MUXC" -c "unix:$T/go.sock" host --route echo.vm.test=8001 \
    >"$T/muxhost.log" 2>&1 || true
check_match "Go-opened stream accepted by vg_mux and relayed by the bridge" \
    'guest stream CONNECT echo.vm.test 8001: OK' "$(cat "$T/muxhost.log")"
poll_match "Go guest verified 1 MB echoed through the vg_mux host" '^dial: OK 1000000 bytes' 5 \
    cat "$T/goguest.log"
check_nomatch "Go guest saw no stream with an odd id from its own side" 'odd stream id' "$(cat "$T/goguest.log")"
# (write errors after muxclient hung up are expected; protocol complaints are not)
check_nomatch "Go yamux reported no protocol violation by our side" \
    'invalid|window exceeded|unexpected flag|duplicate stream|protocol error|go away' \
    "$(cat "$T/goguest.log" "$T/gohost.err")"

# --- clean exits, and nothing from the sanitizers ----------------------------------------------
for name in "${!VG_PID[@]}"; do
    [[ $name == agent* ]] && vg_stop "$name"
done
reports=$(cat "$T"/sanitizer* 2>/dev/null | head -c 3000 || true)
check_eq "no sanitizer reports (ASan/UBSan/LSan) from the agent or muxclient" "" "$reports"

vg_finish

#!/usr/bin/env bash
# vmgate-gw's metrics endpoint and audit log against the real clients: curl fetches /metrics
# (IPv4 and IPv6 loopback of the host namespace), promtool lints what comes back, a real
# Prometheus scrapes it until its target is up; wrong paths and methods get 404 / 405, a 1 MB
# garbage request is refused (431) and the gateway keeps serving; scrapers beyond the connection
# cap are closed at once and idle ones at the timeout.  SIGHUP reopens the audit log (logrotate's
# create mode) and logs policy.reloaded into the new file.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vg_init
vg_require_tools curl promtool prometheus
vg_net_init
vg_add_vm 1
vm_serve 1 7000
vm_set web1.vm.test "channel=tcp:$(vm4 1)"
vg_users

T=$VG_TMP
MPORT=9464
PPORT=9099
M4=http://127.0.0.1:$MPORT
gw_conf "$T/gw.conf" metrics-listen="127.0.0.1:$MPORT, [::1]:$MPORT" audit-log="$T/audit.log"
gw_start gw "$T/gw.conf"
wait_port "$NS_HV" 127.0.0.1 "$MPORT" 10 gw || vg_die "metrics listener 127.0.0.1:$MPORT did not come up"
wait_port "$NS_HV" ::1 "$MPORT" 10 gw || vg_die "metrics listener [::1]:$MPORT did not come up"
gw_serves "the gateway serves with metrics and audit log on"

hv() { vg_in "$NS_HV" "$@"; }
code() { hv curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$@" || true; }

# --- GET /metrics -----------------------------------------------------------------------------
hv curl -sS --max-time 5 -D "$T/m.head" -o "$T/m.body" "$M4/metrics" || true
check_match "GET /metrics: 200" '^HTTP/1\.1 200 OK' "$(cat "$T/m.head")"
check_match "content type of the text format 0.0.4" \
    '^Content-Type: text/plain; version=0\.0\.4; charset=utf-8' "$(tr -d '\r' <"$T/m.head")"
check_match "Connection: close" '^Connection: close' "$(tr -d '\r' <"$T/m.head")"
check_cmd "promtool check metrics accepts the exposition" \
    bash -c "promtool check metrics <'$T/m.body'"
body=$(cat "$T/m.body")
check_match "sessions by front and channel (zero until integration)" \
    '^vmgate_sessions_active\{front="socks5",channel="tcp"\} 0$' "$body"
check_match "refusals by reason" '^vmgate_sessions_refused_total\{reason="no_such_vm"\} [0-9]+$' "$body"
check_match "handshake histogram with +Inf" \
    '^vmgate_handshake_duration_seconds_bucket\{le="\+Inf"\} [0-9]+$' "$body"
check_match "audit drops come from the audit log" '^vmgate_audit_events_dropped_total 0$' "$body"
check_eq "25 front x channel series" 25 "$(grep -c '^vmgate_sessions_active{' <<<"$body")"
check_nomatch "no per-user labels" 'user=' "$body"
check_eq "IPv6 listener: 200" 200 "$(code "http://[::1]:$MPORT/metrics")"
check_eq "query string ignored: 200" 200 "$(code "$M4/metrics?x=1")"
check_eq "HEAD /metrics: 200" 200 "$(code -I "$M4/metrics")"

# --- what it refuses ----------------------------------------------------------------------------
check_eq "GET / : 404" 404 "$(code "$M4/")"
check_eq "GET /metricsx : 404" 404 "$(code "$M4/metricsx")"
check_eq "POST /metrics : 405" 405 "$(code -X POST -d x "$M4/metrics")"
check_eq "DELETE /metrics : 405" 405 "$(code -X DELETE "$M4/metrics")"

# raw_req PY-EXPR-FOR-BYTES: send those bytes, half-close, print the status line (or what broke)
raw_req() {
    hv "$VG_PY" - "$1" "$MPORT" <<'EOF'
import socket, sys
data = eval(sys.argv[1])
s = socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=8)
try:
    s.sendall(data)
    s.shutdown(socket.SHUT_WR)
except OSError as e:
    print("SEND-ERROR", e)
buf = b""
try:
    while True:
        d = s.recv(65536)
        if not d:
            break
        buf += d
except OSError as e:
    print("RECV-ERROR", e)
print(buf.split(b"\r\n", 1)[0].decode("latin-1") or "EMPTY")
EOF
}
check_match "1 MB of garbage without a line end: 431" '^HTTP/1\.1 431 ' "$(raw_req 'b"A" * (1 << 20)')"
check_match "1 MB of random bytes: 400 or 431" '^HTTP/1\.1 (400|431) ' \
    "$(raw_req 'open("/dev/urandom", "rb").read(1 << 20)')"
check_match "a request line that is not HTTP: 400" '^HTTP/1\.1 400 ' "$(raw_req 'b"HELLO\r\n\r\n"')"
check_match "HTTP/2.0: 400" '^HTTP/1\.1 400 ' "$(raw_req 'b"GET /metrics HTTP/2.0\r\n\r\n"')"
check_match "headers over 8 KiB: 431" '^HTTP/1\.1 431 ' \
    "$(raw_req 'b"GET /metrics HTTP/1.1\r\nX: " + b"y" * 9000 + b"\r\n\r\n"')"
check_match "a bare-LF request is served" '^HTTP/1\.1 200 ' "$(raw_req 'b"GET /metrics HTTP/1.0\n\n"')"
gw_alive_and_serving gw "after garbage on the metrics port"
check_eq "metrics still served after garbage" 200 "$(code "$M4/metrics")"

# --- connection cap and timeout -----------------------------------------------------------------
# 16 idle scrapers fill the cap: a 17th is closed at once; the idle ones go at the 5 s timeout
hv "$VG_PY" - "$MPORT" >"$T/cap.out" 2>&1 <<'EOF' &
import socket, sys, time
port = int(sys.argv[1])
idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(16)]
time.sleep(0.5)
extra = socket.create_connection(("127.0.0.1", port), timeout=3)
t = time.time()
try:
    d = extra.recv(10)
    print("EXTRA", "closed" if d == b"" else "data", round(time.time() - t, 2))
except OSError as e:
    print("EXTRA error", e, round(time.time() - t, 2))
t = time.time()
for s in idle:
    s.settimeout(10)
    try:
        s.recv(10)
    except OSError:
        pass
print("IDLE closed after", round(time.time() - t + 0.5, 1))
EOF
cap_pid=$!
VG_PIDS+=("$cap_pid")
wait "$cap_pid" || true
cap=$(cat "$T/cap.out")
check_match "a scraper beyond 16 connections is closed at once" '^EXTRA closed 0\.[0-9]+$' "$cap"
check_match "idle scrapers are closed at the 5 s timeout" '^IDLE closed after [4-6]\.[0-9]$' "$cap"
check_eq "served again once the idle ones are gone" 200 "$(code "$M4/metrics")"

# --- a real Prometheus scrapes it ---------------------------------------------------------------
cat >"$T/prom.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: vmgate
    static_configs:
      - targets: ['127.0.0.1:$MPORT']
EOF
vg_start prom "$NS_HV" prometheus --config.file="$T/prom.yml" --storage.tsdb.path="$T/tsdb" \
    --web.listen-address="127.0.0.1:$PPORT" --log.level=warn
wait_port "$NS_HV" 127.0.0.1 "$PPORT" 30 prom || vg_die "prometheus did not come up"
q() { hv curl -sS --max-time 5 -G "http://127.0.0.1:$PPORT/api/v1/query" --data-urlencode "query=$1" || true; }
poll_match "prometheus: the gateway target is up (up == 1)" \
    '"job":"vmgate".*"value":\[[0-9.]+,"1"\]' 30 q 'up{job="vmgate"}'
poll_match "prometheus holds the 25 session series" '"value":\[[0-9.]+,"25"\]' 10 \
    q 'count(vmgate_sessions_active)'
poll_match "prometheus reads the histogram (the served requests so far)" '"value":\[[0-9.]+,"[1-9][0-9]*"\]' 10 \
    q 'vmgate_handshake_duration_seconds_count'
vg_stop prom

# --- audit log: SIGHUP reopens (logrotate create), policy.reloaded in the new file -------------
kill -HUP "${VG_PID[gw]}"
poll_match "SIGHUP: policy.reloaded in the audit log" '"event":"policy.reloaded"' 10 cat "$T/audit.log"
mv "$T/audit.log" "$T/audit.log.1"
kill -HUP "${VG_PID[gw]}"
poll_match "rotated: a new audit.log with the second reload" '"event":"policy.reloaded".*"by":"SIGHUP"' \
    10 cat "$T/audit.log"
check_eq "the rotated file kept its one policy.reloaded line" 1 "$(grep -c '"event":"policy.reloaded"' "$T/audit.log.1")"
check_eq "... and the new file has only the second" 1 "$(grep -c '"event":"policy.reloaded"' "$T/audit.log")"
check_eq "mode 0640" 640 "$(stat -c %a "$T/audit.log")"
check_cmd "every audit line is one JSON object" "$VG_PY" -c '
import json, sys
for f in sys.argv[1:]:
    for line in open(f, encoding="utf-8"):
        o = json.loads(line)
        assert o["event"] and o["ts"].endswith("Z"), line
' "$T/audit.log" "$T/audit.log.1"
check_eq "metrics still served after the reloads" 200 "$(code "$M4/metrics")"
gw_alive_and_serving gw "after the reloads"
vg_finish

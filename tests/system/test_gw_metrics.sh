#!/usr/bin/env bash
# vmgate-gw's metrics endpoint and audit log against the real clients: curl fetches /metrics
# (IPv4 and IPv6 loopback of the host namespace), promtool lints what comes back, a real
# Prometheus scrapes it until its target is up; wrong paths and methods get 404 / 405, a 1 MB
# garbage request is refused (431) and the gateway keeps serving; scrapers beyond the connection
# cap are closed at once and idle ones at the timeout.  Under load (20 held sessions, 10 as alice,
# 10 anonymous) Prometheus's sum(vmgate_sessions_active) equals the relaying sessions vmgatectl
# reports, promtool accepts the scrape; 5 are killed with vmgatectl kill, the rest end: in the
# audit log every session.start has exactly one session.end / session.killed (by, user, vm, port,
# exact bytes, duration_s), a port outside `ports` and an unknown name give one session.refused
# each, a wrong password one auth.failed and no session; sessions_total, relayed_bytes_total,
# sessions_refused_total and auth_failures_total moved by exactly that.  SIGHUP reopens the audit
# log (logrotate's create mode) and logs policy.reloaded into the new file; a rotation in the
# middle of 50 requests loses and doubles no line.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vg_init
vg_require_tools curl promtool prometheus
vg_net_init
vg_add_vm 1
vm_serve 1 7000
vm_set web1.vm.test "channel=tcp:$(vm4 1)" ports=7000
vg_users alice:wonderland
CTL=$VMGATE_BUILD/socks-gw/vmgatectl
[[ -x $CTL ]] || vg_die "vmgatectl not built ($CTL)"

T=$VG_TMP
MPORT=9464
PPORT=9099
M4=http://127.0.0.1:$MPORT
gw_conf "$T/gw.conf" metrics-listen="127.0.0.1:$MPORT, [::1]:$MPORT" audit-log="$T/audit.log"
gw_start gw "$T/gw.conf"
wait_port "$NS_HV" 127.0.0.1 "$MPORT" 10 gw || vg_die "metrics listener 127.0.0.1:$MPORT did not come up"
wait_port "$NS_HV" ::1 "$MPORT" 10 gw || vg_die "metrics listener [::1]:$MPORT did not come up"
wait_unix "$T/gw.admin.sock" || vg_die "no admin socket at $T/gw.admin.sock"
ctl() { "$CTL" --socket "$T/gw.admin.sock" "$@"; }
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
# --- under load: 20 relayed sessions, as Prometheus and vmgatectl see them ----------------------
# mval NAME{LABELS}: that series' value on a fresh scrape of the gateway
mval() { hv curl -sS --max-time 5 "$M4/metrics" | awk -v k="$1" '$1 == k {print $2; f = 1} END {if (!f) print "none"}'; }
S_TOT='vmgate_sessions_total{front="socks5",channel="tcp"}'
B_UP='vmgate_relayed_bytes_total{direction="up"}'
B_DOWN='vmgate_relayed_bytes_total{direction="down"}'
R_NA='vmgate_sessions_refused_total{reason="not_allowed"}'
R_NV='vmgate_sessions_refused_total{reason="no_such_vm"}'
A_F='vmgate_auth_failures_total'
declare -A M0=()
for k in "$S_TOT" "$B_UP" "$B_DOWN" "$R_NA" "$R_NV" "$A_F"; do M0[$k]=$(mval "$k"); done

# 20 tunnels, 10 as alice (from the address that must authenticate) and 10 anonymous; each sends
# ECHO + 100+i bytes and reads them back, then is held until $T/release exists
NHOLD=20
cat >"$T/hold.py" <<'EOF'
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import vgtest
out, release, gw, auth_src, anon_src, n = sys.argv[2:8]
socks, held = [], []
for i in range(int(n)):
    alice = i % 2 == 0
    s, rep, _ = vgtest.socks_open(gw, "web1.vm.test", 7000, user="alice" if alice else None,
                                  pw="wonderland" if alice else None,
                                  src=auth_src if alice else anon_src)
    assert rep == 0, rep
    s.sendall(b"ECHO\n" + b"x" * (100 + i))
    assert vgtest.recv_exact(s, 100 + i) == b"x" * (100 + i)
    a = s.getsockname()
    held.append({"client": "%s:%d" % (a[0], a[1]), "user": "alice" if alice else None,
                 "up": 5 + 100 + i, "down": 100 + i})
    socks.append(s)
with open(out + ".tmp", "w") as f:
    json.dump(held, f)
os.rename(out + ".tmp", out)
deadline = time.monotonic() + 120
while not os.path.exists(release) and time.monotonic() < deadline:
    time.sleep(0.05)
for s in socks:
    s.close()
EOF
vg_start hold "$NS_CL" "$VG_PY" "$T/hold.py" "$VG_LIB_DIR" "$T/held.json" "$T/release" \
    "$HV4:1080" "$CL4_AUTH" "$CL4" "$NHOLD"
wait_until "$NHOLD sessions held" 60 test -s "$T/held.json" || vg_die "the client did not open its sessions: $(cat "$T/hold.log")"

# "PROM <sum(vmgate_sessions_active)> CTL <relaying sessions of vmgatectl sessions --json>"
load_counts() {
    local p c
    p=$(q 'sum(vmgate_sessions_active)' | "$VG_PY" -c '
import json, sys
r = json.load(sys.stdin)["data"]["result"]
print(r[0]["value"][1] if r else "none")' 2>/dev/null) || p=error
    c=$(ctl --json sessions | "$VG_PY" -c '
import json, sys
print(sum(1 for s in json.load(sys.stdin)["sessions"] if s["state"] == "relay"))' 2>/dev/null) || c=error
    echo "PROM $p CTL $c"
}
poll_match "under load: prometheus sum(vmgate_sessions_active) == vmgatectl's relaying sessions == $NHOLD" \
    "^PROM $NHOLD CTL $NHOLD\$" 30 load_counts

hv curl -sS --max-time 5 -o "$T/m.load" "$M4/metrics" || true
check_cmd "under load: promtool check metrics accepts the exposition" \
    bash -c "promtool check metrics <'$T/m.load'"
check_match "under load: vmgate_sessions_active{socks5,tcp} == $NHOLD on the endpoint" \
    "^vmgate_sessions_active\\{front=\"socks5\",channel=\"tcp\"\\} $NHOLD\$" "$(cat "$T/m.load")"
check_eq "under load: vmgate_sessions_total{socks5,tcp} moved by $NHOLD" $NHOLD \
    "$(($(awk -v k="$S_TOT" '$1 == k {print $2}' "$T/m.load") - ${M0[$S_TOT]}))"

# kill 3 of alice's and 2 anonymous ones (by id, matched on the client address); the rest end
# when the client closes them
ctl --json sessions >"$T/sessions.json"
"$VG_PY" - "$T/held.json" "$T/sessions.json" >"$T/kill.ids" <<'EOF'
import json, sys
held = json.load(open(sys.argv[1]))
ses = {s["client"]: s for s in json.load(open(sys.argv[2]))["sessions"]}
ids = [ses[h["client"]]["id"] for h in held if h["user"]][:3] + \
      [ses[h["client"]]["id"] for h in held if not h["user"]][:2]
print(" ".join(map(str, ids)))
EOF
read -ra KILL <"$T/kill.ids"
check_eq "vmgatectl kill ${KILL[*]}" '{"ok":true,"killed":5}' "$(ctl --json kill "${KILL[@]}" 2>&1)"
poll_match "after the kill: 15 relaying" "^PROM [0-9]+ CTL 15\$" 10 load_counts
touch "$T/release"
hold_rc=0
wait "${VG_PID[hold]}" || hold_rc=$?
check_eq "the holding client ran cleanly" 0 "$hold_rc"
poll_match "all ended: prometheus and vmgatectl agree on 0" '^PROM 0 CTL 0$' 30 load_counts

# --- refusals and a wrong password --------------------------------------------------------------
out=$(cl_vgt socks --gw "$HV4:1080" --name web1.vm.test --port 7001 --action none 2>&1) || true
check_match "a port outside the VM's ports: 0x02" '^REP 0x02' "$out"
out=$(cl_vgt socks --gw "$HV4:1080" --name nosuch.vm.test --port 7000 --action none 2>&1) || true
check_match "a name not in the VM table: 0x04" '^REP 0x04' "$out"
out=$(cl_vgt socks --gw "$HV4:1080" --src "$CL4_AUTH" --user alice --password wrong \
    --name web1.vm.test --port 7000 --action none 2>&1) || true
check_match "a wrong password: RFC 1929 status 1" '^AUTH 0101' "$out"

# --- audit: each session exactly once, with the right fields ------------------------------------
cat >"$T/audit_check.py" <<'EOF'
"""audit_check.py MODE HELD KILLIDS AUTHSRC FILE...: MODE ready -> print READY when every
session.start has its end and the refusals and the auth failure are in; MODE check -> one
"ok DESC" / "FAIL DESC: DETAIL" line per check"""
import json, sys
mode, held_f, kill_f, auth_src = sys.argv[1:5]
evs = []
for f in sys.argv[5:]:
    for line in open(f, encoding="utf-8"):
        evs.append(json.loads(line))
held = json.load(open(held_f))
killed = set(int(x) for x in open(kill_f).read().split())
by_id = {}
for e in evs:
    if "id" in e:
        by_id.setdefault(e["id"], []).append(e)
starts = [e for e in evs if e["event"] == "session.start"]
ends = [e for e in evs if e["event"] in ("session.end", "session.killed")]
refused = [e for e in evs if e["event"] == "session.refused"]
authf = [e for e in evs if e["event"] == "auth.failed"]
if mode == "ready":
    if len(ends) >= len(starts) and len(refused) >= 2 and authf:
        print("READY")
    else:
        print("starts %d ends %d refused %d auth.failed %d" % (len(starts), len(ends), len(refused), len(authf)))
    sys.exit(0)

def check(desc, ok, detail=""):
    print(("ok %s" if ok else "FAIL %s: " + detail.replace("%", "%%")) % desc)

bad = []
for e in starts:
    evts = [x["event"] for x in by_id[e["id"]]]
    if evts.count("session.start") != 1 or \
       evts.count("session.end") + evts.count("session.killed") != 1 or "session.refused" in evts:
        bad.append((e["id"], evts))
check("each of the %d session.start ids has exactly one session.end or session.killed" % len(starts),
      not bad, repr(bad[:5]))
orphans = [e["id"] for e in ends if [x["event"] for x in by_id[e["id"]]].count("session.start") != 1]
check("every session.end / session.killed has its session.start", not orphans, repr(orphans[:5]))
nodur = [e for e in ends if not isinstance(e.get("duration_s"), (int, float)) or e["duration_s"] <= 0]
check("duration_s > 0 on every end", not nodur, repr(nodur[:2]))
# the held sessions, matched on the client address
byclient = {}
for e in starts:
    byclient.setdefault(e["client"], []).append(e)
probs = []
nk = nn = 0
for h in held:
    ss = byclient.get(h["client"], [])
    if len(ss) != 1:
        probs.append("%s: %d session.start" % (h["client"], len(ss)))
        continue
    s = ss[0]
    want = {"user": h["user"], "vm": "web1.vm.test", "port": 7000, "front": "socks5"}
    for k, v in want.items():
        if s.get(k) != v:
            probs.append("%s start %s=%r, want %r" % (h["client"], k, s.get(k), v))
    es = [x for x in by_id[s["id"]] if x["event"] in ("session.end", "session.killed")]
    if len(es) != 1:
        continue  # reported above
    e = es[0]
    kind = "session.killed" if s["id"] in killed else "session.end"
    nk += kind == "session.killed"
    nn += kind == "session.end"
    want.update({"event": kind, "client": h["client"], "bytes_up": h["up"], "bytes_down": h["down"]})
    for k, v in want.items():
        if e.get(k) != v:
            probs.append("id %d %s %s=%r, want %r" % (s["id"], e["event"], k, e.get(k), v))
    if kind == "session.killed" and not str(e.get("by") or "").startswith("admin"):
        probs.append("id %d killed by=%r" % (s["id"], e.get("by")))
    if kind == "session.end" and not e.get("reason"):
        probs.append("id %d end without a reason" % s["id"])
check("the %d held sessions: user/vm/port/front, exact bytes_up/bytes_down, %d killed by admin, %d ended"
      % (len(held), nk, nn), not probs and nk == 5 and nn == len(held) - 5, "; ".join(probs[:8]))
# the other relayed sessions (HELLO round trips) moved bytes both ways
hello = [e for e in ends if e["client"] not in {h["client"] for h in held}]
zero = [e for e in hello if not (e["bytes_up"] > 0 and e["bytes_down"] > 0)]
check("the %d other sessions ended with bytes_up > 0 and bytes_down > 0" % len(hello),
      hello and not zero, repr(zero[:2]))
for vm, port in (("web1.vm.test", 7001), ("nosuch.vm.test", 7000)):
    r = [e for e in refused if e["vm"] == vm and e["port"] == port]
    ok = len(r) == 1 and bool(r[0].get("reason")) and r[0].get("user") is None and \
        [x["event"] for x in by_id[r[0]["id"]]] == ["session.refused"]
    check("%s:%d: exactly one session.refused with a reason, nothing else for its id" % (vm, port),
          ok, repr(r) + " " + repr([by_id[x["id"]] for x in r]))
check("no other session.refused", len(refused) == 2, repr(refused))
ok = len(authf) == 1 and authf[0]["user"] == "alice" and authf[0]["client"].startswith(auth_src + ":") \
    and authf[0].get("reason") and [x["event"] for x in by_id[authf[0]["id"]]] == ["auth.failed"]
check("wrong password: exactly one auth.failed (user alice, the client), no session.start for it",
      ok, repr(authf) + " " + repr([by_id[x["id"]] for x in authf]))
EOF
acheck() { "$VG_PY" "$T/audit_check.py" "$@"; }
poll_match "the audit writer caught up" '^READY$' 10 acheck ready "$T/held.json" "$T/kill.ids" "$CL4_AUTH" "$T/audit.log"
while read -r st desc; do
    if [[ $st == ok ]]; then pass "audit: $desc"; else fail "audit: ${desc%%: *}" "${desc#*: }"; fi
done < <(acheck check "$T/held.json" "$T/kill.ids" "$CL4_AUTH" "$T/audit.log" 2>&1 || echo "FAIL audit_check.py: crashed")

# --- the counters moved accordingly --------------------------------------------------------------
# bytes: what the 20 clients sent (ECHO + 100+i) and read back; no other session ran meanwhile
read -r WUP WDOWN < <("$VG_PY" -c '
import json, sys
h = json.load(open(sys.argv[1]))
print(sum(x["up"] for x in h), sum(x["down"] for x in h))' "$T/held.json")
d() { echo $(($(mval "$1") - ${M0[$1]})); }
check_eq "vmgate_sessions_total{socks5,tcp}: +$NHOLD" $NHOLD "$(d "$S_TOT")"
check_eq "vmgate_relayed_bytes_total{up}: +$WUP (what the held clients sent)" "$WUP" "$(d "$B_UP")"
check_eq "vmgate_relayed_bytes_total{down}: +$WDOWN" "$WDOWN" "$(d "$B_DOWN")"
check_eq "vmgate_sessions_refused_total{not_allowed}: +1 (the port)" 1 "$(d "$R_NA")"
check_eq "vmgate_sessions_refused_total{no_such_vm}: +1 (the name)" 1 "$(d "$R_NV")"
check_eq "vmgate_auth_failures_total: +1" 1 "$(d "$A_F")"
check_eq "vmgate_sessions_active back to 0" 0 "$(mval 'vmgate_sessions_active{front="socks5",channel="tcp"}')"

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

# --- rotation under load: mv + SIGHUP while 50 requests run; no line lost or doubled -------------
last_id=$("$VG_PY" -c '
import json, sys
print(max([json.loads(l).get("id", 0) or 0 for f in sys.argv[1:] for l in open(f)] + [0]))' \
    "$T/audit.log" "$T/audit.log.1")
# starts_after ID FILE...: session.start lines with an id above ID
starts_after() {
    local id=$1
    shift
    "$VG_PY" -c '
import json, sys
print(sum(1 for f in sys.argv[2:] for l in open(f) if json.loads(l)["event"] == "session.start"
          and json.loads(l)["id"] > int(sys.argv[1])))' "$id" "$@"
}
NLOOP=50
(
    for ((i = 0; i < NLOOP; i++)); do
        cl_vgt socks --gw "$HV4:1080" --name web1.vm.test --port 7000 --action hello 2>&1 || true
    done
) >"$T/loop.out" &
loop_pid=$!
VG_PIDS+=("$loop_pid")
_some_started() { (($(starts_after "$last_id" "$T/audit.log") >= 5)); }
wait_until "5 requests of the loop in the audit log" 30 _some_started || fail "the loop got going" "$(tail -n 5 "$T/loop.out")"
mv "$T/audit.log" "$T/audit.log.2"
kill -HUP "${VG_PID[gw]}"
loop_rc=0
wait "$loop_pid" || loop_rc=$?
check_eq "the request loop ran" 0 "$loop_rc"
nok=$(grep -c '^ECHOED ping$' "$T/loop.out" || true)
check_eq "all $NLOOP requests of the loop succeeded" "$NLOOP" "$nok"
_loop_in() { (($(starts_after "$last_id" "$T/audit.log.2" "$T/audit.log") >= nok)); }
wait_until "the loop's session.start lines" 10 _loop_in || true
check_eq "session.start lines of the loop across audit.log.2 + audit.log == successful requests" \
    "$nok" "$(starts_after "$last_id" "$T/audit.log.2" "$T/audit.log")"
check_ge "... some of them in the rotated file" 5 "$(starts_after "$last_id" "$T/audit.log.2")"
check_ge "... and some in the new one (the HUP came mid-loop)" 1 "$(starts_after "$last_id" "$T/audit.log")"
check_eq "the new file starts with the reload" policy.reloaded \
    "$("$VG_PY" -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["event"])' "$T/audit.log")"
_loop_ended() {
    "$VG_PY" - "$last_id" "$T/audit.log.2" "$T/audit.log" <<'EOF'
import json, sys
ev = [json.loads(l) for f in sys.argv[2:] for l in open(f)]
ids = {}
for e in ev:
    if e.get("id", 0) and e["id"] > int(sys.argv[1]):
        ids.setdefault(e["id"], []).append(e["event"])
bad = {i: v for i, v in ids.items() if sorted(v) != ["session.end", "session.start"]}
print("OK %d" % len(ids) if not bad else "BAD %r" % list(bad.items())[:5])
EOF
}
poll_match "each session of the loop: one session.start and one session.end across the two files" \
    "^OK $nok\$" 10 _loop_ended

check_cmd "every audit line is one JSON object" "$VG_PY" -c '
import json, sys
for f in sys.argv[1:]:
    for line in open(f, encoding="utf-8"):
        o = json.loads(line)
        assert o["event"] and o["ts"].endswith("Z"), line
 ' "$T/audit.log" "$T/audit.log.1" "$T/audit.log.2"
check_eq "metrics still served after the reloads" 200 "$(code "$M4/metrics")"
gw_alive_and_serving gw "after the reloads"
vg_finish

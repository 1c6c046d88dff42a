#!/usr/bin/env bash
# The admin socket and vmgatectl (docs/operations.md): `sessions --json` during 50 live relayed
# sessions lists exactly them (user, client, VM, port, bytes); `kill --user` ends a live OpenSSH
# session (the ssh client exits) within 100 ms and nobody else's; the socket refuses users
# outside root and admin-group, and lets admin-group members in (primary or supplementary
# group); garbage and a 1 MB line get an error reply and the gateway keeps serving; no gateway
# -> exit 69 with its message; an admin socket that cannot be made does not stop the gateway.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vg_init
vg_require_tools ssh ssh-keygen /usr/sbin/sshd setpriv
vg_net_init
vg_add_vm 1

T=$VG_TMP
CTL=$VMGATE_BUILD/socks-gw/vmgatectl
VC=$VMGATE_BUILD/resolver/vmgate-connect
[[ -x $CTL && -x $VC ]] || vg_die "build vmgatectl and vmgate-connect first"
SOCK=$T/gw.admin.sock # gw_conf's default for $T/gw.conf

vm_serve 1 7000
vg_sshd sshd "$NS_VM1" "$(vm4 1)" web1.vm.test

vm_set web1.vm.test channel="tcp:$(vm4 1)"
vg_users alice:wonderland dave:davepw
gw_conf "$T/gw.conf"
grep -q "^admin-socket = $SOCK\$" "$T/gw.conf" || vg_die "gw_conf did not set admin-socket"
gw_start gw "$T/gw.conf"
wait_unix "$SOCK" || vg_die "no admin socket"
check_eq "admin socket: mode 0660, owner root:root" "660 root root" "$(stat -c '%a %U %G' "$SOCK")"
gw_serves "before"

# --- 50 live relayed sessions, and what the clients hold ----------------------------------------
cat >"$T/hold.py" <<'EOF'
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import vgtest
out, release, gw, auth_src, anon_src = sys.argv[2:7]
socks, held = [], []
for i in range(50):
    alice = i < 25
    s, rep, _ = vgtest.socks_open(gw, "web1.vm.test", 7000, user="alice" if alice else None,
                                  pw="wonderland" if alice else None,
                                  src=auth_src if alice else anon_src)
    assert rep == 0, rep
    s.sendall(b"ECHO\n" + b"x" * (100 + i))
    vgtest.recv_exact(s, 100 + i)
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
EOF
vg_start hold "$NS_CL" "$VG_PY" "$T/hold.py" "$VG_LIB_DIR" "$T/held.json" "$T/release" \
    "$HV4:1080" "$CL4_AUTH" "$CL4"
wait_until "50 sessions held" 30 test -s "$T/held.json" || vg_die "the client did not open its sessions"

"$CTL" -c "$T/gw.conf" sessions --json >"$T/sessions.json" 2>&1 || true
cat >"$T/compare.py" <<'EOF'
import json, sys
held = {h["client"]: h for h in json.load(open(sys.argv[1]))}
rep = json.load(open(sys.argv[2]))
assert rep["ok"] is True, rep
got = {s["client"]: s for s in rep["sessions"] if s["state"] == "relay"}
bad = []
if set(got) != set(held):
    bad.append("clients differ: only held %s, only listed %s" %
               (sorted(set(held) - set(got))[:3], sorted(set(got) - set(held))[:3]))
for c, h in held.items():
    s = got.get(c)
    if s is None:
        continue
    want = (h["user"], "web1.vm.test", 7000, "tcp", "socks5", h["up"], h["down"])
    have = (s["user"], s["vm"], s["port"], s["channel"], s["front"], s["bytes_up"], s["bytes_down"])
    if want != have:
        bad.append("%s: want %s, got %s" % (c, want, have))
    if not (s["started"].endswith("Z") and len(s["started"]) == 20 and s["idle_s"] < 60):
        bad.append("%s: started %s idle_s %s" % (c, s["started"], s["idle_s"]))
keys = {"id", "user", "client", "vm", "port", "channel", "front", "state", "started", "bytes_up",
        "bytes_down", "idle_s"}
for s in rep["sessions"]:
    if not keys <= set(s):
        bad.append("missing keys %s" % (keys - set(s)))
        break
print("MATCH %d" % len(got) if not bad else "MISMATCH " + "; ".join(bad[:5]))
EOF
check_eq "sessions --json lists exactly the 50 held sessions (user, client, vm, port, bytes)" \
    "MATCH 50" "$("$VG_PY" "$T/compare.py" "$T/held.json" "$T/sessions.json" 2>&1)"
out=$("$CTL" -c "$T/gw.conf" sessions --user alice 2>&1) || true
check_eq "sessions --user alice: a table of 25 rows and a header" 26 "$(grep -c . <<<"$out")"
check_match "the table has the columns" '^ID +USER +CLIENT +VM +PORT +CHANNEL +FRONT +STATE' "$out"
out=$("$CTL" -c "$T/gw.conf" vms --json 2>&1) || true
check_match "vms --json: web1 with its channel and 50 sessions" \
    '"name":"web1.vm.test","channel":"tcp:198.18.1.2","status":"ok","error":null,"sessions":50' "$out"
out=$("$CTL" -c "$T/gw.conf" stats 2>&1) || true
check_match "stats: 50 relayed connections" '^states.relay: 50$' "$out"

# --- kill --user ends a live ssh session within 100 ms, and nobody else's ------------------------
printf '[dns]\nzone = vm.test\n[client]\nserver = %s:1080\nuser = dave\npassword = davepw\n' \
    "$HV4" >"$T/dave.conf"
vg_start ssh "$NS_CL" ssh -F /dev/null "${VG_SSH_OPTS[@]}" -o BatchMode=yes \
    -o ConnectTimeout=15 -o ProxyCommand="$VC -c $T/dave.conf %h %p" root@web1.vm.test \
    'echo READY; sleep 120'
wait_until "ssh session up" 20 grep -q READY "$T/ssh.log" || vg_die "ssh did not connect: $(cat "$T/ssh.log")"
out=$("$CTL" -c "$T/gw.conf" sessions --user dave --json 2>&1) || true
check_match "dave's ssh session is listed, relayed to web1:22" \
    '"user":"dave","groups":null,"client":"198.18.0.[23]:[0-9]+","vm":"web1.vm.test","port":22,"channel":"tcp","front":"socks5","state":"relay"' "$out"
cat >"$T/killwait.py" <<'EOF'
import os, subprocess, sys, time
pid, cmd = int(sys.argv[1]), sys.argv[2:]
r = subprocess.run(cmd, capture_output=True, text=True)
t0 = time.monotonic()
def gone():
    try:
        return open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True
while not gone() and time.monotonic() - t0 < 5:
    time.sleep(0.001)
print("rc=%d out=%s exit_ms=%d" % (r.returncode, r.stdout.strip(), (time.monotonic() - t0) * 1000))
EOF
out=$("$VG_PY" "$T/killwait.py" "${VG_PID[ssh]}" "$CTL" -c "$T/gw.conf" kill --user dave)
check_match "kill --user dave: exit 0, one session killed" '^rc=0 out=1 session\(s\) killed ' "$out"
check_le "the ssh client exited within 100 ms of the kill command returning (ms)" 100 \
    "$(sed -n 's/.*exit_ms=\([0-9]*\).*/\1/p' <<<"$out")"
"$CTL" -c "$T/gw.conf" sessions --json >"$T/sessions2.json" 2>&1 || true
check_eq "everybody else's 50 sessions are still there, untouched" \
    "MATCH 50" "$("$VG_PY" "$T/compare.py" "$T/held.json" "$T/sessions2.json" 2>&1)"
check_match "the kill is logged with who asked" 'killed by admin client uid 0 pid [0-9]+' "$(cat "$T/gw.log")"
out=$("$CTL" -c "$T/gw.conf" kill 999999 2>&1) || true
check_eq "kill of an unknown id: 0 killed" "0 session(s) killed" "$out"
touch "$T/release"

# --- who may use the socket ---------------------------------------------------------------------
as_nobody() { setpriv --reuid=nobody --regid="$1" "${@:2}"; }
rc=0
out=$(as_nobody nogroup --clear-groups "$CTL" --socket "$SOCK" stats 2>&1) || rc=$?
check_eq "nobody (not in admin-group) is refused: exit 77" 77 "$rc"
check_match "... with a clear message" 'permission denied' "$out"
chmod 0666 "$SOCK" # the file's mode is not the only guard: the gateway checks SO_PEERCRED
rc=0
out=$(as_nobody nogroup --clear-groups "$CTL" --socket "$SOCK" --json stats 2>&1) || rc=$?
check_eq "on a world-writable socket the gateway itself refuses nobody: exit 77" 77 "$rc"
check_eq "... its reply" '{"ok":false,"error":"permission denied"}' "$out"
gw_conf "$T/gw.conf" admin-group=nogroup
check_match "reload through the socket" '^reloaded$' "$("$CTL" -c "$T/gw.conf" reload 2>&1)"
check_eq "after the reload the socket's group is admin-group" "660 root nogroup" \
    "$(stat -c '%a %U %G' "$SOCK")"
rc=0
out=$(as_nobody nogroup --clear-groups "$CTL" --socket "$SOCK" stats 2>&1) || rc=$?
check_eq "a member of admin-group (primary group) may use it: exit 0" 0 "$rc"
check_match "... and gets the stats" '^connections: [0-9]+$' "$out"
rc=0
out=$(as_nobody daemon --groups=nogroup "$CTL" --socket "$SOCK" stats 2>&1) || rc=$?
check_eq "a member of admin-group (supplementary group) may use it: exit 0" 0 "$rc"
chmod 0666 "$SOCK"
rc=0
out=$(as_nobody daemon --clear-groups "$CTL" --socket "$SOCK" stats 2>&1) || rc=$?
check_eq "a user in neither group is still refused by the gateway: exit 77" 77 "$rc"

# --- garbage and a 1 MB line --------------------------------------------------------------------
cat >"$T/garbage.py" <<'EOF'
import socket, sys
def ask(data):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(10)
    s.connect(sys.argv[1])
    try:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass  # the gateway answered and closed before it read everything
    got = b""
    try:
        while True:
            b = s.recv(65536)
            if not b:
                break
            got += b
    except OSError as e:
        got += b" (" + str(e).encode() + b")"
    return got.decode("latin-1").strip()
print("GARBAGE " + ask(b"\x00\x01\xff\xfe garbage \x80\n"))
print("UNKNOWN " + ask(b"rm -rf /\n"))
print("NOLF " + ask(b"sessions"))
print("HUGE " + ask(b"a" * (1 << 20)))
print("HUGELF " + ask(b"sessions --user " + b"b" * (1 << 20) + b"\n"))
EOF
out=$("$VG_PY" "$T/garbage.py" "$SOCK" 2>&1) || true
check_match "binary garbage gets an error reply" \
    '^GARBAGE \{"ok":false,"error":"request line: control character or non-ASCII byte at offset 0"\}$' "$out"
check_match "an unknown command gets an error reply" '^UNKNOWN \{"ok":false,"error":"unknown command .rm.\"\}$' "$out"
check_match "a request without its newline gets an error reply" '^NOLF \{"ok":false,"error":"incomplete' "$out"
check_match "a 1 MB line gets an error reply" '^HUGE \{"ok":false,"error":"request line longer than 4095 bytes"\}$' "$out"
check_match "a 1 MB argument gets an error reply" '^HUGELF \{"ok":false,"error":"request line longer than 4095 bytes"\}$' "$out"
gw_alive_and_serving gw "after garbage on the admin socket"
check_match "the admin socket still answers" '^connections: ' "$("$CTL" -c "$T/gw.conf" stats 2>&1)"

# --- usage, and no gateway ------------------------------------------------------------------------
rc=0
"$CTL" --socket "$SOCK" kill --user >/dev/null 2>&1 || rc=$?
check_eq "a usage error: exit 2" 2 "$rc"
rc=0
out=$("$CTL" -c "$T/gw.conf" policy test alice web1 22 2>&1) || rc=$?
check_eq "policy test without a policy-file: exit 1" 1 "$rc"
check_match "... and says so" 'no policy-file configured' "$out"

# an admin socket that cannot be made: the gateway runs without one and says why
gw_conf "$T/gw2.conf" listen="127.0.0.1:1081" listen-http= admin-socket="$T/no/such/dir/admin.sock"
vg_start gw2 "$NS_HV" "$VG_GW_BIN" -c "$T/gw2.conf" -f
wait_port "$NS_HV" 127.0.0.1 1081 10 gw2 || vg_die "gw2 did not start"
check_match "a gateway whose admin socket cannot be made still starts and logs why" \
    'admin: .*/no/such/dir/admin.sock: No such file or directory: running without an admin socket' \
    "$(cat "$T/gw2.log")"
# a second gateway on the same socket does not take it over
gw_conf "$T/gw3.conf" listen="127.0.0.1:1082" listen-http= admin-socket="$SOCK"
vg_start gw3 "$NS_HV" "$VG_GW_BIN" -c "$T/gw3.conf" -f
wait_port "$NS_HV" 127.0.0.1 1082 10 gw3 || vg_die "gw3 did not start"
vg_stop gw3
check_match "a second gateway leaves a live admin socket alone" 'another gateway listens there' \
    "$(cat "$T/gw3.log")"
check_match "... and the first one still answers on it" '^connections: ' \
    "$("$CTL" --socket "$SOCK" stats 2>&1)"

vg_stop hold
vg_stop gw
rc=0
out=$("$CTL" -c "$T/gw.conf" stats 2>&1) || rc=$?
check_eq "gateway stopped: exit 69" 69 "$rc"
check_eq "... with the message" "vmgatectl: vmgate-gw is not running (no socket at $SOCK)" "$out"
check_cmd "the stopped gateway removed its socket" test ! -e "$SOCK"
vg_finish

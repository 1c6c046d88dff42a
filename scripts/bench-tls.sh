#!/usr/bin/env bash
# bench-tls.sh — what TLS costs the gateway, beside its peers, in one run, on loopback.  Prints
# figures; never passes or fails on timing.
#
#   1. Chaining A → B → target over the mutual-TLS hop (this tree's vmgate-gw, a test PKI made
#      with openssl(1)) beside the plain chaining it replaced: commit BASE (default bfc3183, the
#      last plain-chaining commit, RFC 1929 forward-user/forward-password; its forward-user hash
#      is SHA-512 crypt, `openssl passwd -6`, as the docs of that version advised), built here
#      from `git archive` into a cached build dir.  Gateway A listens on 127.0.0.1, B on
#      127.0.0.2; the VM names resolve through a BIND `named` on 127.0.0.1 serving a static zone
#      (A → 127.0.0.2, TXT "vmgate-owner=hvb", SRV → B's port); B's VM table maps the name to
#      tcp:127.0.0.1, where the vgbench target listens.  Figures: one-stream throughput up and
#      down (Gbit/s) and the set-up time of a connection (connect + SOCKS5 handshake + first
#      1-byte echo, one connection after another; p50 and p99, µs) — TLS minus plain is the
#      handshake time the hop adds.
#   2. listen-https beside stunnel4 wrapping listen-http (both gateways this tree's binary, one
#      certificate): K client threads (2 and 8) looping TLS handshake + HTTP CONNECT + 1-byte
#      echo + close (vgbench conn --https-proxy), plus the set-up time and the CPU per connection
#      of the TLS end (vmgate-gw; stunnel together with the gateway behind it).
#
# Every process is started here and stopped by its PID on exit.  Load comes from
# tests/bench/vgbench.c (see its header).
#
# Usage: scripts/bench-tls.sh [--build-dir DIR] [--no-build] [--base COMMIT] [--base-dir DIR]
#                             [--reps N] [--seconds T] [--setup-count N] [--port BASE] [--keep]
#                             [--wait-quiet S]
# --base-dir (default /tmp/vmgate-bench-base-COMMIT) keeps the old version's sources and build
# between runs.  The machine's other load skews every figure: the report prints how busy the
# CPUs were just before and after the run; --wait-quiet S first waits (up to S s) until they are
# < 15 % busy.
set -euo pipefail

BENCH_NAME=bench-tls
# shellcheck source=benchlib.sh
source "$(dirname "${BASH_SOURCE[0]}")/benchlib.sh"
BUILD=$ROOT/build-bench
DO_BUILD=1
BASE=bfc3183
BASE_DIR=
REPS=3
SECS=2
SETUP_COUNT=500
PORT_BASE=22080
KEEP=0
WAIT_QUIET=0
ZONE=vm.test
N_PLAIN=bench-plain.$ZONE
N_TLS=bench-tls.$ZONE
N_HTTPS=bench-https.$ZONE

bench_opts 2,32 --build-dir=BUILD --no-build:DO_BUILD=0 --base=BASE --base-dir=BASE_DIR \
  --reps=REPS --seconds=SECS --setup-count=SETUP_COUNT --port=PORT_BASE --keep:KEEP=1 \
  --wait-quiet=WAIT_QUIET -- "$@"
bench_check reps --reps "$REPS"
bench_check seconds --seconds "$SECS"
bench_check count --setup-count "$SETUP_COUNT"
bench_check port --port "$PORT_BASE"
bench_check wait --wait-quiet "$WAIT_QUIET"
BASE_SHA=$(git -C "$ROOT" rev-parse --verify -q "$BASE^{commit}") || die "no commit $BASE in $ROOT"
BASE_DIR=${BASE_DIR:-/tmp/vmgate-bench-base-${BASE_SHA:0:12}}
for t in named openssl stunnel4; do
  command -v "$t" >/dev/null || die "$t not found (scripts/install-deps.sh installs it)"
done

# ---------------------------------------------------------------------------------------------
# build: this tree, and the old version from git archive (cached: rebuilt only when missing)

if ((DO_BUILD)); then
  bench_build Release vgbench vmgate-gw
fi
VGBENCH=$BUILD/tests/bench/vgbench
GW=$BUILD/socks-gw/vmgate-gw
[[ -x $VGBENCH && -x $GW ]] || die "no $VGBENCH or $GW (build first, or drop --no-build)"

GW_OLD=$BASE_DIR/build/socks-gw/vmgate-gw
if [[ ! -x $GW_OLD || $(cat "$BASE_DIR/commit" 2>/dev/null) != "$BASE_SHA" ]]; then
  log "building the plain-chaining version ${BASE_SHA:0:12} (Release) in $BASE_DIR"
  rm -rf "$BASE_DIR"
  mkdir -p "$BASE_DIR/src"
  git -C "$ROOT" archive "$BASE_SHA" | tar -x -C "$BASE_DIR/src" || die "git archive $BASE failed"
  if ! cmake -S "$BASE_DIR/src" -B "$BASE_DIR/build" -DCMAKE_BUILD_TYPE=Release \
    >"$BASE_DIR/build.log" 2>&1 ||
    ! cmake --build "$BASE_DIR/build" --target vmgate-gw -j "$(nproc)" >>"$BASE_DIR/build.log" 2>&1; then
    tail -n 20 "$BASE_DIR/build.log" >&2
    die "building $BASE failed"
  fi
  echo "$BASE_SHA" >"$BASE_DIR/commit"
fi

# ---------------------------------------------------------------------------------------------
# other load on the machine

bench_wait_quiet "$WAIT_QUIET"

# ---------------------------------------------------------------------------------------------
# processes: started here, stopped by PID

bench_processes
bench_nofile 65536

# Ports: target, DNS, plain A/B, TLS A/B, listen-https, listen-http (behind stunnel), stunnel,
# and the (unused) SOCKS5 listeners of those two gateways.
bench_free_ports 11 127.0.0.1 127.0.0.2
PT=$PORT_BASE PDNS=$((PORT_BASE + 1)) PAP=$((PORT_BASE + 2)) PBP=$((PORT_BASE + 3))
PAT=$((PORT_BASE + 4)) PBT=$((PORT_BASE + 5)) PHS=$((PORT_BASE + 6)) PHH=$((PORT_BASE + 7))
PST=$((PORT_BASE + 8)) PSH=$((PORT_BASE + 9)) PSHH=$((PORT_BASE + 10))

# --- the test PKI: one fleet CA, host certificates of hva and hvb, one for 127.0.0.1 ---------
# shellcheck disable=SC1091  # tests/system/tlslib.sh: tls_fleet, tls_cert, tls_gw_conf
source "$ROOT/tests/system/tlslib.sh"
P=$WORK/pki
tls_fleet "$P" hva hvb || die "test PKI (openssl) failed"
tls_cert "$P" fleet-ca https hvh IP:127.0.0.1 || die "test PKI (openssl) failed"

# --- the zone, served by BIND on 127.0.0.1:PDNS -----------------------------------------------
mkdir -p "$WORK/dns"
cat >"$WORK/dns/$ZONE.zone" <<EOF
\$ORIGIN $ZONE.
\$TTL 3600
@   SOA ns.$ZONE. hostmaster.$ZONE. 1 3600 600 86400 3600
@   NS  ns.$ZONE.
ns  A   127.0.0.1
hvb.vmgate-hosts  A  127.0.0.2
bench-plain       A  127.0.0.2
bench-plain       TXT "vmgate-owner=hvb"
_vmgate._tcp.bench-plain SRV 0 0 $PBP hvb.vmgate-hosts.$ZONE.
bench-tls         A  127.0.0.2
bench-tls         TXT "vmgate-owner=hvb"
_vmgate._tcp.bench-tls SRV 0 0 $PBT hvb.vmgate-hosts.$ZONE.
EOF
cat >"$WORK/dns/named.conf" <<EOF
options {
    directory "$WORK/dns"; pid-file "$WORK/dns/named.pid"; session-keyfile "$WORK/dns/session.key";
    listen-on port $PDNS { 127.0.0.1; }; listen-on-v6 { none; };
    recursion no; dnssec-validation no; notify no;
};
controls { };
zone "$ZONE." { type primary; file "$WORK/dns/$ZONE.zone"; };
EOF
start named named -f -c "$WORK/dns/named.conf"
wait_listen "${PID[named]}" 127.0.0.1 "$PDNS" named udp || { tail -n 20 "$WORK/named.log" >&2; die "named did not start"; }

# --- the target ----------------------------------------------------------------------------
start target "$VGBENCH" target --listen "127.0.0.1:$PT" --threads 2 --max-seconds 3600
wait_listen "${PID[target]}" 127.0.0.1 "$PT" "vgbench target" || die "target server did not start"

# --- gateways --------------------------------------------------------------------------------
# gw_conf NAME HOST LISTEN [extra [gateway] lines…]: WORK/NAME.conf and an empty VM table
# (DNS_EXTRA: more [dns] lines — the current version refuses loopback owning hosts unless
# host-networks lists them; the old one does not know the key)
gw_conf() {
  local name=$1 host=$2 listen=$3 l
  shift 3
  mkdir -p "$WORK/$name.vms"
  {
    printf '[dns]\nzone = %s\nserver = 127.0.0.1:%s\ntimeout = 2\n%s\n\n' "$ZONE" "$PDNS" "${DNS_EXTRA:-}"
    printf '[host]\nname = %s\n\n' "$host"
    printf '[gateway]\nlisten = %s\nvm-dir = %s\n' "$listen" "$WORK/$name.vms"
    printf 'allow-anonymous-from = 127.0.0.0/8\nmax-connections = 20000\nmax-per-client = 20000\n'
    printf 'log-level = warn\n'
    for l in "$@"; do echo "$l"; done
  } >"$WORK/$name.conf"
}
# start_gw NAME BINARY ADDR PORT: check the config, start, wait for the listener
start_gw() {
  local name=$1 bin=$2
  "$bin" -c "$WORK/$name.conf" --check-config >"$WORK/$name.check" 2>&1 ||
    { cat "$WORK/$name.check" >&2; die "$name: configuration refused"; }
  start "$name" "$bin" -c "$WORK/$name.conf" -f
  wait_listen "${PID[$name]}" "$3" "$4" "$name" || { tail -n 20 "$WORK/$name.log" >&2; die "$name did not start"; }
}

# plain chaining (the old version): A authenticates to B as forward-user
FWD_USER=vmgate-forward FWD_PASS=fwd-$$-secret
printf '%s:%s\n' "$FWD_USER" "$(openssl passwd -6 "$FWD_PASS")" >"$WORK/users-b"
gw_conf plain-a hva "127.0.0.1:$PAP" "forward-user = $FWD_USER" "forward-password = $FWD_PASS"
gw_conf plain-b hvb "127.0.0.2:$PBP" "users-file = $WORK/users-b"
echo "channel = tcp:127.0.0.1" >"$WORK/plain-b.vms/$N_PLAIN"
# TLS chaining (this tree): host certificates of one fleet CA
DNS_EXTRA="host-networks = 127.0.0.0/8" gw_conf tls-a hva "127.0.0.1:$PAT" "$(tls_gw_conf "$P" hva)"
DNS_EXTRA="host-networks = 127.0.0.0/8" gw_conf tls-b hvb "127.0.0.2:$PBT" "$(tls_gw_conf "$P" hvb)"
echo "channel = tcp:127.0.0.1" >"$WORK/tls-b.vms/$N_TLS"
# listen-https, and a twin with listen-http only, behind stunnel (SOCKS listeners unused)
gw_conf https hvh "127.0.0.1:$PSH" "listen-https = 127.0.0.1:$PHS" \
  "https-cert = $P/https.crt" "https-key = $P/https.key"
echo "channel = tcp:127.0.0.1" >"$WORK/https.vms/$N_HTTPS"
gw_conf http hvh "127.0.0.1:$PSHH" "listen-http = 127.0.0.1:$PHH"
echo "channel = tcp:127.0.0.1" >"$WORK/http.vms/$N_HTTPS"

start_gw plain-b "$GW_OLD" 127.0.0.2 "$PBP"
start_gw plain-a "$GW_OLD" 127.0.0.1 "$PAP"
start_gw tls-b "$GW" 127.0.0.2 "$PBT"
start_gw tls-a "$GW" 127.0.0.1 "$PAT"
start_gw https "$GW" 127.0.0.1 "$PHS"

# stunnel in the foreground, one thread per connection (Debian's build), warnings only; the
# gateway behind it is its child, so its process tree holds all of that row's proxy work
cat >"$WORK/stunnel.conf" <<EOF
foreground = yes
pid =
debug = 4
[https]
accept = 127.0.0.1:$PST
connect = 127.0.0.1:$PHH
cert = $P/https.crt
key = $P/https.key
EOF
"$GW" -c "$WORK/http.conf" --check-config >/dev/null 2>&1 || die "http: configuration refused"
# shellcheck disable=SC2016  # expanded by that sh
start stunnel sh -c 'gw=$1 conf=$2 log=$3; shift 3; "$gw" -c "$conf" -f 2>"$log" & exec "$@"' \
  sh "$GW" "$WORK/http.conf" "$WORK/http.log" stunnel4 "$WORK/stunnel.conf"
wait_listen "${PID[stunnel]}" 127.0.0.1 "$PHH" "vmgate-gw behind stunnel" || die "http gateway did not start"
wait_listen "${PID[stunnel]}" 127.0.0.1 "$PST" stunnel || { tail -n 20 "$WORK/stunnel.log" >&2; die "stunnel did not start"; }
STUNNEL_VERSION=$(stunnel4 -version 2>&1 | sed -n 's/^\(stunnel [0-9.]*\).*/\1/p' | head -n 1)

declare -A ARGS=() LABEL=() PROXY_PID=()
ARGS[plain]="--target 127.0.0.1:$PT --socks 127.0.0.1:$PAP --name $N_PLAIN"
ARGS[tls]="--target 127.0.0.1:$PT --socks 127.0.0.1:$PAT --name $N_TLS"
ARGS[https]="--target 127.0.0.1:$PT --https-proxy 127.0.0.1:$PHS --cafile $P/fleet-ca.crt --name $N_HTTPS"
ARGS[stunnel]="--target 127.0.0.1:$PT --https-proxy 127.0.0.1:$PST --cafile $P/fleet-ca.crt --name $N_HTTPS"
LABEL=([plain]="plain chain (${BASE_SHA:0:7})" [tls]="TLS chain (this tree)"
  [https]="vmgate listen-https" [stunnel]="$STUNNEL_VERSION + listen-http")
PROXY_PID=([https]=${PID[https]} [stunnel]=${PID[stunnel]})

# one request through each row first: a broken set-up shows here, not as empty cells
for row in plain tls https stunnel; do
  # shellcheck disable=SC2086  # ARGS holds several words on purpose
  if ! out=$("$VGBENCH" setup --count 5 --warmup-count 0 ${ARGS[$row]} 2>&1); then
    log "${LABEL[$row]}: first request failed: $out"
    for f in plain-a plain-b tls-a tls-b https http stunnel; do
      [[ -s $WORK/$f.log ]] && sed "s/^/  $f: /" "$WORK/$f.log" | tail -n 5 >&2
    done
    die "set-up broken"
  fi
done

# ---------------------------------------------------------------------------------------------
# measurements

log "ports $PT-$PSHH; ${REPS} repetitions of ${SECS} s; work dir $WORK"
# repetitions outermost, rows interleaved within one, so a burst of other load hits every row
for ((rep = 1; rep <= REPS; rep++)); do
  log "repetition $rep/$REPS: chains (throughput, set-up time), HTTPS (conn/s 2 and 8 threads, set-up time)"
  for spec in "up up1" "down down1"; do
    read -r dir metric <<<"$spec"
    for row in plain tls; do
      run "$row" "$metric" gbps "$VGBENCH" tput --dir "$dir" --streams 1 --seconds "$SECS" \
        --pid "${PID[$row-a]}" --pid2 "${PID[$row-b]}"
      last cpu_proxy_pct >>"$WORK/res/$row.$metric.pct"
      last cpu_proxy_us_per_mb >>"$WORK/res/$row.$metric.permb"
    done
  done
  for row in plain tls https stunnel; do
    run "$row" setup50 p50_us "$VGBENCH" setup --count "$SETUP_COUNT" --warmup-count 50
    last p99_us >>"$WORK/res/$row.setup99"
  done
  for row in https stunnel; do
    run "$row" conn2 conn_per_s "$VGBENCH" conn --threads 2 --seconds "$SECS"
  done
  for row in https stunnel; do
    run "$row" conn8 conn_per_s "$VGBENCH" conn --threads 8 --seconds "$SECS" \
      --pid "${PROXY_PID[$row]}" --target-pid "${PID[target]}"
    for k in client_user client_sys proxy_user proxy_sys; do last "cpu_${k}_us" >>"$WORK/res/$row.cpu_$k"; done
  done
done

# ---------------------------------------------------------------------------------------------
# report

diff_us() { # ROW-A ROW-B METRIC: median A − median B
  local a b
  if ! a=$(num "$(med "$1" "$3")") || ! b=$(num "$(med "$2" "$3")"); then echo n/a; return; fi
  calc "%+.0f" "$a - $b"
}
cpu() { # ROW: proxy user + kernel µs per connection
  local u s
  u=$(num "$(med "$1" cpu_proxy_user)") && s=$(num "$(med "$1" cpu_proxy_sys)") &&
    calc "%.0f" "$u + $s" || echo n/a
}
ccpu() { # ROW: client user + kernel µs per connection
  local u s
  u=$(num "$(med "$1" cpu_client_user)") && s=$(num "$(med "$1" cpu_client_sys)") &&
    calc "%.0f" "$u + $s" || echo n/a
}
tls_of() { # ROW: the TLS version/cipher vgbench setup reported for that row
  grep -m 1 "^$1 setup50 " "$WORK/raw.log" | sed -n 's/.*\btls=TLSv\([^ ]*\).*/\1/p' | sed 's/TLS_//;s/_SHA[0-9]*$//;s/_//g'
}
line() { # LABEL VMGATE PEER RATIO TARGET
  printf "%-36s %12s %12s %8s   %s\n" "$@"
}

echo
echo "vmgate TLS benchmark, $(date -u '+%Y-%m-%d %H:%M UTC'): $(bench_host), $(openssl version | cut -d' ' -f1-2)"
echo "loopback; clients, gateways and target share the CPUs; medians of $REPS runs (${SECS} s per throughput and conn/s run, $SETUP_COUNT connections per set-up run)"
bench_busy_report # our processes are idle now
echo
echo "1. chaining A -> B -> target: TLS hop (this tree) vs plain SOCKS5 + RFC 1929 (${BASE_SHA:0:7})"
line "" "TLS chain" "plain chain" "ratio" "target"
line "1 stream upload, Gbit/s" "$(fmt %.2f "$(med tls up1)")" "$(fmt %.2f "$(med plain up1)")" "$(ratio tls plain up1)" ">= 0.8"
line "1 stream download, Gbit/s" "$(fmt %.2f "$(med tls down1)")" "$(fmt %.2f "$(med plain down1)")" "$(ratio tls plain down1)" ">= 0.8"
line "  gateways A+B CPU, % of one CPU (up)" "$(fmt %.0f "$(med tls up1.pct)")" "$(fmt %.0f "$(med plain up1.pct)")" "" ""
line "  gateways A+B CPU, us per MB (up)" "$(fmt %.0f "$(med tls up1.permb)")" "$(fmt %.0f "$(med plain up1.permb)")" "$(ratio tls plain up1.permb)" ""
line "  gateways A+B CPU, us per MB (down)" "$(fmt %.0f "$(med tls down1.permb)")" "$(fmt %.0f "$(med plain down1.permb)")" "$(ratio tls plain down1.permb)" ""
line "set-up p50 (connect+SOCKS+echo), us" "$(fmt %.0f "$(med tls setup50)")" "$(fmt %.0f "$(med plain setup50)")" "$(ratio tls plain setup50)" "(lower is better)"
line "set-up p99, us" "$(fmt %.0f "$(med tls setup99)")" "$(fmt %.0f "$(med plain setup99)")" "$(ratio tls plain setup99)" ""
echo "  handshake time added by the TLS hop (p50, TLS - plain): $(diff_us tls plain setup50) us"
echo
echo "2. HTTP CONNECT inside TLS: vmgate listen-https vs $STUNNEL_VERSION in front of listen-http"
line "" "listen-https" "stunnel" "ratio" "target"
line "conn/s, 2 client threads" "$(fmt %.0f "$(med https conn2)")" "$(fmt %.0f "$(med stunnel conn2)")" "$(ratio https stunnel conn2)" ">= 1.2"
line "conn/s, 8 client threads" "$(fmt %.0f "$(med https conn8)")" "$(fmt %.0f "$(med stunnel conn8)")" "$(ratio https stunnel conn8)" ">= 1.2"
line "set-up p50 (TLS+CONNECT+echo), us" "$(fmt %.0f "$(med https setup50)")" "$(fmt %.0f "$(med stunnel setup50)")" "$(ratio https stunnel setup50)" "(lower is better)"
line "set-up p99, us" "$(fmt %.0f "$(med https setup99)")" "$(fmt %.0f "$(med stunnel setup99)")" "$(ratio https stunnel setup99)" ""
line "negotiated" "$(tls_of https)" "$(tls_of stunnel)" "" ""
line "proxy CPU per connection, us (8 thr)" "$(cpu https)" "$(cpu stunnel)" "" "(stunnel: with the gateway behind it)"
line "client CPU per connection, us" "$(ccpu https)" "$(ccpu stunnel)" "" "(TLS client, the same for both)"
bench_err_note

echo
echo "every run:"
for row in plain tls; do
  printf "  %-28s up %s| down %s| set-up p50 %s\n" "${LABEL[$row]}" "$(runs "$row" up1)" "$(runs "$row" down1)" "$(runs "$row" setup50)"
done
for row in https stunnel; do
  printf "  %-28s conn/s 2 thr %s| 8 thr %s| set-up p50 %s\n" "${LABEL[$row]}" "$(runs "$row" conn2)" "$(runs "$row" conn8)" "$(runs "$row" setup50)"
done
cat <<EOF

notes:
  Chains: the client speaks plain SOCKS5 (anonymous, ATYP 3) to A on 127.0.0.1; A resolves the
  name through BIND (answers cached by the gateway for the records' TTL), connects to B on
  127.0.0.2 and either authenticates as forward-user (RFC 1929; B checks a SHA-512 crypt hash
  on every connection) or makes a mutual TLS 1.3 handshake (EC P-256 certificates, no session
  resumption) and states the person's identity (method 0x80).  Plain relaying switches to
  splice(2) (no copy through user space); TLS relaying copies, encrypts in A and decrypts in B,
  so on 2 CPUs shared with client and target the TLS chain is bound by the gateways' CPU (see
  the CPU rows).  The set-up time is one connection after another, so it is latency, not
  capacity; the plain chain's includes B's crypt(3) check of forward-user (milliseconds).
  HTTPS: every client connection makes a full TLS handshake (no session reuse), checks the
  certificate (EC P-256, IP subjectAltName 127.0.0.1) against the test CA, sends CONNECT for
  $N_HTTPS, echoes one byte and waits for the target's close.  The stunnel row relays
  client -> stunnel -> vmgate-gw listen-http -> target (one more loopback hop than
  listen-https): that is what running stunnel in front of the gateway costs.  The client's TLS
  work is a large share of the machine's CPU and the same for both rows, so conn/s ratios
  understate the difference in the TLS ends' own cost (see the CPU row).
EOF

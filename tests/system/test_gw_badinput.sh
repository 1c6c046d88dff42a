#!/usr/bin/env bash
# vmgate-gw against bad, hostile and unlucky input: malformed and truncated SOCKS5 messages,
# hostile names, IP literals, names outside the zone, unsupported commands, bad RFC 1929 auth,
# split and pipelined handshakes, HTTP garbage and status codes, random bytes, an idle flood,
# the port allowlist, VM table changes at run time, dead services and unreachable channels.
# After each group the gateway must still be alive and serve a normal request.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vg_init
vg_net_init
vg_add_vm 1
vg_add_vm 2

T=$VG_TMP
GW=$HV4:1080
GWH=$HV4:3128

vm_serve 1 7000
vm_serve 1 8080
vm_serve 2 7000
vm_set web1.vm.test channel="tcp:$(vm4 1)"
vm_set ports.vm.test channel="tcp:$(vm4 1)" ports="7000, 8000-8100"
vg_users alice:wonderland "bob:pa:ss word"
vm_set web1.other.test channel="tcp:$(vm4 2)"
gw_conf "$T/gw.conf" zone="vm.test, other.test" handshake-timeout=3 connect-timeout=3 max-per-client=1000
gw_start gw "$T/gw.conf"
vg_start muxhang "$NS_VM1" "$VG_PY" "$VG_MUXSIM" --path "$T/hang.vsock" --hang-port 7000
wait_unix "$T/hang.vsock" || vg_die "vsock-mux simulator did not start"

hexs() { printf '%s' "$1" | od -An -tx1 -v | tr -d ' \n'; }
rep_char() { printf "%${2}s" "" | tr ' ' "$1"; }
GREET=050100 # VER 5, 1 method, no-auth

# s5 DESC EXPECTED-REP-ERE [vgtest socks options]: one SOCKS5 exchange by the vgtest client
s5() {
    local desc=$1 want=$2 out rep
    shift 2
    out=$(cl_vgt socks --gw "$GW" "$@" 2>&1) || true
    rep=$(field REP "$out")
    if [[ -n $rep ]] && grep -qxE -- "$want" <<<"$rep"; then
        pass "$desc"
    else
        fail "$desc" "expected reply: $want" "got: $(tr '\n' ' ' <<<"$out")"
    fi
}

# raw DESC ERE [vgtest raw options]: the line "RECV <hex>" / "END <how>" output must match ERE
# (the ERE is matched against "RECV <hex> END <how>" on one line)
raw() {
    local desc=$1 want=$2 out one
    shift 2
    out=$(cl_vgt raw "$@" 2>&1) || true
    one=$(tr '\n' ' ' <<<"$out" | sed 's/ *$//')
    if grep -qE -- "$want" <<<"$one"; then
        pass "$desc"
    else
        fail "$desc" "expected: $want" "got:      $one"
    fi
}

# s5hex DESC EXPECTED-REP-HEX-ERE REQUEST-HEX [close-ok]: greeting (no-auth) + a hand-made
# request; the reply must match, then the gateway closes (with close-ok: closing without a
# reply is accepted too)
s5hex() {
    if [[ ${4:-} == close-ok ]]; then
        raw "$1" "^RECV 0500(05($2)00[0-9a-f]*)? END (EOF|RESET)" --to "$GW" --hex "$GREET$3" --wait 4
    else
        raw "$1" "^RECV 050005($2)00[0-9a-f]* END (EOF|RESET)" --to "$GW" --hex "$GREET$3" --wait 4
    fi
}

# name request hex: VER CMD RSV ATYP=3 LEN NAME PORT
namereq() { # NAME-HEX [PORT=7000] [CMD=01]
    local h=$1 port=${2:-7000} cmd=${3:-01}
    printf '05%s0003%02x%s%04x' "$cmd" "$((${#h} / 2))" "$h" "$port"
}

http() { # DESC STATUS-ERE [vgtest http options]
    local desc=$1 want=$2 out
    shift 2
    out=$(cl_vgt http --gw "$GWH" "$@" 2>&1) || true
    if grep -qE -- "^STATUS ($want)\$" <<<"$out"; then pass "$desc"; else fail "$desc" "expected status: $want" "got: $(tr '\n' ' ' <<<"$out")"; fi
}

httpraw() { # DESC STATUS-ERE TEXT [extra raw options]
    local desc=$1 want=$2 text=$3
    shift 3
    raw "$desc" "^RECV '?HTTP/1\.[01] ($want) " --to "$GWH" --as-text --text "$text" --wait 5 "$@"
}

gw_serves "baseline: a normal request works"
FDS0=$(gw_fds "${VG_PID[gw]}")

# --- 0. --check-config --------------------------------------------------------------------------
vg_log "# --check-config"
check_cmd "--check-config: the test config is valid" "$VG_GW_BIN" -c "$T/gw.conf" --check-config
badconf() { # DESC LINE-NUMBER-EXPECTED: $T/bad.conf must be refused with "file:line: message"
    local out rc=0
    out=$("$VG_GW_BIN" -c "$T/bad.conf" --check-config 2>&1) || rc=$?
    if ((rc != 0)) && grep -qE -- "bad\.conf:$2: ?[^ ]" <<<"$out"; then
        pass "--check-config refuses $1 with file:line"
    else
        fail "--check-config refuses $1 with file:line" "expected: non-zero exit and 'bad.conf:$2: message'" "got: exit $rc: $out"
    fi
}
gw_conf "$T/bad.conf" handshake-timeout=abc
badconf "a non-numeric timeout" "$(grep -n '^handshake-timeout' "$T/bad.conf" | cut -d: -f1)"
gw_conf "$T/bad.conf" connect-timeout=12abc
badconf "a number with trailing garbage" "$(grep -n '^connect-timeout' "$T/bad.conf" | cut -d: -f1)"
gw_conf "$T/bad.conf" max-per-client=0
badconf "max-per-client = 0 (out of range)" "$(grep -n '^max-per-client' "$T/bad.conf" | cut -d: -f1)"
gw_conf "$T/bad.conf"
echo "no-such-key = 1" >>"$T/bad.conf"
badconf "an unknown key" "$(wc -l <"$T/bad.conf")"
rc=0
out=$("$VG_GW_BIN" -c "$T/does-not-exist.conf" --check-config 2>&1) || rc=$?
if ((rc != 0)); then pass "--check-config: a missing file is an error"; else fail "--check-config: a missing file is an error" "got exit 0: $out"; fi

# --- 1. greetings -------------------------------------------------------------------------------
vg_log "# greetings"
raw "greeting with VER 4 (SOCKS4) is closed without a method choice" "^RECV (05ff)? END (EOF|RESET)" \
    --to "$GW" --hex 040100500a000001007573657200 --wait 4
raw "greeting with NMETHODS=0 is closed" "^RECV (05ff)? END (EOF|RESET)" --to "$GW" --hex 0500 --wait 4
raw "no acceptable method -> 05 ff, then close" "^RECV 05ff END (EOF|RESET)" --to "$GW" --hex 05028081 --wait 4
raw "non-anonymous client offering only no-auth -> 05 ff, then close" "^RECV 05ff END (EOF|RESET)" \
    --to "$GW" --src "$CL4_AUTH" --hex 050100 --wait 4
raw "non-anonymous client offering both gets username/password (05 02)" "^RECV 0502 " \
    --to "$GW" --src "$CL4_AUTH" --hex 05020002 --wait 1
raw "anonymous client offering 255 methods incl. no-auth -> 05 00" "^RECV 0500 " \
    --to "$GW" --hex "05ff$(for ((i = 1; i <= 255; i++)); do printf '%02x' $i; done | sed 's/^01/00/')" --wait 1
gw_alive_and_serving gw "after bad greetings"

# --- 2. truncated messages then close ------------------------------------------------------------
vg_log "# truncated messages"
raw "truncated greeting (05) + EOF: closed" "^RECV  END (EOF|RESET)" --to "$GW" --hex 05 --shut --wait 4
raw "truncated greeting (05 02 00) + EOF: closed" "^RECV  END (EOF|RESET)" --to "$GW" --hex 050200 --shut --wait 4
raw "truncated request header + EOF: closed after 05 00" "^RECV 0500 END (EOF|RESET)" \
    --to "$GW" --hex "${GREET}0501" --shut --wait 4
raw "truncated name + EOF: closed after 05 00" "^RECV 0500 END (EOF|RESET)" \
    --to "$GW" --hex "${GREET}0501000310$(hexs web1.vm)" --shut --wait 4
raw "request missing its port + EOF: closed after 05 00" "^RECV 0500 END (EOF|RESET)" \
    --to "$GW" --hex "${GREET}050100030c$(hexs web1.vm.test)" --shut --wait 4
raw "truncated RFC 1929 + EOF: closed after 05 02" "^RECV 0502 END (EOF|RESET)" \
    --to "$GW" --src "$CL4_AUTH" --hex 050102 --hex 0105616c --shut --wait 4
raw "truncated HTTP head + EOF: closed" "^RECV ('')? END (EOF|RESET)|^RECV '?HTTP/1\.[01] 400 " \
    --to "$GWH" --text 'CONNECT web1.vm.test:7000 HTTP/1.1\r\nHost: x' --shut --wait 4 --as-text
gw_alive_and_serving gw "after truncated messages"

# --- 3. hostile and invalid names ------------------------------------------------------------
vg_log "# names"
L63=$(rep_char a 63)
s5 "label of 63 octets: valid name, unknown VM -> 0x04" 0x04 --name "$L63.vm.test" --port 7000
s5 "label of 64 octets -> 0x02" 0x02 --name "$(rep_char a 64).vm.test" --port 7000
N253="$L63.$(rep_char b 63).$(rep_char c 63).$(rep_char d 53).vm.test"
N254="$L63.$(rep_char b 63).$(rep_char c 63).$(rep_char d 54).vm.test"
check_eq "(self-check) name lengths" "253 254" "${#N253} ${#N254}"
s5 "name of 253 octets: valid, unknown VM -> 0x04" 0x04 --name "$N253" --port 7000
s5 "name of 254 octets -> 0x02" 0x02 --name "$N254" --port 7000
s5 "name of 253 octets + trailing dot: valid, unknown VM -> 0x04" 0x04 --name "$N253." --port 7000
s5 "name of 254 octets + trailing dot -> 0x02" 0x02 --name "$N254." --port 7000
s5 "name of 255 octets -> 0x02" 0x02 --name "${N254}x" --port 7000
s5 "../etc -> 0x02" 0x02 --name "../etc" --port 7000
s5 "../../etc/passwd -> 0x02" 0x02 --name "../../etc/passwd" --port 7000
s5 "web1.vm.test/../web1.vm.test -> 0x02" 0x02 --name "web1.vm.test/../web1.vm.test" --port 7000
s5 "..vm.test -> 0x02" 0x02 --name "..vm.test" --port 7000
s5 "a..b.vm.test -> 0x02" 0x02 --name "a..b.vm.test" --port 7000
s5 ".web1.vm.test -> 0x02" 0x02 --name ".web1.vm.test" --port 7000
s5 "_x.vm.test (reserved label) -> 0x02" 0x02 --name "_x.vm.test" --port 7000
s5 "-web1.vm.test (leading hyphen) -> 0x02" 0x02 --name=-web1.vm.test --port 7000
s5 "web1-.vm.test (trailing hyphen) -> 0x02" 0x02 --name "web1-.vm.test" --port 7000
s5 "web 1.vm.test (space) -> 0x02" 0x02 --name "web 1.vm.test" --port 7000
s5 "web1.vm.test%00 text -> 0x02" 0x02 --name 'web1%00.vm.test' --port 7000
s5 "name with a non-ASCII octet -> 0x02" 0x02 --name "wéb1.vm.test" --port 7000
s5hex "name with a NUL octet (web1\\0.vm.test) -> refused (0x01/0x02)" "01|02" \
    "$(namereq "$(hexs web1)00$(hexs .vm.test)")"
s5hex "name web1.vm.test\\0 (NUL at the end) -> refused (0x01/0x02)" "01|02" \
    "$(namereq "$(hexs web1.vm.test)00")"
s5hex "name of length 0 -> refused (0x01/0x02)" "01|02" "050100030000$(printf '%04x' 7000)"
s5 "upper case WEB1.VM.TEST is normalized -> 0x00" 0x00 --name WEB1.VM.TEST --port 7000
s5 "trailing dot web1.vm.test. -> 0x00" 0x00 --name web1.vm.test. --port 7000
out=$(cl_vgt socks --gw "$GW" --name Web1.Vm.Test --port 7000 --action hello 2>&1) || true
check_match "mixed-case name reaches vm1" "^HELLO vm1" "$out"
gw_alive_and_serving gw "after hostile names"

# --- 4. IP literals, names outside the zone, commands, address types ------------------------------
vg_log "# literals, zone, commands"
s5 "ATYP 1 (IPv4 198.18.1.2) -> 0x08" 0x08 --atyp 1 --name "$(vm4 1)" --port 7000
s5 "ATYP 1 (127.0.0.1) -> 0x08" 0x08 --atyp 1 --name 127.0.0.1 --port 7000
s5 "ATYP 4 (IPv6 fd00:76:1::2) -> 0x08" 0x08 --atyp 4 --name "$(vm6 1)" --port 7000
s5 "ATYP 3 '198.18.1.2' -> 0x02" 0x02 --name "$(vm4 1)" --port 7000
s5 "ATYP 3 '127.0.0.1' -> 0x02" 0x02 --name 127.0.0.1 --port 7000
s5 "ATYP 3 'fd00:76:1::2' -> 0x02" 0x02 --name "$(vm6 1)" --port 7000
s5 "ATYP 3 '[fd00:76:1::2]' -> 0x02" 0x02 --name "[$(vm6 1)]" --port 7000
s5 "ATYP 3 '198.18.1.2.' -> 0x02" 0x02 --name "$(vm4 1)." --port 7000
s5hex "unknown ATYP 5 -> 0x08" "08" "05010005$(hexs abcd)1b58"
s5 "name outside the zone (example.com) -> 0x02" 0x02 --name example.com --port 7000
s5 "name outside the zone (web1.vm.test.evil.example) -> 0x02" 0x02 --name web1.vm.test.evil.example --port 7000
s5 "suffix trick (web1.evilvm.test) -> 0x02" 0x02 --name web1.evilvm.test --port 7000
s5 "suffix trick (web1.other.testx) -> 0x02" 0x02 --name web1.other.testx --port 7000
out=$(cl_vgt socks --gw "$GW" --name web1.other.test --port 7000 --action hello 2>&1) || true
check_match "second zone of the comma list (web1.other.test) is served" "^HELLO vm2" "$out"
s5 "the zone apex itself (vm.test) -> 0x02" 0x02 --name vm.test --port 7000
s5 "BIND (CMD 2) -> 0x07" 0x07 --cmd 2 --name web1.vm.test --port 7000
s5 "UDP ASSOCIATE (CMD 3) -> 0x07" 0x07 --cmd 3 --name web1.vm.test --port 7000
s5 "unknown CMD 9 -> 0x07 or 0x01" "0x0[17]" --cmd 9 --name web1.vm.test --port 7000
s5hex "request with VER 4 -> 0x01 or close" "01" "04010003$(printf '%02x' 12)$(hexs web1.vm.test)1b58" close-ok
s5hex "request with RSV != 0 -> 0x01 or close" "01" "05010103$(printf '%02x' 12)$(hexs web1.vm.test)1b58" close-ok
s5 "port 0 -> refused (not 0x00)" "0x0[1-8]" --name web1.vm.test --port 0
gw_alive_and_serving gw "after literals and commands"

# --- 5. RFC 1929 ---------------------------------------------------------------------------------
vg_log "# RFC 1929"
up() { printf '01%02x%s%02x%s' "${#1}" "$(hexs "$1")" "${#2}" "$(hexs "$2")"; }
s5 "alice with the right password -> 0x00" 0x00 --src "$CL4_AUTH" --user alice --password wonderland --name web1.vm.test --port 7000
s5 "bob (password with ':' and space) -> 0x00" 0x00 --src "$CL4_AUTH" --user bob --password "pa:ss word" --name web1.vm.test --port 7000
raw "wrong password -> RFC 1929 status != 0, then close" "^RECV 050201(0[1-9a-f]|[1-9a-f][0-9a-f]) END (EOF|RESET)" \
    --to "$GW" --src "$CL4_AUTH" --hex 050102 --hex "$(up alice wonderlanD)" --wait 4
raw "unknown user -> status != 0, then close" "^RECV 050201(0[1-9a-f]|[1-9a-f][0-9a-f]) END (EOF|RESET)" \
    --to "$GW" --src "$CL4_AUTH" --hex 050102 --hex "$(up mallory wonderland)" --wait 4
raw "empty password -> status != 0, then close" "^RECV 050201(0[1-9a-f]|[1-9a-f][0-9a-f]) END (EOF|RESET)" \
    --to "$GW" --src "$CL4_AUTH" --hex 050102 --hex "$(up alice '')" --wait 4
raw "password as prefix of the real one -> status != 0" "^RECV 050201(0[1-9a-f]|[1-9a-f][0-9a-f]) END (EOF|RESET)" \
    --to "$GW" --src "$CL4_AUTH" --hex 050102 --hex "$(up alice wonder)" --wait 4
raw "subnegotiation VER 5 instead of 1 -> failure and close" "^RECV 0502(01[0-9a-f][1-9a-f]|05[0-9a-f][1-9a-f]|01[1-9a-f]0|05[1-9a-f]0)? END (EOF|RESET)" \
    --to "$GW" --src "$CL4_AUTH" --hex 050102 --hex "05$(up alice wonderland | cut -c3-)" --wait 4
raw "ULEN 0 -> failure and close" "^RECV 0502(01[0-9a-f][1-9a-f]|01[1-9a-f]0)? END (EOF|RESET)" \
    --to "$GW" --src "$CL4_AUTH" --hex 050102 --hex 010003616263 --wait 4
raw "crypt hash text as the password -> status != 0" "^RECV 050201(0[1-9a-f]|[1-9a-f][0-9a-f]) END (EOF|RESET)" \
    --to "$GW" --src "$CL4_AUTH" --hex 050102 --hex "$(up alice "$(cut -d: -f2 "$T/users" | head -n1 | cut -c1-200)")" --wait 4
s5 "anonymous client may also authenticate -> 0x00" 0x00 --src "$CL4" --user alice --password wonderland --name web1.vm.test --port 7000
gw_alive_and_serving gw "after bad auth"

# --- 6. split and pipelined handshakes -----------------------------------------------------------
vg_log "# split / pipelined"
out=$(cl_vgt socks --gw "$GW" --name web1.vm.test --port 7000 --action hello --chunk 1 --delay 0.02 2>&1) || true
check_match "SOCKS5 handshake split byte by byte" "^HELLO vm1" "$out"
out=$(cl_vgt socks --gw "$GW" --src "$CL4_AUTH" --user alice --password wonderland --name web1.vm.test --port 7000 \
    --action hello --chunk 1 --delay 0.01 2>&1) || true
check_match "SOCKS5 + RFC 1929 split byte by byte" "^HELLO vm1" "$out"
out=$(cl_vgt socks --gw "$GW" --name web1.vm.test --port 7000 --action hello --pipeline 2>&1) || true
check_match "greeting + request + payload in one send" "^HELLO vm1" "$out"
out=$(cl_vgt socks --gw "$GW" --src "$CL4_AUTH" --user alice --password wonderland --name web1.vm.test \
    --port 7000 --action hello --pipeline 2>&1) || true
check_match "greeting + auth + request + payload in one send" "^HELLO vm1" "$out"
out=$(cl_vgt socks --gw "$GW" --name web1.vm.test --port 7000 --action hello --pipeline --chunk 3 --delay 0.01 2>&1) || true
check_match "pipelined bytes in 3-byte chunks" "^HELLO vm1" "$out"
raw "HTTP CONNECT + payload in one send" "^RECV '?HTTP/1\.[01] 200 .*HELLO vm1" --to "$GWH" --as-text \
    --text 'CONNECT web1.vm.test:7000 HTTP/1.1\r\nHost: web1.vm.test:7000\r\n\r\nHELLO\n' --wait 2
raw "HTTP CONNECT split byte by byte" "^RECV '?HTTP/1\.[01] 200 .*HELLO vm1" --to "$GWH" --as-text \
    --text 'CONNECT web1.vm.test:7000 HTTP/1.1\r\nHost: web1.vm.test:7000\r\n\r\nHELLO\n' --chunk 1 --delay 0.01 --wait 2
raw "HTTP CONNECT with lower-case proxy-authorization / basic" "^RECV '?HTTP/1\.[01] 200 .*HELLO vm1" --to "$GWH" --as-text \
    --src "$CL4_AUTH" --wait 2 \
    --text "CONNECT web1.vm.test:7000 HTTP/1.1\r\nproxy-authorization: basic $(printf alice:wonderland | base64)\r\n\r\nHELLO\n"
raw "HTTP CONNECT with bare \\n line ends" "^RECV '?HTTP/1\.[01] 200 .*HELLO vm1" --to "$GWH" --as-text \
    --text 'CONNECT web1.vm.test:7000 HTTP/1.0\n\nHELLO\n' --wait 2
for via in socks http; do
    if [[ $via == http ]]; then o=(--gw "$GWH" --http); else o=(--gw "$GW"); fi
    out=$(cl_vgt socks "${o[@]}" --name web1.vm.test --port 7000 --action echo --size 100000 --pipeline 2>&1) || true
    check_match "$via: request + 100 KB payload in one send: all relayed and echoed" "^ECHO_BACK 100000 OF 100000 END EOF OK" "$out"
done
out=$(cl_vgt socks --gw "$GW" --src "$CL4_AUTH" --user alice --password wonderland --name web1.vm.test --port 7000 \
    --action echo --size 100000 --pipeline 2>&1) || true
check_match "greeting + auth + request + 100 KB payload in one send" "^ECHO_BACK 100000 OF 100000 END EOF OK" "$out"
gw_alive_and_serving gw "after split and pipelined handshakes"

# --- 7. HTTP front ------------------------------------------------------------------------------
vg_log "# HTTP"
httpraw "garbage line -> 400" 400 '\x00\x01\x02 garbage\r\n\r\n'
httpraw "GET -> 405" 405 'GET http://web1.vm.test:7000/ HTTP/1.1\r\nHost: web1.vm.test\r\n\r\n'
httpraw "POST -> 405" 405 'POST / HTTP/1.1\r\nHost: web1.vm.test\r\nContent-Length: 0\r\n\r\n'
httpraw "head over 8 KiB -> 431" 431 "CONNECT web1.vm.test:7000 HTTP/1.1\\r\\nX-Pad: $(rep_char a 9000)\\r\\n\\r\\n"
httpraw "many header lines over 8 KiB -> 431" 431 "CONNECT web1.vm.test:7000 HTTP/1.1\\r\\n$(for ((i = 0; i < 600; i++)); do printf 'X-H%d: 0123456789\\r\\n' $i; done)\\r\\n"
httpraw "CONNECT without a port -> 400" 400 'CONNECT web1.vm.test HTTP/1.1\r\n\r\n'
httpraw "CONNECT port 0 -> 400" 400 'CONNECT web1.vm.test:0 HTTP/1.1\r\n\r\n'
httpraw "CONNECT port 65536 -> 400" 400 'CONNECT web1.vm.test:65536 HTTP/1.1\r\n\r\n'
httpraw "CONNECT port 12abc -> 400" 400 'CONNECT web1.vm.test:12abc HTTP/1.1\r\n\r\n'
httpraw "CONNECT without the version -> 400" 400 'CONNECT web1.vm.test:7000\r\n\r\n'
httpraw "CONNECT bad Basic base64 from a non-anonymous client -> 400 or 407" "400|407" \
    'CONNECT web1.vm.test:7000 HTTP/1.1\r\nProxy-Authorization: Basic !!!notbase64\r\n\r\n' --src "$CL4_AUTH"
out=$(cl_vgt http --gw "$GWH" --src "$CL4_AUTH" --target web1.vm.test:7000 2>&1) || true
check_match "no credentials from a non-anonymous client -> 407" "^STATUS 407$" "$out"
check_match "407 carries Proxy-Authenticate: Basic" "^HEAD [Pp]roxy-[Aa]uthenticate: *Basic" "$out"
http "wrong credentials -> 407" 407 --src "$CL4_AUTH" --target web1.vm.test:7000 --auth alice:nope
http "right credentials -> 200" 200 --src "$CL4_AUTH" --target web1.vm.test:7000 --auth alice:wonderland --peer
http "outside the zone -> 403" 403 --target example.com:443
http "IPv4 literal -> 403" 403 --target "$(vm4 1):7000"
http "IPv6 literal -> 403" 403 --target "[$(vm6 1)]:7000"
http "invalid name (_x) -> 403" 403 --target _x.vm.test:7000
http "unknown VM -> 404" 404 --target nosuch.vm.test:7000
http "port not in the allowlist -> 403" 403 --target ports.vm.test:22
http "closed port in the guest -> 502" 502 --target web1.vm.test:9
raw "random bytes to the HTTP port are closed" "END (EOF|RESET)" --to "$GWH" \
    --hex "$("$VG_PY" -c 'import random; print(random.Random(11).randbytes(3000).hex())')" --wait 8
gw_alive_and_serving gw "after HTTP garbage"

# --- 8. random garbage to the SOCKS port ---------------------------------------------------------
vg_log "# random bytes"
for seed in 1 2 3; do
    raw "random bytes (seed $seed) are closed within the handshake timeout" "END (EOF|RESET)" --to "$GW" \
        --hex "$("$VG_PY" -c "import random; print(random.Random($seed).randbytes(4096).hex())")" --wait 8
    raw "05 ff + random bytes (seed $seed) are closed" "END (EOF|RESET)" --to "$GW" \
        --hex "05ff$("$VG_PY" -c "import random; print(random.Random($seed).randbytes(2000).hex())")" --wait 8
done
raw "random bytes after a valid greeting are closed" "^RECV 0500.* END (EOF|RESET)" --to "$GW" \
    --hex "$GREET$("$VG_PY" -c 'import random; print(random.Random(9).randbytes(600).hex())')" --wait 8
gw_alive_and_serving gw "after random garbage"

# --- 9. idle flood: connections that never finish the handshake ---------------------------------
vg_log "# idle flood"
out=$(cl_vgt flood --to "$GW" --gw "$GW" --name web1.vm.test --port 7000 --n 300 --within 9 2>&1) || true
check_match "300 idle SOCKS connections: a normal request still works meanwhile" "^DURING_FLOOD OK" "$out"
check_match "300 idle SOCKS connections are all closed (handshake-timeout 3 s)" "^FLOOD_CLOSED 300 OF 300" "$out"
out=$(cl_vgt flood --to "$GWH" --gw "$GW" --n 100 --within 9 2>&1) || true
check_match "100 idle HTTP connections are all closed" "^FLOOD_CLOSED 100 OF 100" "$out"
# slow senders: the handshake-timeout counts from accept, not from the last byte received
METHODS255="05ff$(for ((i = 1; i <= 255; i++)); do printf '%02x' $i; done)"
out=$(cl_vgt raw --to "$GW" --hex "$METHODS255" --chunk 1 --delay 0.2 --wait 3 2>&1) || true
check_match "SOCKS greeting at 1 byte / 0.2 s is cut" "^(EOF_DURING_SEND|SENDERR) AFTER" "$out"
check_le "... at handshake-timeout 3 s, not per read (s)" 5 "$(awk '$1=="EOF_DURING_SEND"||$1=="SENDERR"{print $3; exit}' <<<"$out")"
out=$(cl_vgt raw --to "$GWH" --text "CONNECT web1.vm.test:7000 HTTP/1.1\r\nX-Slow: $(rep_char a 300)" \
    --chunk 1 --delay 0.1 --wait 3 --as-text 2>&1) || true
check_match "HTTP head at 1 byte / 0.1 s is cut" "^(EOF_DURING_SEND|SENDERR) AFTER" "$out"
check_match "HTTP handshake timeout answers 408 before closing (docs/gateway.md)" "^RECV '?HTTP/1\.[01] 408 " "$out"
check_le "... at handshake-timeout 3 s, not per read (s)" 5 "$(awk '$1=="EOF_DURING_SEND"||$1=="SENDERR"{print $3; exit}' <<<"$out")"
raw "a handshake stalled after the greeting is closed by the timeout" "^RECV 0500 END (EOF|RESET)" \
    --to "$GW" --hex "$GREET" --wait 8
gw_alive_and_serving gw "after the idle flood"

# --- 10. port allowlist --------------------------------------------------------------------------
vg_log "# port allowlist"
s5 "allowlisted port 7000 -> 0x00" 0x00 --name ports.vm.test --port 7000
s5 "allowlisted range 8000-8100 (8080) -> 0x00" 0x00 --name ports.vm.test --port 8080
s5 "port 22 not in the allowlist -> 0x02" 0x02 --name ports.vm.test --port 22
s5 "port 8101 just past the range -> 0x02" 0x02 --name ports.vm.test --port 8101
s5 "port 7999 just before the range -> 0x02" 0x02 --name ports.vm.test --port 7999

# --- 11. VM table changes at run time --------------------------------------------------------------
vg_log "# VM table at run time"
s5 "late.vm.test before its file exists -> 0x04" 0x04 --name late.vm.test --port 7000
vm_set late.vm.test channel="tcp:$(vm4 1)"
out=$(cl_vgt socks --gw "$GW" --name late.vm.test --port 7000 --action hello 2>&1) || true
check_match "VM file added at run time: works without restart" "^HELLO vm1" "$out"
vm_set late.vm.test channel="tcp:$(vm4 2)"
out=$(cl_vgt socks --gw "$GW" --name late.vm.test --port 7000 --action hello 2>&1) || true
check_match "VM file changed at run time (channel now vm2): seen at once" "^HELLO vm2" "$out"
vm_set late.vm.test channel="tcp:$(vm4 2)" ports=22
s5 "ports= added at run time -> 0x02" 0x02 --name late.vm.test --port 7000
vm_del late.vm.test
s5 "VM file deleted at run time -> 0x04" 0x04 --name late.vm.test --port 7000
http "VM file deleted at run time, HTTP -> 404" 404 --target late.vm.test:7000
vm_set broken.vm.test garbage="yes"
s5 "VM file without a channel -> refused (0x01/0x04)" "0x0[14]" --name broken.vm.test --port 7000
printf 'channel = \x01\x02\xff\n' >"$T/vms/broken2.vm.test"
s5 "VM file with a garbage channel -> refused (0x01/0x04)" "0x0[14]" --name broken2.vm.test --port 7000
ln -s "$T/vms/web1.vm.test" "$T/vms/link.vm.test"
s5 "a symlink in the VM table is not an entry -> 0x04" 0x04 --name link.vm.test --port 7000
ln -s /etc/passwd "$T/vms/passwd.vm.test"
s5 "a symlink to /etc/passwd is not an entry -> 0x04" 0x04 --name passwd.vm.test --port 7000
mkdir "$T/vms/dir.vm.test"
s5 "a directory in the VM table is not an entry -> 0x04" 0x04 --name dir.vm.test --port 7000
gw_alive_and_serving gw "after VM table changes"

# --- 12. dead services, unreachable channels -----------------------------------------------------
vg_log "# dead services and channels"
s5 "nothing listening on the guest port -> 0x05" 0x05 --name web1.vm.test --port 9
vm_serve 1 7001
s5 "service on 7001 up -> 0x00" 0x00 --name web1.vm.test --port 7001
vg_stop srv1-7001
check_down "service on 7001 stopped: nothing listens on it any more" "$NS_VM1" "$(vm4 1)" 7001
s5 "service on 7001 stopped -> 0x05" 0x05 --name web1.vm.test --port 7001

vm_set gone.vm.test channel="tcp:$(vm4 2)"
s5 "vm2 up -> 0x00" 0x00 --name gone.vm.test --port 7000
vg_stop srv2-7000
check_down "vm2's service stopped: nothing listens on it any more" "$NS_VM2" "$(vm4 2)" 7000
ip netns del "$NS_VM2"
# the kernel dismantles a namespace asynchronously: wait until the host's end of the link is gone
_vm2_link_gone() { ! ip -n "$NS_HV" link show vm2 >/dev/null 2>&1; }
wait_until "vm2's link to disappear" 10 _vm2_link_gone || vg_die "vm2's veth still exists after ip netns del"
t0=$(date +%s%N)
s5 "VM namespace deleted -> 0x04 or 0x06" "0x0[46]" --name gone.vm.test --port 7000
dt=$((($(date +%s%N) - t0) / 1000000))
check_le "VM namespace deleted: answered within connect-timeout (ms)" 4500 "$dt"
http "VM namespace deleted, HTTP -> 502 or 504" "502|504" --target gone.vm.test:7000

ip -n "$NS_HV" route add unreachable 198.18.98.0/24
vm_set unr.vm.test channel="tcp:198.18.98.2"
s5 "unreachable route to the channel -> 0x04 or 0x06" "0x0[46]" --name unr.vm.test --port 7000
ip -n "$NS_HV" route add blackhole 198.18.99.0/24
vm_set bh.vm.test channel="tcp:198.18.99.2"
t0=$(date +%s%N)
s5 "blackhole route to the channel -> 0x04 or 0x06" "0x0[46]" --name bh.vm.test --port 7000
dt=$((($(date +%s%N) - t0) / 1000000))
check_le "blackhole route: answered within connect-timeout (ms)" 4500 "$dt"
http "blackhole route, HTTP -> 502 or 504" "502|504" --target bh.vm.test:7000

# packets to a neighbour that silently drops them (wrong MAC on the VM link): connect times out
ip -n "$NS_HV" neigh add 198.18.1.77 lladdr 02:00:00:00:00:77 dev vm1 nud permanent
vm_set silent.vm.test channel="tcp:198.18.1.77"
t0=$(date +%s%N)
s5 "silently dropped SYNs -> 0x06 (or 0x04)" "0x0[46]" --name silent.vm.test --port 7000
dt=$((($(date +%s%N) - t0) / 1000000))
check_ge "silent channel: the gateway waited for connect-timeout (ms)" 2500 "$dt"
check_le "silent channel: answered within connect-timeout + 2 s (ms)" 5000 "$dt"
http "silently dropped SYNs, HTTP -> 504 or 502" "504|502" --target silent.vm.test:7000
# vsock-mux channels that are down or hang
vm_set nomux.vm.test channel="vsock-mux:$T/missing.vsock"
s5 "vsock-mux socket missing -> 0x04" 0x04 --name nomux.vm.test --port 7000
http "vsock-mux socket missing, HTTP -> 502" 502 --target nomux.vm.test:7000
"$VG_PY" -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/stale.vsock"
vm_set stalemux.vm.test channel="vsock-mux:$T/stale.vsock"
s5 "vsock-mux socket file with no listener (VMM gone) -> 0x04, not 0x05" 0x04 --name stalemux.vm.test --port 7000
http "vsock-mux socket with no listener, HTTP -> 502" 502 --target stalemux.vm.test:7000
vm_set hangmux.vm.test channel="vsock-mux:$T/hang.vsock"
t0=$(date +%s%N)
s5 "vsock-mux peer never answers OK -> 0x06" 0x06 --name hangmux.vm.test --port 7000
dt=$((($(date +%s%N) - t0) / 1000000))
check_ge "vsock-mux hang: waited for connect-timeout (ms)" 2500 "$dt"
check_le "vsock-mux hang: answered within connect-timeout + 2 s (ms)" 5000 "$dt"
http "vsock-mux peer never answers OK, HTTP -> 504" 504 --target hangmux.vm.test:7000
gw_alive_and_serving gw "after dead services and unreachable channels"

check_no_leak gw "$FDS0" "after all bad input"
check_nomatch "no sanitizer or crash report in the gateway log" "(AddressSanitizer|runtime error|Segmentation|core dumped)" "$(cat "$T/gw.log" 2>/dev/null)"
vg_finish

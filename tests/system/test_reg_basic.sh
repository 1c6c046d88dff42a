#!/usr/bin/env bash
# Registrar basics against BIND and Knot: add/del/list, the records cross-checked with dig, name
# and channel checks, wrong and unknown TSIG keys.
source "$(dirname "${BASH_SOURCE[0]}")/dnslib.sh"
dns_init

expect_rc "--help" 0 "$REG" --help
grep -q "exit codes" "$DNS_TMP/last.out" && ok "--help documents exit codes" || fail "--help lacks exit codes"

scenario() {
    local kind=$1
    DNS_SCEN=$kind
    echo "# --- $kind"
    dns_start "$kind" S
    local P=$S_PORT
    local C
    C=$(host_config hv1 "127.0.0.1, ::1" "$P")
    local VMS="$(hostdir hv1)/vms"

    expect_rc "$kind: check-config" 0 "$REG" -c "$C" check-config
    expect_rc "$kind: add web1 (short name)" 0 "$REG" -c "$C" add web1 --channel serial:/run/vmgate/web1.sock
    eq "$kind: web1 A" "$(dq "$P" web1.$ZONE A)" "127.0.0.1"
    eq "$kind: web1 AAAA" "$(dq "$P" web1.$ZONE AAAA)" "::1"
    eq "$kind: web1 owner TXT" "$(dq "$P" web1.$ZONE TXT)" '"vmgate-owner=hv1"'
    eq "$kind: web1 SRV" "$(dq "$P" _vmgate._tcp.web1.$ZONE SRV)" "0 0 1080 hv1.vmgate-hosts.$ZONE."
    eq "$kind: host record A" "$(dq "$P" hv1.vmgate-hosts.$ZONE A)" "127.0.0.1"
    local hb
    hb=$(dq "$P" hv1.vmgate-hosts.$ZONE TXT | sed -n 's/"vmgate-heartbeat=\([0-9]*\)"/\1/p')
    check "$kind: heartbeat is recent" test -n "$hb" -a "$(( $(date +%s) - ${hb:-0} ))" -le 5
    check "$kind: TTL is the configured 30" \
        bash -c "dig @127.0.0.1 -p $P +tcp +noall +answer web1.$ZONE A | awk '{print \$2}' | grep -qx 30"
    check "$kind: VM table entry written" grep -qx "channel = serial:/run/vmgate/web1.sock" "$VMS/web1.$ZONE"
    check "$kind: VM table entry names the owner" grep -qx "owner = hv1" "$VMS/web1.$ZONE"

    expect_rc "$kind: add web2 (FQDN with dot)" 0 "$REG" -c "$C" add "web2.$ZONE." --channel vsock:7 --qmp /run/vmgate/web2.qmp
    check "$kind: qmp in the VM table" grep -qx "qmp = /run/vmgate/web2.qmp" "$VMS/web2.$ZONE"
    expect_rc "$kind: re-adding our own VM is fine" 0 "$REG" -c "$C" add web1 --channel serial:/run/vmgate/web1b.sock
    check "$kind: re-add updated the channel" grep -qx "channel = serial:/run/vmgate/web1b.sock" "$VMS/web1.$ZONE"

    expect_rc "$kind: list" 0 "$REG" -c "$C" list
    check "$kind: list shows web1 published" grep -Eq "^web1\.$ZONE +published +serial:/run/vmgate/web1b.sock" "$DNS_TMP/last.out"
    check "$kind: list shows web2 published" grep -Eq "^web2\.$ZONE +published +vsock:7" "$DNS_TMP/last.out"
    expect_rc "$kind: list --all" 0 "$REG" -c "$C" list --all
    check "$kind: list --all shows the host heartbeat" grep -Eq "^host hv1 +heartbeat" "$DNS_TMP/last.out"

    expect_rc "$kind: del web1" 0 "$REG" -c "$C" del web1
    eq "$kind: web1 A gone" "$(dq "$P" web1.$ZONE A)" ""
    eq "$kind: web1 TXT gone" "$(dq "$P" web1.$ZONE TXT)" ""
    eq "$kind: web1 SRV gone" "$(dq "$P" _vmgate._tcp.web1.$ZONE SRV)" ""
    check "$kind: VM table entry removed" test ! -e "$VMS/web1.$ZONE"
    eq "$kind: web2 untouched" "$(dq "$P" web2.$ZONE TXT)" '"vmgate-owner=hv1"'
    expect_rc "$kind: del of an absent VM is done" 0 "$REG" -c "$C" del web1

    # names and channels are checked before anything is sent
    local bad
    for bad in _web a..b -web web- "$(printf 'a%.0s' {1..64})" web1.other.test. 12 vmgate-hosts "x.vmgate-hosts"; do
        expect_rc "$kind: bad name '$bad' rejected" 65 "$REG" -c "$C" add --channel vsock:5 -- "$bad"
    done
    expect_rc "$kind: bad channel rejected" 65 "$REG" -c "$C" add web3 --channel ftp:x
    expect_rc "$kind: relative socket path rejected" 65 "$REG" -c "$C" add web3 --channel serial:web3.sock
    expect_rc "$kind: missing --channel is a usage error" 64 "$REG" -c "$C" add web3
    eq "$kind: nothing published for web3" "$(dq "$P" web3.$ZONE TXT)" ""

    # keys: same name with another secret → BADSIG; a name the server does not know → BADKEY
    tsig-keygen -a hmac-sha256 reg-key >"$DNS_TMP/wrong.key"
    tsig-keygen -a hmac-sha256 stranger >"$DNS_TMP/unknown.key"
    local CW CU
    CW=$(host_config hv1w "127.0.0.1" "$P" "$DNS_TMP/wrong.key")
    CU=$(host_config hv1u "127.0.0.1" "$P" "$DNS_TMP/unknown.key")
    expect_rc "$kind: wrong secret → BADSIG exit" 12 "$REG" -c "$CW" add web5 --channel vsock:5
    check "$kind: BADSIG message" grep -q "BADSIG" "$DNS_TMP/last.err"
    check "$kind: nothing journaled after BADSIG" test -z "$(ls -A "$(hostdir hv1w)/state/journal" 2>/dev/null)"
    expect_rc "$kind: unknown key → BADKEY exit" 13 "$REG" -c "$CU" add web5 --channel vsock:5
    check "$kind: BADKEY message names the key" grep -q "BADKEY.*stranger" "$DNS_TMP/last.err"
    expect_rc "$kind: transfer with a wrong key fails clearly" 12 "$REG" -c "$CW" sync
    eq "$kind: web5 never published" "$(dq "$P" web5.$ZONE TXT)" ""
    printf 'key "k" {\n\talgorithm hmac-md5;\n\tsecret "c2VjcmV0c2VjcmV0c2VjcmV0";\n};\n' >"$DNS_TMP/md5.key"
    expect_rc "$kind: unsupported key algorithm → config error" 78 \
        "$REG" -c "$(host_config hv1m 127.0.0.1 "$P" "$DNS_TMP/md5.key")" add web5 --channel vsock:5

    expect_rc "$kind: del web2" 0 "$REG" -c "$C" del web2.$ZONE
    dns_stop S
}

scenario bind
scenario knot
dns_summary

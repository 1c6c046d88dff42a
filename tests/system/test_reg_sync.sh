#!/usr/bin/env bash
# sync and gc against BIND and Knot: sync repairs deleted records and withdraws stray ones of this
# host (and nobody else's); gc withdraws the VMs of a host whose heartbeat is stale, and of a host
# with no host record, and nothing else.
source "$(dirname "${BASH_SOURCE[0]}")/dnslib.sh"
dns_init

scenario() {
    local kind=$1
    DNS_SCEN=$kind
    echo "# --- $kind"
    dns_start "$kind" S
    local P=$S_PORT C1 C2 C3 C4
    C1=$(host_config hv1 "127.0.0.1" "$P")
    C2=$(host_config hv2 "127.0.0.2" "$P")
    C3=$(host_config hv3 "127.0.0.3" "$P")
    C4=$(host_config hv4 "127.0.0.4" "$P")
    local VMS1
    VMS1="$(hostdir hv1)/vms"

    expect_rc "$kind: hv1 adds web1..web3" 0 bash -c "printf 'web1 vsock:5\nweb2 vsock:6\nweb3 vsock:7\n' | '$REG' -c '$C1' add --batch -"
    expect_rc "$kind: hv2 adds other1" 0 "$REG" -c "$C2" add other1 --channel vsock:8
    expect_rc "$kind: sync with nothing to do" 0 "$REG" -c "$C1" sync
    eq "$kind: sync reports 3 in sync" "$(grep -c in-sync "$DNS_TMP/last.out")" 3

    # damage: web1 deleted entirely, web2 lost its SRV and A, a stray VM of hv1 not in its table
    nsu "$P" <<EOF2
update delete web1.$ZONE.
update delete _vmgate._tcp.web1.$ZONE.
update delete _vmgate._tcp.web2.$ZONE. SRV
update delete web2.$ZONE. A
update add ghost.$ZONE. 30 TXT "vmgate-owner=hv1"
update add ghost.$ZONE. 30 A 127.0.0.1
update add _vmgate._tcp.ghost.$ZONE. 30 SRV 0 0 1080 hv1.vmgate-hosts.$ZONE.
EOF2
    eq "$kind: damage done (web1 gone)" "$(dq "$P" web1.$ZONE TXT)" ""
    # and an entry in hv1's table for a name hv2 owns
    printf 'channel = vsock:9\n' >"$VMS1/other1.$ZONE"

    expect_rc "$kind: sync --dry-run reports the conflict" 10 "$REG" -c "$C1" sync --dry-run
    check "$kind: dry run plans to add web1" grep -Eq "^web1\.$ZONE +add" "$DNS_TMP/last.out"
    check "$kind: dry run plans to republish web2" grep -Eq "^web2\.$ZONE +republish" "$DNS_TMP/last.out"
    check "$kind: dry run plans to withdraw ghost" grep -Eq "^ghost\.$ZONE +withdraw" "$DNS_TMP/last.out"
    eq "$kind: dry run changed nothing" "$(dq "$P" web1.$ZONE TXT)" ""

    expect_rc "$kind: sync repairs, reports the conflict (YXDOMAIN)" 10 "$REG" -c "$C1" sync
    check "$kind: sync names other1's owner" grep -Eq "^other1\.$ZONE +conflict.*owned by host hv2" "$DNS_TMP/last.out"
    eq "$kind: web1 TXT restored" "$(dq "$P" web1.$ZONE TXT)" '"vmgate-owner=hv1"'
    eq "$kind: web1 A restored" "$(dq "$P" web1.$ZONE A)" "127.0.0.1"
    eq "$kind: web1 SRV restored" "$(dq "$P" _vmgate._tcp.web1.$ZONE SRV)" "0 0 1080 hv1.vmgate-hosts.$ZONE."
    eq "$kind: web2 A restored" "$(dq "$P" web2.$ZONE A)" "127.0.0.1"
    eq "$kind: web2 SRV restored" "$(dq "$P" _vmgate._tcp.web2.$ZONE SRV)" "0 0 1080 hv1.vmgate-hosts.$ZONE."
    eq "$kind: stray ghost withdrawn" "$(dq "$P" ghost.$ZONE TXT)$(dq "$P" ghost.$ZONE A)" ""
    eq "$kind: stray ghost SRV withdrawn" "$(dq "$P" _vmgate._tcp.ghost.$ZONE SRV)" ""
    eq "$kind: other1 untouched" "$(dq "$P" other1.$ZONE A)" "127.0.0.2"
    rm -f "$VMS1/other1.$ZONE"
    expect_rc "$kind: second sync is clean" 0 "$REG" -c "$C1" sync
    eq "$kind: 3 in sync" "$(grep -c in-sync "$DNS_TMP/last.out")" 3

    # gc: hv3's heartbeat goes stale; hv4's host record vanishes
    expect_rc "$kind: hv3 adds dead1, dead2" 0 "$REG" -c "$C3" add dead1 --channel vsock:10
    expect_rc "$kind: hv3 adds dead2" 0 "$REG" -c "$C3" add dead2 --channel vsock:11
    expect_rc "$kind: hv4 adds orphan1" 0 "$REG" -c "$C4" add orphan1 --channel vsock:12
    local old=$(( $(date +%s) - 1000 ))
    nsu "$P" <<EOF2
update delete hv3.vmgate-hosts.$ZONE. TXT
update add hv3.vmgate-hosts.$ZONE. 30 TXT "vmgate-heartbeat=$old"
update delete hv4.vmgate-hosts.$ZONE.
EOF2
    expect_rc "$kind: gc --dry-run" 0 "$REG" -c "$C1" gc --dry-run
    check "$kind: dry run lists dead1" grep -Eq "^dead1\.$ZONE +withdraw.*host hv3 silent for" "$DNS_TMP/last.out"
    check "$kind: dry run lists orphan1" grep -Eq "^orphan1\.$ZONE +withdraw.*hv4 has no heartbeat" "$DNS_TMP/last.out"
    check "$kind: dry run spares other1" bash -c "! grep -q other1 '$DNS_TMP/last.out'"
    eq "$kind: dry run changed nothing" "$(dq "$P" dead1.$ZONE TXT)" '"vmgate-owner=hv3"'
    expect_rc "$kind: gc" 0 "$REG" -c "$C1" gc
    eq "$kind: dead1 withdrawn" "$(dq "$P" dead1.$ZONE TXT)$(dq "$P" dead1.$ZONE A)" ""
    eq "$kind: dead2 SRV withdrawn" "$(dq "$P" _vmgate._tcp.dead2.$ZONE SRV)" ""
    eq "$kind: orphan1 withdrawn" "$(dq "$P" orphan1.$ZONE TXT)" ""
    eq "$kind: hv3's stale host record removed" "$(dq "$P" hv3.vmgate-hosts.$ZONE TXT)" ""
    eq "$kind: live hv2's other1 kept" "$(dq "$P" other1.$ZONE TXT)" '"vmgate-owner=hv2"'
    eq "$kind: hv2's host record kept" "$(dq "$P" hv2.vmgate-hosts.$ZONE A)" "127.0.0.2"
    eq "$kind: hv1's own VMs kept" "$(owned_by "$P" hv1)" 3
    expect_rc "$kind: gc again finds nothing" 0 "$REG" -c "$C1" gc
    eq "$kind: nothing to withdraw" "$(wc -l <"$DNS_TMP/last.out")" 0
    dns_stop S
}

scenario bind
scenario knot
dns_summary

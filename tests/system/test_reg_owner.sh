#!/usr/bin/env bash
# Ownership against BIND and Knot: two hosts with the same key never clobber each other's VMs;
# --takeover moves a VM and the old host's late del then deletes nothing; a batch of 500 with one
# conflicting name lands 499 and reports the one.
source "$(dirname "${BASH_SOURCE[0]}")/dnslib.sh"
dns_init

scenario() {
    local kind=$1
    DNS_SCEN=$kind
    echo "# --- $kind"
    dns_start "$kind" S
    local P=$S_PORT C1 C2
    C1=$(host_config hv1 "127.0.0.1" "$P")
    C2=$(host_config hv2 "127.0.0.2, ::2" "$P")

    expect_rc "$kind: hv1 adds web1" 0 "$REG" -c "$C1" add web1 --channel vsock:3
    expect_rc "$kind: hv2 cannot add hv1's web1 (YXDOMAIN)" 10 "$REG" -c "$C2" add web1 --channel vsock:4
    check "$kind: conflict names the owner" grep -q "owned by host hv1" "$DNS_TMP/last.err"
    check "$kind: hv2 wrote no VM table entry" test ! -e "$(hostdir hv2)/vms/web1.$ZONE"
    eq "$kind: web1 still points at hv1" "$(dq "$P" web1.$ZONE A)" "127.0.0.1"
    eq "$kind: web1 has no AAAA of hv2" "$(dq "$P" web1.$ZONE AAAA)" ""
    expect_rc "$kind: hv2 cannot delete hv1's web1 (NXRRSET)" 11 "$REG" -c "$C2" del web1
    check "$kind: refusal says nothing was deleted" grep -q "nothing deleted" "$DNS_TMP/last.err"
    eq "$kind: web1 A intact" "$(dq "$P" web1.$ZONE A)" "127.0.0.1"
    eq "$kind: web1 TXT intact" "$(dq "$P" web1.$ZONE TXT)" '"vmgate-owner=hv1"'
    eq "$kind: web1 SRV intact" "$(dq "$P" _vmgate._tcp.web1.$ZONE SRV)" "0 0 1080 hv1.vmgate-hosts.$ZONE."

    # migration: hv2 takes web1 over; hv1's late del fails cleanly
    expect_rc "$kind: hv2 takes web1 over" 0 "$REG" -c "$C2" add web1 --channel vsock:4 --takeover
    eq "$kind: web1 A now hv2" "$(dq "$P" web1.$ZONE A)" "127.0.0.2"
    eq "$kind: web1 AAAA now hv2" "$(dq "$P" web1.$ZONE AAAA)" "::2"
    eq "$kind: web1 owner now hv2" "$(dq "$P" web1.$ZONE TXT)" '"vmgate-owner=hv2"'
    eq "$kind: web1 SRV now hv2" "$(dq "$P" _vmgate._tcp.web1.$ZONE SRV)" "0 0 1080 hv2.vmgate-hosts.$ZONE."
    expect_rc "$kind: hv1's late del fails (NXRRSET)" 11 "$REG" -c "$C1" del web1
    check "$kind: late del names the new owner" grep -q "owned by host hv2" "$DNS_TMP/last.err"
    eq "$kind: web1 still hv2 after the late del" "$(dq "$P" web1.$ZONE A)" "127.0.0.2"
    eq "$kind: web1 SRV still there" "$(dq "$P" _vmgate._tcp.web1.$ZONE SRV)" "0 0 1080 hv2.vmgate-hosts.$ZONE."
    check "$kind: hv1's VM table no longer lists web1" test ! -e "$(hostdir hv1)/vms/web1.$ZONE"
    expect_rc "$kind: takeover of a free name just publishes" 0 "$REG" -c "$C1" add free1 --channel vsock:9 --takeover
    eq "$kind: free1 owned by hv1" "$(dq "$P" free1.$ZONE TXT)" '"vmgate-owner=hv1"'
    printf 'update add static.%s. 300 A 192.0.2.1\n' "$ZONE" | nsu "$P"
    expect_rc "$kind: takeover never touches names vmgate does not manage" 10 \
        "$REG" -c "$C1" add static --channel vsock:9 --takeover
    eq "$kind: static record intact" "$(dq "$P" static.$ZONE A)" "192.0.2.1"

    # a batch of 500 with one conflicting name
    expect_rc "$kind: hv2 adds vm250" 0 "$REG" -c "$C2" add vm250 --channel vsock:250
    local i
    for i in $(seq 1 500); do echo "vm$i serial:/run/vmgate/vm$i.sock"; done >"$DNS_TMP/batch"
    expect_rc "$kind: batch of 500 with one conflict (YXDOMAIN)" 10 "$REG" -c "$C1" add --batch "$DNS_TMP/batch"
    check "$kind: the batch reports 499 done, 1 failed" grep -q "500 request(s): 499 done, 0 queued, 1 failed" "$DNS_TMP/last.err"
    check "$kind: the failure is vm250" grep -q "vm250.$ZONE: in-use" "$DNS_TMP/last.err"
    eq "$kind: 499 VMs of hv1 in the zone" "$(owned_by "$P" hv1)" 500   # 499 + free1
    eq "$kind: vm250 still hv2's" "$(dq "$P" vm250.$ZONE TXT)" '"vmgate-owner=hv2"'
    eq "$kind: vm1 published" "$(dq "$P" vm1.$ZONE A)" "127.0.0.1"
    eq "$kind: vm500 published" "$(dq "$P" vm500.$ZONE A)" "127.0.0.1"
    eq "$kind: 499 VM table entries" "$(ls "$(hostdir hv1)/vms" | grep -c '^vm')" 499
    sed 's/ .*//' "$DNS_TMP/batch" >"$DNS_TMP/dbatch"
    expect_rc "$kind: batch del of 500 (one not ours: NXRRSET)" 11 "$REG" -c "$C1" del --batch "$DNS_TMP/dbatch"
    eq "$kind: hv1 owns only free1 now" "$(owned_by "$P" hv1)" 1
    eq "$kind: vm250 survived hv1's batch del" "$(dq "$P" vm250.$ZONE A)" "127.0.0.2"
    dns_stop S
}

scenario bind
scenario knot
dns_summary

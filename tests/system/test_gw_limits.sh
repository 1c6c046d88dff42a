#!/usr/bin/env bash
# vmgate-gw running out of descriptors: started with a hard limit of 64 open files and flooded
# with 150 connections that never finish their handshake.  accept() fails with EMFILE; the
# gateway must pause accepting (back-off, no busy loop), keep the connections it has, close the
# idle ones at handshake-timeout, accept the queued ones as slots free up, and serve normally
# afterwards.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vg_init
vg_require_tools prlimit
vg_net_init
vg_add_vm 1
vm_serve 1 7000
vm_set web1.vm.test "channel=tcp:$(vm4 1)"
vg_users
gw_conf "$VG_TMP/gw.conf" handshake-timeout=2
vg_start gw "$NS_HV" prlimit --nofile=64:64 -- "$VG_GW_BIN" -c "$VG_TMP/gw.conf" -f
wait_port "$NS_HV" "$HV4" 1080 10 gw || vg_die "gateway did not come up"
check_eq "the gateway runs with a hard limit of 64 descriptors" 64 \
    "$(awk '/Max open files/ {print $5}' "/proc/${VG_PID[gw]}/limits")"
gw_serves "before the flood"

cpu0=$(awk '{print $14 + $15}' "/proc/${VG_PID[gw]}/stat")
out=$(cl_vgt flood --to "$HV4:1080" --gw "$HV4:1080" --n 150 --within 12 2>&1) || true
cpu1=$(awk '{print $14 + $15}' "/proc/${VG_PID[gw]}/stat")
check_match "every flood connection was accepted in turn and closed at handshake-timeout" \
    '^FLOOD OK' "$out"
check_match "accept hit EMFILE and paused (log)" 'accept: Too many open files; pausing accepts' \
    "$(cat "$VG_TMP/gw.log")"
# a busy loop on EMFILE would burn a whole core for the ~6 s of the flood (600 ticks)
check_le "the gateway did not spin while out of descriptors (CPU ticks)" 150 $((cpu1 - cpu0))
gw_alive_and_serving gw "after running out of descriptors"
vg_finish

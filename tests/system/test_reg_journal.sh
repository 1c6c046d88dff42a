#!/usr/bin/env bash
# Durability against BIND and Knot: with the server down, add/del are journaled (exit 75); the
# daemon is restarted while the server is still down; when the server comes back the daemon
# replays everything.  Then concurrent requests through the daemon are coalesced, and the daemon
# refreshes the heartbeat.
source "$(dirname "${BASH_SOURCE[0]}")/dnslib.sh"
dns_init
[[ -n "${DNS_KEEP:-}" ]] && echo "# keeping $DNS_TMP"

start_daemon() { # CONFIG LOG
    "$REG" -c "$1" -vv daemon >>"$2" 2>&1 &
    DAEMON_PID=$!
    DNS_PIDS+=("$DAEMON_PID")
    local i sock
    sock="$(dirname "$1")/state/reg.sock"
    for ((i = 0; i < 100; i++)); do
        [[ -S "$sock" ]] && return 0
        sleep 0.05
    done
    fail "daemon socket $sock did not appear"
    return 1
}
stop_daemon() { # returns when the daemon has exited (bounded; a failed check if it does not)
    if dns_kill_pid "$DAEMON_PID"; then
        _dns_forget "$DAEMON_PID"
    else
        fail "daemon (PID $DAEMON_PID) did not exit"
    fi
}
journal_count() { ls -A "$(hostdir "$1")/state/journal" 2>/dev/null | wc -l; }

scenario() {
    local kind=$1
    DNS_SCEN=$kind
    echo "# --- $kind"
    dns_start "$kind" S
    local P=$S_PORT C LOG
    C=$(host_config hv1 "127.0.0.1" "$P")
    sed -i 's/^heartbeat-interval = .*/heartbeat-interval = 1/' "$C"
    LOG="$(hostdir hv1)/daemon.log"

    expect_rc "$kind: old1 added while the server is up" 0 "$REG" -c "$C" add old1 --channel vsock:11
    dns_stop S
    check "$kind: the server is down (process gone, port $P answers nothing)" dns_port_down "$P"

    expect_rc "$kind: add with the server down is queued" 75 "$REG" -c "$C" add web1 --channel vsock:3
    check "$kind: queued message says the daemon retries" grep -q "queued" "$DNS_TMP/last.err"
    local i
    for i in $(seq 1 20); do echo "vm$i vsock:$((100 + i))"; done >"$DNS_TMP/batch"
    expect_rc "$kind: batch add with the server down is queued" 75 "$REG" -c "$C" add --batch "$DNS_TMP/batch"
    expect_rc "$kind: del with the server down is queued" 75 "$REG" -c "$C" del old1
    eq "$kind: 22 changes journaled" "$(journal_count hv1)" 22
    check "$kind: VM table has web1 while queued" test -e "$(hostdir hv1)/vms/web1.$ZONE"
    check "$kind: VM table dropped old1" test ! -e "$(hostdir hv1)/vms/old1.$ZONE"
    expect_rc "$kind: replay with the server down keeps everything" 75 "$REG" -c "$C" replay
    eq "$kind: still 22 journaled" "$(journal_count hv1)" 22

    # the daemon starts and is restarted while the server is still down
    start_daemon "$C" "$LOG"
    expect_rc "$kind: add through the daemon, server down: queued" 75 "$REG" -c "$C" add web2 --channel vsock:4
    local tries=0
    until grep -q "still queued" "$LOG" || ((++tries > 100)); do sleep 0.05; done
    check "$kind: daemon tried and kept the changes" grep -q "still queued" "$LOG"
    stop_daemon
    eq "$kind: 23 journaled after the daemon stopped" "$(journal_count hv1)" 23
    start_daemon "$C" "$LOG"

    # the server comes back: the daemon replays everything
    dns_restart S
    check "$kind: web1 appears" wait_for "$P" web1.$ZONE TXT vmgate-owner=hv1 15
    check "$kind: web2 appears" wait_for "$P" web2.$ZONE TXT vmgate-owner=hv1 15
    check "$kind: vm20 appears" wait_for "$P" vm20.$ZONE TXT vmgate-owner=hv1 15
    tries=0
    until [[ $(journal_count hv1) == 0 ]] || ((++tries > 100)); do sleep 0.05; done
    eq "$kind: journal empty" "$(journal_count hv1)" 0
    eq "$kind: all 22 VMs present" "$(owned_by "$P" hv1)" 22
    eq "$kind: old1 withdrawn" "$(dq "$P" old1.$ZONE TXT)" ""
    eq "$kind: vm7 record points at the host" "$(dq "$P" vm7.$ZONE A)" "127.0.0.1"

    # concurrent hook calls through the daemon are coalesced into few UPDATEs
    local before pids=() rcs=0
    before=$(grep -c "served" "$LOG")
    for i in $(seq 1 40); do
        "$REG" -c "$C" add "burst$i" --channel "vsock:$((200 + i))" &
        pids+=($!)
    done
    for i in "${pids[@]}"; do wait "$i" || rcs=$((rcs + 1)); done
    eq "$kind: 40 concurrent adds all done" "$rcs" 0
    eq "$kind: 62 VMs present" "$(owned_by "$P" hv1)" 62
    local served=$(( $(grep -c "served" "$LOG") - before ))
    check "$kind: 40 requests served in fewer rounds ($served)" test "$served" -lt 40
    pids=()
    for i in $(seq 1 40); do "$REG" -c "$C" del "burst$i" & pids+=($!); done
    rcs=0
    for i in "${pids[@]}"; do wait "$i" || rcs=$((rcs + 1)); done
    eq "$kind: 40 concurrent dels all done" "$rcs" 0
    eq "$kind: back to 22 VMs" "$(owned_by "$P" hv1)" 22

    # heartbeat refreshed by the daemon
    local hb1 hb2
    hb1=$(dq "$P" hv1.vmgate-hosts.$ZONE TXT | tr -dc 0-9)
    tries=0
    until hb2=$(dq "$P" hv1.vmgate-hosts.$ZONE TXT | tr -dc 0-9); [[ ${hb2:-0} -gt ${hb1:-0} ]] || ((++tries > 40)); do
        sleep 0.1
    done
    check "$kind: daemon refreshes the heartbeat ($hb1 → $hb2)" test "${hb2:-0}" -gt "${hb1:-0}"
    stop_daemon
    check "$kind: daemon removed its socket" test ! -e "$(hostdir hv1)/state/reg.sock"
    dns_stop S
}

scenario bind
scenario knot
dns_summary

#!/usr/bin/env bash
# The access policy on streams a guest opens (docs/policy.md, the vm= subject), against the real
# gateway.  The test plays QEMU and the guest's agent (hostile_agent.py `streams`: it listens on
# the `serial:` socket of a VM table entry and opens guest streams "CONNECT NAME PORT"); the
# VM's allow-out lets every request through, so what is refused is refused by the policy:
#   - allow vm=g1.vm.test web1.vm.test 7000 (line 2): g1's stream to web1:7000 is served;
#   - g1 to web1:7001 and g2 to web1:7000: refused (ERR), each with a session.refused audit line
#     naming the deciding rule and the origin VM as the client ("vm:g1.vm.test");
#   - the same policy refuses an outside client that no rule names.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

vg_init
vg_net_init
vg_add_vm 1
vm_serve 1 7000
vm_serve 1 7001
vm_set web1.vm.test "channel=tcp:$(vm4 1)"
T=$VG_TMP
HA=$VG_LIB_DIR/hostile_agent.py
cat >"$T/policy" <<EOF
allow  from=198.18.0.0/16  g?.vm.test     22
allow  vm=g1.vm.test       web1.vm.test   7000
deny   any                 *              *
EOF
gw_conf "$T/gw.conf" policy-file="$T/policy" audit-log="$T/audit.log" agent-timeout=2
gw_start gw "$T/gw.conf"
vm_set g1.vm.test "channel=serial:$T/g1.sock" "allow-out=web1.vm.test:7000,web1.vm.test:7001"
vm_set g2.vm.test "channel=serial:$T/g2.sock" "allow-out=web1.vm.test:7000"

# each agent's session is opened by a client request for its VM (line 1 lets it through; the
# fake agent answers it)
guest() { # NAME VM TARGET: one guest stream; prints the agent's STREAMS line
    vg_start "$1" "$NS_HV" "$VG_PY" -u "$HA" streams --path "$T/$2.sock" --n 1 --target "$3"
    wait_unix "$T/$2.sock"
    # a request for the VM makes the gateway connect to the agent; right after the previous
    # agent of that VM was stopped, the gateway may still hold that session (it notices the
    # end a moment later): then the request fails and the next one connects to this agent
    local i
    for i in 1 2 3 4; do
        cl_vgt socks --gw "$HV4:1080" --name "$2.vm.test" --port 22 --action hello >/dev/null 2>&1 || true
        wait_until "$1: the guest's stream answered" 5 grep -q '^STREAMS' "$T/$1.log" && break
    done
    grep '^STREAMS' "$T/$1.log"
    vg_stop "$1"
}
check_match "g1 -> web1:7000: allowed by vm=g1.vm.test (line 2)" '^STREAMS acked=1 refused=0 ok=1 err=0' \
    "$(guest a1 g1 web1.vm.test:7000)"
check_match "g1 -> web1:7001: refused by the policy (ERR)" '^STREAMS acked=1 refused=0 ok=0 err=1' \
    "$(guest a2 g1 web1.vm.test:7001)"
check_match "g2 -> web1:7000: refused by the policy (ERR)" '^STREAMS acked=1 refused=0 ok=0 err=1' \
    "$(guest a3 g2 web1.vm.test:7000)"
wait_until "the audit writer has written g2's refusal" 5 grep -q '"client":"vm:g2.vm.test"' "$T/audit.log" || true
A=$(cat "$T/audit.log")
check_match "audit: g1's stream started under line 2" \
    '"event":"session.start".*"client":"vm:g1.vm.test","vm":"web1.vm.test","port":7000,"front":"guest".*"rule":"line 2: allow vm=g1' "$A"
check_match "audit: g1's stream to 7001 refused by line 3" \
    '"event":"session.refused".*"client":"vm:g1.vm.test","vm":"web1.vm.test","port":7001.*"rule":"line 3: deny' "$A"
check_match "audit: g2's stream refused by line 3" \
    '"event":"session.refused".*"client":"vm:g2.vm.test","vm":"web1.vm.test","port":7000.*"rule":"line 3: deny' "$A"
out=$(cl_vgt socks --gw "$HV4:1080" --name web1.vm.test --port 7000 --action hello 2>&1) || true
check_match "an outside client no rule names: refused (0x02)" '^REP 0x02' "$out"
vg_alive gw && pass "gateway still runs" || fail "gateway still runs"

vg_finish

#!/usr/bin/env bash
# test_vm_boot.sh — the QEMU test VM really boots and carries bytes over virtio-serial.
#
# Builds the image (scripts/build-vm-image.sh $VMGATE_BUILD/vm; with the agent when
# $VMGATE_BUILD/guest/vmgate-agent-static exists), boots it under QEMU (microvm, TCG unless a KVM probe
# boot works) in echo mode, and checks: a round trip through the port org.vmgate.0, a 20 MiB echo
# with sha256 integrity, the console marker, ssh (dropbear) and http (busybox httpd) inside the
# guest through bridge ports, QMP; then kills QEMU by its PID.  A second boot checks agent mode:
# the agent answers a yamux Ping (without a static agent in the build: an image whose "agent" is
# vmgate-echo answers a raw round trip), and is restarted after it is killed in the guest.
# No network device in the VM; the host side is unix sockets only.
set -Eeuo pipefail

T_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VMGATE_SRC=${VMGATE_SRC:-$(cd "$T_DIR/../.." && pwd)}
VMGATE_BUILD=${VMGATE_BUILD:-$VMGATE_SRC/build}
export VM_IMAGE=$VMGATE_BUILD/vm
source "$T_DIR/vmlib.sh"
HOSTPY=$VMGATE_SRC/tests/vm/vmhost.py

PASS=0 FAIL=0 FAILED=() T0=$SECONDS
pass() { PASS=$((PASS + 1)); echo "ok   - $1"; }
fail() {
    FAIL=$((FAIL + 1)); FAILED+=("$1"); echo "FAIL - $1"; shift
    local l; for l in "$@"; do printf '         %s\n' "$l"; done
}
check_eq() { if [[ $3 == "$2" ]]; then pass "$1"; else fail "$1" "expected: $2" "got:      $3"; fi; }
finish() {
    local rc=$?
    set +e
    trap - EXIT
    if [[ -n $VM_PID && $FAIL -gt 0 ]]; then
        echo "--- console ($VM_CONSOLE) ---"; tail -n 30 "$VM_CONSOLE"
    fi
    vm_stop
    echo
    ((FAIL > 0)) && printf 'failed checks:\n' && printf '  - %s\n' "${FAILED[@]}"
    ((rc != 0 && FAIL == 0)) && FAIL=1 && echo "aborted (exit $rc)"
    echo "$(basename "$0"): $PASS passed, $FAIL failed ($((SECONDS - T0)) s)"
    ((FAIL == 0)) && exit 0 || exit 1
}
trap finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

for t in qemu-system-x86_64 python3 ssh nc curl sha256sum; do
    command -v "$t" >/dev/null || { fail "tool $t present" "run scripts/install-deps.sh"; exit 1; }
done

# ---------------------------------------------------------------------------------------------
echo "== build the image into $VM_IMAGE"
agent=()
# the static agent (guest/CMakeLists.txt builds vmgate-agent-static unless sanitizing)
[[ -x $VMGATE_BUILD/guest/vmgate-agent-static ]] && agent=(--agent "$VMGATE_BUILD/guest/vmgate-agent-static")
if out=$(bash "$VMGATE_SRC/scripts/build-vm-image.sh" "$VM_IMAGE" "${agent[@]}" 2>&1); then
    pass "build-vm-image.sh"
else
    fail "build-vm-image.sh" "$(tail -n 20 <<<"$out")"
    exit 1
fi
echo "$out" | sed 's/^/    /'
out=$(bash "$VMGATE_SRC/scripts/build-vm-image.sh" "$VM_IMAGE" "${agent[@]}" 2>&1) || true
[[ $out == *"up to date"* ]] && pass "second build is a no-op" || fail "second build is a no-op" "$out"
if head -c 4 "$VM_IMAGE/vmlinux" | grep -q ELF; then pass "vmlinux is an uncompressed ELF kernel"; else fail "vmlinux is an uncompressed ELF kernel"; fi

accel=$(vm_accel)
echo "== accelerator: $accel (KVM only when a probe boot reaches the marker)"

# ---------------------------------------------------------------------------------------------
echo "== boot in echo mode"
vm_start --mode echo --qmp --tcp-bridge 22 --tcp-bridge 80 || { fail "QEMU starts"; exit 1; }
pass "QEMU starts (PID $VM_PID, $VM_ACCEL)"
if out=$(vm_roundtrip 120); then
    t_rt=$(vm_elapsed)
    pass "first round trip through org.vmgate.0 ($out, ${t_rt} s after QEMU started)"
else
    fail "first round trip through org.vmgate.0" "$out"
    exit 1
fi
if line=$(vm_wait_ready 60); then
    t_ready=$(vm_elapsed)
    pass "console marker: $line (${t_ready} s after QEMU started)"
else
    fail "console marker $VM_MARKER"
fi
echo "BOOT_TO_FIRST_ROUNDTRIP_S ${t_rt:-?} BOOT_TO_MARKER_S ${t_ready:-?} ACCEL $VM_ACCEL"

# the PID we hold is QEMU's own
exe=$(readlink "/proc/$VM_PID/exe" || true)
[[ $exe == */qemu-system-x86_64 ]] && pass "VM_PID $VM_PID is QEMU itself" || fail "VM_PID is QEMU itself" "exe: $exe"
check_eq "QEMU's pidfile names the same PID" "$VM_PID" "$(cat "$VM_RUN/qemu.pid" 2>/dev/null)"

out=$(python3 "$HOSTPY" roundtrip "$VM_SOCK" --timeout 30 2>&1) &&
    pass "second connection: round trip ($out)" || fail "second connection: round trip" "$out"

out=$(python3 "$HOSTPY" transfer "$VM_SOCK" --bytes $((20 << 20)) --seed 7 --timeout 120 2>&1) || true
read -r _ nbytes _ secs _ mibps _ s1 _ s2 _ <<<"$out"
if [[ ${nbytes:-} == $((20 << 20)) && -n ${s1:-} && ${s1:-} == "${s2:-}" ]]; then
    pass "20 MiB echo, sha256 equal ($mibps MiB/s, $secs s)"
else
    fail "20 MiB echo, sha256 equal" "$out"
fi

out=$(python3 "$HOSTPY" qmp "$VM_QMP" query-status 2>&1) || true
[[ $out == *'"status": "running"'* ]] && pass "QMP query-status: running" || fail "QMP query-status: running" "$out"

# guest services, through the debug bridge ports org.vmgate.tcp.22 / .80
sshopts=(-i "$VM_IMAGE/id_ed25519" -o UserKnownHostsFile="$VM_IMAGE/known_hosts" -o StrictHostKeyChecking=yes
    -o BatchMode=yes -o ConnectTimeout=30 -o ProxyCommand="nc -U ${VM_TCP_SOCK[22]}")
out=$(timeout 60 ssh "${sshopts[@]}" root@test-vm 'id -u; uname -r; ls /dev/virtio-ports; ip -o link | grep -vc " lo:"' 2>&1) || true
lines=$(tr '\n' ' ' <<<"$out")
if [[ $lines == "0 6.1."*"org.vmgate.0"*" 0 " ]]; then
    pass "ssh root@guest with the generated key (dropbear on 127.0.0.1:22; no NIC but lo)"
else
    fail "ssh root@guest with the generated key" "$out"
fi
# the first request on a port makes the guest's bridge connect to httpd (retried up to 20 s while it
# starts): under TCG on a loaded host that takes a while, as the 60 s bounds around it allow for
out=$(curl -sS --max-time 60 --unix-socket "${VM_TCP_SOCK[80]}" http://test-vm/index.html 2>&1) || true
check_eq "http GET /index.html (busybox httpd on 127.0.0.1:80)" "vmgate test VM: hello from the guest" "$out"
want=$(awk '$2=="big.bin"{print $1}' "$VM_IMAGE/www.sha256")
got=$(curl -sS --max-time 60 --unix-socket "${VM_TCP_SOCK[80]}" http://test-vm/big.bin | sha256sum | cut -d' ' -f1) || true
check_eq "http GET /big.bin (10 MiB) sha256" "$want" "$got"

pid=$VM_PID
vm_stop
if kill -0 "$pid" 2>/dev/null; then fail "QEMU $pid killed by PID"; else pass "QEMU $pid killed by PID"; fi

# ---------------------------------------------------------------------------------------------
# Agent mode: the image's real agent when it has one (a yamux Ping must come back), else an image
# whose "agent" is vmgate-echo (a raw round trip must); then kill it in the guest: /init restarts it.
if [[ -n ${agent[*]} ]]; then
    AGENT_IMG=$VM_IMAGE
    probe() { python3 "$HOSTPY" yamux-ping "$VM_SOCK" --timeout "$1"; }
    what="yamux Ping through vmgate-agent"
else
    echo "== (no static agent in $VMGATE_BUILD/guest: agent mode is checked with vmgate-echo as the agent)"
    AGENT_IMG=$VMGATE_BUILD/vm-fakeagent
    mkdir -p "$AGENT_IMG"
    [[ -d $AGENT_IMG/cache ]] || cp -a "$VM_IMAGE/cache" "$AGENT_IMG/" # the kernel, not downloaded again
    for f in id_ed25519 id_ed25519.pub dropbear_ed25519_host_key; do
        [[ -f $AGENT_IMG/$f ]] || cp -p "$VM_IMAGE/$f" "$AGENT_IMG/$f"
    done
    if out=$(bash "$VMGATE_SRC/scripts/build-vm-image.sh" "$AGENT_IMG" --agent "$VM_IMAGE/vmgate-echo" 2>&1); then
        pass "build an image with --agent vmgate-echo"
    else
        fail "build an image with --agent vmgate-echo" "$(tail -n 20 <<<"$out")"
        exit 1
    fi
    probe() { python3 "$HOSTPY" roundtrip "$VM_SOCK" --timeout "$1"; }
    what="round trip through the (echo) agent"
fi
echo "== agent mode ($AGENT_IMG): started, restarted after being killed"
vm_start --image "$AGENT_IMG" --mode agent --tcp-bridge 22 || { fail "QEMU starts (agent mode)"; exit 1; }
out=$(probe 120 2>&1) && pass "$what ($out, $(vm_elapsed) s after QEMU started)" ||
    fail "$what" "$out"
line=$(vm_wait_ready 60) && [[ $line == *"mode=agent"* ]] && pass "marker in agent mode: $line" ||
    fail "marker in agent mode" "${line:-none}"
sshopts=(-i "$AGENT_IMG/id_ed25519" -o UserKnownHostsFile="$AGENT_IMG/known_hosts" -o StrictHostKeyChecking=yes
    -o BatchMode=yes -o ConnectTimeout=30 -o ProxyCommand="nc -U ${VM_TCP_SOCK[22]}")
out=$(timeout 60 ssh "${sshopts[@]}" root@test-vm 'p=$(pidof vmgate-agent); kill -9 $p; echo killed $p' 2>&1) || true
[[ $out == "killed "[0-9]* ]] && pass "kill the agent in the guest ($out)" || fail "kill the agent in the guest" "$out"
if line=$(timeout 30 bash -c "until grep -a -m1 'vmgate-agent exited' '$VM_CONSOLE'; do sleep 0.05; done"); then
    pass "init noticed: $line"
else
    fail "init reports the agent's exit on the console"
fi
out=$(probe 60 2>&1) && pass "$what, restarted agent ($out)" || fail "$what, restarted agent" "$out"
vm_stop

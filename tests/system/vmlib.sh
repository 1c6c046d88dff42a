# shellcheck shell=bash disable=SC2034
# vmlib.sh — boot the vmgate test VM (scripts/build-vm-image.sh) under QEMU, hold QEMU's own PID,
# wait for it by polling, kill it by that PID.  Source it (bash); docs/test-vm.md has the details.
#
#   source tests/system/vmlib.sh
#   vm_start [--image DIR] [--mode echo|agent] [--accel auto|tcg|kvm] [--qmp] [--tcp-bridge N]...
#            [--port NAME] [--mem 128M] [--append "ARGS"] [--run DIR] [-- QEMU-ARGS...]
#   vm_wait_ready [TIMEOUT=120]     the console marker VMGATE-READY (fails at once if QEMU died)
#   vm_roundtrip [TIMEOUT=120]      echo mode: a line through the port comes back
#   vm_stop                         SIGTERM QEMU's PID, SIGKILL after 3 s, remove the run dir
#   vm_accel                        prints kvm or tcg: kvm only if a probe boot reaches the marker
#   vm_elapsed [T0=$VM_T0]          seconds since QEMU started (or since T0 from vm_now), e.g. 2.41
#
# After vm_start:  VM_PID (QEMU itself), VM_RUN (run dir), VM_SOCK (host side of the port, a unix
# socket), VM_CONSOLE (the guest console, a file), VM_QMP (with --qmp), VM_ACCEL,
# VM_TCP_SOCK[N] (with --tcp-bridge N: a unix socket bridged to 127.0.0.1:N in the guest).
# VM_IMAGE also holds id_ed25519 (root's key), known_hosts and www.sha256.
# Nothing here installs a trap: call vm_stop from your own EXIT trap.  When tests/system/lib.sh is
# loaded too, VM_PID is added to VG_PIDS, so its cleanup kills QEMU as well.
# No network device is ever given to the VM: the host side is unix sockets only.

VM_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
VM_SRC=${VMGATE_SRC:-$(cd "$VM_LIB_DIR/../.." && pwd)}
VM_IMAGE=${VM_IMAGE:-${VMGATE_BUILD:-$VM_SRC/build}/vm}
VM_QEMU=${VM_QEMU:-qemu-system-x86_64}
VM_MARKER=VMGATE-READY
VM_PORT_NAME=org.vmgate.0
VM_HOST_PY=$VM_LIB_DIR/../vm/vmhost.py
VM_PID=
VM_RUN=
VM_OWN_RUN=
VM_SOCK=
VM_CONSOLE=
VM_QMP=
VM_ACCEL=
declare -gA VM_TCP_SOCK=()

vm_log() { echo "vmlib: $*" >&2; }

# TSC frequency for tsc_early_khz: under TCG the guest TSC counts host ticks
vm_host_khz() { awk -F: '/^cpu MHz/ {printf "%d\n", $2 * 1000; exit}' /proc/cpuinfo; }

vm_now() { date +%s.%N; }

# vm_elapsed [T0=$VM_T0]: seconds since T0 (a vm_now value), two decimals — shell arithmetic, no bc
vm_elapsed() {
    local t0=${1:-$VM_T0} now d
    [[ $t0 =~ ^[0-9]+\.[0-9]{9}$ ]] || { echo "?"; return 0; }
    now=$(date +%s%N)
    d=$((now - 10#${t0/./}))
    printf '%d.%02d\n' $((d / 1000000000)) $((d % 1000000000 / 10000000))
}

# QEMU processes left by a run whose owner died (e.g. a test killed at its timeout): kill them by
# the PID in their run dir's qemu.pid, after checking that PID really is that QEMU.
vm_reap_stale() {
    local d owner pid
    for d in /tmp/vmgate-vm-*; do
        [[ -f $d/qemu.pid && -f $d/owner ]] || continue
        owner=$(cat "$d/owner" 2>/dev/null) || continue
        [[ -n $owner ]] && kill -0 "$owner" 2>/dev/null && continue
        pid=$(cat "$d/qemu.pid" 2>/dev/null) || continue
        if [[ -n $pid ]] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$d/"; then
            vm_log "killing stale QEMU $pid ($d)"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -rf "$d"
    done
}

# vm_gone PID: the process has exited (no such process, or a zombie not yet reaped)
vm_gone() {
    local st
    { read -r st <"/proc/$1/stat"; } 2>/dev/null || return 0
    st=${st##*) }
    [[ ${st%% *} == Z ]]
}

# vm_kill_pid PID: TERM, up to 3 s, then KILL; returns once the process has really exited (reaped
# when it is our child, polled when not), non-zero if it still runs 5 s after KILL
vm_kill_pid() {
    local pid=$1 i
    [[ -n $pid ]] || return 0
    if ! vm_gone "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 60; i++)); do
            vm_gone "$pid" && break
            sleep 0.05
        done
        vm_gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
    fi
    for ((i = 0; i < 100; i++)); do
        vm_gone "$pid" && break
        sleep 0.05
    done
    vm_gone "$pid" || { vm_log "QEMU PID $pid still runs after SIGKILL"; return 1; }
    wait "$pid" 2>/dev/null || true
    return 0
}

_vm_qemu_args() { # ACCEL MODE -> fills the array VM_ARGS
    local accel=$1 mode=$2
    VM_ARGS=(-M microvm -m "$VM_MEM" -smp 1 -nodefaults -no-user-config -display none
        -serial "file:$VM_CONSOLE" -pidfile "$VM_RUN/qemu.pid"
        -kernel "$VM_IMAGE/vmlinux" -initrd "$VM_IMAGE/initramfs.cpio.gz"
        -append "console=ttyS0 quiet tsc_early_khz=$(vm_host_khz) vmgate.mode=$mode vmgate.port=$VM_PORT_NAME${VM_APPEND:+ $VM_APPEND}"
        -device virtio-serial-device
        -chardev "socket,id=ch0,path=$VM_SOCK,server=on,wait=off"
        -device "virtserialport,chardev=ch0,name=$VM_PORT_NAME")
    if [[ $accel == kvm ]]; then
        VM_ARGS+=(-accel kvm -cpu host)
    else
        # -cpu max: RDRAND, so the guest's RNG is ready at once (dropbear needs it)
        VM_ARGS+=(-accel tcg -cpu max)
    fi
}

# Does KVM really run this kernel?  A probe boot in echo mode must reach the marker.  The answer
# is cached in the image dir per host kernel, CPU model, QEMU version and guest kernel.
vm_accel() {
    local key cache=$VM_IMAGE/accel.cache ans=tcg
    if [[ ! -r /dev/kvm || ! -w /dev/kvm ]]; then
        echo tcg
        return 0
    fi
    key="$(uname -r)|$(awk -F: '/^model name/{print $2; exit}' /proc/cpuinfo)|$("$VM_QEMU" --version | head -n 1)|$(stat -c %s.%Y "$VM_IMAGE/vmlinux" 2>/dev/null)"
    if [[ -f $cache && $(head -n 1 "$cache") == "$key" ]]; then
        sed -n 2p "$cache"
        return 0
    fi
    vm_log "probing KVM (a boot under -accel kvm must reach $VM_MARKER within ${VM_KVM_PROBE_TIMEOUT:-15} s)"
    if (vm_start --accel kvm --mode echo && vm_wait_ready "${VM_KVM_PROBE_TIMEOUT:-15}") >/dev/null 2>&1 </dev/null; then
        ans=kvm
    fi
    # (the subshell's VM was killed by its own vm_stop in the EXIT trap below)
    printf '%s\n%s\n' "$key" "$ans" >"$cache"
    vm_log "KVM probe: $ans"
    echo "$ans"
}

vm_start() {
    local mode=agent accel=${VM_ACCEL_DEFAULT:-auto} qmp=0 run='' n extra=() bridges=()
    VM_MEM=128M
    VM_APPEND=
    while [[ $# -gt 0 ]]; do
        case $1 in
        --image) VM_IMAGE=$2; shift 2 ;;
        --mode) mode=$2; shift 2 ;;
        --accel) accel=$2; shift 2 ;;
        --qmp) qmp=1; shift ;;
        --tcp-bridge) bridges+=("$2"); shift 2 ;;
        --port) VM_PORT_NAME=$2; shift 2 ;;
        --mem) VM_MEM=$2; shift 2 ;;
        --append) VM_APPEND=$2; shift 2 ;;
        --run) run=$2; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        *) vm_log "vm_start: unknown option $1"; return 2 ;;
        esac
    done
    [[ -z $VM_PID ]] || { vm_log "vm_start: a VM is already running (PID $VM_PID): one at a time"; return 1; }
    [[ -s $VM_IMAGE/vmlinux && -s $VM_IMAGE/initramfs.cpio.gz ]] ||
        { vm_log "no image in $VM_IMAGE: run scripts/build-vm-image.sh $VM_IMAGE"; return 1; }
    command -v "$VM_QEMU" >/dev/null || { vm_log "missing $VM_QEMU (package qemu-system-x86)"; return 1; }
    vm_reap_stale
    [[ $accel == auto ]] && accel=$(vm_accel)
    VM_ACCEL=$accel
    if [[ -n $run ]]; then
        mkdir -p "$run"
        VM_RUN=$(cd "$run" && pwd)
        VM_OWN_RUN=
    else
        # short path: unix socket paths are limited to 107 bytes
        VM_RUN=$(mktemp -d "/tmp/vmgate-vm-$$.XXXXXX")
        VM_OWN_RUN=1
    fi
    echo "$$" >"$VM_RUN/owner"
    VM_SOCK=$VM_RUN/serial.sock
    VM_CONSOLE=$VM_RUN/console.log
    rm -f "$VM_SOCK" "$VM_CONSOLE" "$VM_RUN/qemu.pid"
    : >"$VM_CONSOLE"
    _vm_qemu_args "$accel" "$mode"
    if ((qmp)); then
        VM_QMP=$VM_RUN/qmp.sock
        VM_ARGS+=(-qmp "unix:$VM_QMP,server=on,wait=off")
    else
        VM_QMP=
    fi
    VM_TCP_SOCK=()
    for n in "${bridges[@]}"; do
        VM_TCP_SOCK[$n]=$VM_RUN/tcp-$n.sock
        VM_ARGS+=(-chardev "socket,id=tcp$n,path=$VM_RUN/tcp-$n.sock,server=on,wait=off"
            -device "virtserialport,chardev=tcp$n,name=org.vmgate.tcp.$n")
    done
    VM_ARGS+=("${extra[@]}")
    printf '%q ' "$VM_QEMU" "${VM_ARGS[@]}" >"$VM_RUN/qemu.cmd"
    echo >>"$VM_RUN/qemu.cmd"
    VM_T0=$(vm_now)
    # A backgrounded simple command: bash forks and execs, so $! is QEMU's own PID (setpriv
    # execs QEMU in the same process).  --pdeathsig: QEMU dies with the shell that started it,
    # even when that shell is SIGKILLed (a test killed at its timeout leaves no QEMU behind).
    local pre=()
    command -v setpriv >/dev/null && pre=(setpriv --pdeathsig KILL)
    "${pre[@]}" "$VM_QEMU" "${VM_ARGS[@]}" </dev/null >"$VM_RUN/qemu.log" 2>&1 &
    VM_PID=$!
    if declare -p VG_PIDS >/dev/null 2>&1; then VG_PIDS+=("$VM_PID"); fi
    # a subshell (vm_accel's probe) cleans up after itself
    if [[ $BASHPID != "$$" ]]; then trap vm_stop EXIT; fi
    # QEMU creates the sockets before the guest runs; wait for them (or QEMU's death)
    local deadline=$((SECONDS + 30))
    until [[ -S $VM_SOCK ]]; do
        if ! kill -0 "$VM_PID" 2>/dev/null; then
            vm_log "QEMU exited at start: $(tail -n 5 "$VM_RUN/qemu.log")"
            vm_stop
            return 1
        fi
        ((SECONDS < deadline)) || { vm_log "QEMU did not create $VM_SOCK"; vm_stop; return 1; }
        sleep 0.02
    done
    return 0
}

vm_alive() { [[ -n $VM_PID ]] && kill -0 "$VM_PID" 2>/dev/null; }

# vm_wait_ready [TIMEOUT]: poll the console for the marker; prints the marker line
vm_wait_ready() {
    local timeout=${1:-120} deadline line
    deadline=$(($(date +%s%N) + timeout * 1000000000))
    while :; do
        line=$(grep -a -m 1 "^$VM_MARKER" "$VM_CONSOLE" 2>/dev/null || true)
        if [[ -n $line ]]; then
            echo "$line"
            return 0
        fi
        if ! vm_alive; then
            vm_log "QEMU (PID $VM_PID) died before $VM_MARKER; qemu.log: $(tail -n 5 "$VM_RUN/qemu.log" 2>/dev/null)"
            vm_log "console: $(tail -n 20 "$VM_CONSOLE" 2>/dev/null)"
            return 1
        fi
        if (($(date +%s%N) > deadline)); then
            vm_log "no $VM_MARKER on the console after ${timeout}s; console: $(tail -n 20 "$VM_CONSOLE" 2>/dev/null)"
            return 1
        fi
        sleep 0.05
    done
}

# vm_roundtrip [TIMEOUT]: echo mode only
vm_roundtrip() {
    python3 "$VM_HOST_PY" roundtrip "$VM_SOCK" --timeout "${1:-120}"
}

vm_stop() { # returns once QEMU has exited (non-zero if it could not be killed)
    local rc=0
    if [[ -n $VM_PID ]]; then
        vm_kill_pid "$VM_PID" || rc=1
        VM_PID=
    fi
    if [[ -n $VM_RUN && -d $VM_RUN ]]; then
        if [[ -n $VM_KEEP_RUN ]]; then
            vm_log "run dir kept: $VM_RUN"
        elif [[ -n $VM_OWN_RUN ]]; then
            rm -rf "$VM_RUN"
        else
            rm -f "$VM_RUN/owner" "$VM_RUN/qemu.pid" "$VM_SOCK" "$VM_QMP" "$VM_RUN"/tcp-*.sock
        fi
    fi
    return $rc
}
VM_KEEP_RUN=${VM_KEEP_RUN:-}

#!/bin/sh
# /init of the vmgate test VM (busybox sh; installed by scripts/build-vm-image.sh).
#
# Kernel command line switches (all optional):
#   vmgate.mode=echo       raw echo on the port org.vmgate.0 (vmgate-echo), for the raw baseline
#   vmgate.mode=echo-blocking   the same with blocking reads and writes (for comparison)
#   vmgate.mode=agent      (default) run /bin/vmgate-agent --port-name org.vmgate.0, restarted
#                          whenever it exits; without an agent in the image, only the services run
#   vmgate.mode=none       only the services, even when the image has an agent (the port stays
#                          unopened: what a host sees when the agent is not running)
#   vmgate.port=NAME       the port name (default org.vmgate.0)
#   vmgate.agentargs=A,B   extra agent arguments, commas become spaces
#   vmgate.hostname=NAME   the guest's hostname (default vmgate-test)
# Any port named org.vmgate.tcp.N is bridged to 127.0.0.1:N (debug aid, see tests/vm/vmgate-echo.c).
# When everything is up, one line goes to the console:  VMGATE-READY mode=... uptime=...
export PATH=/bin HOME=/root
umask 022

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mkdir -p /dev/pts /dev/shm /dev/virtio-ports
mount -t devpts -o gid=5,mode=620,ptmxmode=666 devpts /dev/pts
mount -t tmpfs -o mode=1777 tmpfs /tmp
mount -t tmpfs -o mode=755 tmpfs /run

MODE=agent PORT=org.vmgate.0 AGENTARGS='' HOST=vmgate-test
for w in $(cat /proc/cmdline); do
    case $w in
    vmgate.mode=*) MODE=${w#*=} ;;
    vmgate.port=*) PORT=${w#*=} ;;
    vmgate.agentargs=*) AGENTARGS=$(echo "${w#*=}" | tr , ' ') ;;
    vmgate.hostname=*) HOST=${w#*=} ;;
    esac
done
hostname "$HOST"

for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_mmio virtio_console; do
    [ -f /lib/modules/$m.ko ] && insmod /lib/modules/$m.ko
done

ip addr add 127.0.0.1/8 dev lo 2>/dev/null
ip link set lo up

# the ports show up asynchronously after virtio_console probes: wait for our port (max ~5 s)
i=0
while [ $i -lt 250 ]; do
    for d in /sys/class/virtio-ports/*; do
        [ -f "$d/name" ] || continue
        n=$(cat "$d/name")
        [ -n "$n" ] && [ ! -e "/dev/virtio-ports/$n" ] && ln -s "../${d##*/}" "/dev/virtio-ports/$n"
    done
    [ -e "/dev/virtio-ports/$PORT" ] && break
    i=$((i + 1))
    usleep 20000
done
[ -e "/dev/virtio-ports/$PORT" ] || echo "vmgate-init: no virtio-serial port named $PORT" >/dev/console

# supervise NAME cmd...: run cmd, restart it whenever it exits (tests kill it on purpose)
supervise() {
    name=$1
    shift
    (
        while :; do
            "$@"
            echo "vmgate-init: $name exited (status $?), restarting" >/dev/console
            usleep 200000
        done
    ) </dev/null &
}

supervise httpd httpd -f -p 127.0.0.1:80 -h /www
# TCP test service (ECHO / SOURCE n / SINK, see tests/vm/vmgate-echo.c) for the serial tests
supervise testsvc vmgate-echo --serve 7000
supervise dropbear dropbear -F -E -s -p 127.0.0.1:22 -P /run/dropbear.pid \
    -r /etc/dropbear/dropbear_ed25519_host_key

for l in /dev/virtio-ports/org.vmgate.tcp.*; do
    [ -e "$l" ] || continue
    supervise "bridge ${l##*.}" vmgate-echo --dev "$l" --bridge "${l##*.}"
done

case $MODE in
echo)
    supervise vmgate-echo vmgate-echo --dev "/dev/virtio-ports/$PORT"
    ;;
echo-blocking)
    supervise vmgate-echo vmgate-echo --dev "/dev/virtio-ports/$PORT" --blocking
    ;;
none)
    MODE=noagent
    ;;
*)
    if [ -x /bin/vmgate-agent ]; then
        # shellcheck disable=SC2086
        supervise vmgate-agent /bin/vmgate-agent --port-name "$PORT" $AGENTARGS
    else
        MODE=noagent
    fi
    ;;
esac

# ready = the listeners exist (max ~5 s)
i=0
while [ $i -lt 250 ]; do
    l=$(netstat -ltn 2>/dev/null)
    case $l in *127.0.0.1:80\ *) case $l in *127.0.0.1:22\ *) case $l in *127.0.0.1:7000\ *) break ;; esac ;; esac ;; esac
    i=$((i + 1))
    usleep 20000
done
read -r up _ </proc/uptime
echo "VMGATE-READY mode=$MODE port=$PORT uptime=$up" >/dev/console

# PID 1: never exit, reap orphans
while :; do
    wait
    sleep 1
done

#!/usr/bin/env bash
# Hooks against BIND and Knot: the libvirt qemu hook fed the domain XML libvirt passes (virsh
# dumpxml of running QEMU domains: a vmgate virtio-serial channel plus vsock; vsock only; neither),
# an incoming migration taking the name over, and the plain-QEMU wrapper around a stand-in
# qemu-system-x86_64 (no VM is booted here: the wrapper's job is the name's lifetime).
source "$(dirname "${BASH_SOURCE[0]}")/dnslib.sh"
dns_init
DATA="$VMGATE_SRC/tests/system/data"
HOOK="$VMGATE_SRC/registrar/hooks/libvirt-qemu"
WRAP="$VMGATE_SRC/registrar/hooks/vmgate-qemu"

scenario() {
    local kind=$1
    DNS_SCEN=$kind
    echo "# --- $kind"
    dns_start "$kind" S
    local P=$S_PORT C1 C2 VMS1
    C1=$(host_config hv1 "127.0.0.1" "$P")
    C2=$(host_config hv2 "127.0.0.2" "$P")
    VMS1="$(hostdir hv1)/vms"

    # libvirt's sequence for a start: prepare, start, started — registration happens at started
    expect_rc "$kind: hook prepare" 0 "$REG" -c "$C1" libvirt-hook qemu web1 prepare begin - <"$DATA/libvirt-web1.xml"
    expect_rc "$kind: hook start" 0 "$REG" -c "$C1" libvirt-hook qemu web1 start begin - <"$DATA/libvirt-web1.xml"
    eq "$kind: nothing published before started" "$(dq "$P" web1.$ZONE TXT)" ""
    expect_rc "$kind: hook started" 0 "$REG" -c "$C1" libvirt-hook qemu web1 started begin - <"$DATA/libvirt-web1.xml"
    eq "$kind: web1 published" "$(dq "$P" web1.$ZONE TXT)" '"vmgate-owner=hv1"'
    eq "$kind: web1 A" "$(dq "$P" web1.$ZONE A)" "127.0.0.1"
    check "$kind: the vmgate channel (not the guest agent's) in the VM table" \
        grep -qx "channel = serial:/var/lib/libvirt/qemu/channel/target/domain-7-web1/org.vmgate.0" "$VMS1/web1.$ZONE"
    expect_rc "$kind: hook reconnect (libvirtd restarted) is harmless" 0 \
        "$REG" -c "$C1" libvirt-hook qemu web1 reconnect begin - <"$DATA/libvirt-web1.xml"
    expect_rc "$kind: vsock-only domain" 0 "$REG" -c "$C1" libvirt-hook qemu db2 started begin - <"$DATA/libvirt-db2-vsock.xml"
    check "$kind: vsock CID from <cid address>" grep -qx "channel = vsock:42" "$VMS1/db2.$ZONE"
    eq "$kind: db2 published" "$(dq "$P" db2.$ZONE A)" "127.0.0.1"
    expect_rc "$kind: domain without a channel is left alone" 0 \
        "$REG" -c "$C1" libvirt-hook qemu plain3 started begin - <"$DATA/libvirt-plain3.xml"
    eq "$kind: plain3 not published" "$(dq "$P" plain3.$ZONE TXT)" ""
    expect_rc "$kind: broken XML is an error" 65 bash -c "echo '<domain><name>x' | '$REG' -c '$C1' libvirt-hook qemu x started begin -"
    expect_rc "$kind: installed hook script never fails libvirt" 0 \
        env VMGATE_REG="$REG" VMGATE_CONFIG="$C1" "$HOOK" x started begin - < <(echo '<domain><name>x')

    # stop: stopped then release; both withdraw, the second finds nothing to do
    expect_rc "$kind: hook stopped" 0 "$REG" -c "$C1" libvirt-hook qemu web1 stopped end - <"$DATA/libvirt-web1.xml"
    eq "$kind: web1 withdrawn" "$(dq "$P" web1.$ZONE TXT)$(dq "$P" web1.$ZONE A)" ""
    check "$kind: web1 left the VM table" test ! -e "$VMS1/web1.$ZONE"
    expect_rc "$kind: hook release after stopped" 0 "$REG" -c "$C1" libvirt-hook qemu web1 release end - <"$DATA/libvirt-web1.xml"
    expect_rc "$kind: the installed hook script withdraws db2" 0 \
        env VMGATE_REG="$REG" VMGATE_CONFIG="$C1" "$HOOK" db2 release end - <"$DATA/libvirt-db2-vsock.xml"
    eq "$kind: db2 withdrawn" "$(dq "$P" db2.$ZONE A)" ""

    # incoming migration: hv2 runs web1; hv1 gets migrate, prepare, start, started → takeover
    expect_rc "$kind: hv2 runs web1" 0 "$REG" -c "$C2" libvirt-hook qemu web1 started begin - <"$DATA/libvirt-web1.xml"
    expect_rc "$kind: hv1 plain started would conflict" 10 "$REG" -c "$C1" libvirt-hook qemu web1 started begin - <"$DATA/libvirt-web1.xml"
    expect_rc "$kind: hv1 migrate begin" 0 "$REG" -c "$C1" libvirt-hook qemu web1 migrate begin - <"$DATA/libvirt-web1.xml"
    expect_rc "$kind: hv1 started after migrate takes over" 0 "$REG" -c "$C1" libvirt-hook qemu web1 started begin - <"$DATA/libvirt-web1.xml"
    eq "$kind: web1 now hv1's" "$(dq "$P" web1.$ZONE TXT)" '"vmgate-owner=hv1"'
    expect_rc "$kind: source's late stopped hook deletes nothing" 11 "$REG" -c "$C2" libvirt-hook qemu web1 stopped end - <"$DATA/libvirt-web1.xml"
    eq "$kind: web1 still hv1's" "$(dq "$P" web1.$ZONE A)" "127.0.0.1"
    expect_rc "$kind: cleanup web1" 0 "$REG" -c "$C1" del web1

    # the plain-QEMU wrapper around a stand-in QEMU that checks the name while it "runs"
    local bin="$DNS_TMP/bin-$kind"
    mkdir -p "$bin"
    cat >"$bin/qemu-system-x86_64" <<EOF2
#!/bin/sh
dig @127.0.0.1 -p $P +tcp +short vmq1.$ZONE TXT >"$bin/seen"
cat "$VMS1/vmq1.$ZONE" >>"$bin/seen" 2>/dev/null
exit 3
EOF2
    chmod +x "$bin/qemu-system-x86_64"
    expect_rc "$kind: wrapper returns QEMU's exit status" 3 \
        env PATH="$bin:$PATH" VMGATE_REG="$REG" VMGATE_CONFIG="$C1" "$WRAP" qemu-system-x86_64 \
        -name guest=vmq1,debug-threads=on -M microvm -accel tcg -m 128M -nodefaults \
        -chardev socket,id=ch0,path=/run/vmgate/vmq1.sock,server=on,wait=off \
        -device virtio-serial-device -device virtserialport,chardev=ch0,name=org.vmgate.0 \
        -qmp unix:/run/vmgate/vmq1.qmp,server=on,wait=off
    check "$kind: registered while QEMU ran" grep -q '"vmgate-owner=hv1"' "$bin/seen"
    check "$kind: wrapper found the serial channel" grep -qx "channel = serial:/run/vmgate/vmq1.sock" "$bin/seen"
    check "$kind: wrapper found the QMP socket" grep -qx "qmp = /run/vmgate/vmq1.qmp" "$bin/seen"
    eq "$kind: withdrawn after QEMU exited" "$(dq "$P" vmq1.$ZONE TXT)" ""
    check "$kind: VM table entry gone" test ! -e "$VMS1/vmq1.$ZONE"
    expect_rc "$kind: wrapper refuses a command line without a channel" 65 \
        env PATH="$bin:$PATH" VMGATE_REG="$REG" VMGATE_CONFIG="$C1" "$WRAP" qemu-system-x86_64 -name vmq2 -m 128M
    expect_rc "$kind: wrapper with vhost-vsock" 3 \
        env PATH="$bin:$PATH" VMGATE_REG="$REG" VMGATE_CONFIG="$C1" "$WRAP" qemu-system-x86_64 \
        -name vmq1 -device vhost-vsock-pci,id=vs0,guest-cid=77
    check "$kind: vsock channel from guest-cid" grep -qx "channel = vsock:77" "$bin/seen"
    dns_stop S
}

scenario bind
scenario knot
dns_summary

#!/usr/bin/env bash
# Build the vmgate test VM (a Debian 12 kernel + a busybox initramfs) into OUTDIR.
#
#   scripts/build-vm-image.sh OUTDIR [--agent PATH]
#
# Outputs (docs/test-vm.md describes them):
#   OUTDIR/vmlinux              uncompressed kernel (ELF, PVH entry) taken out of Debian's bzImage
#   OUTDIR/initramfs.cpio.gz    busybox, /init (tests/vm/init.sh), virtio modules, vmgate-echo,
#                               busybox httpd (/www), dropbear, and /bin/vmgate-agent with --agent
#   OUTDIR/id_ed25519[.pub]     the key pair root logs in with (generated once, kept)
#   OUTDIR/known_hosts          the guest's host key, for ssh -o UserKnownHostsFile=
#   OUTDIR/www.sha256           sha256sum lines of the files served from /www
# Idempotent: the kernel package is downloaded once (OUTDIR/cache), keys are generated once, and
# the initramfs is rebuilt only when an input changed.  Downloads nothing but the Debian kernel
# package (apt-get download).  Needs: apt, dpkg-deb, busybox-static, dropbear-bin, gcc + libc6-dev
# (static), python3, ssh-keygen — scripts/install-deps.sh installs them.
set -euo pipefail

usage() { echo "usage: $0 OUTDIR [--agent PATH]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
OUT=$1
shift
AGENT=
while [[ $# -gt 0 ]]; do
    case $1 in
    --agent) [[ $# -ge 2 ]] || usage; AGENT=$2; shift 2 ;;
    *) usage ;;
    esac
done
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
mkdir -p "$OUT/cache"
OUT=$(cd "$OUT" && pwd)
log() { echo "build-vm-image: $*"; }
die() { echo "build-vm-image: $*" >&2; exit 1; }

for t in apt-get apt-cache dpkg-deb gcc python3 ssh-keygen dropbearkey ldd sha256sum; do
    command -v "$t" >/dev/null || die "missing $t (run scripts/install-deps.sh)"
done
BUSYBOX=/bin/busybox
[[ -x $BUSYBOX ]] && ! ldd "$BUSYBOX" >/dev/null 2>&1 || die "need a static busybox at /bin/busybox (package busybox-static)"
DROPBEAR=$(command -v dropbear || echo /usr/sbin/dropbear)
[[ -x $DROPBEAR ]] || die "missing dropbear (package dropbear-bin)"
if [[ -n $AGENT ]]; then
    [[ -f $AGENT && -x $AGENT ]] || die "--agent $AGENT: not an executable file"
    AGENT=$(cd "$(dirname "$AGENT")" && pwd)/$(basename "$AGENT")
    ldd "$AGENT" >/dev/null 2>&1 && log "warning: $AGENT is dynamically linked; the guest has only dropbear's libraries"
fi

# ---------------------------------------------------------------------------------------------
# 1. kernel: the exact linux-image-6.1.0-N-amd64 that linux-image-amd64 depends on
kpkg() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
PKG=$(kpkg)
if [[ -z $PKG ]]; then
    log "apt lists are empty: apt-get update"
    apt-get update -q >/dev/null || true
    PKG=$(kpkg)
fi
MODS=(virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_mmio virtio_console)
if [[ -n $PKG ]]; then
    KVER=${PKG#linux-image-}
else # offline: an earlier extraction still does
    KVER=$(ls -d "$OUT"/cache/kernel-*/.done 2>/dev/null | tail -n 1 | sed -E 's|.*/kernel-([^/]+)/\.done$|\1|' || true)
    [[ -n $KVER ]] || die "apt does not know linux-image-amd64 and nothing is cached"
    log "apt does not know linux-image-amd64: using the cached kernel $KVER"
fi
KDIR=$OUT/cache/kernel-$KVER
if [[ ! -f $KDIR/.done ]]; then
    log "downloading $PKG"
    # apt's sandbox user cannot write into root-owned dirs: download in a temp dir it may write
    tmp=$(mktemp -d "$OUT/cache/dl.XXXXXX")
    chmod 777 "$tmp"
    (cd "$tmp" && apt-get download -q "$PKG" 2>&1 | grep -v '^W: Download is performed unsandboxed' || true)
    DEB=$(ls "$tmp/${PKG}"_*.deb 2>/dev/null | head -n 1 || true)
    [[ -n $DEB ]] || { rm -rf "$tmp"; die "apt-get download $PKG failed"; }
    log "extracting vmlinuz and the virtio modules of $KVER"
    rm -rf "$KDIR"
    mkdir -p "$KDIR"
    pats=("./boot/vmlinuz-$KVER" "./boot/config-$KVER")
    for m in "${MODS[@]}"; do pats+=("./lib/modules/$KVER/kernel/drivers/*/$m.ko"); done
    dpkg-deb --fsys-tarfile "$DEB" | tar -x -C "$KDIR" --wildcards "${pats[@]}"
    rm -rf "$tmp" # only the extracted files are kept (a few MB, not the 70 MB package)
    touch "$KDIR/.done"
fi

# 2. vmlinux: the compressed payload of the bzImage, decompressed (Debian 12: CONFIG_KERNEL_XZ)
if [[ ! -s $OUT/vmlinux || $KDIR/.done -nt $OUT/vmlinux ]]; then
    log "decompressing the kernel into vmlinux"
    python3 - "$KDIR/boot/vmlinuz-$KVER" "$OUT/vmlinux.tmp" <<'PY'
import lzma, struct, sys, zlib
img = open(sys.argv[1], "rb").read()
assert img[0x202:0x206] == b"HdrS", "not a bzImage"
setup_sects = img[0x1f1] or 4
pm = (setup_sects + 1) * 512                                   # protected-mode code starts here
off, length = struct.unpack_from("<II", img, 0x248)            # payload_offset, payload_length
data = img[pm + off: pm + off + length]
if data[:6] == b"\xfd7zXZ\x00":                                 # xz (Debian 12)
    d = lzma.LZMADecompressor(format=lzma.FORMAT_XZ)
elif data[:2] == b"\x1f\x8b":                                   # gzip
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
else:
    sys.exit("unknown kernel compression, magic %s" % data[:6].hex())
out = d.decompress(data)
assert out[:4] == b"\x7fELF", "payload is not an ELF image"
open(sys.argv[2], "wb").write(out)
print("build-vm-image: vmlinux %d bytes (bzImage %d)" % (len(out), len(img)))
PY
    mv -f "$OUT/vmlinux.tmp" "$OUT/vmlinux"
fi

# 3. keys (kept across rebuilds)
[[ -f $OUT/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C vmgate-test-vm -f "$OUT/id_ed25519"
if [[ ! -f $OUT/dropbear_ed25519_host_key ]]; then
    dropbearkey -t ed25519 -f "$OUT/dropbear_ed25519_host_key" >/dev/null 2>&1
fi
hostpub=$(dropbearkey -y -f "$OUT/dropbear_ed25519_host_key" | grep '^ssh-')
# the guest is only ever reached through a channel: match any host name
echo "* ${hostpub% *}" >"$OUT/known_hosts"

# 4. the guest helper
if [[ ! -x $OUT/vmgate-echo || $SRC/tests/vm/vmgate-echo.c -nt $OUT/vmgate-echo ]]; then
    log "compiling vmgate-echo (static)"
    gcc -static -O2 -Wall -Wextra -o "$OUT/vmgate-echo.tmp" "$SRC/tests/vm/vmgate-echo.c"
    strip "$OUT/vmgate-echo.tmp" 2>/dev/null || true
    mv -f "$OUT/vmgate-echo.tmp" "$OUT/vmgate-echo"
fi

# 5. initramfs, rebuilt when any input changed
stamp=$(
    {
        sha256sum "${BASH_SOURCE[0]}" "$SRC/tests/vm/init.sh" "$OUT/vmgate-echo" "$BUSYBOX" "$DROPBEAR" \
            "$OUT/id_ed25519.pub" "$OUT/dropbear_ed25519_host_key" | awk '{print $1}'
        echo "$KVER"
        if [[ -n $AGENT ]]; then sha256sum <"$AGENT"; else echo no-agent; fi
    } | sha256sum | awk '{print $1}'
)
if [[ -s $OUT/initramfs.cpio.gz && $(cat "$OUT/initramfs.stamp" 2>/dev/null) == "$stamp" ]]; then
    log "up to date: $OUT (kernel $KVER${AGENT:+, agent $AGENT})"
    exit 0
fi
log "building initramfs${AGENT:+ with agent $AGENT}"
R=$OUT/rootfs
rm -rf "$R"
mkdir -p "$R"/{bin,dev,proc,sys,tmp,run,root/.ssh,etc/dropbear,www,lib/modules,lib64,var/log}
ln -s bin "$R/sbin"
mkdir -p "$R/usr"
ln -s ../bin "$R/usr/bin"
ln -s ../bin "$R/usr/sbin"
ln -s ../run "$R/var/run"
cp "$BUSYBOX" "$R/bin/busybox"
for a in $("$BUSYBOX" --list); do [[ $a == busybox ]] || ln -s busybox "$R/bin/$a"; done
install -m 755 "$SRC/tests/vm/init.sh" "$R/init"
install -m 755 "$OUT/vmgate-echo" "$R/bin/vmgate-echo"
[[ -n $AGENT ]] && install -m 755 "$AGENT" "$R/bin/vmgate-agent"
for m in "${MODS[@]}"; do
    f=$(find "$KDIR/lib/modules" -name "$m.ko" | head -n 1)
    [[ -n $f ]] && cp "$f" "$R/lib/modules/"
done
# dropbear is dynamically linked: it and what ldd lists (ld.so at its absolute path)
cp "$DROPBEAR" "$R/bin/dropbear"
for lib in $(ldd "$DROPBEAR" | grep -oE '/[^ ]+'); do
    mkdir -p "$R$(dirname "$lib")"
    cp -L "$lib" "$R$lib"
done
cp "$OUT/dropbear_ed25519_host_key" "$R/etc/dropbear/"
chmod 600 "$R/etc/dropbear/dropbear_ed25519_host_key"
install -m 600 "$OUT/id_ed25519.pub" "$R/root/.ssh/authorized_keys"
chmod 700 "$R/root" "$R/root/.ssh"
cat >"$R/etc/passwd" <<'P'
root:*:0:0:root:/root:/bin/sh
P
printf 'root:x:0:\ntty:x:5:\n' >"$R/etc/group"
printf '/bin/sh\n' >"$R/etc/shells"
printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files\n' >"$R/etc/nsswitch.conf"
printf '127.0.0.1 localhost vmgate-test\n::1 localhost\n' >"$R/etc/hosts"
# /www: a known page and 10 MiB of deterministic, position-dependent content
echo "vmgate test VM: hello from the guest" >"$R/www/index.html"
python3 - "$R/www/big.bin" <<'PY'
import hashlib, sys
# 16-byte records: "%015d\n" record numbers 0..655359 = 10 MiB; each record names its position
with open(sys.argv[1], "wb") as f:
    f.write(b"".join(b"%015d\n" % i for i in range(10 * 1024 * 1024 // 16)))
PY
(cd "$R/www" && sha256sum index.html big.bin) >"$OUT/www.sha256"
# owner root:root in the archive whoever builds it (dropbear checks authorized_keys ownership)
(cd "$R" && find . -mindepth 1 | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc 2>/dev/null) >"$OUT/initramfs.cpio.tmp"
[[ $(id -u) -eq 0 ]] || log "warning: built as non-root; files in the archive are not owned by root"
gzip -6 -n -c "$OUT/initramfs.cpio.tmp" >"$OUT/initramfs.cpio.gz.tmp"
rm -f "$OUT/initramfs.cpio.tmp"
mv -f "$OUT/initramfs.cpio.gz.tmp" "$OUT/initramfs.cpio.gz"
echo "$stamp" >"$OUT/initramfs.stamp"
log "done: $OUT/vmlinux, $OUT/initramfs.cpio.gz ($(du -k "$OUT/initramfs.cpio.gz" | cut -f1) KiB), kernel $KVER"

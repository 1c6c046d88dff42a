#!/usr/bin/env bash
# check-fresh.sh — run the README's two commands as a new user would: in a clean Debian 12 root.
#
#   scripts/check-fresh.sh [--only demo|test] [--keep] [--root DIR] [--logs DIR] [--refresh-cache]
#
# 1. Makes a fresh root: debootstrap --variant=minbase bookworm, from the archive this machine's
#    apt uses (/etc/apt/sources.list.d/debian.sources or sources.list), with only git and
#    ca-certificates added; that archive's sources (bookworm, -updates, -security) replace
#    debootstrap's one line; /etc/resolv.conf is copied so apt works.  Installs debootstrap here
#    first when it is missing.  The downloaded packages are cached between runs
#    (/var/cache/vmgate-check-fresh, debootstrap --make-tarball/--unpack-tarball); the root itself
#    is made anew every run.  --refresh-cache downloads them again.
# 2. Mounts: the root bind-mounted onto itself (its / is a mount point, as `ip netns exec`
#    needs), proc, sysfs, /dev (bind), /dev/pts (bind), a tmpfs on /dev/shm and on /run.
# 3. Clones this repository's HEAD (committed work only) to <root>/work/vmgate, with a read-only
#    copy of ../shared beside it (<root>/work/shared), as CI has it.
# 4. Runs the commands of the README's first code block (scripts/demo.sh, scripts/test.sh) there,
#    one after the other, as root, with a clean environment (env -i PATH HOME=/root TERM=dumb
#    CI=true) and no stdin; prints each one's exit code and time, and a summary.
# 5. Always (also on failure, Ctrl-C or SIGTERM): stops what still runs inside the root (by PID:
#    the processes whose root directory is the new root), unmounts everything under the root in
#    reverse order (lazily only as a last resort), checks with findmnt that nothing is mounted
#    there any more, and only then removes the root (never through a mount).
#
#   --only demo|test   run only that command
#   --keep             keep the root (unmounted) for inspection; prints how to remove it
#   --root DIR         where to make the root (must not exist or be empty; default
#                      /var/tmp/vmgate-fresh.XXXXXX — on disk: the builds need ~2 GB)
#   --logs DIR         where the command logs go (default /var/tmp/vmgate-fresh-logs/DATE-PID)
# Needs root and the network to the Debian archive.  On 2 cores: 1.5–3 min for the root, 4–8 min
# for the demo, 14–20 min for the test suite, up to 2.5 min to remove the root; 20–35 min in all.
# Exit 0 when every command it ran passed.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SUITE=bookworm
CACHE=/var/cache/vmgate-check-fresh
INCLUDE=git,ca-certificates

only='' keep=0 root='' logs='' refresh=0
while [[ $# -gt 0 ]]; do
    case $1 in
    --only) [[ ${2:-} == demo || ${2:-} == test ]] || { echo "--only demo|test" >&2; exit 2; }; only=$2; shift 2 ;;
    --keep) keep=1; shift ;;
    --root) root=${2:?--root DIR}; shift 2 ;;
    --logs) logs=${2:?--logs DIR}; shift 2 ;;
    --refresh-cache) refresh=1; shift ;;
    -h | --help) sed -n '2,32p' "$0"; exit 0 ;;
    *) echo "check-fresh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $(id -u) -eq 0 ]] || { echo "check-fresh: run as root (debootstrap, mounts, chroot)" >&2; exit 1; }

T0=$SECONDS
log() { printf 'check-fresh [%4ds]: %s\n' "$((SECONDS - T0))" "$*"; }
die() { log "FATAL: $*" >&2; exit 1; }

# --- the commands: the README's first code block ----------------------------------------------
mapfile -t CMDS < <(awk '/^```/ { if (inblock) exit; if ($0 ~ /^```sh/) { inblock = 1; next } }
    inblock { sub(/#.*/, ""); gsub(/^[ \t]+|[ \t]+$/, ""); if ($0 != "") print }' "$SRC/README.md")
((${#CMDS[@]} > 0)) || die "no commands found in README.md's first \`\`\`sh block"
sel=()
for c in "${CMDS[@]}"; do
    n=$(basename "${c%% *}" .sh)
    [[ -z $only || $n == "$only" ]] && sel+=("$c")
done
((${#sel[@]} > 0)) || die "README.md has no command for --only $only (it has: ${CMDS[*]})"

# --- the archive this machine's apt uses ---------------------------------------------------------
SOURCES=/etc/apt/sources.list.d/debian.sources
MIRROR=''
if [[ -f $SOURCES ]]; then
    # the first deb822 stanza whose Suites has the plain suite name
    MIRROR=$(awk -v s="$SUITE" 'BEGIN { RS = ""; FS = "\n" }
        { uri = ""; ok = 0
          for (i = 1; i <= NF; i++) {
            if ($i ~ /^URIs:/) { split($i, a, /[ \t]+/); uri = a[2] }
            if ($i ~ /^Suites:/) { n = split($i, b, /[ \t]+/); for (j = 2; j <= n; j++) if (b[j] == s) ok = 1 }
            if ($i ~ /^Types:/ && $i !~ /[ \t]deb([ \t]|$)/) uri = "-"
          }
          if (ok && uri != "" && uri != "-") { print uri; exit } }' "$SOURCES")
fi
if [[ -z $MIRROR && -f /etc/apt/sources.list ]]; then
    MIRROR=$(awk -v s="$SUITE" '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { if ($(i + 1) == s) { print $i; exit } break } }' /etc/apt/sources.list)
fi
[[ -n $MIRROR ]] || die "cannot find the $SUITE archive in $SOURCES or /etc/apt/sources.list"

# --- the root and the cleanup ---------------------------------------------------------------------
if [[ -n $root ]]; then
    [[ ! -e $root ]] || [[ -d $root && -z $(ls -A "$root") ]] || die "--root $root exists and is not empty"
    mkdir -p "$root"
    ROOT=$(cd "$root" && pwd -P)
else
    ROOT=$(mktemp -d /var/tmp/vmgate-fresh.XXXXXX)
fi
[[ $ROOT != / && $ROOT == /*/* ]] || die "refusing root $ROOT"
# it becomes the new machine's /: 0755 as on a real one (mktemp -d makes it 0700, and then no
# user but root can reach anything — the tests that run a program as nobody would fail there)
chmod 0755 "$ROOT"
LOGS=${logs:-/var/tmp/vmgate-fresh-logs/$(date +%Y%m%d-%H%M%S)-$$}
mkdir -p "$LOGS"
LOGS=$(cd "$LOGS" && pwd -P)
case $LOGS/ in "$ROOT"/*) die "--logs must be outside the root" ;; esac

mounts_under() { # every mount at or under ROOT, in mount order (parents before children)
    awk -v r="$ROOT" '{ t = $5; gsub(/\\040/, " ", t); if (t == r || index(t, r "/") == 1) print t }' /proc/self/mountinfo
}

procs_in_root() { # PIDs of processes whose root directory is ROOT (all started by this run)
    local d r
    for d in /proc/[0-9]*; do
        r=$(readlink "$d/root" 2>/dev/null) || continue
        [[ $r == "$ROOT" ]] && echo "${d#/proc/}"
    done
}

stop_root_procs() {
    local pids i
    mapfile -t pids < <(procs_in_root)
    ((${#pids[@]} == 0)) && return 0
    log "stopping ${#pids[@]} process(es) still running in the root: ${pids[*]}"
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do
        mapfile -t pids < <(procs_in_root)
        ((${#pids[@]} == 0)) && return 0
        sleep 0.1
    done
    log "SIGKILL to ${pids[*]}"
    kill -KILL "${pids[@]}" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        mapfile -t pids < <(procs_in_root)
        ((${#pids[@]} == 0)) && return 0
        sleep 0.1
    done
    log "still running in the root: ${pids[*]}"
    return 1
}

unmount_all() { # children first; retried after stopping what still runs there; lazy as a last resort
    local pass i left
    for pass in 1 2 3; do
        mapfile -t left < <(mounts_under)
        ((${#left[@]} == 0)) && return 0
        for ((i = ${#left[@]} - 1; i >= 0; i--)); do
            umount "${left[i]}" 2>/dev/null || true
        done
        mapfile -t left < <(mounts_under)
        ((${#left[@]} == 0)) && return 0
        log "still mounted (pass $pass): ${left[*]}"
        stop_root_procs || true
    done
    log "lazy unmount (last resort) of: ${left[*]}"
    for ((i = ${#left[@]} - 1; i >= 0; i--)); do umount -l "${left[i]}" 2>/dev/null || true; done
    mapfile -t left < <(mounts_under)
    ((${#left[@]} == 0))
}

CLEANED=0
cleanup() {
    local rc=$?
    ((CLEANED)) && return 0
    CLEANED=1
    set +e
    trap '' INT TERM HUP
    if [[ -n ${RUNPID:-} ]] && kill -0 "$RUNPID" 2>/dev/null; then
        log "interrupted: stopping the running command (PID $RUNPID)"
        kill -TERM "$RUNPID" 2>/dev/null
    fi
    stop_root_procs
    local m
    m=$(mounts_under | sed "s|^$ROOT|<root>|" | tr '\n' ' ')
    [[ -z $m ]] || log "unmounting (children first): $m"
    if ! unmount_all; then
        log "FATAL: still mounted under $ROOT — NOT removing it:"
        findmnt -R "$ROOT" >&2
        exit 1
    fi
    [[ -n ${TBWORK:-} && -d $TBWORK ]] && rm -rf --one-file-system "$TBWORK"
    if ((keep)); then
        log "root kept (nothing mounted in it): $ROOT"
        log "remove it with: rm -rf --one-file-system $ROOT   (after checking: findmnt -R $ROOT shows nothing)"
    elif [[ -n $(findmnt -R -n "$ROOT" 2>/dev/null) ]] || mounts_under | grep -q .; then
        log "FATAL: a mount appeared under $ROOT — NOT removing it"
        exit 1
    else
        rm -rf --one-file-system "$ROOT" && log "root removed: $ROOT"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- debootstrap ------------------------------------------------------------------------------------
export DEBIAN_FRONTEND=noninteractive
if ! command -v debootstrap >/dev/null; then
    log "installing debootstrap"
    apt-get update -q >/dev/null
    apt-get install -y -q --no-install-recommends debootstrap >/dev/null
fi
mkdir -p "$CACHE"
key=$(printf '%s %s %s minbase' "$MIRROR" "$SUITE" "$INCLUDE" | sha256sum | cut -c1-12)
TB=$CACHE/$SUITE-minbase-$key.tgz
DBOPTS=(--variant=minbase --include="$INCLUDE" --components=main)
if ((refresh)) || [[ ! -s $TB ]]; then
    log "downloading the $SUITE minbase packages from $MIRROR into $TB"
    TBWORK=$(mktemp -d /var/tmp/vmgate-fresh-tarball.XXXXXX)
    debootstrap "${DBOPTS[@]}" --make-tarball="$TB.tmp" "$SUITE" "$TBWORK" "$MIRROR" >"$LOGS/debootstrap-tarball.log" 2>&1 ||
        { tail -n 20 "$LOGS/debootstrap-tarball.log" >&2; die "debootstrap --make-tarball failed (log: $LOGS/debootstrap-tarball.log)"; }
    mv -f "$TB.tmp" "$TB"
    rm -rf --one-file-system "$TBWORK"
    TBWORK=''
else
    log "reusing the cached packages $TB ($(date -r "$TB" '+%F %T'))"
fi
log "debootstrap $SUITE (minbase + $INCLUDE) into $ROOT"
if ! debootstrap "${DBOPTS[@]}" --unpack-tarball="$TB" "$SUITE" "$ROOT" "$MIRROR" >"$LOGS/debootstrap.log" 2>&1; then
    tail -n 20 "$LOGS/debootstrap.log" >&2
    die "debootstrap failed (log: $LOGS/debootstrap.log; try --refresh-cache if the archive moved on)"
fi
log "root made: $(chroot "$ROOT" dpkg-query -W -f='.\n' | wc -l) packages, $(du -sh "$ROOT" | cut -f1)"

# the machine's apt sources (a Debian 12 install has bookworm, -updates and -security), its DNS
rm -f "$ROOT/etc/apt/sources.list"
if [[ -f $SOURCES ]]; then
    cp "$SOURCES" "$ROOT/etc/apt/sources.list.d/debian.sources"
else
    grep -E '^deb ' /etc/apt/sources.list >"$ROOT/etc/apt/sources.list"
fi
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
grep -qw localhost "$ROOT/etc/hosts" 2>/dev/null ||
    printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n' >>"$ROOT/etc/hosts"

# --- mounts -------------------------------------------------------------------------------------------
mount --bind "$ROOT" "$ROOT"
mount --make-private "$ROOT"
mount -t proc proc "$ROOT/proc"
mount -t sysfs sysfs "$ROOT/sys"
mount --bind /dev "$ROOT/dev"
mount --bind /dev/pts "$ROOT/dev/pts"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$ROOT/dev/shm"
mount -t tmpfs -o mode=755,nosuid,nodev tmpfs "$ROOT/run"
mkdir -m 1777 "$ROOT/run/lock"
log "mounted: $(findmnt -R -n -r -o TARGET "$ROOT" | sed "s|^$ROOT|<root>|" | tr '\n' ' ')"

# --- the project ---------------------------------------------------------------------------------------
mkdir -p "$ROOT/work"
HEAD=$(git -C "$SRC" rev-parse HEAD)
git clone -q --no-hardlinks "$SRC" "$ROOT/work/vmgate"
git -C "$ROOT/work/vmgate" checkout -q "$HEAD"
dirty=$(git -C "$SRC" status --porcelain --untracked-files=no | wc -l)
log "cloned $(git -C "$SRC" log -1 --format='%h %s' | cut -c1-100) into <root>/work/vmgate"
((dirty == 0)) || log "note: $dirty file(s) with uncommitted changes in $SRC are not part of this check"
if [[ -d $SRC/../shared ]]; then
    cp -a "$SRC/../shared" "$ROOT/work/shared"
    chmod -R a-w "$ROOT/work/shared"
    log "copied ../shared read-only beside it"
else
    log "no ../shared beside $SRC: none in the root either"
fi

# --- the commands ----------------------------------------------------------------------------------------
ENV=(env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root TERM=dumb CI=true)
results=()
status=0
for c in "${sel[@]}"; do
    n=$(basename "${c%% *}" .sh)
    lf=$LOGS/$n.log
    log "=== $c (as root, clean environment, no stdin; log: $lf)"
    t=$SECONDS
    # in the background, so that a signal to this script is handled at once (wait is interrupted)
    chroot "$ROOT" "${ENV[@]}" bash -c "cd /work/vmgate && $c" </dev/null >"$lf" 2>&1 &
    RUNPID=$!
    tail -n +1 -f --pid="$RUNPID" "$lf" 2>/dev/null | sed -u "s/^/  [$n] /" &
    TAILPID=$!
    rc=0
    wait "$RUNPID" || rc=$?
    RUNPID=''
    wait "$TAILPID" 2>/dev/null || true
    dt=$((SECONDS - t))
    ((rc == 0)) || status=1
    extra=''
    if [[ $n == test ]]; then
        # per build: "normal 40/40 passed", and the names of failed tests
        extra=$(awk '/^=== [a-z]+ build/ { b = $2 }
            /tests passed, [0-9]+ tests? failed out of [0-9]+/ {
                for (i = 1; i <= NF; i++) { if ($i == "failed") f = $(i - 2); if ($i == "of") t = $(i + 1) }
                printf "%s%s %d/%d passed", sep, b, t - f, t; sep = "; " }
            /^The following tests FAILED:/ { inf = 1; next }
            inf && /^[ \t]+[0-9]+ - / { printf " (failed: %s)", $3; next }
            { inf = 0 }' "$lf")
        grep -q 'tool check: no test called' "$lf" && extra+="; tool check passed"
        grep -q 'FAIL: tests called programs' "$lf" && extra+="; tool check FAILED"
    fi
    results+=("$(printf '%-18s exit %-3d %5d s  %s' "$c" "$rc" "$dt" "$extra")")
    log "=== $c: exit $rc after $dt s${extra:+ ($extra)}"
    stop_root_procs || true
done

echo
log "summary (root $ROOT, Debian $SUITE minbase + $INCLUDE from $MIRROR, commit ${HEAD:0:12}):"
for r in "${results[@]}"; do echo "    $r"; done
if ((status == 0)); then
    log "PASS: every README command passed in a fresh root (logs: $LOGS)"
else
    log "FAIL: see the logs in $LOGS"
fi
exit $status

#!/usr/bin/env bash
# tool-path.sh — a PATH with only the programs a fresh Debian 12 machine has once
# scripts/install-deps.sh ran, so that a test calling anything else fails here as it would there.
#
#   scripts/tool-path.sh [DIR]          fill DIR (default build-test-tools) and print the PATH value
#                                       (DIR/sbin:DIR/bin) on stdout; counts go to stderr
#   scripts/tool-path.sh --check CMD... for each command: allowed, or why not (exit 1 if any is not)
#   scripts/tool-path.sh --packages     the allowed packages, one a line
#
# Allowed packages: those of Priority "required" (what debootstrap --variant=minbase installs),
# apt, git and ca-certificates (what a new user adds to clone the project), every package that
# scripts/install-deps.sh --list names, and the installed dependency closure of all of them
# (Depends and Pre-Depends; no Recommends/Suggests: install-deps uses --no-install-recommends).
# Allowed programs: every entry of /usr/sbin and /usr/bin (and /sbin, /bin where /usr is not
# merged) that an allowed package's file list holds (paths normalised for merged /usr), plus the
# alternatives links (/usr/bin/nc → /etc/alternatives/nc → nc.openbsd) whose final target an
# allowed package holds.  DIR/bin and DIR/sbin get a symlink to each; nothing else.
# Limits: an "A | B" dependency counts both when both happen to be installed here, and a
# program called by absolute path (/usr/sbin/sshd) or found by a program's own search escapes
# the PATH — those stay with the tests' own tool checks.
set -euo pipefail
SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

mode=build
dir=$SRC/build-test-tools
case ${1:-} in
--check) mode=check; shift ;;
--packages) mode=packages; shift ;;
-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
-*) echo "tool-path.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
"") ;;
*) dir=$1; shift ;;
esac

# --- the allowed packages -----------------------------------------------------------------------
installed=$(dpkg-query -W -f='${db:Status-Abbrev}\t${binary:Package}\t${Priority}\t${Essential}\n' |
    awk -F'\t' '$1 ~ /^ii/ {sub(/:.*/, "", $2); print $2 "\t" $3 "\t" $4}')
mapfile -t roots < <(
    awk -F'\t' '$2 == "required" || $3 == "yes" {print $1}' <<<"$installed"
    echo apt
    echo git
    echo ca-certificates
    bash "$SRC/scripts/install-deps.sh" --list
)
# packages install-deps names that are not installed here cannot be looked at: say so
notinst=$(printf '%s\n' "${roots[@]}" | sort -u | comm -23 - <(cut -f1 <<<"$installed" | sort -u))
if [[ -n $notinst ]]; then
    echo "tool-path.sh: not installed (run scripts/install-deps.sh first): $(tr '\n' ' ' <<<"$notinst")" >&2
    exit 1
fi
allowed_pkgs=$(
    apt-cache depends --recurse --installed --no-recommends --no-suggests --no-conflicts \
        --no-breaks --no-replaces --no-enhances "${roots[@]}" 2>/dev/null |
        awk '/^[^ ]/ {gsub(/[<>]/, ""); sub(/:.*/, ""); print}' |
        sort -u | comm -12 - <(cut -f1 <<<"$installed" | sort -u)
)
if [[ $mode == packages ]]; then
    echo "$allowed_pkgs"
    exit 0
fi

# --- the allowed paths --------------------------------------------------------------------------
# merged /usr: /bin → usr/bin etc.  A package's list may name /bin/x; the file is /usr/bin/x.
norm=()
for d in /bin /sbin /lib /lib32 /lib64 /libx32; do
    [[ -L $d ]] && norm+=(-e "s#^$d/#$(realpath "$d")/#")
done
scan=()
for d in /usr/sbin /usr/bin /sbin /bin; do
    [[ -d $d ]] || continue
    r=$(realpath "$d")
    [[ " ${scan[*]} " == *" $r "* ]] || scan+=("$r")
done
# shellcheck disable=SC2086
allowed_files=$(dpkg-query -L $allowed_pkgs 2>/dev/null | grep '^/' | sed "${norm[@]:-s/^//}" | sort -u)

# every entry of the scanned dirs: path, link text (empty for a file)
entries=$(find "${scan[@]}" -mindepth 1 -maxdepth 1 \( -type f -o -type l \) -printf '%p\t%l\n' | sort -u)
# alternatives links: their final target
alt=$(awk -F'\t' '$2 ~ /^\/etc\/alternatives\// {print $1}' <<<"$entries")
alt_real=''
if [[ -n $alt ]]; then
    # shellcheck disable=SC2086
    alt_real=$(paste <(echo "$alt") <(realpath -m $alt))
fi
ok=$(
    {
        comm -12 <(cut -f1 <<<"$entries") <(echo "$allowed_files")
        [[ -z $alt_real ]] || awk -F'\t' 'NR == FNR {a[$1] = 1; next} ($2 in a) {print $1}' \
            <(echo "$allowed_files") <(echo "$alt_real")
    } | sort -u
)

# the package whose file list has PATH (also as /bin/x, /sbin/x: lists predate merged /usr)
owner_of() {
    local p
    for p in "$1" "${1/#\/usr\/bin\//\/bin\/}" "${1/#\/usr\/sbin\//\/sbin\/}"; do
        dpkg-query -S "$p" 2>/dev/null | grep -v '^diversion' | cut -d: -f1 | head -n 1 | grep . && return 0
    done
    return 1
}

if [[ $mode == check ]]; then
    rc=0
    for c in "$@"; do
        hit=''
        for d in "${scan[@]}"; do
            if grep -qxF "$d/$c" <<<"$ok"; then hit=$d/$c; break; fi
        done
        if [[ -n $hit ]]; then
            owner=$(owner_of "$hit") ||
                owner="alternative → $(realpath "$hit"), $(owner_of "$(realpath "$hit")" || echo '?')"
            echo "$c: allowed ($hit, $owner)"
            continue
        fi
        rc=1
        where=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v "$c" || true)
        if [[ -z $where ]]; then
            echo "$c: NOT allowed: no such program on this machine"
        else
            owner=$(owner_of "$where" || owner_of "$(realpath "$where")" || true)
            if [[ -n $owner ]]; then
                echo "$c: NOT allowed: $where is from package $owner, which scripts/install-deps.sh does not bring"
            else
                echo "$c: NOT allowed: $where belongs to no package"
            fi
        fi
    done
    exit $rc
fi

# --- DIR/sbin, DIR/bin ----------------------------------------------------------------------------
case $dir in /* ) ;; *) dir=$PWD/$dir ;; esac
mkdir -p "$dir"
rm -rf "$dir/bin" "$dir/sbin"
mkdir "$dir/bin" "$dir/sbin"
grep -E '^/usr/sbin/|^/sbin/' <<<"$ok" | xargs -r ln -s -t "$dir/sbin" --
grep -vE '^/usr/sbin/|^/sbin/' <<<"$ok" | xargs -r ln -s -t "$dir/bin" --
echo "$allowed_pkgs" >"$dir/packages"
echo "tool-path.sh: $(wc -l <<<"$ok") programs of $(wc -l <<<"$allowed_pkgs") packages in $dir (of $(wc -l <<<"$entries") in ${scan[*]})" >&2
echo "$dir/sbin:$dir/bin"

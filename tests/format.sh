#!/usr/bin/env bash
# The layout check: every C source and header of the project is as clang-format (.clang-format
# at the top) writes it.  Fix with:  clang-format -i $(git ls-files '*.c' '*.h')
# Also: no file of the tree holds a merge's conflict markers (a merge resolved in a hurry).
set -euo pipefail
src=${1:?usage: format.sh SOURCE-DIR}
cd "$src"
command -v clang-format >/dev/null || { echo "FATAL: clang-format missing (scripts/install-deps.sh)" >&2; exit 1; }
# the source folders, not git ls-files: the fast lane runs as any user, and git refuses a
# repository another user owns
mapfile -t files < <(find common socks-gw registrar resolver guest tests -name '*.[ch]' | sort)
((${#files[@]} > 0)) || { echo "FATAL: no C files found under $src" >&2; exit 1; }
bad=()
for f in "${files[@]}"; do
    clang-format --dry-run -Werror "$f" >/dev/null 2>&1 || bad+=("$f")
done
if ((${#bad[@]})); then
    printf 'not formatted: %s\n' "${bad[@]}"
    echo "0 passed, ${#bad[@]} failed (of ${#files[@]} files; clang-format -i FILE fixes it)"
    exit 1
fi
# conflict markers: lines that start with 7 '<' or '>' and a space, or are 7 '=' alone
mapfile -t marked < <(grep -rlE --exclude-dir=.git --exclude-dir='build*' --exclude-dir=corpus \
    '^(<<<<<<<|>>>>>>>) |^=======$' common socks-gw registrar resolver guest tests docs scripts \
    debian zones CMakeLists.txt README.md 2>/dev/null || true)
if ((${#marked[@]})); then
    printf 'merge conflict markers in: %s\n' "${marked[@]}"
    exit 1
fi
echo "${#files[@]} passed, 0 failed; no conflict markers"

#!/usr/bin/env bash
# version.sh NAME VERSION PROGRAM: `PROGRAM --version` and `PROGRAM -V` each print exactly
# "NAME VERSION" on stdout, nothing on stderr, and exit 0.  Registered by tests/unit/CMakeLists.txt
# once per program (label unit: no root, no network).
set -u
name=$1 version=$2 prog=$3
errf=$(mktemp)
trap 'rm -f "$errf"' EXIT
rc=0
for opt in --version -V; do
    out=$("$prog" "$opt" 2>"$errf")
    code=$?
    err=$(<"$errf")
    if [[ $code -ne 0 || "$out" != "$name $version" || -n "$err" ]]; then
        echo "FAIL $prog $opt: exit $code, stdout '$out', stderr '$err' (want '$name $version', exit 0)"
        rc=1
    else
        echo "ok   $prog $opt: $out"
    fi
done
exit $rc

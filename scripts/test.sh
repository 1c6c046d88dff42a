#!/usr/bin/env bash
# Run vmgate's whole test suite: install the Debian packages it needs, build twice (warnings as
# errors; then with ASan+UBSan) and run every ctest test in both builds: Criterion unit tests,
# fuzz-corpus replay and the system tests (real BIND, Knot, curl, proxychains4, OpenSSH … in
# network namespaces).  Needs root (network namespaces, apt-get).
#   scripts/test.sh              both builds
#   VMGATE_BUILDS=normal scripts/test.sh      only the normal build
#   CTEST_ARGS="-L unit" scripts/test.sh      pass arguments to ctest
#   VMGATE_TOOL_CHECK=0 scripts/test.sh       without the tool check below
#
# Tool check: ctest runs with PATH set to build-test-tools/{sbin,bin} (scripts/tool-path.sh):
# only the programs of the packages a fresh Debian 12 has once scripts/install-deps.sh ran.  A
# test that calls anything else gets "command not found" — and, because bash then calls the
# exported function command_not_found_handle, the call is logged even where the test hides the
# error (`cmd 2>/dev/null || true`).  Any logged call fails the run, naming command and script.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "scripts/test.sh: the system tests create network namespaces: run as root" >&2
  exit 1
fi
bash scripts/install-deps.sh

tool_check=${VMGATE_TOOL_CHECK:-1}
tools=$PWD/build-test-tools
test_path=$PATH
if [[ $tool_check != 0 ]]; then
  # a fixed directory, made anew each run: CMake caches the compiler paths it finds on PATH
  test_path=$(bash scripts/tool-path.sh "$tools")
  export VMGATE_MISSING_LOG=$tools/missing.log
  : >"$VMGATE_MISSING_LOG"
  command_not_found_handle() {
    local argv=() parent # builtins only: a missing program here would call this function again
    { mapfile -d '' -t argv <"/proc/$PPID/cmdline"; } 2>/dev/null || true
    parent="${argv[*]:-?}"
    parent=${parent:0:200}
    printf '%s\t%s\t%s\n' "$1" "${BASH_SOURCE[1]:-$0}:${BASH_LINENO[0]:-?}" "parent: $parent" >>"${VMGATE_MISSING_LOG:-/dev/null}"
    printf '%s: %s: command not found (no package that scripts/install-deps.sh installs provides it)\n' "$0" "$1" >&2
    return 127
  }
  export -f command_not_found_handle
  echo "=== tool check: ctest runs with PATH=$test_path"
fi

builds=${VMGATE_BUILDS:-"normal sanitize"}
status=0
for b in $builds; do
  dir=build-test-$b
  flags=(-DVMGATE_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo)
  [[ $b == sanitize ]] && flags+=(-DVMGATE_SANITIZE=ON)
  echo "=== $b build ($dir) ==="
  cmake -S . -B "$dir" "${flags[@]}" >/dev/null
  cmake --build "$dir" -j "$(nproc)"
  # ASan: a leak or error fails the test; UBSan: any report aborts
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
  # shellcheck disable=SC2086
  if ! PATH=$test_path VMGATE_VARIANT=$b ctest --test-dir "$dir" --output-on-failure ${CTEST_ARGS:-}; then
    status=1
  fi
done

if [[ $tool_check != 0 && -s $VMGATE_MISSING_LOG ]]; then
  echo
  echo "scripts/test.sh: FAIL: tests called programs that no package of scripts/install-deps.sh provides"
  echo "  (add the package to scripts/install-deps.sh, or do without the program):"
  sort "$VMGATE_MISSING_LOG" | uniq -c | sed 's/^ *//; s/ /\t/' | while IFS=$'\t' read -r n cmd where parent; do
    echo "  - '$cmd' called at $where, $n time(s) ($parent)"
    echo "    $(bash scripts/tool-path.sh --check "$cmd" 2>&1 | tail -n 1)"
  done
  status=1
elif [[ $tool_check != 0 ]]; then
  echo "=== tool check: no test called a program outside scripts/install-deps.sh's packages"
fi
exit $status

#!/usr/bin/env bash
# Run vmgate's whole test suite: install the Debian packages it needs, build twice (warnings as
# errors; then with ASan+UBSan) and run every ctest test in both builds: Criterion unit tests,
# fuzz-corpus replay and the system tests (real BIND, Knot, curl, proxychains4, OpenSSH … in
# network namespaces).  Needs root (network namespaces, apt-get).
#   scripts/test.sh              both builds
#   VMGATE_BUILDS=normal scripts/test.sh      only the normal build
#   CTEST_ARGS="-L unit" scripts/test.sh      pass arguments to ctest
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $(id -u) -ne 0 ]]; then
  echo "scripts/test.sh: the system tests create network namespaces: run as root" >&2
  exit 1
fi
bash scripts/install-deps.sh

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
  if ! VMGATE_VARIANT=$b ctest --test-dir "$dir" --output-on-failure ${CTEST_ARGS:-}; then
    status=1
  fi
done
exit $status

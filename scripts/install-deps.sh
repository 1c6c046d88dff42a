#!/usr/bin/env bash
# Install the Debian 12 packages vmgate needs to build, test and benchmark.
# Idempotent: packages already present are skipped; `apt-get update` runs once per call
# only when something is missing.
#   scripts/install-deps.sh           install what is missing (root)
#   scripts/install-deps.sh --list    print the package names, one a line (scripts/tool-path.sh
#                                     reads them: tests may call only programs these provide)
set -euo pipefail

PKGS=(
  # build
  build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
  libevent-dev libc-ares-dev libldns-dev libinih-dev libcrypt-dev libcriterion-dev
  libxml2-dev libssl-dev
  # system tests and the local demo
  iproute2 procps curl proxychains4 netcat-openbsd openssh-server openssh-client
  bind9 bind9-utils bind9-dnsutils knot knot-dnsutils python3 openssl
  file                 # test_agent.sh: the static agent really is static
  prometheus           # test_gw_metrics.sh, unit.metrics.promtool: prometheus and promtool
  # benchmark peers
  dante-server microsocks stunnel4
  # the QEMU test VM (scripts/build-vm-image.sh, scripts/vm-run.sh)
  qemu-system-x86 busybox-static dropbear-bin libc6-dev
  # serial channel interop test: the unmodified hashicorp/yamux, built offline (GOPATH mode)
  golang-go golang-github-hashicorp-yamux-dev
)

if [[ ${1:-} == --list ]]; then
  printf '%s\n' "${PKGS[@]}"
  exit 0
fi

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#PKGS[@]} packages present"
  exit 0
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "install-deps: missing ${missing[*]}; run as root (or with sudo)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
# Debian starts daemons on install where an init system runs; vmgate's tests start their own
# on high loopback ports, so nothing else needs to be running.

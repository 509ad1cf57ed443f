#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Dendrite builds and tests with (prometheus:
# promtool and the server for the metrics tests; iproute2, iptables and faketime: the
# partition and clock scenarios of dendrite-faults; tcpdump: the security test's
# capture of loopback traffic; openssl: test certificates; redis-server,
# redis-tools, python3-redis and libhiredis-dev: real Redis clients against the
# resp plugin, and redis-server as its benchmark baseline), and only those that
# are missing: when everything is present it changes nothing and needs no root.
#   install-deps.sh [--fuzz]   --fuzz adds clang and its libFuzzer runtime
set -euo pipefail

packages=(
  build-essential cmake pkg-config ccache
  libzmq3-dev cppzmq-dev
  libprotobuf-dev protobuf-compiler
  libboost-dev libboost-filesystem-dev
  nlohmann-json3-dev libspdlog-dev libcli11-dev libssl-dev libcpp-httplib-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  libmimalloc-dev libabsl-dev librocksdb-dev
  prometheus
  redis-server redis-tools python3-redis libhiredis-dev
  iproute2 iptables faketime tcpdump openssl
)
for arg in "$@"; do
  case "$arg" in
    --fuzz) packages+=(clang libclang-rt-dev) ;;
    *) echo "install-deps: unknown argument '$arg' (expected --fuzz)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-deps: missing packages (${missing[*]}) and no apt-get to install them" >&2
  exit 1
fi
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || {
    echo "install-deps: missing packages (${missing[*]}); run as root or install sudo" >&2
    exit 1
  }
  sudo=(sudo)
fi
echo "install-deps: installing ${missing[*]}"
"${sudo[@]}" apt-get update
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y --no-install-recommends "${missing[@]}"

#!/usr/bin/env bash
# Installs DPDK (Debian 22.11) and builds the native shim (native/ -> libfastbft_dpdk.so).
# Idempotent: skips apt when libdpdk is already visible to pkg-config and the tools exist.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

need_apt=0
for tool in pkg-config cmake gcc make; do
  command -v "$tool" >/dev/null 2>&1 || need_apt=1
done
if [ "$need_apt" = 0 ] && ! pkg-config --exists libdpdk 2>/dev/null; then need_apt=1; fi
if [ "$need_apt" = 0 ] && ! command -v dpdk-testpmd >/dev/null 2>&1; then need_apt=1; fi
# iproute2: the mixed DPDK/UDP cell (fastbft run --transport mixed, DpdkCellTests) bridges net_tap ports with `ip`.
if [ "$need_apt" = 0 ] && ! command -v ip >/dev/null 2>&1; then need_apt=1; fi

if [ "$need_apt" = 1 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -qq || true
  $SUDO apt-get install -y --no-install-recommends libdpdk-dev dpdk pkg-config cmake gcc make iproute2
fi

pkg-config --exists libdpdk || { echo "install-dpdk: libdpdk still not found by pkg-config" >&2; exit 1; }
echo "install-dpdk: DPDK $(pkg-config --modversion libdpdk)"

build="$here/native/build"
cmake -S "$here/native" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build" --parallel 2
echo "install-dpdk: built $build/libfastbft_dpdk.so"

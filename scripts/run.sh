#!/usr/bin/env bash
# Builds Dendrite (Release, into build/) and runs one node in the foreground:
#   ./scripts/run.sh [dendrited flags...]
# With no flags: the embedded default, a one-node ring on 127.0.0.1:5000.
# Ctrl-C leaves the ring and exits 0. JOBS=N sets build parallelism (default 2).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$root/scripts/install-deps.sh"
export CCACHE_BASEDIR="$root"
cmake -S "$root" -B "$root/build" -DCMAKE_BUILD_TYPE=Release \
  -DDENDRITE_BUILD_TESTS=OFF -DDENDRITE_BUILD_BENCH=OFF >/dev/null
cmake --build "$root/build" -j "${JOBS:-2}"
exec "$root/build/bin/dendrited" "$@"

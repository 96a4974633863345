#!/usr/bin/env bash
# Audio on object storage vs the local folder, in one run (not part of scripts/test.sh):
# a 200 MiB recording uploaded over tus to a server storing into SeaweedFS on loopback,
# and to one storing into its folder, alternating; the ratio of the medians
# (server/benches/object_storage.rs, docs/benchmarks.md).
# Usage: scripts/bench-object-storage.sh [MIB=200] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
. server/tests/services/install-seaweed.sh
TELLUS_BENCH_MIB="${1:-200}" TELLUS_BENCH_ROUNDS="${2:-3}" \
  cargo bench --locked -p tellus-server --bench object_storage

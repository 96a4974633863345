#!/usr/bin/env bash
# The 200-device load in one run (not part of scripts/test.sh): one SQLite replica with
# its folder (the baseline) vs two PostgreSQL + S3 replicas behind a round-robin
# balancer, all on loopback (server/benches/replicas.rs, docs/benchmarks.md).
# Usage: scripts/bench-replicas.sh [DEVICES=200] [MIB=5] [CONCURRENCY=20]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
. server/tests/services/install-seaweed.sh
TELLUS_BENCH_DEVICES="${1:-200}" TELLUS_BENCH_MIB="${2:-5}" TELLUS_BENCH_CONCURRENCY="${3:-20}" \
  cargo bench --locked -p tellus-server --bench replicas

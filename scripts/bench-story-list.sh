#!/usr/bin/env bash
# The story list through the FFI from Kotlin (issue 23): 500 stories read with one batched
# call (`storyPage`) against `listStories` + 500 `deliveryState` calls, alternating, while
# a sync of those 500 stories to a real `tellus serve` on loopback reports progress, and
# again at rest. The library is a release build (the server, debug, only keeps the sync
# going). Not part of ./scripts/test.sh.
# Usage: scripts/bench-story-list.sh [ROUNDS=30]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
work=$(mktemp -d)
pid=""
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT
bindings=$(scripts/bindings.sh --release --out "$work/bindings")
cargo build -q --locked -p tellus-cli # the server only has to keep a sync going: debug is fine
. tests/support/serve.sh
tellus_serve "${CARGO_TARGET_DIR:-target}/debug/tellus" "$work"
pid=$TELLUS_SERVE_PID
TELLUS_SERVER_URL=$TELLUS_SERVE_URL TELLUS_BENCH_INVITE=$(tellus_invite reporter) TELLUS_BENCH_ROUNDS=${1:-30} \
  bash tests/support/toolchain/run-kotlin.sh \
  --lib-dir "$bindings/python" --bindings "$bindings/kotlin" \
  --out "${TMPDIR:-/tmp}/tellus-kotlin-bench" --main StoryListBenchKt \
  tests/ffi/kotlin/bench/StoryListBench.kt

#!/usr/bin/env bash
# The project server's benchmark, in one run (not part of ./scripts/test.sh):
#  1. tus-js-client uploads the same 200 MB file to `tellus serve` and to the official Node
#     tus server (@tus/server with @tus/file-store), alternating, 5 rounds each: the ratio
#     of the medians;
#  2. 50 MiB of it through a proxy that cuts every connection after 3 MiB, to each server:
#     the bytes tus-js-client sent over the payload;
#  3. 200 simulated devices at once, each enrolling, recording consent, PUTting a story
#     and uploading 5 MB: every receipt verified, p50/p99 of the story PUT against the
#     same PUT on the idle server.
# Usage: scripts/bench-server.sh [FILE_MB=200] [ROUNDS=5] [DEVICES=200] [DEVICE_MB=5]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
. tests/tus/install.sh
file_mb=${1:-200}
rounds=${2:-5}
devices=${3:-200}
device_mb=${4:-5}
cargo build -q --locked --release -p tellus-cli
bin="${CARGO_TARGET_DIR:-target}/release/tellus"
cp tests/tus/*.mjs "$TUS_NODE_DIR/"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_for_line() { # FILE PID: the URL a server prints once it listens
  local i
  for i in $(seq 400); do
    grep -q '^listening on' "$1" 2>/dev/null && break
    kill -0 "$2" 2>/dev/null || { echo "a server failed to start" >&2; exit 1; }
    sleep 0.05
  done
  grep -o 'http://[0-9.:/a-z]*' "$1" | head -1
}

"$bin" --data-dir "$work/tellus" admin project create >/dev/null
admin=$("$bin" --data-dir "$work/tellus" --json admin token --label bench | "$TUS_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["token"])')
TELLUS_LOG=warn "$bin" --data-dir "$work/tellus" serve --listen 127.0.0.1:0 >"$work/tellus.out" 2>"$work/tellus.log" &
pids+=($!)
tellus_url=$(wait_for_line "$work/tellus.out" "${pids[-1]}")
mkdir -p "$work/node-tus"
node "$TUS_NODE_DIR/tus_node_server.mjs" "$work/node-tus" >"$work/node.out" 2>"$work/node.log" &
pids+=($!)
node_url=$(wait_for_line "$work/node.out" "${pids[-1]}")

head -c "$((file_mb * 1024 * 1024))" /dev/urandom >"$work/upload.bin"
echo "== ${file_mb} MiB with tus-js-client: tellus serve vs @tus/server (file store), $rounds rounds each"
node "$TUS_NODE_DIR/bench.mjs" compare "$work/upload.bin" "$tellus_url" "$admin" "$node_url" "$rounds"
head -c "$((50 * 1024 * 1024))" "$work/upload.bin" >"$work/cut.bin"
echo "== 50 MiB through a proxy that cuts every connection after 3 MiB, to each server"
node "$TUS_NODE_DIR/bench.mjs" cuts "$work/cut.bin" "$tellus_url" "$admin" "$node_url" 3
rm -f "$work/upload.bin" "$work/cut.bin" "$work"/node-tus/*
echo "== $devices devices at once, $device_mb MiB each"
node "$TUS_NODE_DIR/bench.mjs" devices "$tellus_url" "$admin" "$devices" "$device_mb"

#!/usr/bin/env bash
# The official tus clients against a real `tellus serve`: tus-js-client (npm) and tuspy
# (PyPI). Prints "tus-js: N passed, N failed" and "tuspy: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/setup.sh
. tests/tus/install.sh
cargo build -q --locked -p tellus-cli
TELLUS_BIN="${CARGO_TARGET_DIR:-target}/debug/tellus"
# The scripts run from beside node_modules so that their imports resolve.
cp tests/tus/*.mjs "$TUS_NODE_DIR/"

data=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$data"
}
trap cleanup EXIT

project=coproduction-stories-2026
"$TELLUS_BIN" --data-dir "$data/server" admin project create >/dev/null
invites() {
  local i
  for i in $(seq "$1"); do
    "$TELLUS_BIN" --data-dir "$data/server" --json admin invite --project "$project" --role reporter |
      "$TUS_PYTHON" -c 'import json,sys; print(json.load(sys.stdin)["code"])'
  done
}
TELLUS_LOG=warn "$TELLUS_BIN" --data-dir "$data/server" serve --listen 127.0.0.1:0 >"$data/serve.out" 2>"$data/serve.log" &
server_pid=$!
# The server prints its address once it listens: wait for that line, with a deadline.
for _ in $(seq 200); do
  grep -q '^listening on' "$data/serve.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$data/serve.log" >&2; exit 1; }
  sleep 0.05
done
url=$(grep -o 'http://[0-9.:]*' "$data/serve.out" | head -1)
[ -n "$url" ] || { echo "tellus serve did not start" >&2; exit 1; }

status=0
echo "== tus-js-client against tellus serve"
TELLUS_URL="$url" TELLUS_INVITES="$(invites 8)" node "$TUS_NODE_DIR/tus_js_test.mjs" || status=1
echo "== tuspy against tellus serve"
TELLUS_URL="$url" TELLUS_INVITES="$(invites 2)" "$TUS_PYTHON" tests/tus/test_tuspy.py || status=1
echo "== our tus client (tellus-core) against the official Node tus server (@tus/server)"
TUS_NODE_DIR="$TUS_NODE_DIR" cargo test -q --locked -p tellus-core --test tus_node_peer -- --ignored || status=1
exit $status

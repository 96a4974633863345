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

. tests/support/serve.sh
tellus_serve "$TELLUS_BIN" "$data"
server_pid=$TELLUS_SERVE_PID url=$TELLUS_SERVE_URL
invites() { # N reporter invite codes, one a line
  local i
  for i in $(seq "$1"); do tellus_invite reporter; done
}

status=0
echo "== tus-js-client against tellus serve"
TELLUS_URL="$url" TELLUS_INVITES="$(invites 8)" node "$TUS_NODE_DIR/tus_js_test.mjs" || status=1
echo "== tuspy against tellus serve"
TELLUS_URL="$url" TELLUS_INVITES="$(invites 2)" "$TUS_PYTHON" tests/tus/test_tuspy.py || status=1
echo "== our tus client (tellus-core) against the official Node tus server (@tus/server)"
TUS_NODE_DIR="$TUS_NODE_DIR" cargo test -q --locked -p tellus-core --test tus_node_peer -- --ignored || status=1
exit $status

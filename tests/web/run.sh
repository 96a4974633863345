#!/usr/bin/env bash
# The leads' web page in headless Chromium against a real `tellus serve`, seeded over
# real HTTP (enrolment, story PUT, consent POST, a WAV over tus). Prints
# "web: N passed, N failed"; screenshots go to build/artefacts/web/.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/setup.sh
. tests/web/install.sh
cargo build -q --locked -p tellus-cli
TELLUS_BIN="${CARGO_TARGET_DIR:-target}/debug/tellus"
# The script runs from beside node_modules so that its import resolves.
cp tests/web/web_test.mjs "$WEB_NODE_DIR/"
artefacts="$PWD/build/artefacts/web"
rm -rf "$artefacts"
mkdir -p "$artefacts"

data=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$data"
}
trap cleanup EXIT

project=coproduction-stories-2026
"$TELLUS_BIN" --data-dir "$data/server" admin project create >/dev/null
invite() {
  "$TELLUS_BIN" --data-dir "$data/server" --json admin invite --project "$project" --role "$1" |
    node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).code))'
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

echo "== playwright-core and headless chromium against tellus serve"
TELLUS_URL="$url" \
  TELLUS_REPORTER_INVITES="$(invite reporter) $(invite reporter)" \
  TELLUS_LEAD_INVITE="$(invite lead)" \
  TELLUS_ARTEFACTS="$artefacts" \
  TELLUS_CHROMIUM="$WEB_CHROMIUM" \
  TELLUS_PROFILE="$data/chromium-profile" \
  node "$WEB_NODE_DIR/web_test.mjs"

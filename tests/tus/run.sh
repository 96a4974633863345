#!/usr/bin/env bash
# The official tus clients against a real `tellus serve`: tus-js-client (npm) and tuspy
# (PyPI). Prints "tus-js: N passed, N failed" and "tuspy: N passed, N failed".
#
#   tests/tus/run.sh [sqlite]   the server's embedded default (SQLite, the audio folder);
#                               then our own client against the official Node tus server
#   tests/tus/run.sh postgres   the same clients against a server on PostgreSQL and an S3
#                               bucket (SeaweedFS), both started by testkit's
#                               tellus-test-services; then every recording the database
#                               holds is read back from the bucket and its SHA-256 checked
set -euo pipefail
cd "$(dirname "$0")/../.."
backend=${1:-sqlite}
case $backend in
  sqlite | postgres) ;;
  *)
    echo "usage: $0 [sqlite|postgres]" >&2
    exit 2
    ;;
esac
# Only what this run starts decides where the server keeps its data.
unset TELLUS_DATABASE TELLUS_STORAGE
. scripts/setup.sh
. tests/tus/install.sh
cargo build -q --locked -p tellus-cli
target="${CARGO_TARGET_DIR:-target}/debug"
TELLUS_BIN="$target/tellus"
# The scripts run from beside node_modules so that their imports resolve.
cp tests/tus/*.mjs "$TUS_NODE_DIR/"

data=$(mktemp -d)
server_pid=""
. tests/support/services.sh
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  tellus_services_stop || true
  rm -rf "$data"
}
trap cleanup EXIT

serve_args=()
on=""
if [ "$backend" = postgres ]; then
  cargo build -q --locked -p tellus-testkit --bin tellus-test-services
  tellus_services_start "$target/tellus-test-services"
  # TELLUS_DATABASE is exported: serve.sh's `admin project create` and `admin invite`
  # reach the same database as the server.
  serve_args=(--storage "$TELLUS_STORAGE")
  on=" on PostgreSQL and s3://$TELLUS_S3_BUCKET/$TELLUS_S3_PREFIX"
fi

. tests/support/serve.sh
tellus_serve "$TELLUS_BIN" "$data" "${serve_args[@]}"
server_pid=$TELLUS_SERVE_PID url=$TELLUS_SERVE_URL
invites() { # N reporter invite codes, one a line
  local i
  for i in $(seq "$1"); do tellus_invite reporter; done
}

# Every recording the database holds is in the bucket under the server's prefix, and
# nothing else is (but the resumable uploads' spool, tus/); each object's SHA-256 is the
# one its receipt gave; the data folder holds no audio of its own.
check_bucket() {
  local recordings keys id representation sha256 key got checked=0
  recordings=$(psql --no-psqlrc -At -F ' ' -v ON_ERROR_STOP=1 -d "$TELLUS_DATABASE" \
    -c "SELECT id, representation, sha256 FROM recordings ORDER BY id, representation") ||
    return 1
  [ -n "$recordings" ] || {
    echo "the database holds no recordings" >&2
    return 1
  }
  local listing
  listing=$(tellus_s3 "$TELLUS_S3_ENDPOINT/$TELLUS_S3_BUCKET?list-type=2&prefix=$TELLUS_S3_PREFIX%2F") ||
    return 1
  if grep -q '<IsTruncated>true' <<<"$listing"; then
    echo "more objects than one listing holds" >&2
    return 1
  fi
  keys=$(grep -oE '<Key>[^<]*</Key>' <<<"$listing" | sed -E "s#</?Key>##g; s#^$TELLUS_S3_PREFIX/##" |
    grep -v '^tus/' | sort || true)
  local expected=""
  while read -r id representation sha256; do
    key=$id
    [ "$representation" = listening ] && key="$id.listening"
    expected+="$key"$'\n'
    got=$(tellus_s3 "$TELLUS_S3_ENDPOINT/$TELLUS_S3_BUCKET/$TELLUS_S3_PREFIX/$key" | sha256sum) || {
      echo "recording $key is not in the bucket" >&2
      return 1
    }
    if [ "${got%% *}" != "$sha256" ]; then
      echo "s3 object $key: SHA-256 ${got%% *}, its receipt $sha256" >&2
      return 1
    fi
    checked=$((checked + 1))
  done <<<"$recordings"
  if [ "$keys" != "$(sort <<<"${expected%$'\n'}")" ]; then
    printf 'the bucket holds:\n%s\nthe database names:\n%s\n' "$keys" "$expected" >&2
    return 1
  fi
  if [ -n "$(find "$data/server" -path '*/audio/*' -type f)" ]; then
    echo "audio was kept in the data folder, not (only) in the bucket" >&2
    return 1
  fi
  echo "bucket: $checked recordings in s3://$TELLUS_S3_BUCKET/$TELLUS_S3_PREFIX, each matching its receipt's SHA-256"
}

status=0
echo "== tus-js-client against tellus serve$on"
TELLUS_URL="$url" TELLUS_INVITES="$(invites 8)" node "$TUS_NODE_DIR/tus_js_test.mjs" || status=1
echo "== tuspy against tellus serve$on"
TELLUS_URL="$url" TELLUS_INVITES="$(invites 2)" "$TUS_PYTHON" tests/tus/test_tuspy.py || status=1
if [ "$backend" = postgres ]; then
  echo "== the audio those uploads delivered, read back from the bucket"
  check_bucket || status=1
else
  # Not our server at all: once is enough.
  echo "== our tus client (tellus-core) against the official Node tus server (@tus/server)"
  TUS_NODE_DIR="$TUS_NODE_DIR" cargo test -q --locked -p tellus-core --test tus_node_peer -- --ignored || status=1
fi
exit $status

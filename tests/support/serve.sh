# Sourced by the test runners (tests/ffi, tests/tus, tests/web): a real `tellus serve` on
# loopback with the sample project, and invite codes for it.
#
#   tellus_serve BIN DIR [SERVE ARGS...]
#                          creates the sample project under DIR/server, starts the server
#                          (output in DIR/serve.out, logs in DIR/serve.log; extra arguments
#                          such as --tls-cert FILE --tls-key FILE go to `tellus serve`) and
#                          waits for the address it prints; sets TELLUS_SERVE_URL and
#                          TELLUS_SERVE_PID. The caller stops it (kill "$TELLUS_SERVE_PID").
#   tellus_invite ROLE     prints one new invite code (reporter or lead) for the project.

TELLUS_SAMPLE_PROJECT=coproduction-stories-2026

tellus_serve() {
  TELLUS_SERVE_BIN=$1
  TELLUS_SERVE_DIR=$2/server
  local out=$2
  shift 2
  mkdir -p "$out"
  "$TELLUS_SERVE_BIN" --data-dir "$TELLUS_SERVE_DIR" admin project create >/dev/null
  # Every simulated phone of a run enrols from 127.0.0.1, as a training day's phones do
  # from behind one NAT: the address's burst is raised as docs/server.md advises (the
  # default quota is tested in server/tests/hostile.rs).
  printf 'attempts_burst_per_client = 1000\n' >"$out/serve.toml"
  TELLUS_LOG=warn "$TELLUS_SERVE_BIN" --data-dir "$TELLUS_SERVE_DIR" serve --config "$out/serve.toml" \
    --listen 127.0.0.1:0 "$@" \
    >"$out/serve.out" 2>"$out/serve.log" &
  TELLUS_SERVE_PID=$!
  local _
  for _ in $(seq 200); do # the server prints its address once it listens
    grep -q '^listening on' "$out/serve.out" 2>/dev/null && break
    kill -0 "$TELLUS_SERVE_PID" 2>/dev/null || { cat "$out/serve.log" >&2; return 1; }
    sleep 0.05
  done
  TELLUS_SERVE_URL=$(grep -oE 'https?://[0-9.:]*' "$out/serve.out" | head -1)
  [ -n "$TELLUS_SERVE_URL" ] || { echo "tellus serve did not start" >&2; return 1; }
}

tellus_invite() {
  "$TELLUS_SERVE_BIN" --data-dir "$TELLUS_SERVE_DIR" --json admin invite \
    --project "$TELLUS_SAMPLE_PROJECT" --role "$1" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["code"])'
}

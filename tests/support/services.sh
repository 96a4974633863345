# Sourced by test runners (tests/tus) that run `tellus serve` on PostgreSQL and an S3
# bucket: testkit's tellus-test-services starts both on loopback (a PostgreSQL with a
# fresh database, SeaweedFS's `weed mini`), so no runner starts them in bash.
#
#   tellus_services_start BIN
#                          starts BIN (target/debug/tellus-test-services) as a coprocess
#                          and waits until both services answer; sets TELLUS_DATABASE
#                          (exported: `tellus serve` and `tellus admin` read it),
#                          TELLUS_STORAGE (the `--storage` URL), TELLUS_S3_ENDPOINT,
#                          TELLUS_S3_BUCKET, TELLUS_S3_PREFIX, TELLUS_S3_ACCESS_KEY_ID,
#                          TELLUS_S3_SECRET_ACCESS_KEY.
#   tellus_services_stop   stops both (SIGTERM) and waits for them. Should the runner die
#                          without calling it, the coprocess sees its stdin close and
#                          stops them all the same.
#   tellus_s3 CURL ARGS... curl, signed for the bucket (--aws-sigv4), failing on HTTP errors.

tellus_services_pid=""

tellus_services_start() {
  coproc TELLUS_SERVICES { exec "$1"; }
  # Kept apart: bash unsets the coprocess's own variables once it has ended.
  tellus_services_pid=$TELLUS_SERVICES_PID
  local line ready=""
  while IFS= read -r line <&"${TELLUS_SERVICES[0]}"; do
    # Only NAME='value' lines of its own (it quotes every value).
    [[ $line =~ ^TELLUS_[A-Z0-9_]+=\'[^\']*\'$ ]] || {
      echo "tellus-test-services printed: $line" >&2
      return 1
    }
    eval "$line"
    if [ "${TELLUS_SERVICES_READY:-}" = 1 ]; then
      ready=1
      break
    fi
  done
  [ -n "$ready" ] || {
    echo "tellus-test-services ended before PostgreSQL and weed were ready" >&2
    return 1
  }
  export TELLUS_DATABASE
}

tellus_services_stop() {
  [ -n "$tellus_services_pid" ] || return 0
  local status=0
  kill -TERM "$tellus_services_pid" 2>/dev/null || true
  wait "$tellus_services_pid" 2>/dev/null || status=$?
  tellus_services_pid=""
  [ "$status" -eq 0 ] || echo "tellus-test-services exited with status $status" >&2
  return "$status"
}

tellus_s3() {
  curl -sS --fail --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$TELLUS_S3_ACCESS_KEY_ID:$TELLUS_S3_SECRET_ACCESS_KEY" "$@"
}

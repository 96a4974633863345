#!/usr/bin/env bash
# The lead's pull benchmark (not part of ./scripts/test.sh): STORIES stories with one
# recording of MB MiB each are delivered to a `tellus serve` on loopback (as phones
# deliver them: consent, document, tus upload). Then, ROUNDS times, alternating:
#  1. `tellus pull` of the whole project into an empty folder (feed, documents, audio
#     with SHA-256 verified, fsync, manifest), with its peak RSS;
#  2. curl fetching the same recordings, one connection, one after the other (-K list);
#  3. curl with 4 transfers at once (--parallel-max 4, like the pull's default);
#  4. `sha256sum` of curl's files (curl verifies nothing; this is the cost of doing so).
# Then a second pull with nothing new, and `tellus pull --verify` vs `sha256sum -c`.
# Usage: scripts/bench-pull.sh [STORIES=1000] [MB=2] [ROUNDS=3]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
stories=${1:-1000}
mb=${2:-2}
rounds=${3:-3}
cargo build -q --locked --release -p tellus-cli
cargo build -q --locked --release -p tellus-lead --example bench_populate
target="${CARGO_TARGET_DIR:-target}/release"
bin="$target/tellus"

work=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

"$bin" --data-dir "$work/srv" admin project create >/dev/null
json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
enrol() { # ROLE -> token
  local code
  code=$("$bin" --data-dir "$work/srv" --json admin invite --project coproduction-stories-2026 --role "$1" | json_field code)
  curl -sS --fail -H 'content-type: application/json' \
    -d "{\"invite_code\":\"$code\",\"device_label\":\"bench\"}" "$url/api/v1/enrol" | json_field token
}
TELLUS_LOG=warn "$bin" --data-dir "$work/srv" serve --listen 127.0.0.1:0 >"$work/serve.out" 2>"$work/serve.log" &
server_pid=$!
for _ in $(seq 400); do
  grep -q '^listening on' "$work/serve.out" 2>/dev/null && break
  kill -0 "$server_pid" 2>/dev/null || { echo "the server failed to start" >&2; exit 1; }
  sleep 0.05
done
url=$(grep -o 'http://[0-9.:]*' "$work/serve.out" | head -1)
reporter=$(enrol reporter)
lead=$(enrol lead)

echo "== delivering $stories stories of $mb MiB each to $url"
start=$(date +%s.%N)
"$target/examples/bench_populate" "$url" "$reporter" "$stories" "$((mb * 1024 * 1024))"
echo "delivered in $(python3 -c "print(round($(date +%s.%N) - $start, 1))") s"

# The recordings' ids from the feed, as curl's list of downloads.
python3 - "$url" "$lead" "$work" <<'PY'
import json, sys, urllib.request
url, token, work = sys.argv[1:4]
cursor, ids = "", []
while True:
    req = urllib.request.Request(f"{url}/api/v1/changes?after={cursor}&limit=500",
                                 headers={"Authorization": f"Bearer {token}"})
    page = json.load(urllib.request.urlopen(req))
    ids += [c["recording_id"] for c in page["changes"] if c["kind"] == "recording"]
    cursor = page["next_cursor"]
    if not page["more"]:
        break
with open(f"{work}/curl.cfg", "w") as f:
    f.write(f'header = "Authorization: Bearer {token}"\n')
    for i in ids:
        f.write(f'url = "{url}/api/v1/recordings/{i}/audio"\noutput = "{work}/curl/{i}.wav"\n')
print(f"{len(ids)} recordings in the feed")
PY

timed() { # LABEL COMMAND... : appends "LABEL seconds peak_kib" to results
  local label=$1; shift
  /usr/bin/time -f "%e %M" -o "$work/time" "$@" >/dev/null
  echo "$label $(cat "$work/time")" | tee -a "$work/results"
}
for round in $(seq "$rounds"); do
  echo "== round $round"
  rm -rf "$work/pulled" "$work/curl"; mkdir -p "$work/curl"
  timed pull "$bin" --json pull --server "$url" --token "$lead" --out "$work/pulled"
  timed curl_sequential curl -sS --fail -K "$work/curl.cfg"
  timed curl_sha256sum sh -c "sha256sum '$work'/curl/*.wav"
  rm -rf "$work/curl"; mkdir -p "$work/curl"
  timed curl_parallel4 curl -sS --fail --parallel --parallel-max 4 -K "$work/curl.cfg"
done
timed pull_nothing_new "$bin" --json pull --server "$url" --token "$lead" --out "$work/pulled"
timed verify "$bin" pull --verify --out "$work/pulled"
timed sha256sum_c sh -c "cd '$work/pulled' && sha256sum --quiet -c SHA256SUMS"
total_mb=$(du -sm "$work/curl" | cut -f1)

python3 - "$work/results" "$total_mb" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    label, secs, kib = line.split()
    rows.setdefault(label, []).append((float(secs), int(kib)))
mb = float(sys.argv[2])
med = {k: statistics.median(s for s, _ in v) for k, v in rows.items()}
peak = {k: max(p for _, p in v) for k, v in rows.items()}
print(f"\n{mb:.0f} MB of audio; medians over the rounds")
print("| run | median s | MB/s | peak RSS MiB | vs tellus pull |")
print("|---|---|---|---|---|")
for k in ["pull", "curl_sequential", "curl_parallel4", "curl_sha256sum", "pull_nothing_new", "verify", "sha256sum_c"]:
    if k in med:
        rate = f"{mb / med[k]:.0f}" if k not in ("pull_nothing_new",) else "-"
        print(f"| {k} | {med[k]:.2f} | {rate} | {peak[k] / 1024:.1f} | {med[k] / med['pull']:.2f}x |")
seq_plus_hash = med["curl_sequential"] + med["curl_sha256sum"]
print(f"\ntellus pull takes {med['pull'] / med['curl_sequential']:.2f}x curl (sequential), "
      f"{med['pull'] / med['curl_parallel4']:.2f}x curl (4 at once), "
      f"{med['pull'] / seq_plus_hash:.2f}x curl then sha256sum")
PY

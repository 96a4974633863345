#!/usr/bin/env bash
# The leads' web page and the storytellers' portal in headless Chromium against a real
# `tellus serve`: the web page's stories are seeded over real HTTP (enrolment, story PUT,
# consent POST, a WAV over tus); the portal's come from phones that are the real `tellus`
# CLI (consent, a recording of speech, the receipt, sync). Prints "web: N passed, N
# failed" and "portal: N passed, N failed"; screenshots go to build/artefacts/web/.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/setup.sh
. tests/web/install.sh
cargo build -q --locked -p tellus-cli
TELLUS_BIN="${CARGO_TARGET_DIR:-target}/debug/tellus"
# The script runs from beside node_modules so that its import resolves.
cp tests/web/web_test.mjs tests/web/portal_test.mjs tests/web/transcript_test.mjs "$WEB_NODE_DIR/"
artefacts="$PWD/build/artefacts/web"
rm -rf "$artefacts"
mkdir -p "$artefacts"

data=$(mktemp -d)
transcripts_data=$(mktemp -d)
server_pid=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  rm -rf "$data" "$transcripts_data"
}
trap cleanup EXIT

. tests/support/serve.sh
tellus_serve "$TELLUS_BIN" "$data"
server_pid=$TELLUS_SERVE_PID url=$TELLUS_SERVE_URL

echo "== playwright-core and headless chromium against tellus serve"
TELLUS_URL="$url" \
  TELLUS_REPORTER_INVITES="$(tellus_invite reporter) $(tellus_invite reporter)" \
  TELLUS_LEAD_INVITE="$(tellus_invite lead)" \
  TELLUS_ARTEFACTS="$artefacts" \
  TELLUS_CHROMIUM="$WEB_CHROMIUM" \
  TELLUS_PROFILE="$data/chromium-profile" \
  node "$WEB_NODE_DIR/web_test.mjs"

echo "== phones (tellus CLI) to the storyteller's portal in headless chromium (axe-core, 320 px)"
mkdir -p "$data/portal"
bash tests/support/audio/make-speech.sh "$data/speech"
TELLUS_URL="$url" \
  TELLUS_REPORTER_INVITES="$(tellus_invite reporter) $(tellus_invite reporter)" \
  TELLUS_SPEECH_WAV="$data/speech/speech-16000.wav" \
  TELLUS_LEAD_INVITE="$(tellus_invite lead)" \
  TELLUS_BIN="$(readlink -f "$TELLUS_BIN")" \
  TELLUS_WORK="$data/portal" \
  TELLUS_ARTEFACTS="$artefacts" \
  TELLUS_CHROMIUM="$WEB_CHROMIUM" \
  node "$WEB_NODE_DIR/portal_test.mjs"

echo "== transcripts (issue 22): a server running the shipped engine, the lead's page and the portal in headless chromium"
. server/engines/install.sh
kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
tellus_serve "$TELLUS_BIN" "$transcripts_data" \
  --transcribe-command "$TELLUS_ENGINE_PYTHON $PWD/server/engines/faster_whisper_vtt.py" \
  --transcribe-model "$TELLUS_WHISPER_MODEL"
server_pid=$TELLUS_SERVE_PID url=$TELLUS_SERVE_URL
TELLUS_URL="$url" \
  TELLUS_REPORTER_INVITE="$(tellus_invite reporter)" \
  TELLUS_LEAD_INVITE="$(tellus_invite lead)" \
  TELLUS_WORK="$transcripts_data" \
  TELLUS_ARTEFACTS="$artefacts" \
  TELLUS_CHROMIUM="$WEB_CHROMIUM" \
  node "$WEB_NODE_DIR/transcript_test.mjs"

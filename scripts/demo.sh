#!/usr/bin/env bash
# The demo: a reporter's journey on the embedded defaults. Extra arguments go to
# `tellus demo` (for example --keep to keep its data folder).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo build --release --locked -q -p tellus-cli
target="${CARGO_TARGET_DIR:-target}"
# Without a microphone the demo records from the project's file-backed test microphone;
# its speech is made here, once.
bash tests/support/audio/make-speech.sh "$target/demo-audio" 16000 >/dev/null
export TELLUS_DEMO_MIC_DIR="$PWD/tests/support/audio"
export TELLUS_DEMO_SPEECH="$(cd "$target" && pwd)/demo-audio/speech-16000.s16le.raw"
exec "$target/release/tellus" demo "$@"

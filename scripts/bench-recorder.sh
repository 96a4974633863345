#!/usr/bin/env bash
# The recorder's benchmarks, in one run (not part of ./scripts/test.sh), on the real-time
# PulseAudio test microphone (tests/support/audio) while speech plays into it:
#  1. CPU: the whole `tellus record` process against `arecord` on the same device, one
#     after the other in this run, at 16 and 48 kHz (goal: under 1 % of a core and within
#     3x of arecord);
#  2. loss: SIGKILL at random moments (the first second of audio, recording, paused,
#     within 50 ms after `q`), 16 kHz; the worst loss of what had been captured (goal:
#     at most 1.0 s at every moment);
#  3. stop while the sound server is frozen (SIGSTOP): how long `q` takes.
# Usage: scripts/bench-recorder.sh [SECONDS=120] [KILLS=30]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
tellus_apt_install python3
seconds=${1:-120}
kills=${2:-30}
cargo build -q --locked --release -p tellus-cli
bin="$PWD/${CARGO_TARGET_DIR:-target}/release/tellus"

mic="$PWD/tests/support/audio"
work=$(mktemp -d)
export TELLUS_PULSE_DIR="$work/pulse"
trap 'bash "$mic/test-pulse.sh" stop; rm -rf "$work"' EXIT
eval "$(bash "$mic/test-pulse.sh" start)"
# Only the test microphone should reach that daemon, as in the tests.
unset PULSE_SERVER
export ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:$mic/alsa-test-mic.conf"
bash "$mic/make-speech.sh" "$work/speech" 16000 >/dev/null
speech="$work/speech/speech-16000.wav"

echo "== CPU while capturing ${seconds} s (tellus record, then arecord, same device)"
for rate in 16000 48000; do
  python3 scripts/bench_recorder.py cpu "$bin" "$rate" "$seconds" "$speech" 2>/dev/null
done
echo "== loss at ${kills} SIGKILLs"
python3 scripts/bench_recorder.py kill "$bin" 16000 "$kills" "$speech" 2>/dev/null
echo "== stop while the sound server is frozen"
python3 scripts/bench_recorder.py freeze "$bin" 16000 "$speech" 2>/dev/null

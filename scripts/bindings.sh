#!/usr/bin/env bash
# Builds tellus-ffi and generates Kotlin, Swift and Python bindings from that exact
# library with the workspace's own uniffi-bindgen (same pinned uniffi version).
# Output (never committed): build/bindings/{kotlin,swift,python}, and the library beside
# the Python module, which loads it from its own folder.
#
# Usage: scripts/bindings.sh [--release] [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

profile=debug flag=() out=build/bindings
while [ $# -gt 0 ]; do
  case "$1" in
    --release) profile=release flag=(--release); shift ;;
    --out) out="$2"; shift 2 ;;
    *) echo "usage: scripts/bindings.sh [--release] [--out DIR]" >&2; exit 2 ;;
  esac
done

cargo build --locked -q "${flag[@]}" -p tellus-ffi -p uniffi-bindgen
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
lib="$target_dir/$profile/libtellus_ffi.so"
bindgen="$target_dir/$profile/uniffi-bindgen"

rm -rf "$out"
for language in kotlin swift python; do
  "$bindgen" generate "$lib" --language "$language" --out-dir "$out/$language" --no-format >/dev/null
done
cp "$lib" "$out/python/"
echo "$out"

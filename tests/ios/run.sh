#!/usr/bin/env bash
# The iOS checks this Linux machine can make (no Swift toolchain, no Xcode here): Swift
# bindings generated from the real static library (the artefact the XCFramework packages),
# its C header parsed with every declared symbol defined in that library, the hand-written
# Swift checked against the generated API (and the checker shown to fail on misspellings),
# Info.plist keys, and the packaging script refusing clearly to run off macOS.
# Prints "ios: N passed, N failed" for scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/setup.sh
command -v python3 >/dev/null 2>&1 || tellus_apt_install python3
tellus_apt_install gcc binutils

cargo build --locked -q -p tellus-ffi -p uniffi-bindgen
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
# As scripts/build-xcframework.sh does on a Mac: Swift from the static library itself.
"$target_dir/debug/uniffi-bindgen" generate "$target_dir/debug/libtellus_ffi.a" \
  --language swift --out-dir "$out/swift" --no-format >/dev/null
python3 tests/ios/run_checks.py --bindings "$out/swift" --library "$target_dir/debug/libtellus_ffi.a" --work "$out/work"

#!/usr/bin/env bash
# Builds the iOS XCFramework of tellus-ffi and the Swift bindings generated from that exact
# build, for the Swift package at the repository root (Package.swift) and the app in ios/.
#
#   1. cargo build --release for aarch64-apple-ios (devices), aarch64-apple-ios-sim and
#      x86_64-apple-ios (simulators on Apple silicon and Intel Macs);
#   2. lipo the two simulator slices into one fat static library;
#   3. uniffi-bindgen (the workspace's own, same pinned uniffi) generates TellusCore.swift,
#      TellusCoreFFI.h and its module map from the device library just built;
#   4. xcodebuild -create-xcframework with the header and a module.modulemap beside it.
#
# Output (build output, never committed):
#   build/ios/TellusCoreFFI.xcframework       the binary target of Package.swift
#   ios/Sources/TellusCore/TellusCore.swift   the generated Swift, a source target
#   build/ios/bindings/                       the generated header and module map as made
#
# Needs macOS with Xcode (see ios/README.md for the version) and rustup. It cannot run on
# Linux: it stops with a clear message there.
#
# Usage: scripts/build-xcframework.sh [--out DIR]
set -euo pipefail
cd "$(dirname "$0")/.."

out=build/ios
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="$2"; shift 2 ;;
    *) echo "usage: scripts/build-xcframework.sh [--out DIR]" >&2; exit 2 ;;
  esac
done

if [ "$(uname -s)" != Darwin ]; then
  echo "build-xcframework: building for iOS needs macOS with Xcode (xcodebuild, lipo and the iOS SDKs); this is $(uname -s)." >&2
  echo "build-xcframework: on Linux, 'bash tests/ios/run.sh' checks the Swift bindings and the hand-written Swift against them instead." >&2
  exit 1
fi
for tool in xcodebuild lipo xcrun cargo rustup; do
  command -v "$tool" >/dev/null 2>&1 || { echo "build-xcframework: '$tool' is missing (install Xcode and rustup; see ios/README.md)" >&2; exit 1; }
done

targets=(aarch64-apple-ios aarch64-apple-ios-sim x86_64-apple-ios)
installed=$(rustup target list --installed)
for target in "${targets[@]}"; do
  grep -qx "$target" <<<"$installed" || rustup target add "$target"
done

# The oldest iOS the app supports (ios/project.yml says the same); the Rust objects must
# not be built for a newer one or the linker warns and old phones crash.
export IPHONEOS_DEPLOYMENT_TARGET=17.0

for target in "${targets[@]}"; do
  echo "== cargo build --release --target $target"
  cargo build --locked --release -p tellus-ffi --target "$target"
done
cargo build --locked --release -p uniffi-bindgen

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
lib=libtellus_ffi.a
device="$target_dir/aarch64-apple-ios/release/$lib"
bindgen="$target_dir/release/uniffi-bindgen"

rm -rf "$out"
mkdir -p "$out/simulator" "$out/bindings" "$out/headers"

echo "== lipo the simulator slices"
lipo -create \
  "$target_dir/aarch64-apple-ios-sim/release/$lib" \
  "$target_dir/x86_64-apple-ios/release/$lib" \
  -output "$out/simulator/$lib"

echo "== uniffi-bindgen: Swift from the device library just built"
"$bindgen" generate "$device" --language swift --out-dir "$out/bindings"
for f in TellusCore.swift TellusCoreFFI.h TellusCoreFFI.modulemap; do
  [ -f "$out/bindings/$f" ] || { echo "build-xcframework: uniffi-bindgen did not make $f" >&2; exit 1; }
done

# An XCFramework's headers folder needs its module map named module.modulemap.
cp "$out/bindings/TellusCoreFFI.h" "$out/headers/"
cp "$out/bindings/TellusCoreFFI.modulemap" "$out/headers/module.modulemap"

echo "== xcodebuild -create-xcframework"
xcodebuild -create-xcframework \
  -library "$device" -headers "$out/headers" \
  -library "$out/simulator/$lib" -headers "$out/headers" \
  -output "$out/TellusCoreFFI.xcframework"

mkdir -p ios/Sources/TellusCore
cp "$out/bindings/TellusCore.swift" ios/Sources/TellusCore/TellusCore.swift

echo "$out/TellusCoreFFI.xcframework"
echo "ios/Sources/TellusCore/TellusCore.swift"

#!/usr/bin/env bash
# The Android app's plain-Kotlin presentation layer (android/presentation), compiled with
# kotlinc together with the JVM bindings and its tests, run against the real library;
# then the layering check (the app calls the core only through that layer or the
# bindings the tests exercise). Called by tests/ffi/run.sh, which provides the library,
# the bindings, the test microphones and a `tellus serve` on loopback (TELLUS_SERVER_URL,
# TELLUS_ANDROID_INVITES). Prints "android-presentation: N passed, N failed".
#
# Usage: tests/android/run.sh --lib-dir DIR --bindings DIR
set -euo pipefail
cd "$(dirname "$0")/../.."
lib_dir="" bindings=""
while [ $# -gt 0 ]; do
  case "$1" in
    --lib-dir) lib_dir="$2"; shift 2 ;;
    --bindings) bindings="$2"; shift 2 ;;
    *) echo "usage: tests/android/run.sh --lib-dir DIR --bindings DIR" >&2; exit 2 ;;
  esac
done
status=0
bash tests/android/check-layering.sh || status=1
bash tests/android/check-strings.sh || status=1
mapfile -t sources < <(find android/presentation/src/main/kotlin android/presentation/src/test/kotlin -name '*.kt' | sort)
bash tests/support/toolchain/run-kotlin.sh \
  --lib-dir "$lib_dir" --bindings "$bindings" \
  --out "${TMPDIR:-/tmp}/tellus-android-presentation-test" --main org.tellus.presentation.MainKt \
  "${sources[@]}" || status=1
exit $status

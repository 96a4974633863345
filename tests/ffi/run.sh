#!/usr/bin/env bash
# Runs the FFI tests: the real tellus-ffi library from Kotlin on the JVM and from Python.
# Installs the Kotlin toolchain (npm kotlin-compiler, Debian JNA) and a JDK if missing.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/setup.sh
command -v java >/dev/null 2>&1 || tellus_apt_install openjdk-17-jdk-headless
command -v npm >/dev/null 2>&1 || tellus_apt_install npm
command -v python3 >/dev/null 2>&1 || tellus_apt_install python3
tellus_apt_install bc unzip

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
bindings=$(scripts/bindings.sh --out "$out/bindings")

echo "== FFI from Python"
PYTHONPATH="$bindings/python" python3 tests/ffi/python/test_store_journey.py 2>&1

echo "== FFI from Kotlin on the JVM"
# A fixed, pre-touched heap: the leak check then sees native memory, not the heap growing.
TELLUS_JVM_OPTS="-Xms256m -Xmx256m -XX:+AlwaysPreTouch" \
  bash tests/support/toolchain/run-kotlin.sh \
  --lib-dir "$bindings/python" --bindings "$bindings/kotlin" \
  --out "${TMPDIR:-/tmp}/tellus-kotlin-test" --main StoreJourneyTestKt \
  tests/ffi/kotlin/StoreJourneyTest.kt

echo "== Swift bindings: the C header parses and every symbol it declares is exported"
header="$bindings/swift/TellusCoreFFI.h"
# Included from a one-line file, as a Swift module map would, so its `#pragma once` is not
# in the main file; -Werror makes any warning a failure.
echo '#include "TellusCoreFFI.h"' | gcc -D_Nonnull= -D_Nullable= -Werror -fsyntax-only -I "$(dirname "$header")" -x c -
declared=$(grep -oE '\b(uniffi|ffi)_[A-Za-z0-9_]+\s*\(' "$header" | tr -d ' (' | sort -u)
exported=$(nm -D --defined-only "$bindings/python/libtellus_ffi.so" | awk '{print $3}' | sort -u)
missing=$(comm -23 <(echo "$declared") <(echo "$exported"))
count=$(echo "$declared" | wc -l)
if [ -n "$missing" ]; then
  echo "declared in the header but not exported by the library:" >&2
  echo "$missing" >&2
  echo "swift-header: 0 passed, 1 failed"
  exit 1
fi
echo "all $count declared functions are exported"
echo "swift-header: 1 passed, 0 failed"

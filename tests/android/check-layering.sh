#!/usr/bin/env bash
# The Android app calls the core only through the presentation layer or the bindings the
# JVM tests exercise: checks that
#  1. android/presentation has no android.* / androidx.* import (it must compile on the JVM);
#  2. in android/app, only the files in ALLOWED import org.tellus.core (the shell's thin
#     edges: opening the app, the recording service's request, the platform network type);
#  3. every binding method those files call is called somewhere by the JVM tests
#     (android/presentation/src/test or tests/ffi/kotlin).
# Prints "android-layering: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
ALLOWED="android/app/src/main/kotlin/org/tellus/app/TellusApplication.kt"
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

if grep -rnE '^import (android|androidx)\.' android/presentation/src; then
  fail "the presentation layer imports Android"
else
  ok "the presentation layer is plain Kotlin"
fi

offenders=$(grep -rlE '^import org\.tellus\.core\b' android/app/src | grep -vxF "$ALLOWED" || true)
if [ -n "$offenders" ]; then
  fail "app files import org.tellus.core outside the allowed ones: $offenders"
else
  ok "the app imports org.tellus.core only in: $ALLOWED"
fi

# Calls on the core in the allowed files: `tellus.NAME(` / `TellusApp.NAME(`.
calls=$(grep -ohE '\b(TellusApp|app|core)\.[a-zA-Z]+\(' $ALLOWED | sed -E 's/.*\.([a-zA-Z]+)\(/\1/' | sort -u)
missing=""
for call in $calls; do
  grep -rqE "\.$call\(" android/presentation/src/test tests/ffi/kotlin || missing="$missing $call"
done
if [ -n "$missing" ]; then
  fail "the app calls binding functions no JVM test calls:$missing"
else
  ok "every binding call of the app is exercised by the JVM tests ($(echo $calls | tr '\n' ' '))"
fi
echo "android-layering: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# The Android app's words are all string resources, with a complete second translation:
#  1. values-es/strings.xml has exactly the keys of values/strings.xml, each with the same
#     placeholders (%1$s, %2$d, %%);
#  2. no screen, notification or ViewModel shows a literal: no Text("…"), getString is
#     always given a resource, notification titles and actions come from resources.
# Prints "android-strings: N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/../.."
res=android/app/src/main/res
passed=0 failed=0
ok() { echo "ok   $1"; passed=$((passed + 1)); }
fail() { echo "FAIL $1"; failed=$((failed + 1)); }

if out=$(python3 - "$res/values/strings.xml" "$res/values-es/strings.xml" <<'PY'
import re, sys, xml.etree.ElementTree as ET
def load(path):
    return {s.get("name"): (s.text or "") for s in ET.parse(path).getroot().iter("string")}
base, es = load(sys.argv[1]), load(sys.argv[2])
problems = [f"missing in es: {k}" for k in base if k not in es]
problems += [f"only in es: {k}" for k in es if k not in base]
ph = lambda t: sorted(re.findall(r"%(?:\d+\$)?[sd%]", t))
problems += [f"placeholders differ: {k}" for k in base if k in es and ph(base[k]) != ph(es[k])]
problems += [f"untranslated: {k}" for k in base if k in es and base[k] == es[k] and k != "app_name"]
print("\n".join(problems))
sys.exit(1 if problems else 0)
PY
); then
  ok "values-es translates every string of values, with the same placeholders"
else
  fail "translations: $out"
fi

literals=$(grep -rnE 'Text\("[A-Za-z]|setContentTitle\("|addAction\(0, "|NotificationChannel\([A-Z_]+, "' android/app/src/main/kotlin || true)
if [ -n "$literals" ]; then
  fail "words shown from literals instead of resources: $literals"
else
  ok "no screen or notification shows a literal"
fi
echo "android-strings: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

#!/usr/bin/env bash
# The Android and iOS shells hold no consent rule of their own (issue 15): which items a
# form needs, when a name is asked, what a withdrawal allows are the core's (the consent
# engine in tellus-protocol, asked through the FFI: checkConsentForm, ConsentItemView's
# asksName/asksContact, StoryState). A shell's source that names a consent item, or
# decides on `required` itself, fails this check; so does a consent screen that does not
# ask the core. The check is shown to catch a planted rule before it is trusted.
# Prints "shells-consent: N passed, N failed" for scripts/test.sh.
set -uo pipefail
cd "$(dirname "$0")/../.."

# Consent item keys in quotes, and `required` used in a condition (not just shown).
rule='"(record|credit_by_name|recontact|share_publicly|research_use|quote_anonymously)"|required *(&&|\|\|)|(&&|\|\||!) *[A-Za-z_.$]*required\b'

shell_sources() {
  find android ios -type f \( -name '*.kt' -o -name '*.kts' -o -name '*.swift' \) \
    -not -path '*/src/test/*' -not -path '*/build/*' -not -path '*/generated/*' | sort
}

passed=0 failed=0
pass() { passed=$((passed + 1)); echo "ok: $1"; }
fail() { failed=$((failed + 1)); echo "FAILED: $1"; }

# 1. The check catches a rule when there is one.
planted=$(mktemp -d)
trap 'rm -rf "$planted"' EXIT
printf 'val ok = ui.granted("credit_by_name") && ui.name.isBlank()\n' >"$planted/A.kt"
printf 'Button("Go").disabled(!granted.contains("record"))\n' >"$planted/B.swift"
printf 'val blocker = items.any { it.required && !it.granted }\n' >"$planted/C.kt"
caught=$(grep -lE "$rule" "$planted"/* | wc -l)
if [ "$caught" -eq 3 ]; then pass "a planted consent rule is caught"; else fail "only $caught of 3 planted rules caught"; fi

# 2. No shell source holds one.
mapfile -t sources < <(shell_sources)
if [ "${#sources[@]}" -eq 0 ]; then
  fail "no shell sources found"
elif hits=$(grep -nE "$rule" "${sources[@]}"); then
  fail "consent rules in the shells (ask the core instead):"
  echo "$hits"
else
  pass "no consent rule in ${#sources[@]} shell sources"
fi

# 3. Both consent screens ask the core.
for screen in android/presentation/src/main/kotlin/org/tellus/presentation/ConsentFormState.kt \
              ios/App/Screens/ConsentScreen.swift; do
  if grep -q 'checkConsentForm' "$screen"; then pass "$screen asks the core"; else fail "$screen does not call checkConsentForm"; fi
done

echo "shells-consent: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

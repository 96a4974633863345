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
mic="$PWD/tests/support/audio"
# A private PulseAudio (started below) for the real-time microphone; stopped on exit.
export TELLUS_PULSE_DIR="$out/pulse"
server_pids=""
trap 'for p in $server_pids; do kill "$p" 2>/dev/null; done; bash "$mic/test-pulse.sh" stop; rm -rf "$out"' EXIT
bindings=$(scripts/bindings.sh --out "$out/bindings")

# The test microphones of tests/support/audio for the recorder tests: the file-backed one
# as ALSA's default input device, playing speech made from the interview fixture, and
# `tellus_pulse_mic`, a real-time one fed by playing TELLUS_SPEECH_WAV into PulseAudio.
bash "$mic/make-speech.sh" "$out/speech" 16000 >/dev/null
export ALSA_CONFIG_PATH="/usr/share/alsa/alsa.conf:$mic/alsa-test-mic.conf:$mic/alsa-test-mic-default.conf"
export TELLUS_MIC_INFILE="$out/speech/speech-16000.s16le.raw" TELLUS_MIC_RATE=16000 TELLUS_MIC_CHANNELS=1
export TELLUS_SPEECH_WAV="$out/speech/speech-16000.wav"

# A real project server on loopback for the sync journeys, with reporter invites.
cargo build -q --locked -p tellus-cli
tellus="${CARGO_TARGET_DIR:-target}/debug/tellus"
. tests/support/serve.sh
tellus_serve "$tellus" "$out"
server_pids=$TELLUS_SERVE_PID TELLUS_SERVER_URL=$TELLUS_SERVE_URL
invites() { # N reporter invite codes, comma-separated
  local codes=() i
  for i in $(seq "$1"); do codes+=("$(tellus_invite reporter)"); done
  (IFS=,; echo "${codes[*]}")
}
main_server_dir=$TELLUS_SERVE_DIR

# HTTPS (issue 16/23): certificates made for this run (rcgen) and three `tellus serve
# --tls-cert` servers: one with a certificate from the test CA, one self-signed (trusted
# through the pin an invite carries), one expired. The debug-built library trusts the
# test CA through TELLUS_DEBUG_TRUST_CA; release builds never read it.
pki="$out/pki"
eval "$(cargo run -q --locked -p tellus-net --example test_pki -- "$pki")"
export TELLUS_TLS_DIR="$pki" TELLUS_TLS_SELF_PIN TELLUS_TLS_OTHER_PIN TELLUS_DEBUG_TRUST_CA="$pki/ca.pem"
for name in ca-signed self-signed expired; do
  tellus_serve "$tellus" "$out/tls-$name" --tls-cert "$pki/$name.pem" --tls-key "$pki/$name.key"
  server_pids="$server_pids $TELLUS_SERVE_PID"
  var=$(echo "$name" | tr 'a-z-' 'A-Z_')
  export "TELLUS_TLS_${var}_URL=$TELLUS_SERVE_URL" "TELLUS_TLS_${var}_INVITES=$(invites 8)"
done
TELLUS_SERVE_DIR=$main_server_dir
export TELLUS_SERVER_URL TELLUS_PY_INVITES="$(invites 2)" TELLUS_PY_SECRET_INVITES="$(invites 1)" \
  TELLUS_PY_BOUNDARY_INVITES="$(invites 4)" TELLUS_PY_FUZZ_INVITES="$(invites 1)" TELLUS_PY_SHELL_INVITES="$(invites 1)" \
  TELLUS_PY_WITHDRAWAL_INVITES="$(invites 1)" TELLUS_KT_WITHDRAWAL_INVITES="$(invites 1)" \
  TELLUS_PY_RECEIPT_INVITES="$(invites 1)" TELLUS_KT_RECEIPT_INVITES="$(invites 2)" \
  TELLUS_KT_INVITES="$(invites 3)" TELLUS_KT_BOUNDARY_INVITES="$(invites 3)" \
  TELLUS_KT_SECRET_INVITES="$(invites 3)" TELLUS_KT_SHELL_INVITES="$(invites 2)" \
  TELLUS_ANDROID_INVITES="$(invites 2)" TELLUS_ANDROID_SECRET_INVITES="$(invites 1)" \
  TELLUS_ANDROID_VM_INVITES="$(invites 2)"
eval "$(bash "$mic/test-pulse.sh" start)"
# Only `tellus_pulse_mic` should reach that daemon: with PULSE_SERVER set, ALSA's pulse
# plugin takes over the default device and the file-backed microphone is no longer it.
unset PULSE_SERVER

# Hypothesis (PyPI) for the fuzz of the FFI surface, in a venv outside the repository.
ffi_venv="${TELLUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tellus}/ffi-venv"
if [ ! -x "$ffi_venv/bin/python" ]; then
  python3 -m venv "$ffi_venv" >&2 || { tellus_apt_install python3-venv && python3 -m venv "$ffi_venv" >&2; }
fi
if ! cmp -s tests/ffi/python/requirements.txt "$ffi_venv/tellus-requirements.txt"; then
  echo "tellus setup: installing hypothesis from PyPI into $ffi_venv" >&2
  "$ffi_venv/bin/python" -m pip install -q --disable-pip-version-check -r tests/ffi/python/requirements.txt >&2
  cp tests/ffi/python/requirements.txt "$ffi_venv/tellus-requirements.txt"
fi

status=0
echo "== FFI from Python"
TELLUS_BIN="$(cd "$(dirname "$tellus")" && pwd)/tellus" PYTHONPATH="$bindings/python" "$ffi_venv/bin/python" tests/ffi/python/run.py 2>&1 || status=1

echo "== FFI from Kotlin on the JVM"
# A fixed, pre-touched heap: the leak check then sees native memory, not the heap growing.
TELLUS_JVM_OPTS="-Xms256m -Xmx256m -XX:+AlwaysPreTouch" \
  bash tests/support/toolchain/run-kotlin.sh \
  --lib-dir "$bindings/python" --bindings "$bindings/kotlin" \
  --out "${TMPDIR:-/tmp}/tellus-kotlin-test" --main MainKt \
  tests/ffi/kotlin/*.kt || status=1

echo "== The Android app's presentation layer (plain Kotlin) on the JVM"
bash tests/android/run.sh --lib-dir "$bindings/python" --bindings "$bindings/kotlin" || status=1

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
exit $status

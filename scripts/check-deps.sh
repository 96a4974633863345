#!/usr/bin/env bash
# What the phones link (tellus-ffi) must not bring, on every target the shells build for:
# a crate that needs the platform initialised before it works (rustls-platform-verifier:
# on Android it panics unless Kotlin initialised it first), TLS stacks other than rustls
# with ring (aws-lc needs cmake or prebuilt bindings per target; OpenSSL/native-tls are
# the platform's), or cmake itself. Prints "deps: N passed, N failed" for scripts/test.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
forbidden='^(rustls-platform-verifier|aws-lc-sys|aws-lc-rs|cmake|openssl-sys|openssl|native-tls|reqwest) '
passed=0 failed=0
for target in aarch64-linux-android armv7-linux-androideabi x86_64-linux-android \
              aarch64-apple-ios aarch64-apple-ios-sim x86_64-unknown-linux-gnu; do
  found=$(cargo tree --locked -p tellus-ffi --target "$target" -e normal,build --prefix none 2>/dev/null \
          | sort -u | grep -E "$forbidden" || true)
  if [ -n "$found" ]; then
    echo "FAIL tellus-ffi for $target brings: $(echo "$found" | tr '\n' ' ')"
    failed=$((failed + 1))
  else
    echo "ok   tellus-ffi for $target: no platform verifier, aws-lc, OpenSSL or cmake"
    passed=$((passed + 1))
  fi
done
echo "deps: $passed passed, $failed failed"
[ "$failed" -eq 0 ]

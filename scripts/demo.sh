#!/usr/bin/env bash
# The demo: a reporter's journey on the embedded defaults. Extra arguments go to
# `tellus demo` (for example --keep to keep its data folder).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/setup.sh
cargo build --release --locked -q -p tellus-cli
exec ./target/release/tellus demo "$@"

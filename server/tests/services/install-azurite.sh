#!/usr/bin/env bash
# Sourced by scripts/test.sh: installs Azurite, Microsoft's Azure Storage emulator (npm
# azurite, pinned with its lock file beside this script), idempotently (nothing is fetched
# when the lock file has not changed), into a cache folder outside the repository, for the
# Azure Blob Storage tests (server/tests/azure_storage.rs starts `azurite-blob` on
# loopback). Sets TELLUS_AZURITE.
azurite_here="$(cd "$(dirname "${BASH_SOURCE[0]}")/azurite" && pwd)"
azurite_dir="${TELLUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tellus}/azurite"
tellus_npm_ci "$azurite_here" "$azurite_dir" "azurite"
TELLUS_AZURITE="$azurite_dir/node_modules/.bin/azurite-blob"
export TELLUS_AZURITE

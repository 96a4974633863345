#!/usr/bin/env bash
# Sourced by scripts/test.sh: installs Azurite, Microsoft's Azure Storage emulator (npm
# azurite, pinned with its lock file beside this script), idempotently (nothing is fetched
# when the lock file has not changed), into a cache folder outside the repository, for the
# Azure Blob Storage tests (server/tests/azure_storage.rs starts `azurite-blob` on
# loopback). Sets TELLUS_AZURITE.
azurite_here="$(cd "$(dirname "${BASH_SOURCE[0]}")/azurite" && pwd)"
command -v node >/dev/null 2>&1 || tellus_apt_install nodejs npm
azurite_dir="${TELLUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tellus}/azurite"
mkdir -p "$azurite_dir"
if [ ! -x "$azurite_dir/node_modules/.bin/azurite-blob" ] || ! cmp -s "$azurite_here/package-lock.json" "$azurite_dir/package-lock.json"; then
  echo "tellus setup: installing azurite from npm into $azurite_dir" >&2
  cp "$azurite_here/package.json" "$azurite_here/package-lock.json" "$azurite_dir/"
  (cd "$azurite_dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
TELLUS_AZURITE="$azurite_dir/node_modules/.bin/azurite-blob"
export TELLUS_AZURITE

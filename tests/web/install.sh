#!/usr/bin/env bash
# Sourced by tests/web/run.sh: installs what the browser test needs, idempotently:
# Debian's chromium (the list is in scripts/setup.sh), Node.js when there is none, and
# playwright-core (npm, from the committed lock file) into a cache folder outside the
# repository. Sets WEB_NODE_DIR (node_modules lives
# there) and WEB_CHROMIUM.
web_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tellus_apt_install "${TELLUS_WEB_TEST_DEB_PACKAGES[@]}"
command -v node >/dev/null 2>&1 || tellus_apt_install nodejs npm
WEB_CHROMIUM=/usr/bin/chromium
WEB_NODE_DIR="${TELLUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tellus}/web-test/node"
mkdir -p "$WEB_NODE_DIR"
if [ ! -d "$WEB_NODE_DIR/node_modules" ] || ! cmp -s "$web_here/package-lock.json" "$WEB_NODE_DIR/package-lock.json"; then
  echo "tellus setup: installing playwright-core from npm into $WEB_NODE_DIR" >&2
  cp "$web_here/package.json" "$web_here/package-lock.json" "$WEB_NODE_DIR/"
  (cd "$WEB_NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error >&2)
fi
export WEB_NODE_DIR WEB_CHROMIUM

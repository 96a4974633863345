#!/usr/bin/env bash
# Sourced by tests/web/run.sh: installs what the browser test needs, idempotently:
# Debian's chromium (the list is in scripts/setup.sh), Node.js when there is none, and
# playwright-core (npm, from the committed lock file) into a cache folder outside the
# repository. Sets WEB_NODE_DIR (node_modules lives
# there) and WEB_CHROMIUM.
web_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tellus_apt_install "${TELLUS_WEB_TEST_DEB_PACKAGES[@]}"
WEB_CHROMIUM=/usr/bin/chromium
WEB_NODE_DIR="${TELLUS_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/tellus}/web-test/node"
tellus_npm_ci "$web_here" "$WEB_NODE_DIR" "playwright-core"
export WEB_NODE_DIR WEB_CHROMIUM

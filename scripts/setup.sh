#!/usr/bin/env bash
# Installs what building and testing Tellus needs on a Debian or Ubuntu machine.
# Idempotent: when everything is there it installs nothing and asks no network.
# Sourced by scripts/demo.sh and scripts/test.sh; runs as root or through sudo.
set -euo pipefail

# pkg-config and the ALSA headers are what cpal (audio capture) needs to build.
TELLUS_DEB_PACKAGES=(pkg-config libasound2-dev gcc libc6-dev)
# The recording tests' microphones (tests/support/audio): ALSA's tools and plugins,
# speech from espeak-ng and sox, and a private PulseAudio for real-time capture.
TELLUS_DEB_PACKAGES+=(alsa-utils espeak-ng sox pulseaudio pulseaudio-utils libasound2-plugins)
# The lead's exports: xmllint validates every OHMS export against the published schema.
TELLUS_DEB_PACKAGES+=(libxml2-utils)
# The data saver's codecs (media/tests, scripts/bench-data-saver.sh) are checked against
# independent decoders (flac, opusdec, opusinfo) and real recorded speech with its
# transcripts (pocketsphinx-testdata's LibriVox clips, scored by pocketsphinx).
TELLUS_DEB_PACKAGES+=(flac opus-tools pocketsphinx pocketsphinx-en-us pocketsphinx-testdata)
# Transcripts (issue 22): python3-venv for the engine's venv (server/engines/install.sh);
# its tests and benchmark use the LibriVox clips above.
TELLUS_DEB_PACKAGES+=(python3-venv)

# The leads' web page test (tests/web) drives Debian's chromium with playwright-core;
# tests/web/install.sh installs these when that test runs (the demo never needs them).
TELLUS_WEB_TEST_DEB_PACKAGES=(chromium)

# tellus_npm_ci FROM TO WHAT: installs the npm packages FROM names (its package.json and
# committed package-lock.json) into the cache folder TO with `npm ci`, Node.js first if
# there is none. Nothing is fetched when TO holds that lock file's install already; an
# install that fails leaves no lock file behind, so the next run tries again.
tellus_npm_ci() {
  local from=$1 to=$2 what=$3
  command -v node >/dev/null 2>&1 || tellus_apt_install nodejs npm
  mkdir -p "$to"
  if [ -d "$to/node_modules" ] && cmp -s "$from/package-lock.json" "$to/package-lock.json"; then
    return 0
  fi
  echo "tellus setup: installing $what from npm into $to" >&2
  cp "$from/package.json" "$from/package-lock.json" "$to/"
  (cd "$to" && npm ci --no-audit --no-fund --loglevel=error >&2) || {
    rm -f "$to/package-lock.json"
    return 1
  }
}

tellus_missing_debs() {
  local p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || echo "$p"
  done
}

tellus_apt_install() {
  local missing
  missing=$(tellus_missing_debs "$@")
  [ -z "$missing" ] && return 0
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then
      sudo="sudo"
    else
      echo "tellus setup: these Debian packages are needed, and installing them needs root or sudo: $missing" >&2
      return 1
    fi
  fi
  echo "tellus setup: installing $(echo $missing)" >&2
  $sudo apt-get update -qq
  # shellcheck disable=SC2086
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
}

if ! command -v dpkg-query >/dev/null 2>&1; then
  echo "tellus setup: this script installs packages on Debian or Ubuntu; elsewhere install: ${TELLUS_DEB_PACKAGES[*]}" >&2
else
  tellus_apt_install "${TELLUS_DEB_PACKAGES[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
  [ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null 2>&1; then
  echo "tellus setup: Rust is needed (cargo 1.88 or newer); install it with rustup" >&2
  exit 1
fi

# The workspace's rust-version (Cargo.toml): an older cargo would fail with compiler
# errors about let chains instead of saying what it needs.
tellus_cargo_version=$(cargo --version | awk '{print $2}')
IFS=. read -r tellus_major tellus_minor _ <<<"$tellus_cargo_version"
if [ "${tellus_major:-0}" -lt 1 ] || { [ "$tellus_major" -eq 1 ] && [ "${tellus_minor:-0}" -lt 88 ]; }; then
  echo "tellus setup: cargo $tellus_cargo_version is too old; Tellus needs 1.88 or newer (rustup update)" >&2
  exit 1
fi

#!/usr/bin/env bash
# Puts a Chromium where the browser tests (tests/ui) find it: a `chromium` on PATH (or FRONTIER_CHROMIUM) wins;
# otherwise Debian's package is installed with apt-get (it pulls the libraries a browser needs, so unlike
# Prometheus it cannot be unpacked into .cache/). Playwright drives it; no browser is downloaded from elsewhere.
# Prints the browser's path. Usage: scripts/fetch-chromium.sh
set -euo pipefail
if [[ -n "${FRONTIER_CHROMIUM:-}" && -x "${FRONTIER_CHROMIUM}" ]]; then
  echo "$FRONTIER_CHROMIUM"
  exit 0
fi
for name in chromium chromium-browser; do
  if command -v "$name" >/dev/null; then
    command -v "$name"
    exit 0
  fi
done
sudo=()
if [[ "$(id -u)" != 0 ]]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo=(sudo -n)
  else
    echo "fetch-chromium: no chromium on PATH and no root to install it: run 'apt-get install chromium'" \
      "(or point FRONTIER_CHROMIUM at a Chromium or Chrome) and run again" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null; then
  echo "fetch-chromium: no chromium on PATH and this is not a Debian-based system: install Chromium" \
    "(or point FRONTIER_CHROMIUM at one) and run again" >&2
  exit 1
fi
install() { DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends chromium \
  >/dev/null 2>&1; }
# A fresh machine may have no package lists yet.
if ! install && ! { "${sudo[@]}" apt-get update -qq >/dev/null 2>&1 && install; }; then
  echo "fetch-chromium: could not install Debian's chromium package (no network to the Debian mirror?)." \
    "Install Chromium yourself or point FRONTIER_CHROMIUM at one." >&2
  exit 1
fi
command -v chromium

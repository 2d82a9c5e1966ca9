#!/usr/bin/env bash
# Puts Prometheus's `prometheus` and `promtool` where the monitoring tests find them, as the project fetches its
# other tools: a copy on PATH wins; otherwise Debian's package is downloaded (`apt-get download`, no root needed)
# and unpacked into .cache/tools/ (both are static Go binaries, so nothing is installed system-wide).
# Prints the folder holding the two binaries. Usage: scripts/fetch-prometheus.sh
set -euo pipefail
cd "$(dirname "$0")/.."
out=".cache/tools/prometheus"
if command -v promtool >/dev/null && command -v prometheus >/dev/null; then
  dirname "$(command -v promtool)"
  exit 0
fi
if [[ -x "$out/usr/bin/promtool" && -x "$out/usr/bin/prometheus" ]]; then
  echo "$PWD/$out/usr/bin"
  exit 0
fi
if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
  echo "fetch-prometheus: Prometheus is not on PATH and this is not a Debian-based system: install Prometheus" \
    "(it provides prometheus and promtool) and run again" >&2
  exit 1
fi
mkdir -p "$out/deb"
fetch() { (cd "$out/deb" && apt-get download -q prometheus >/dev/null 2>&1); }
if ! fetch; then
  # A fresh machine may have no package lists yet; only root can fetch them.
  if [[ "$(id -u)" == 0 ]] && apt-get update -qq >/dev/null 2>&1 && fetch; then
    :
  else
    echo "fetch-prometheus: could not download Debian's prometheus package (no package lists, or no network" \
      "to the Debian mirror). Install it (apt-get install prometheus) or put prometheus and promtool on PATH." >&2
    exit 1
  fi
fi
# The folder is emptied after every unpack, so it holds exactly the one package just downloaded.
debs=("$out"/deb/prometheus_*.deb)
dpkg -x "${debs[0]}" "$out"
rm -rf "$out/deb"
"$out/usr/bin/promtool" --version >/dev/null
echo "$PWD/$out/usr/bin"

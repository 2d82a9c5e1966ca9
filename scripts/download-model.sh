#!/usr/bin/env bash
# Download a model (frontier models download REF); without arguments, the configured default model.
set -euo pipefail
# shellcheck source=SCRIPTDIR/_frontier.sh
source "$(dirname "$0")/_frontier.sh"
if [ "$#" -eq 0 ]; then
    frontier models fetch-default
else
    frontier models download "$@"
fi

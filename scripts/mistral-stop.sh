#!/usr/bin/env bash
# Stop the backgrounded stack gracefully (frontier stop).
set -euo pipefail
# shellcheck source=SCRIPTDIR/_frontier.sh
source "$(dirname "$0")/_frontier.sh"
frontier stop "$@"

#!/usr/bin/env bash
# Start the stack in the background and wait until it is healthy (frontier start; --docker for Compose).
set -euo pipefail
# shellcheck source=SCRIPTDIR/_frontier.sh
source "$(dirname "$0")/_frontier.sh"
frontier start "$@"

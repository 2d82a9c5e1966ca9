#!/usr/bin/env bash
# Check .env, device, model, memory, disk and ports before starting (frontier validate-config).
set -euo pipefail
# shellcheck source=SCRIPTDIR/_frontier.sh
source "$(dirname "$0")/_frontier.sh"
frontier validate-config "$@"

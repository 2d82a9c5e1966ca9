#!/usr/bin/env bash
# Health of each service; exit 0 only when all are healthy (frontier status).
set -euo pipefail
# shellcheck source=SCRIPTDIR/_frontier.sh
source "$(dirname "$0")/_frontier.sh"
frontier status "$@"

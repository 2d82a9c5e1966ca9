#!/usr/bin/env bash
# Configuration checks, then the benchmark (scripts/testing/benchmark-mistral.sh).
set -euo pipefail
# shellcheck source=SCRIPTDIR/_frontier.sh
source "$(dirname "$0")/_frontier.sh"
frontier validate-config
"$(dirname "$0")/testing/benchmark-mistral.sh" "$@"

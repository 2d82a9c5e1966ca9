#!/usr/bin/env bash
# Replay Aider's requests against the running Ollama layer (frontier check aider).
set -euo pipefail
# shellcheck source=SCRIPTDIR/_frontier.sh
source "$(dirname "$0")/_frontier.sh"
frontier check aider "$@"

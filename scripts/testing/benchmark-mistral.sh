#!/usr/bin/env bash
# Throughput benchmark: `frontier bench` where the CLI has it, else the server-overhead benchmark script.
set -euo pipefail
# shellcheck source=SCRIPTDIR/../_frontier.sh
source "$(dirname "$0")/../_frontier.sh"
if frontier bench --help >/dev/null 2>&1; then
    frontier bench "$@"
else
    frontier_python "$FRONTIER_REPO/scripts/bench_server_overhead.py" "$@"
fi

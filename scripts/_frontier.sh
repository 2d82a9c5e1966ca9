# shellcheck shell=bash
# Sourced by the scripts beside it: `frontier` runs the CLI of this checkout (its .venv), or the one on PATH.
# The scripts keep the seed's names so the README's commands work as written; all behaviour is in the CLI.
FRONTIER_REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
frontier() {
    if [ -x "$FRONTIER_REPO/.venv/bin/frontier" ]; then
        "$FRONTIER_REPO/.venv/bin/frontier" "$@"
    elif command -v frontier >/dev/null 2>&1; then
        command frontier "$@"
    else
        echo "frontier is not installed: run \`make install\` in $FRONTIER_REPO" >&2
        return 127
    fi
}
frontier_python() {
    if [ -x "$FRONTIER_REPO/.venv/bin/python" ]; then "$FRONTIER_REPO/.venv/bin/python" "$@"; else python3 "$@"; fi
}

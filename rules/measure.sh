#!/usr/bin/env bash
# Measures the behavioral pack (and SigmaHQ for EVTX) on ../shared/data; prints a Markdown report.
# Usage: rules/measure.sh [path/to/nightwatch]   (default: $CARGO_TARGET_DIR or target, debug build)
# Env: PARTS (default "windows_json noise evtx zeek cloudtrail eml"), MISSED=1 (list the missed files), DATA (default ../shared/data), SIGMA (default ../shared/sigma), OUT (work dir for JSON).
set -euo pipefail
cd "$(dirname "$0")/.."
NW=${1:-${CARGO_TARGET_DIR:-target}/debug/nightwatch}
[ -x "$NW" ] || { echo "nightwatch binary not found at $NW (cargo build first)" >&2; exit 2; }
exec python3 rules/tools/measure.py "$NW" "${DATA:-../shared/data}" "${SIGMA:-../shared/sigma}" "${OUT:-${TMPDIR:-/tmp}/nightwatch-measure}"

#!/usr/bin/env bash
# Compares the ATT&CK tactics of `scan` verdicts with the tactic folders of EVTX-ATTACK-SAMPLES;
# prints a Markdown table (README "Evaluation").
# Usage: rules/measure-tactics.sh [path/to/nightwatch]   (default: $CARGO_TARGET_DIR or target, debug build)
# Env: DATA (default ../shared/data), SIGMA (default ../shared/sigma), OUT (work dir for the verdicts).
set -euo pipefail
cd "$(dirname "$0")/.."
NW=${1:-${CARGO_TARGET_DIR:-target}/debug/nightwatch}
[ -x "$NW" ] || { echo "nightwatch binary not found at $NW (cargo build first)" >&2; exit 2; }
exec python3 rules/tools/evtx_tactics.py "$NW" "${DATA:-../shared/data}/evtx/EVTX-ATTACK-SAMPLES" "${SIGMA:-../shared/sigma}" "${OUT:-${TMPDIR:-/tmp}/nightwatch-tactics}"

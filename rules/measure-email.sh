#!/usr/bin/env bash
# Per-message phishing figures on ../shared/data/eml (phishing_pot, SpamAssassin test mail,
# spamassassin-public/easy_ham): precision, recall, false-positive rate, signal contributions.
# Usage: rules/measure-email.sh [path/to/nightwatch] [--list-flagged-ham]
# Env: DATA (default ../shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
NW=${1:-${CARGO_TARGET_DIR:-target}/debug/nightwatch}
[ -x "$NW" ] || { echo "nightwatch binary not found at $NW (cargo build first)" >&2; exit 2; }
exec python3 rules/tools/measure_email.py "$NW" "${DATA:-../shared/data}" "${@:2}"

#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for SECONDS each, one after another, on the
# nightly toolchain with cargo-fuzz (both installed when missing). Seeds: tests/fuzz/seeds.py.
# Crashes land in tests/fuzz/artifacts/<target>/; a summary line per target is printed and
# appended to tests/fuzz/out/summary.txt.
#
# Usage: tests/fuzz/run.sh [SECONDS] [TARGET ...]      (default 600 s, all targets)
set -euo pipefail
FUZZ="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$FUZZ/../.." && pwd)"
cd "$ROOT"
SECS="${1:-600}"; shift || true
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || mapfile -t TARGETS < <(ls "$FUZZ/fuzz_targets" | sed 's/\.rs$//')

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
cargo +nightly fuzz build --fuzz-dir tests/fuzz -O
BIN="$FUZZ/target/$(rustc -vV | sed -n 's/^host: //p')/release"
python3 "$FUZZ/seeds.py" "${TARGETS[@]}"
mkdir -p "$FUZZ/out"

for t in "${TARGETS[@]}"; do
  max_len=65536
  [[ "$t" == syslog || "$t" == weblog || "$t" == text || "$t" == json ]] && max_len=8192
  log="$FUZZ/out/$t.log"
  start=$(date +%s)
  set +e
  # The binaries built above, run directly: no rebuild between targets.
  mkdir -p "$FUZZ/artifacts/$t"
  "$BIN/$t" "$FUZZ/corpus/$t" -artifact_prefix="$FUZZ/artifacts/$t/" \
    -max_total_time="$SECS" -max_len="$max_len" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  secs=$(( $(date +%s) - start ))
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo '?')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*' || echo '?')
  corpus=$(ls "$FUZZ/corpus/$t" | wc -l)
  verdict=$([[ $rc -eq 0 ]] && echo "no crash" || echo "FAILED rc=$rc (see $log)")
  line="$(date -u +%FT%TZ) $t: ${secs}s, ${runs} execs, cov ${cov}, corpus ${corpus}: ${verdict}"
  echo "$line" | tee -a "$FUZZ/out/summary.txt"
done

#!/usr/bin/env bash
# Throughput of two commits side by side in one run: a checkout of the earlier commit (BEFORE,
# e.g. `git worktree add /tmp/before d2c2c02`) against this tree. Both are built in release,
# then measured alternately (before, after, before, after, …) on the same events so that the
# machine's drift hits both alike:
#   1. the single-threaded Sigma evaluator (bench/sigma_eval_cli.rs, the nightwatch half of
#      compare-rsigma.sh): events/s of evaluation as it reports it (rule loading apart), best,
#      median and every run, and the number of matches (must be equal);
#   2. the daemon end to end through the file input (bench/e2e.sh --input file): events/s,
#      CPU µs/event, ingest→verdict p50/p99, peak RSS, every run listed. Both sides load the
#      SigmaHQ corpus and the earlier tree's rules/behavioral, so only the code differs.
#
# Usage: bench/before-after.sh BEFORE_DIR [EVENTS]     (default 100000 for 1, 300000 for 2)
# Env:   BEFORE_TARGET (the earlier tree's CARGO_TARGET_DIR, default BEFORE_DIR/target),
#        CARGO_TARGET_DIR (this tree's), SIGMA, RUNS (default 3), E2E_EVENTS (default 300000).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BEFORE="$(cd "${1:?usage: bench/before-after.sh BEFORE_DIR [EVENTS]}" && pwd)"
N="${2:-100000}"
RUNS="${RUNS:-3}"
E2E_EVENTS="${E2E_EVENTS:-300000}"
SIGMA="${SIGMA:-$ROOT/../shared/sigma}"
AFTER_TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
BEFORE_TARGET="${BEFORE_TARGET:-$BEFORE/target}"
OUT="$ROOT/bench/out/before-after"
FOLDERS=(rules rules-emerging-threats rules-threat-hunting)
[[ -d "$SIGMA/rules" ]] || { echo "SigmaHQ corpus not found at $SIGMA" >&2; exit 2; }
command -v jq >/dev/null || { echo "jq is required" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time (GNU time) is required" >&2; exit 2; }
rm -rf "$OUT" && mkdir -p "$OUT"

# 1. Release builds of both trees: the CLI and the evaluator.
evaluator() { # tree target -> path of sigma_eval_cli
  (cd "$1" && CARGO_TARGET_DIR="$2" cargo build --release --quiet --bin nightwatch &&
    CARGO_TARGET_DIR="$2" cargo build --release --bench sigma_eval_cli --message-format=json 2>/dev/null |
    jq -r 'select(.reason == "compiler-artifact" and .target.name == "sigma_eval_cli") | .executable' | tail -1)
}
EVAL_B="$(evaluator "$BEFORE" "$BEFORE_TARGET")"
EVAL_A="$(evaluator "$ROOT" "$AFTER_TARGET")"
[[ -x "$EVAL_B" && -x "$EVAL_A" ]] || { echo "could not build both evaluators" >&2; exit 1; }
commit() { git -C "$1" rev-parse --short HEAD; }
echo "before: $(commit "$BEFORE") ($BEFORE)   after: $(commit "$ROOT") ($ROOT)"

# 2. The same rules and events for both.
RULES="$OUT/rules"
mkdir -p "$RULES"
for f in "${FOLDERS[@]}"; do cp -r "$SIGMA/$f" "$RULES/$f"; done
"$AFTER_TARGET/release/nightwatch" demo generate --events "$N" --out "$OUT/events.ndjson" >/dev/null

# 3. The evaluator, alternating. Its own summary times evaluation apart from rule loading
#    (`eval_secs`), which is steadier on a shared VM than total time minus a load-only run.
echo "evaluator: $N events, RUNS=$RUNS, alternating ..."
: > "$OUT/eval.jsonl"
for _ in $(seq "$RUNS"); do
  for side in B A; do
    ev="EVAL_$side"
    /usr/bin/time -f '%U %S' -o "$OUT/time.txt" "${!ev}" --rules "$RULES" \
      --placeholders "$ROOT/rules/placeholders.yml" "$OUT/events.ndjson" 2>"$OUT/eval.stderr" |
      jq -c --arg side "$side" --arg cpu "$(cat "$OUT/time.txt" 2>/dev/null)" '{side: $side} + .' >> "$OUT/eval.jsonl"
  done
done
eval_stat() { # side jq-expression over that side's runs
  jq -s -r --arg side "$1" "map(select(.side == \$side)) | $2" "$OUT/eval.jsonl"
}

# 4. The daemon end to end through the file input, alternating, every run kept.
echo "end to end: file input, $E2E_EVENTS events, RUNS=$RUNS, alternating ..."
: > "$OUT/e2e.jsonl"
for _ in $(seq "$RUNS"); do
  for side in B A; do
    if [[ $side == B ]]; then tree="$BEFORE" target="$BEFORE_TARGET"; else tree="$ROOT" target="$AFTER_TARGET"; fi
    # Both sides run the earlier tree's behavioral pack, so only the code differs.
    (cd "$tree" && CARGO_TARGET_DIR="$target" SIGMA="$SIGMA" PACK="$BEFORE/rules/behavioral" bash bench/e2e.sh --input file \
      --events "$E2E_EVENTS" --label "before-after $side") | tail -1 |
      jq -c --arg side "$side" '{side: $side} + .' >> "$OUT/e2e.jsonl"
  done
done

cat <<EOF

== before $(commit "$BEFORE") vs after $(commit "$ROOT"): $(nproc) cores, RUNS=$RUNS, alternating ==
Evaluator (one thread, $N demo events, $(find "$RULES" -name '*.yml' | wc -l) rule files; evaluation time as the evaluator reports it, rule loading apart):
| | before | after |
|---|---|---|
| events/s, best of $RUNS | $(eval_stat B 'map(.events_per_sec) | max | floor') | $(eval_stat A 'map(.events_per_sec) | max | floor') |
| events/s, median | $(eval_stat B 'map(.events_per_sec) | sort | .[length/2|floor] | floor') | $(eval_stat A 'map(.events_per_sec) | sort | .[length/2|floor] | floor') |
| every run, in order | $(eval_stat B 'map(.events_per_sec | floor | tostring) | join(", ")') | $(eval_stat A 'map(.events_per_sec | floor | tostring) | join(", ")') |
| rule load s, median | $(eval_stat B 'map(.load_secs) | sort | .[length/2|floor] | . * 100 | round / 100') | $(eval_stat A 'map(.load_secs) | sort | .[length/2|floor] | . * 100 | round / 100') |
| matches | $(eval_stat B 'map(.matches) | unique | map(tostring) | join(" ")') | $(eval_stat A 'map(.matches) | unique | map(tostring) | join(" ")') |

End to end, file input (every run, in the order run):
EOF
jq -r '[.side, .commit, .events_per_s, .cpu_us_per_event, (.p50_s // "-"), (.p99_s // "-"),
        .vmhwm_mb, .loadavg_before] | @tsv' "$OUT/e2e.jsonl" |
  awk -F'\t' 'BEGIN { print "| side | commit | events/s | CPU µs/event | p50 s | p99 s | peak RSS MB | load before |"; print "|---|---|---|---|---|---|---|---|" }
              { printf "| %s | %s | %s | %s | %s | %s | %s | %s |\n", ($1 == "B" ? "before" : "after"), $2, $3, $4, $5, $6, $7, $8 }'
echo "(raw lines: $OUT/e2e.jsonl)"

#!/usr/bin/env bash
# Peer comparison: nightwatch vs rsigma 0.23.0, same machine, same rules, same events, one
# thread each. Reports events/s net of rule load (CPU and wall), peak RSS, load time, and
# whether the two match sets agree. See bench/README.md for the method and the last results.
#
# Usage: bench/compare-rsigma.sh [EVENTS]        (default 100000)
# Env:   SIGMA=path to the SigmaHQ copy (default ../shared/sigma), RUNS=repetitions (default 3),
#        CARGO_TARGET_DIR (default target/), KEEP=1 keeps bench/out/.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
N="${1:-100000}"
RUNS="${RUNS:-3}"
SIGMA="${SIGMA:-$ROOT/../shared/sigma}"
TOOLS="$ROOT/bench/.tools"
OUT="$ROOT/bench/out"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
RSIGMA="$TOOLS/bin/rsigma"
FOLDERS=(rules rules-emerging-threats rules-threat-hunting)

[[ -d "$SIGMA/rules" ]] || { echo "SigmaHQ corpus not found at $SIGMA" >&2; exit 2; }
command -v jq >/dev/null || { echo "jq is required" >&2; exit 2; }
[[ -x /usr/bin/time ]] || { echo "/usr/bin/time (GNU time) is required" >&2; exit 2; }
mkdir -p "$OUT"

# 1. The peer, installed once into bench/.tools (idempotent).
if [[ -x "$RSIGMA" ]] && "$RSIGMA" --version 2>/dev/null | grep -q '0\.23\.0'; then
  echo "rsigma: $("$RSIGMA" --version)"
else
  echo "installing rsigma 0.23.0 into $TOOLS (takes a while) ..."
  cargo install rsigma --version 0.23.0 --locked --root "$TOOLS"
fi

# 2. nightwatch: the CLI (event generator) and the single-threaded evaluator (bench/sigma_eval_cli.rs).
cargo build --release --quiet
NW="$TARGET/release/nightwatch"
EVAL="$(cargo build --release --bench sigma_eval_cli --message-format=json 2>/dev/null |
  jq -r 'select(.reason == "compiler-artifact" and .target.name == "sigma_eval_cli") | .executable' | tail -1)"
[[ -x "$EVAL" ]] || { echo "could not build bench/sigma_eval_cli.rs" >&2; exit 1; }

# 3. One rules directory (rsigma takes a single --rules path): the three folders, copied.
RULES="$OUT/rules"
rm -rf "$RULES" && mkdir -p "$RULES"
for f in "${FOLDERS[@]}"; do cp -r "$SIGMA/$f" "$RULES/$f"; done

# 4. Events: the deterministic demo (Sysmon-shaped NDJSON), annotated with nightwatch's derived
#    logsource as `product`/`category`/`service` fields, which is what rsigma's
#    --logsource-routing reads. Both tools read this same file.
"$NW" demo generate --events "$N" --out "$OUT/demo-raw.ndjson" >/dev/null
"$EVAL" --rules "$RULES" --placeholders rules/placeholders.yml \
  --annotate "$OUT/events.ndjson" "$OUT/demo-raw.ndjson" >/dev/null
: > "$OUT/empty.ndjson"

# 5. Timed runs: each tool with 0 events (load only) and N events, RUNS times, minimum taken.
#    `time` reports wall, user+sys CPU and peak RSS. RAYON_NUM_THREADS=1 keeps any pool to one
#    worker; nightwatch's evaluator is single-threaded by construction (rule loading uses all
#    cores for YAML parsing, which is why load is reported in wall and CPU time).
export RAYON_NUM_THREADS=1
measure() { # name cmd... -> "wall cpu rss_kb" (wall and CPU: minimum over RUNS; RSS: maximum)
  local name="$1"; shift
  local best_wall="" best_cpu="" best_rss="" wall user sys rss cpu
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -f '%e %U %S %M' -o "$OUT/time.txt" "$@" >/dev/null 2>"$OUT/$name.stderr"
    read -r wall user sys rss < <(tail -1 "$OUT/time.txt")
    cpu=$(echo "$user + $sys" | bc -l)
    if [[ -z "$best_wall" ]] || (( $(echo "$wall < $best_wall" | bc -l) )); then best_wall=$wall; fi
    if [[ -z "$best_cpu" ]] || (( $(echo "$cpu < $best_cpu" | bc -l) )); then best_cpu=$cpu; fi
    if [[ -z "$best_rss" ]] || (( rss > best_rss )); then best_rss=$rss; fi
  done
  echo "$best_wall $best_cpu $best_rss"
}
NW_EVAL=("$EVAL" --rules "$RULES" --placeholders rules/placeholders.yml)
RS_EVAL=("$RSIGMA" engine eval --rules "$RULES" --logsource-routing)

echo "measuring (N=$N, RUNS=$RUNS) ..."
read -r nw0_wall nw0_cpu nw0_rss < <(measure nw0 "${NW_EVAL[@]}" "$OUT/empty.ndjson")
read -r nwN_wall nwN_cpu nwN_rss < <(measure nwN "${NW_EVAL[@]}" "$OUT/events.ndjson")
read -r rs0_wall rs0_cpu rs0_rss < <(measure rs0 "${RS_EVAL[@]}" --event "@$OUT/empty.ndjson")
read -r rsN_wall rsN_cpu rsN_rss < <(measure rsN "${RS_EVAL[@]}" --event "@$OUT/events.ndjson")

rate() { echo "scale=0; $N / ($1 - $2)" | bc -l; }
nw_eps_cpu=$(rate "$nwN_cpu" "$nw0_cpu"); nw_eps_wall=$(rate "$nwN_wall" "$nw0_wall")
rs_eps_cpu=$(rate "$rsN_cpu" "$rs0_cpu"); rs_eps_wall=$(rate "$rsN_wall" "$rs0_wall")

# 6. Match sets: (event index, rule id) for both. nightwatch writes them directly; rsigma's
#    results are mapped back to the event line through --include-event.
"${NW_EVAL[@]}" --matches "$OUT/nw.tsv" "$OUT/events.ndjson" > "$OUT/nw-summary.json"
"${RS_EVAL[@]}" --include-event --event "@$OUT/events.ndjson" > "$OUT/rsigma.jsonl" 2>"$OUT/rsigma-matches.stderr"
python3 "$ROOT/bench/match_diff.py" "$OUT/events.ndjson" "$OUT/nw.tsv" "$OUT/rsigma.jsonl" \
  "$RULES" > "$OUT/diff.txt"

cat <<EOF

== nightwatch vs rsigma 0.23.0: $N events, $(ls -R "$RULES" | grep -c '\.yml$') rule files, $(nproc) cores, RUNS=$RUNS (best) ==
| | nightwatch | rsigma 0.23.0 | ratio |
|---|---|---|---|
| events/s, CPU time net of load | $nw_eps_cpu | $rs_eps_cpu | $(echo "scale=2; $nw_eps_cpu / $rs_eps_cpu" | bc -l) |
| events/s, wall time net of load | $nw_eps_wall | $rs_eps_wall | $(echo "scale=2; $nw_eps_wall / $rs_eps_wall" | bc -l) |
| load only (0 events): wall s / CPU s | $nw0_wall / $nw0_cpu | $rs0_wall / $rs0_cpu | |
| peak RSS, N events (MB) | $((nwN_rss / 1024)) | $((rsN_rss / 1024)) | $(echo "scale=2; $nwN_rss / $rsN_rss" | bc -l) |
| peak RSS, 0 events (MB) | $((nw0_rss / 1024)) | $((rs0_rss / 1024)) | |
EOF
echo
cat "$OUT/diff.txt"
echo "(nightwatch loaded: $(jq -c '{rules, rejected, matches}' "$OUT/nw-summary.json"); outputs in $OUT)"

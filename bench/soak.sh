#!/usr/bin/env bash
# Memory soak: runs the release daemon on the built-in demo feed (`nightwatch run --demo`: the
# intrusion scenario round after round, a new seed per round, event times rebased to now) at a
# fixed rate for a fixed time, samples its RSS and a few metrics every INTERVAL seconds into a
# CSV, and prints the RSS slope (MB/hour, least squares) over the second half of the run.
# See bench/README.md "Memory soak" for the method and results.
#
# Usage: bench/soak.sh [--minutes 30] [--rate 5000] [--interval 30] [--rules full|starter|N]
#                      [--binary PATH] [--label TEXT]
#   --minutes   how long the daemon is fed (default 30)
#   --rate      demo events/s (`demo.events_per_second`, default 5000)
#   --interval  seconds between samples (default 30)
#   --rules     full (default): SigmaHQ rules/, rules-emerging-threats/, rules-threat-hunting/ of
#               $SIGMA plus rules/behavioral and rules/placeholders.yml (as bench/e2e.sh);
#               starter: rules/behavioral only (the demo default); N: every (total/N)-th corpus
#               file plus rules/behavioral
#   --binary    run this nightwatch binary instead of building one (e.g. a copy built from an
#               older commit, for a before/after comparison)
# Env: SIGMA (default ../shared/sigma, then ../../shared/sigma), CARGO_TARGET_DIR, NO_BUILD=1,
#      KEEP=1 (keep the work dir), EXTRA_TOML (appended to the generated configuration, whose
#      last table is [state]: 'cache_bytes = 268435456' sets state.cache_bytes,
#      $'[intel]\nenabled = false' another table).
# Output: bench/.soak/<label or time>.csv (not committed), a summary JSON line on stdout, also
#         appended to bench/.soak/results.jsonl.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MINUTES=30 RATE=5000 INTERVAL=30 RULES=full BINARY="" LABEL="" OWN_BUILD=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --minutes) MINUTES="$2" ;; --rate) RATE="$2" ;; --interval) INTERVAL="$2" ;;
    --rules) RULES="$2" ;; --binary) BINARY="$2" ;; --label) LABEL="$2" ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
if [[ -z "${SIGMA:-}" ]]; then
  SIGMA="$ROOT/../shared/sigma"
  [[ -d "$SIGMA/rules" ]] || SIGMA="$ROOT/../../shared/sigma"
fi
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
CACHE="$ROOT/bench/.soak"
FOLDERS=(rules rules-emerging-threats rules-threat-hunting)
mkdir -p "$CACHE"

# 1. The binary: a private copy, so a concurrent build cannot swap it mid-run.
if [[ -z "$BINARY" ]]; then
  [[ -n "${NO_BUILD:-}" ]] || cargo build --release --quiet --bin nightwatch
  BINARY="$TARGET/release/nightwatch"
else
  OWN_BUILD=""
fi
[[ -x "$BINARY" ]] || { echo "no nightwatch binary at $BINARY" >&2; exit 2; }
WORK="$(mktemp -d "$CACHE/run.XXXXXX")"
cp "$BINARY" "$WORK/nightwatch"
NW="$WORK/nightwatch"
DPID=""
cleanup() {
  if [[ -n "$DPID" ]]; then kill "$DPID" 2>/dev/null || true; wait "$DPID" 2>/dev/null || true; fi
  [[ -n "${KEEP:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# 2. Rules.
case "$RULES" in
  starter) RULE_PATHS="\"$ROOT/rules/behavioral\"" ;;
  full)
    [[ -d "$SIGMA/rules" ]] || { echo "SigmaHQ corpus not found at $SIGMA (set SIGMA)" >&2; exit 2; }
    RULE_PATHS=""
    for f in "${FOLDERS[@]}"; do RULE_PATHS+="\"$SIGMA/$f\", "; done
    RULE_PATHS+="\"$ROOT/rules/behavioral\"" ;;
  *)
    [[ -d "$SIGMA/rules" ]] || { echo "SigmaHQ corpus not found at $SIGMA (set SIGMA)" >&2; exit 2; }
    mkdir -p "$WORK/rules"
    (cd "$SIGMA" && find "${FOLDERS[@]}" -name '*.yml' | LC_ALL=C sort) > "$WORK/all-rules.txt"
    python3 - "$RULES" "$WORK/all-rules.txt" "$SIGMA" "$WORK/rules" <<'EOF'
import os, sys
n, listing, sigma, out = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
paths = open(listing).read().split()
for i in range(min(n, len(paths))):
    p = paths[i * len(paths) // n]
    os.symlink(os.path.join(sigma, p), os.path.join(out, f"{i:05d}-" + os.path.basename(p)))
EOF
    RULE_PATHS="\"$WORK/rules\", \"$ROOT/rules/behavioral\"" ;;
esac

# 3. Configuration: defaults otherwise (intel on without provider keys, LLM off), one JSONL
#    verdict output, the store in a fresh state dir.
MPORT="$(free_port)"
cat > "$WORK/nightwatch.toml" <<EOF
[rules]
paths = [${RULE_PATHS}]
placeholders = "$ROOT/rules/placeholders.yml"
[log]
level = "warn"
[dead_letter]
path = "$WORK/dead-letters.jsonl"
[demo]
events_per_second = $RATE
[outputs.archive]
type = "jsonl"
path = "$WORK/verdicts.jsonl"
[state]
dir = "$WORK/state"
${EXTRA_TOML:-}
EOF

# 4. The daemon on the demo feed, sampled every INTERVAL seconds.
NAME="${LABEL:-soak}-$(date -u +%Y%m%dT%H%M%SZ)"
CSV="$CACHE/$NAME.csv"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
"$NW" run --demo --config "$WORK/nightwatch.toml" --listen "127.0.0.1:$MPORT" >"$WORK/daemon.log" 2>&1 &
DPID=$!
for _ in $(seq 600); do
  curl -sf "http://127.0.0.1:$MPORT/health" >/dev/null 2>&1 && break
  kill -0 "$DPID" 2>/dev/null || { echo "daemon exited:" >&2; tail -20 "$WORK/daemon.log" >&2; exit 1; }
  sleep 0.1
done
CLK_TCK="$(getconf CLK_TCK)"
echo "elapsed_s,rss_mb,hwm_mb,cpu_s,events,verdicts,cases_open,store_disk_mb,loadavg1" > "$CSV"
metric() { # sum of the series whose name (with labels) starts with $1
  awk -v p="$1" 'index($0, p) == 1 { s += $NF } END { printf "%.0f", s }' "$WORK/metrics.txt"
}
sample() {
  local now status stat rss hwm cpu db
  now="$(date +%s.%N)"
  status="$(cat "/proc/$DPID/status")" stat="$(cat "/proc/$DPID/stat")"
  rss="$(awk '/^VmRSS:/ {print $2}' <<<"$status")"
  hwm="$(awk '/^VmHWM:/ {print $2}' <<<"$status")"
  cpu="$(awk -v t="$CLK_TCK" '{ sub(/.*\) /, ""); print ($12 + $13) / t }' <<<"$stat")"
  db="$(du -sb "$WORK/state/db" 2>/dev/null | cut -f1)"
  curl -sf "http://127.0.0.1:$MPORT/metrics" > "$WORK/metrics.txt" || : > "$WORK/metrics.txt"
  printf '%.1f,%.1f,%.1f,%.2f,%s,%s,%s,%.1f,%s\n' \
    "$(bc -l <<<"$now - $START")" "$(bc -l <<<"$rss / 1024")" "$(bc -l <<<"$hwm / 1024")" "$cpu" \
    "$(metric 'nightwatch_stage_received_total{stage="parse"}')" \
    "$(metric 'nightwatch_verdicts_total')" "$(metric 'nightwatch_cases_open')" \
    "$(bc -l <<<"${db:-0} / 1048576")" \
    "$(cut -d' ' -f1 /proc/loadavg)" >> "$CSV"
}
START="$(date +%s.%N)"
END=$(( $(date +%s) + MINUTES * 60 ))
sample
while (( $(date +%s) < END )); do
  sleep "$INTERVAL"
  kill -0 "$DPID" 2>/dev/null || { echo "daemon died:" >&2; tail -20 "$WORK/daemon.log" >&2; exit 1; }
  sample
  tail -1 "$CSV" >&2
done
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM "$DPID"
wait "$DPID" || echo "note: daemon exited with $?" >&2
DPID=""

# 5. Slopes (least squares) and the summary line.
if [[ -n "$OWN_BUILD" ]]; then
  COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml config || echo +dirty)"
else
  COMMIT="binary $BINARY"
fi
python3 - "$CSV" "$RATE" "$MINUTES" "$RULES" "$COMMIT" "$LABEL" "$LOAD_BEFORE" "$LOAD_AFTER" <<'EOF' | tee -a "$CACHE/results.jsonl"
import csv, json, sys, datetime
path, rate, minutes, rules, commit, label, lb, la = sys.argv[1:9]
rows = [{k: float(v) for k, v in r.items()} for r in csv.DictReader(open(path))]
def slope(rs, key):
    # least squares of key against elapsed hours
    if len(rs) < 2:
        return None
    xs = [r["elapsed_s"] / 3600 for r in rs]; ys = [r[key] for r in rs]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else None
half = rows[len(rows) // 2:]
first, last = rows[0], rows[-1]
secs = last["elapsed_s"] - first["elapsed_s"]
r2 = lambda v: None if v is None else round(v, 2)
print(json.dumps({
    "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    "commit": commit, "label": label, "rate": int(rate), "minutes": int(minutes), "rules": rules,
    "samples": len(rows), "csv": path,
    "events": int(last["events"]), "events_per_s": round((last["events"] - first["events"]) / secs) if secs else None,
    "verdicts": int(last["verdicts"]), "cases_open": int(last["cases_open"]),
    "cpu_cores": round((last["cpu_s"] - first["cpu_s"]) / secs, 2) if secs else None,
    "rss_mb_first": first["rss_mb"], "rss_mb_mid": half[0]["rss_mb"], "rss_mb_last": last["rss_mb"],
    "rss_mb_max": max(r["rss_mb"] for r in rows), "hwm_mb": last["hwm_mb"],
    "rss_slope_mb_per_h_second_half": r2(slope(half, "rss_mb")),
    "rss_slope_mb_per_h_whole": r2(slope(rows, "rss_mb")),
    "store_disk_mb_last": last["store_disk_mb"],
    "store_disk_slope_mb_per_h_second_half": r2(slope(half, "store_disk_mb")),
    "loadavg_before": lb, "loadavg_after": la,
}))
EOF
echo "samples: $CSV" >&2

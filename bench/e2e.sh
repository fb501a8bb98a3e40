#!/usr/bin/env bash
# End-to-end benchmark: builds release, starts `nightwatch run` on a generated configuration with
# the SigmaHQ corpus (or a deterministic subset of it) plus rules/behavioral, drives it with the
# demo generator through one input, and prints one JSON line of results (also appended to
# bench/.e2e/results.jsonl). See bench/README.md "End-to-end" for the method and results.
#
# Usage: bench/e2e.sh [--input file|syslog|nats|kafka] [--events N] [--rate EPS] [--rules N|full]
#                     [--cpus LIST] [--label TEXT]
#   --input   file (default): a `file` input reads the generated NDJSON; syslog: RFC 5424 over TCP
#             (the JSON line is the message); nats: JetStream durable consumer; kafka: consumer group
#   --events  demo events to send (default 300000)
#   --rate    events/s, 0 = flat out (default 0). For kafka, flat out pre-loads the topic and then
#             starts the daemon, so the consumer's speed is measured; file input is always flat out
#   --rules   full (default): SigmaHQ rules/, rules-emerging-threats/, rules-threat-hunting/;
#             N: every (total/N)-th file of those in sorted path order (deterministic)
#   --cpus    taskset CPU list for the daemon (default: all), e.g. 0 or 0,1
# Env: SIGMA (default ../shared/sigma), PACK (the behavioral rule folder, default rules/behavioral),
#      CARGO_TARGET_DIR, NATS_URL / KAFKA_BROKERS (use a running
#      broker instead of starting nats-server / tansu), NO_BUILD=1, KEEP=1 (keep the work dir),
#      EXTRA_TOML (appended to the generated configuration, e.g. $'[intel]\nenabled = false').
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
INPUT=file EVENTS=300000 RATE=0 RULES=full CPUS="" LABEL=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --input) INPUT="$2" ;; --events) EVENTS="$2" ;; --rate) RATE="$2" ;;
    --rules) RULES="$2" ;; --cpus) CPUS="$2" ;; --label) LABEL="$2" ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
  shift 2
done
SIGMA="${SIGMA:-$ROOT/../shared/sigma}"
PACK="${PACK:-$ROOT/rules/behavioral}"
TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
CACHE="$ROOT/bench/.e2e"
FOLDERS=(rules rules-emerging-threats rules-threat-hunting)
[[ -d "$SIGMA/rules" ]] || { echo "SigmaHQ corpus not found at $SIGMA" >&2; exit 2; }
mkdir -p "$CACHE"

# 1. Release builds: the daemon and the driver (bench/e2e_driver.rs).
if [[ -z "${NO_BUILD:-}" ]]; then
  cargo build --release --quiet --bin nightwatch
fi
NW="$TARGET/release/nightwatch"
DRIVER="$(cargo build --release --bench e2e_driver --message-format=json 2>/dev/null |
  jq -r 'select(.reason == "compiler-artifact" and .target.name == "e2e_driver") | .executable' | tail -1)"
[[ -x "$DRIVER" ]] || { echo "could not build bench/e2e_driver.rs" >&2; exit 1; }

WORK="$(mktemp -d "$CACHE/run.XXXXXX")"
# A private copy: other builds sharing the target directory cannot swap it mid-run.
cp "$NW" "$WORK/nightwatch" && NW="$WORK/nightwatch"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
  [[ -n "${KEEP:-}" ]] || rm -rf "$WORK"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 not listening" >&2; exit 1; }

# 2. Events (cached per count: same seed, same bytes).
EVFILE="$CACHE/demo-$EVENTS.ndjson"
[[ -s "$EVFILE" ]] || "$NW" demo generate --events "$EVENTS" --out "$EVFILE" >/dev/null

# 3. Rules: the corpus folders, or a deterministic subset of N files linked into one folder.
if [[ "$RULES" == full ]]; then
  RULE_PATHS=""
  for f in "${FOLDERS[@]}"; do RULE_PATHS+="\"$SIGMA/$f\", "; done
else
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
  RULE_PATHS="\"$WORK/rules\", "
fi

# 4. The input and its broker.
MPORT="$(free_port)"
case "$INPUT" in
  file)
    INPUT_TOML="type = \"file\"
paths = [\"$EVFILE\"]" ;;
  syslog)
    SPORT="$(free_port)"
    INPUT_TOML="type = \"syslog\"
listen = \"127.0.0.1:$SPORT\"
protocol = \"tcp\"" ;;
  nats)
    if [[ -z "${NATS_URL:-}" ]]; then
      NPORT="$(free_port)"
      nats-server -js -a 127.0.0.1 -p "$NPORT" -sd "$WORK/nats" >"$WORK/nats.log" 2>&1 &
      PIDS+=($!)
      wait_port "$NPORT"
      NATS_URL="nats://127.0.0.1:$NPORT"
    fi
    INPUT_TOML="type = \"nats\"
url = \"$NATS_URL\"
subject = \"bench.events\"
format = \"json\"
jetstream = { stream = \"BENCH$$\", consumer = \"nightwatch\", create = true, subjects = [\"bench.events\"] }" ;;
  kafka)
    if [[ -z "${KAFKA_BROKERS:-}" ]]; then
      KPORT="$(free_port)"
      TANSU="$(command -v tansu || echo "$HOME/.cargo/bin/tansu")"
      "$TANSU" broker --listener-url "tcp://127.0.0.1:$KPORT" --advertised-listener-url "tcp://127.0.0.1:$KPORT" \
        --storage-engine memory://tansu/ >"$WORK/tansu.log" 2>&1 &
      PIDS+=($!)
      wait_port "$KPORT"
      KAFKA_BROKERS="127.0.0.1:$KPORT"
      # tansu 0.6 skips a record batch when a fetch starts inside it: one record per batch.
      export E2E_KAFKA_BATCH=1
    fi
    TOPIC="bench-events-$$"
    INPUT_TOML="type = \"kafka\"
brokers = \"$KAFKA_BROKERS\"
group_id = \"bench-$$\"
topics = [\"$TOPIC\"]
format = \"json\"
statistics_interval_ms = 1000" ;;
  *) echo "unknown input $INPUT" >&2; exit 2 ;;
esac

cat > "$WORK/nightwatch.toml" <<EOF
[rules]
paths = [${RULE_PATHS}"$PACK"]
placeholders = "$ROOT/rules/placeholders.yml"
[state]
dir = "$WORK/state"
[log]
level = "warn"
[dead_letter]
path = "$WORK/dead-letters.jsonl"
[inputs.bench]
$INPUT_TOML
[outputs.archive]
type = "jsonl"
path = "$WORK/verdicts.jsonl"
${EXTRA_TOML:-}
EOF

send() { "$DRIVER" send --input "$INPUT" --events "$EVFILE" --rate "$1" \
  --target "${SEND_TARGET}" --subject bench.events --topic "${TOPIC:-}" >>"$WORK/driver.log" 2>&1; }
case "$INPUT" in
  syslog) SEND_TARGET="127.0.0.1:$SPORT" ;; nats) SEND_TARGET="$NATS_URL" ;;
  kafka) SEND_TARGET="$KAFKA_BROKERS" ;; *) SEND_TARGET="" ;;
esac
# Kafka: the topic exists before the daemon subscribes; flat out, it holds every event already.
if [[ "$INPUT" == kafka ]]; then
  if [[ "$RATE" == 0 ]]; then send 0; else
    "$DRIVER" send --input kafka --events /dev/null --target "$SEND_TARGET" --topic "$TOPIC" >>"$WORK/driver.log" 2>&1
  fi
fi

# 5. The daemon, pinned with taskset when --cpus is given.
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
PIN=(); [[ -n "$CPUS" ]] && PIN=(taskset -c "$CPUS")
"${PIN[@]}" "$NW" run --config "$WORK/nightwatch.toml" --listen "127.0.0.1:$MPORT" >"$WORK/daemon.log" 2>&1 &
DPID=$!
PIDS=("$DPID" "${PIDS[@]}")
wait_port "$MPORT"
[[ "$INPUT" == syslog ]] && wait_port "$SPORT"
if [[ "$INPUT" == syslog || "$INPUT" == nats || ( "$INPUT" == kafka && "$RATE" != 0 ) ]]; then
  send "$RATE" &
  PIDS=("$!" "${PIDS[@]}")
fi
RESULT="$("$DRIVER" watch --metrics "127.0.0.1:$MPORT" --pid "$DPID" --expect "$EVENTS" \
  --clk-tck "$(getconf CLK_TCK)" --timeout "${TIMEOUT:-900}")"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM "$DPID"
wait "$DPID" || echo "note: daemon exited with $?" >&2

COMMIT="$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- src Cargo.toml || echo +dirty)"
LINE="$(jq -c --arg input "$INPUT" --arg rate "$RATE" --arg rules "$RULES" --arg cpus "${CPUS:-all}" \
  --arg commit "$COMMIT" --arg lb "$LOAD_BEFORE" --arg la "$LOAD_AFTER" --arg note "$LABEL" \
  --arg date "$(date -u +%FT%TZ)" \
  '{date: $date, commit: $commit, note: $note, input: $input, rate: ($rate|tonumber), rules: $rules, cpus: $cpus, loadavg_before: $lb, loadavg_after: $la} + .' <<<"$RESULT")"
echo "$LINE" >> "$CACHE/results.jsonl"
echo "$LINE"

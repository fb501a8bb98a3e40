#!/usr/bin/env python3
"""Writes nightwatch.json, the Grafana dashboard for nightwatch, next to this script.

Run: python3 dashboards/grafana/generate.py
The datasource is a variable (${datasource}) so the dashboard provisions into any Grafana; the uid
is stable. Every metric used here must exist in the daemon's /metrics (a test checks it).
"""
import json, os

panels, y = [], 0
def row(title):
    global y
    panels.append({"type": "row", "title": title, "collapsed": False, "gridPos": {"h": 1, "w": 24, "x": 0, "y": y}, "panels": []})
    y += 1
def ts(title, targets, unit="short", w=12, x=0, desc=""):
    panels.append({
        "type": "timeseries", "title": title, "description": desc,
        "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 8, "w": w, "x": x, "y": y},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull", "max"]}},
        "targets": [{"datasource": {"type": "prometheus", "uid": "${datasource}"}, "expr": e, "legendFormat": l, "refId": chr(65 + i)} for i, (e, l) in enumerate(targets)],
    })
def stat(title, expr, unit="short", w=6, x=0):
    panels.append({
        "type": "stat", "title": title, "datasource": {"type": "prometheus", "uid": "${datasource}"},
        "gridPos": {"h": 4, "w": w, "x": x, "y": y}, "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"datasource": {"type": "prometheus", "uid": "${datasource}"}, "expr": expr, "refId": "A"}],
    })
J = '{job=~"$job"}'
def q(metric, extra=""):
    return metric + '{job=~"$job"' + (", " + extra if extra else "") + "}"

row("Overview")
stat("Rules loaded", f"sum(nightwatch_rules_loaded{J})", x=0)
stat("Open cases", f"sum(nightwatch_cases_open{J})", x=6)
stat("WebSocket clients", f"sum(nightwatch_ws_clients{J})", x=12)
stat("Rules rejected (1h)", f"sum(increase(nightwatch_rules_rejected_total{J}[1h]))", x=18)
y += 4
row("Throughput")
ts("Items received per stage", [(f"sum by (stage) (rate(nightwatch_stage_received_total{J}[$__rate_interval]))", "{{stage}}")], "ops", x=0)
ts("Items sent per stage", [(f"sum by (stage) (rate(nightwatch_stage_sent_total{J}[$__rate_interval]))", "{{stage}}")], "ops", x=12)
y += 8
ts("Events parsed per format", [(f"sum by (format) (rate(nightwatch_events_parsed_total{J}[$__rate_interval]))", "{{format}}")], "ops", x=0)
ts("Records per input", [(f"sum by (input) (rate(nightwatch_input_records_total{J}[$__rate_interval]))", "{{input}} records"),
                         (f"sum by (input) (rate(nightwatch_kafka_messages_total{J}[$__rate_interval]))", "{{input}} kafka messages"),
                         (f"sum by (mode) (rate(nightwatch_nats_messages_total{J}[$__rate_interval]))", "nats {{mode}} messages")], "ops", x=12,
   desc="Records (lines or documents) each streaming input framed into the pipeline, and the broker messages they came in. One-shot file and stdin inputs are counted by the parse stage only.")
y += 8
row("Errors and drops")
ts("Errors per stage and kind", [(f"sum by (stage, kind) (rate(nightwatch_stage_errors_total{J}[$__rate_interval]))", "{{stage}} {{kind}}")], "ops", x=0)
ts("Dropped per stage and reason", [(f"sum by (stage, reason) (rate(nightwatch_stage_dropped_total{J}[$__rate_interval]))", "{{stage}} {{reason}}")], "ops", x=12,
   desc="no_match: events fully processed that matched no rule; correlation_only: matches of rules that only feed correlations.")
y += 8
ts("Parse errors per format", [(f"sum by (format) (rate(nightwatch_parse_errors_total{J}[$__rate_interval]))", "{{format}}")], "ops", x=0)
ts("Dead letters", [(f"sum by (stage) (rate(nightwatch_dead_letters_total{J}[$__rate_interval]))", "{{stage}}")], "ops", x=12,
   desc="parse: records no parser could read; output: verdicts an output gave up on after its retries.")
y += 8
ts("Input drops per input and reason", [(f"sum by (input, reason) (rate(nightwatch_input_dropped_total{J}[$__rate_interval]))", "{{input}} {{reason}}")], "ops", x=0,
   desc="overload: UDP syslog while the pipeline is full; oversize: longer than the input's maximum.")
ts("Broker errors", [(f"sum by (kind) (rate(nightwatch_kafka_errors_total{J}[$__rate_interval]))", "kafka {{kind}}"),
                     (f"sum by (kind) (rate(nightwatch_nats_errors_total{J}[$__rate_interval]))", "nats {{kind}}")], "ops", x=12)
y += 8
row("Queues")
ts("Queue depth per channel", [(f"max by (channel) (nightwatch_channel_depth{J})", "{{channel}}")], "short", x=0)
ts("Queue saturation per channel", [(f"max by (channel) (nightwatch_channel_depth{J} / nightwatch_channel_capacity{J})", "{{channel}}")], "percentunit", x=12,
   desc="Sustained saturation near 1 means backpressure: the stage after this channel is the bottleneck.")
y += 8
row("Latency")
ts("Ingest to verdict", [(f"histogram_quantile({p}, sum by (le) (rate(nightwatch_ingest_to_verdict_seconds_bucket{J}[$__rate_interval])))", f"p{int(p*100)}") for p in (0.5, 0.95, 0.99)], "s", x=0)
ts("Stage processing time p99", [(f"histogram_quantile(0.99, sum by (le, stage) (rate(nightwatch_stage_processing_seconds_bucket{J}[$__rate_interval])))", "{{stage}}")], "s", x=12)
y += 8
row("Detection")
ts("Rule matches by level", [(f"sum by (level) (rate(nightwatch_rule_matches_total{J}[$__rate_interval]))", "{{level}}")], "ops", x=0)
ts("Correlation matches by level", [(f"sum by (level) (rate(nightwatch_correlation_matches_total{J}[$__rate_interval]))", "{{level}}")], "ops", x=12)
y += 8
row("Cases and verdicts")
ts("Verdicts by conclusion", [(f"sum by (conclusion) (rate(nightwatch_verdicts_total{J}[$__rate_interval]))", "{{conclusion}}")], "ops", x=0)
ts("Verdicts by severity", [(f"sum by (severity) (rate(nightwatch_verdicts_total{J}[$__rate_interval]))", "{{severity}}")], "ops", x=12)
y += 8
ts("Open cases", [(f"sum(nightwatch_cases_open{J})", "open")], "short", x=0)
ts("Verdicts by conclusion and severity (range)", [(f"sum by (conclusion, severity) (increase(nightwatch_verdicts_total{J}[$__range])) > 0", "{{conclusion}} {{severity}}")], "short", x=12,
   desc="Verdict versions published over the dashboard's time range, per conclusion and severity.")
y += 8
row("Outputs")
ts("Sink deliveries per output and result", [(f"sum by (output, result) (rate(nightwatch_sink_deliveries_total{J}[$__rate_interval]))", "{{output}} {{result}}")], "ops", x=0,
   desc="ok: delivered; retry: an attempt failed and will be retried; failed: given up and dead-lettered.")
ts("Webhook delivery time", [(f"histogram_quantile({p}, sum by (le, output) (rate(nightwatch_sink_delivery_seconds_bucket{J}[$__rate_interval])))", f"{{{{output}}}} p{int(p*100)}") for p in (0.5, 0.99)], "s", x=12,
   desc="From the first attempt to the outcome, retries included.")
y += 8
ts("Broker publishes", [(f"sum by (mode) (rate(nightwatch_nats_published_total{J}[$__rate_interval]))", "nats {{mode}}"),
                        (f"sum(rate(nightwatch_nats_publish_duplicates_total{J}[$__rate_interval]))", "nats duplicates")], "ops", x=0)
ts("WebSocket clients and disconnects", [(f"sum(nightwatch_ws_clients{J})", "clients"),
                                         (f"sum by (reason) (rate(nightwatch_ws_disconnects_total{J}[$__rate_interval]))", "disconnects {{reason}} /s")], "short", x=12)
y += 8
row("Kafka consumer")
ts("Consumer lag per input", [(f"max by (input) (nightwatch_kafka_consumer_lag_messages{J})", "{{input}}")], "short", x=0,
   desc="Messages behind the high watermark over the partitions the input owns (librdkafka statistics, every statistics_interval_ms).")
ts("Consumer events", [(f"sum by (input, event) (rate(nightwatch_kafka_consumer_events_total{J}[$__rate_interval]))", "{{input}} {{event}}")], "ops", x=12,
   desc="assigned/revoked: rebalances; paused/resumed: backpressure; rewound: replay after a failure.")
y += 8
row("Enrichment")
ts("Provider lookups by outcome", [(f"sum by (provider, outcome) (rate(nightwatch_intel_requests_total{J}[$__rate_interval]))", "{{provider}} {{outcome}}")], "ops", x=0)
ts("Provider errors by kind", [(f"sum by (provider, kind) (rate(nightwatch_intel_errors_total{J}[$__rate_interval]))", "{{provider}} {{kind}}")], "ops", x=12)
y += 8
ts("Provider request time", [(f"histogram_quantile({p}, sum by (le, provider) (rate(nightwatch_intel_request_seconds_bucket{J}[$__rate_interval])))", f"{{{{provider}}}} p{int(p*100)}") for p in (0.5, 0.99)], "s", w=8, x=0)
ts("Cache hit ratio", [("sum by (provider) (rate(" + q("nightwatch_intel_cache_lookups_total", 'result="hit"') + "[$__rate_interval])) / sum by (provider) (rate(" + q("nightwatch_intel_cache_lookups_total") + "[$__rate_interval]))", "{{provider}}")], "percentunit", w=8, x=8)
ts("Circuit open", [(f"max by (provider) (nightwatch_intel_circuit_open{J})", "{{provider}}")], "short", w=8, x=16,
   desc="1 while the provider's circuit breaker is open (repeated failures, a rejected key or a spent quota), as of its latest lookup.")
y += 8
ts("Indicators extracted and feed matches", [(f"sum by (kind) (rate(nightwatch_intel_indicators_extracted_total{J}[$__rate_interval]))", "{{kind}}"),
                                              (f"sum(rate(nightwatch_intel_feed_matches_total{J}[$__rate_interval]))", "feed matches")], "ops", x=0)
ts("Enrichment queue drops", [(f"sum by (reason) (rate(nightwatch_intel_dropped_total{J}[$__rate_interval]))", "{{reason}}")], "ops", x=12)
y += 8
row("LLM summaries")
ts("Requests by outcome", [(f"sum by (backend, outcome) (rate(nightwatch_llm_requests_total{J}[$__rate_interval]))", "{{backend}} {{outcome}}")], "ops", w=8, x=0)
ts("Request time", [(f"histogram_quantile({p}, sum by (le, backend) (rate(nightwatch_llm_request_duration_seconds_bucket{J}[$__rate_interval])))", f"{{{{backend}}}} p{int(p*100)}") for p in (0.5, 0.99)], "s", w=8, x=8)
ts("Tokens", [(f"sum by (backend, kind) (rate(nightwatch_llm_tokens_total{J}[$__rate_interval]))", "{{backend}} {{kind}}")], "short", w=8, x=16, desc="Tokens per second reported by the provider.")
y += 8
ts("Queue and circuit", [(f"sum(nightwatch_llm_queue_depth{J})", "queue depth"), (f"max(nightwatch_llm_circuit_open{J})", "circuit open")], "short", w=8, x=0)
ts("Skipped cases by reason", [(f"sum by (reason) (rate(nightwatch_llm_skipped_total{J}[$__rate_interval]))", "{{reason}}")], "ops", w=8, x=8)
ts("Cache hits, redactions, guardrail drops", [(f"sum(rate(nightwatch_llm_cache_hits_total{J}[$__rate_interval]))", "cache hits"),
                                                (f"sum(rate(nightwatch_llm_redactions_total{J}[$__rate_interval]))", "redactions"),
                                                (f"sum by (what) (rate(nightwatch_llm_guardrail_drops_total{J}[$__rate_interval]))", "dropped {{what}}")], "ops", w=8, x=16)
y += 8
row("History store")
ts("Store size", [(f"sum by (instance) (nightwatch_history_store_bytes{J})", "on disk {{instance}}"),
                  (f"sum by (instance) (nightwatch_history_data_bytes{J})", "history data {{instance}}")], "bytes", w=8, x=0,
   desc="On disk: sled's files (all trees, shrinks only after compaction). History data: what [history] max_bytes caps. Both are refreshed at start-up and after each compaction.")
ts("Cases stored", [(f"sum by (instance) (nightwatch_history_cases{J})", "{{instance}}")], "short", w=8, x=8)
ts("Compaction and replication", [(f"sum by (reason) (increase(nightwatch_history_compacted_total{J}[1h]))", "removed by {{reason}} (1h)"),
                                  (f"sum(increase(nightwatch_history_errors_total{J}[1h]))", "errors (1h)"),
                                  (f"sum by (result) (rate(nightwatch_cluster_verdicts_total{J}[$__rate_interval]))", "replicated {{result}}")], "short", w=8, x=16,
   desc="Replicated: verdicts of other instances read from the shared verdict topic ([cluster.history_topic]).")
y += 8
row("Process")
ts("CPU", [(f"rate(nightwatch_process_cpu_seconds_total{J}[$__rate_interval])", "{{instance}}")], "percentunit", w=8, x=0)
ts("Resident memory", [(f"nightwatch_process_resident_memory_bytes{J}", "{{instance}}")], "bytes", w=8, x=8)
ts("Open file descriptors", [(f"nightwatch_process_open_fds{J}", "{{instance}}"), (f"nightwatch_process_max_fds{J}", "max {{instance}}")], "short", w=8, x=16)
y += 8

dashboard = {
    "uid": "nightwatch-overview", "title": "nightwatch", "tags": ["nightwatch", "soc"],
    "timezone": "utc", "schemaVersion": 39, "version": 1, "editable": True, "refresh": "30s",
    "time": {"from": "now-6h", "to": "now"},
    "templating": {"list": [
        {"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Data source", "current": {}, "hide": 0},
        {"name": "job", "type": "query", "label": "Job", "datasource": {"type": "prometheus", "uid": "${datasource}"},
         "query": {"query": "label_values(nightwatch_build_info, job)", "refId": "job"}, "definition": "label_values(nightwatch_build_info, job)",
         "includeAll": True, "multi": True, "current": {}, "refresh": 2, "hide": 0},
    ]},
    "annotations": {"list": []},
    "panels": [dict(p, id=i + 1) for i, p in enumerate(panels)],
}
out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "nightwatch.json")
with open(out, "w") as f:
    json.dump(dashboard, f, indent=2)
    f.write("\n")
print("wrote", out, len(panels), "panels")

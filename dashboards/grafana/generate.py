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
ts("Verdicts by conclusion", [(f"sum by (conclusion) (rate(nightwatch_verdicts_total{J}[$__rate_interval]))", "{{conclusion}}")], "ops", x=12)
y += 8
row("Errors and drops")
ts("Errors per stage and kind", [(f"sum by (stage, kind) (rate(nightwatch_stage_errors_total{J}[$__rate_interval]))", "{{stage}} {{kind}}")], "ops", x=0)
ts("Dropped per stage and reason", [(f"sum by (stage, reason) (rate(nightwatch_stage_dropped_total{J}[$__rate_interval]))", "{{stage}} {{reason}}")], "ops", x=12,
   desc="no_match: events fully processed that matched no rule; correlation_only: matches of rules that only feed correlations.")
y += 8
ts("Parse errors per format", [(f"sum by (format) (rate(nightwatch_parse_errors_total{J}[$__rate_interval]))", "{{format}}")], "ops", x=0)
ts("Dead letters", [(f"sum by (stage) (rate(nightwatch_dead_letters_total{J}[$__rate_interval]))", "{{stage}}")], "ops", x=12)
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
ts("Verdicts by severity", [(f"sum by (severity) (rate(nightwatch_verdicts_total{J}[$__rate_interval]))", "{{severity}}")], "ops", x=0)
ts("WebSocket disconnects by reason", [(f"sum by (reason) (rate(nightwatch_ws_disconnects_total{J}[$__rate_interval]))", "{{reason}}")], "ops", x=12)
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

#!/usr/bin/env python3
"""Compares nightwatch's and rsigma's match sets for bench/compare-rsigma.sh.

Both are normalized to (event index, rule id) pairs. nightwatch's come from
`sigma_eval_cli --matches` (TSV: index, rule id). rsigma's come from
`rsigma engine eval --include-event` (JSON lines with `rule_id` and the `event`), and each
event is mapped back to its line in the events file by its canonical JSON form.

Usage: match_diff.py EVENTS.ndjson NW.tsv RSIGMA.jsonl RULES_DIR
Prints counts, agreement, and every differing pair grouped by rule (with the rule's title and
logsource) so each difference can be explained.
"""
import collections
import json
import os
import sys


def canon(obj):
    return json.dumps(obj, sort_keys=True, separators=(",", ":"))


def rule_info(rules_dir):
    """rule id -> (title, logsource string, path), read with a tiny line scanner (no PyYAML)."""
    info = {}
    for root, _, files in os.walk(rules_dir):
        for f in files:
            if not f.endswith((".yml", ".yaml")):
                continue
            p = os.path.join(root, f)
            rid = title = None
            ls = []
            in_ls = False
            with open(p, encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    if line.startswith("id:") and rid is None:
                        rid = line[3:].strip().strip("'\"")
                    elif line.startswith("title:") and title is None:
                        title = line[6:].strip()
                    elif line.startswith("logsource:"):
                        in_ls = True
                        continue
                    if in_ls:
                        if line.startswith((" ", "\t")) and ":" in line:
                            k, v = line.strip().split(":", 1)
                            if k in ("product", "category", "service"):
                                ls.append(f"{k}={v.strip()}")
                        elif line.strip():
                            in_ls = False
            if rid:
                info[rid] = (title or "?", ",".join(ls), os.path.relpath(p, rules_dir))
    return info


def main():
    events_path, nw_path, rs_path, rules_dir = sys.argv[1:5]
    index = {}
    dup = set()
    with open(events_path, encoding="utf-8") as fh:
        i = 0
        for line in fh:
            if not line.strip():
                continue
            k = canon(json.loads(line))
            if k in index:
                dup.add(k)
            index.setdefault(k, i)
            i += 1
    nw = collections.Counter()
    with open(nw_path, encoding="utf-8") as fh:
        for line in fh:
            idx, rid = line.rstrip("\n").split("\t", 1)
            nw[(int(idx), rid)] += 1
    rs = collections.Counter()
    unmapped = 0
    with open(rs_path, encoding="utf-8") as fh:
        for line in fh:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if "event" not in r or "rule_id" not in r:
                continue
            k = canon(r["event"])
            if k not in index:
                unmapped += 1
                continue
            rs[(index[k], r["rule_id"] or r.get("rule_title"))] += 1
    a, b = set(nw), set(rs)
    print(f"match pairs: nightwatch {len(a)}, rsigma {len(b)}, common {len(a & b)}, "
          f"only nightwatch {len(a - b)}, only rsigma {len(b - a)}"
          + (f", rsigma results not mapped to an event {unmapped}" if unmapped else "")
          + (f", duplicate events {len(dup)}" if dup else ""))
    print("MATCH SETS AGREE" if a == b and not unmapped else "MATCH SETS DIFFER")
    info = rule_info(rules_dir)
    for label, diff in (("only nightwatch", a - b), ("only rsigma", b - a)):
        by_rule = collections.defaultdict(list)
        for idx, rid in sorted(diff):
            by_rule[rid].append(idx)
        for rid, idxs in sorted(by_rule.items(), key=lambda kv: -len(kv[1])):
            title, ls, path = info.get(rid, ("?", "?", "?"))
            print(f"  {label}: {rid} ({title}; {ls}; {path}): {len(idxs)} events, "
                  f"e.g. {idxs[:5]}")


if __name__ == "__main__":
    main()

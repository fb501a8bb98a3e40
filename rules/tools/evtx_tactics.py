#!/usr/bin/env python3
"""Compares the ATT&CK tactics of `nightwatch scan` verdicts with the EVTX-ATTACK-SAMPLES folders.

Called by rules/measure-tactics.sh (arguments: binary, EVTX sample root, sigma dir, work dir).
For each top-level folder it runs one `nightwatch scan` with the behavioral pack and the SigmaHQ
corpus (as rules/measure.sh does), keeps the latest verdict of each case, and prints a Markdown
table: files, cases, the share of cases whose `tactics` include the folder's tactic, and the
tactics seen most often besides it. Folders that name no tactic (AutomatedTestingTools, Other)
and the files at the root are listed with their tactics only.
"""
import json, os, subprocess, sys, time
from collections import Counter

NW, ROOT, SIGMA, WORK = sys.argv[1:5]
os.makedirs(WORK, exist_ok=True)
RULES = ["--rules", "rules/behavioral", "--rules", os.path.join(SIGMA, "rules"),
         "--placeholders", "rules/placeholders.yml"]
TACTICS = {"Command and Control", "Credential Access", "Defense Evasion", "Discovery", "Execution",
           "Lateral Movement", "Persistence", "Privilege Escalation", "Initial Access",
           "Collection", "Exfiltration", "Impact", "Reconnaissance", "Resource Development"}


def shortname(folder):
    return folder.lower().replace(" ", "-") if folder in TACTICS else None


def evtx_files(path):
    if os.path.isfile(path):
        return [path]
    return [os.path.join(d, f) for d, _, fs in os.walk(path) for f in fs if f.lower().endswith(".evtx")]


def scan(name, paths):
    out_path = os.path.join(WORK, name.replace(" ", "_") + ".jsonl")
    cmd = [NW, "scan", *RULES, *paths]
    t = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    open(out_path, "w").write(out.stdout)
    latest = {}
    for line in out.stdout.splitlines():
        if line.strip():
            v = json.loads(line)
            if v["case_id"] not in latest or v["version"] > latest[v["case_id"]]["version"]:
                latest[v["case_id"]] = v
    return list(latest.values()), time.time() - t


def main():
    folders = sorted(e for e in os.listdir(ROOT) if os.path.isdir(os.path.join(ROOT, e)))
    groups = [(f, [os.path.join(ROOT, f)]) for f in folders]
    root_files = sorted(os.path.join(ROOT, e) for e in os.listdir(ROOT) if e.lower().endswith(".evtx"))
    if root_files:
        groups.append(("(root files)", root_files))
    print("| folder | tactic | files | cases | cases with the folder's tactic | most frequent other tactics (cases) |")
    print("|---|---|---|---|---|---|")
    tot_cases = tot_hit = tot_files = 0
    seconds = 0.0
    for name, paths in groups:
        files = sum(len(evtx_files(p)) for p in paths)
        verdicts, secs = scan(name, paths)
        seconds += secs
        tactic = shortname(name)
        counts = Counter(t for v in verdicts for t in set(v.get("tactics", [])))
        others = ", ".join(f"{t} ({n})" for t, n in counts.most_common() if t != tactic)
        others = ", ".join(others.split(", ")[:3]) if others else "-"
        tot_files += files
        if tactic:
            hit = sum(1 for v in verdicts if tactic in v.get("tactics", []))
            share = f"{hit}/{len(verdicts)} ({100 * hit / len(verdicts):.0f}%)" if verdicts else "-"
            tot_cases += len(verdicts)
            tot_hit += hit
        else:
            share = "n/a"
        print(f"| {name} | {tactic or '-'} | {files} | {len(verdicts)} | {share} | {others} |")
    if tot_cases:
        print(f"\nTactic folders: {tot_hit}/{tot_cases} cases ({100 * tot_hit / tot_cases:.0f}%) carry the folder's tactic; "
              f"{tot_files} files in all, scanned in {seconds:.1f} s.")


main()

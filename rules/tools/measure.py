#!/usr/bin/env python3
"""Runs `nightwatch rules test --dataset` over ../shared/data and prints the numbers as Markdown.

Called by rules/measure.sh (arguments: binary, data dir, sigma dir, work dir). Every number comes
from the binary's JSON output; labels come from the datasets' ground_truth.csv files.
"""
import csv, json, os, subprocess, sys, time
from collections import defaultdict

NW, DATA, SIGMA, WORK = sys.argv[1:5]
os.makedirs(WORK, exist_ok=True)
PACK = ["--rules", "rules/behavioral"]
SIGMAHQ = ["--rules", os.path.join(SIGMA, "rules"), "--placeholders", "rules/placeholders.yml"]


def run(name, rules, dataset, labels, unit):
    lab = os.path.join(WORK, name + ".labels.yml")
    open(lab, "w").write(labels)
    cmd = [NW, "rules", "test", *rules, "--labels", lab, "--unit", unit, "--format", "json"]
    for d in dataset:
        cmd += ["--dataset", d]
    t = time.time()
    out = subprocess.run(cmd, capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
    res = json.loads(out.stdout)
    res["seconds"] = round(time.time() - t, 1)
    json.dump(res, open(os.path.join(WORK, name + ".json"), "w"), indent=1)
    return res


def pct(x):
    return "-" if x is None else f"{100 * x:.1f}%"


def counts(o):
    return f"TP {o['tp']} · FP {o['fp']} · TN {o['tn']} · FN {o['fn']} · precision {pct(o['precision'])} · recall {pct(o['recall'])}"


def rel(path, root):
    path = path.replace("\\", "/")
    i = path.find(root)
    return path[i + len(root):].lstrip("/") if i >= 0 else path


def evtx():
    root = os.path.join(DATA, "evtx")
    gt = {r["file"]: r for r in csv.DictReader(open(os.path.join(root, "ground_truth.csv")))}
    data = [os.path.join(root, "EVTX-ATTACK-SAMPLES")]
    runs = {
        "pack": run("evtx_pack", PACK, data, "default: malicious\n", "input"),
        "sigmahq": run("evtx_sigmahq", SIGMAHQ, data, "default: malicious\n", "input"),
    }
    fired = {k: {("EVTX-ATTACK-SAMPLES/" + rel(i["input"], "EVTX-ATTACK-SAMPLES")): bool(i["fired"]) for i in r["inputs"]} for k, r in runs.items()}
    per = defaultdict(lambda: [0, 0, 0, 0])  # files, pack, sigmahq, both
    for f, row in gt.items():
        if row["label"] != "malicious":
            continue
        t = row["tactic_folder"] or "(root)"
        p, s = fired["pack"].get(f, False), fired["sigmahq"].get(f, False)
        per[t][0] += 1
        per[t][1] += p
        per[t][2] += s
        per[t][3] += p or s
    print("### EVTX (EVTX-ATTACK-SAMPLES): files with at least one detection, per tactic folder\n")
    print("| tactic folder | files | pack | SigmaHQ rules/ | pack + SigmaHQ |")
    print("|---|---:|---:|---:|---:|")
    tot = [0, 0, 0, 0]
    for t in sorted(per):
        n, p, s, b = per[t]
        tot = [a + c for a, c in zip(tot, per[t])]
        print(f"| {t} | {n} | {p} ({100*p/n:.0f}%) | {s} ({100*s/n:.0f}%) | {b} ({100*b/n:.0f}%) |")
    n, p, s, b = tot
    print(f"| **all** | {n} | {p} ({100*p/n:.0f}%) | {s} ({100*s/n:.0f}%) | {b} ({100*b/n:.0f}%) |")
    print(f"\n{runs['pack']['events']} events; pack run {runs['pack']['seconds']} s, SigmaHQ run {runs['sigmahq']['seconds']} s.")
    top = sorted(runs["pack"]["rules"], key=lambda r: -r["tp"])[:12]
    print("\nPack rules firing on EVTX files (files flagged): " + ", ".join(f"{r['title']} ({r['tp']})" for r in top) + "\n")


def zeek():
    base = os.path.join(DATA, "zeek", "iot-23")
    caps = sorted(os.listdir(base))
    allc = [os.path.join(base, c) for c in caps]
    honey = [os.path.join(base, c) for c in caps if "Honeypot" in c]
    lab = "default: skip\nby_field:\n  field: label\n  malicious: [malicious]\n  benign: [benign]\n"
    a = run("zeek_all", PACK, allc, lab, "event")
    h = run("zeek_honeypot", PACK, honey, lab, "event")
    print("### Zeek IoT-23 (per flow, network rules of the pack)\n")
    print(f"- All three captures, malicious vs benign flows: {counts(a['overall'])} ({a['events']} flows)")
    for cls in ["C&C", "PartOfAHorizontalPortScan", "DDoS"]:
        r = run("zeek_" + cls.replace("&", "n"), PACK, allc, f"default: skip\nby_field:\n  field: detailed-label\n  malicious: ['{cls}']\n", "event")
        o = r["overall"]
        print(f"- {cls} flows flagged: {o['tp']} of {o['tp'] + o['fn']} (recall {pct(o['recall'])})")
    print(f"- Benign honeypot captures ({', '.join(os.path.basename(x) for x in honey)}): {h['overall']['fp']} of {h['scored']} flows flagged")
    print("\nPer rule (all captures): " + "; ".join(f"{r['title']}: TP {r['tp']} FP {r['fp']}" for r in a["rules"]) + "\n")


def cloudtrail():
    d = os.path.join(DATA, "cloudtrail", "stratus-red-team")
    r = run("cloudtrail", PACK, [d], "default: malicious\n", "input")
    titles = {x["id"]: x["title"] for x in r["rules"]}
    hit = sum(1 for i in r["inputs"] if i["fired"])
    print(f"### CloudTrail (Stratus Red Team): {hit} of {len(r['inputs'])} technique files raise at least one pack rule\n")
    print("| Stratus technique | pack rules fired |")
    print("|---|---|")
    for i in sorted(r["inputs"], key=lambda i: i["input"]):
        names = "; ".join(titles.get(x, x) for x in i["fired"]) or "**none**"
        print(f"| {os.path.basename(i['input']).removesuffix('.json')} | {names} |")
    print()


def eml():
    root = os.path.join(DATA, "eml")
    rows = list(csv.DictReader(open(os.path.join(root, "ground_truth.csv"))))
    truth = {"phishing": "malicious", "ham": "benign", "spam": "skip"}
    lab = "default: skip\nevents:\n" + "".join(f"  - {{input: {json.dumps(r['file'])}, expect: {truth.get(r['label'], 'skip')}}}\n" for r in rows)
    r = run("eml", PACK, [os.path.join(root, d) for d in ("phishing_pot", "spamassassin")], lab, "input")
    spam_lab = "default: skip\nevents:\n" + "".join(f"  - {{input: {json.dumps(r['file'])}, expect: malicious}}\n" for r in rows if r["label"] == "spam")
    s = run("eml_spam", PACK, [os.path.join(root, "spamassassin")], spam_lab, "input")
    print("### Email (phishing_pot phishing vs SpamAssassin ham, per message)\n")
    print(f"- {counts(r['overall'])}")
    print(f"- Spam (not phishing, scored apart): {s['overall']['tp']} of {s['scored']} flagged")
    print("\nPer rule: " + "; ".join(f"{x['title']}: TP {x['tp']} FP {x['fp']}" for x in r["rules"]) + "\n")


for part in (evtx, zeek, cloudtrail, eml):
    part()
    sys.stdout.flush()

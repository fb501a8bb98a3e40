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


def related(fired, label):
    """Mirrors attack::attributes_to: same technique, its parent, or one of its sub-techniques."""
    f, l = fired.upper(), label.upper()
    return f == l or ("." not in f and f == l.split(".")[0]) or ("." not in l and f.split(".")[0] == l)


def apple_double(path):
    """macOS resource-fork files (`._name`) that came along in the archives: no Windows events."""
    return os.path.basename(path).startswith("._")


def windows_json():
    root = os.path.join(DATA, "windows-json")
    rows = list(csv.DictReader(open(os.path.join(root, "ground_truth.csv"))))
    data = [os.path.join(root, "otrf-atomic")]
    runs = {
        "sigmahq + pack": run("wj_both", SIGMAHQ + PACK, data, "default: malicious\n", "input"),
        "pack": run("wj_pack", PACK, data, "default: malicious\n", "input"),
    }
    outcome = {k: {rel(i["input"], "otrf-atomic/"): i for i in r["inputs"]} for k, r in runs.items()}
    real = [r for r in rows if not apple_double(r["file"])]
    skipped = len(rows) - len(real)
    per = defaultdict(lambda: defaultdict(lambda: [0, 0, 0]))  # folder → run → [files, technique, tactic]
    missed = defaultdict(list)
    for row in real:
        f = rel(row["file"], "otrf-atomic/")
        folder = f.split("/")[0]
        labels = [t for t in row["attack_techniques"].split(";") if t]
        for k in runs:
            o = outcome[k].get(f, {"techniques": [], "tactics": []})
            tech = any(related(x, l) for x in o["techniques"] for l in labels)
            tac = folder.replace("_", "-") in o["tactics"]
            c = per[folder][k]
            c[0] += 1
            c[1] += tech
            c[2] += tac
            if not tech:
                missed[k].append(f"{f} ({';'.join(labels)}; fired: {', '.join(o['techniques']) or 'nothing'})")
    names = list(runs)
    print(f"### Windows JSON (OTRF atomic, technique-labelled): technique and tactic recall per file\n")
    print(f"{len(real)} datasets ({skipped} macOS `._` resource-fork files in the set hold no Windows event and are not counted). "
          "A file counts for technique recall when a fired rule is attributed its labelled technique, that technique's parent or one of its sub-techniques; "
          "for tactic recall when a fired rule is attributed the folder's tactic.\n")
    print("| tactic folder | files | " + " | ".join(f"technique, {n} | tactic, {n}" for n in names) + " |")
    print("|---|---:|" + "---:|---:|" * len(names))
    tot = defaultdict(lambda: [0, 0, 0])
    for folder in sorted(per):
        cells = []
        for n in names:
            c = per[folder][n]
            tot[n] = [a + b for a, b in zip(tot[n], c)]
            cells.append(f"{c[1]} ({100*c[1]/c[0]:.0f}%) | {c[2]} ({100*c[2]/c[0]:.0f}%)")
        print(f"| {folder} | {per[folder][names[0]][0]} | " + " | ".join(cells) + " |")
    cells = [f"**{tot[n][1]} ({100*tot[n][1]/tot[n][0]:.0f}%)** | {tot[n][2]} ({100*tot[n][2]/tot[n][0]:.0f}%)" for n in names]
    print(f"| **all** | {tot[names[0]][0]} | " + " | ".join(cells) + " |")
    print(f"\n{runs['pack']['events']} events; SigmaHQ + pack run {runs[names[0]]['seconds']} s, pack run {runs['pack']['seconds']} s.\n")
    if os.environ.get("MISSED"):
        for n in names:
            print(f"Missed ({n}):\n" + "".join(f"- {m}\n" for m in missed[n]))


LEVELS = ["informational", "low", "medium", "high", "critical"]


def noise():
    """Detections on the OTRF files that are not the labelled behaviour (the background).

    The files hold everything the lab hosts logged during each emulation; a detection whose rule is
    attributed no technique related to the file's label is counted as off-label. That is an upper
    bound on false positives: some off-label detections are true side effects of the emulation
    (its launcher, the lab clearing logs before recording)."""
    root = os.path.join(DATA, "windows-json")
    labels = {rel(r["file"], "otrf-atomic/"): [t for t in r["attack_techniques"].split(";") if t]
              for r in csv.DictReader(open(os.path.join(root, "ground_truth.csv")))}
    events = 610091
    print("### Windows JSON: what fires besides the labelled behaviour (background noise)\n")
    print("| rules | detections, medium+ | off-label, medium+ | off-label per 10,000 events | off-label (rule, file) pairs | off-label rules (detections) |")
    print("|---|---:|---:|---:|---:|---|")
    for name, rules in (("pack", PACK), ("SigmaHQ + pack", SIGMAHQ + PACK)):
        cmd = [NW, "detect", *rules, os.path.join(root, "otrf-atomic")]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.exit(f"{' '.join(cmd)} failed ({out.returncode}): {out.stderr[-2000:]}")
        for line in out.stderr.splitlines():
            if " events," in line:
                events = int(line.split(" events,")[0].split()[-1])
        total, off, pairs = 0, defaultdict(int), set()
        for line in out.stdout.splitlines():
            d = json.loads(line)
            if LEVELS.index(d.get("level") or "informational") < 2:
                continue
            total += 1
            inp = d.get("input") or (d.get("events") or [{}])[0].get("input", "")
            lab = labels.get(rel(inp, "otrf-atomic/"), [])
            if not any(related(t, l) for t in d.get("techniques", []) for l in lab):
                off[d["rule_title"]] += 1
                pairs.add((d["rule_id"], inp))
        n = sum(off.values())
        top = ", ".join(f"{t} ({c})" for t, c in sorted(off.items(), key=lambda x: -x[1])[:8])
        print(f"| {name} | {total} | {n} | {10000 * n / events:.1f} | {len(pairs)} | {top} |")
    print(f"\n{events} events. Off-label is an upper bound on false positives (see rules/README.md).\n")


def evtx():
    root = os.path.join(DATA, "evtx")
    gt = {r["file"]: r for r in csv.DictReader(open(os.path.join(root, "ground_truth.csv")))}
    data = [os.path.join(root, "EVTX-ATTACK-SAMPLES")]
    runs = {
        "pack": run("evtx_pack", PACK, data, "default: malicious\n", "input"),
        "sigmahq": run("evtx_sigmahq", SIGMAHQ, data, "default: malicious\n", "input"),
    }
    outcome = {k: {("EVTX-ATTACK-SAMPLES/" + rel(i["input"], "EVTX-ATTACK-SAMPLES")): i for i in r["inputs"]} for k, r in runs.items()}
    shortname = {}
    for line in open("src/attack/tactics.tsv"):
        cols = line.rstrip("\n").split("\t")
        if len(cols) == 3 and not line.startswith("#"):
            shortname[cols[0]] = cols[1]
    per = defaultdict(lambda: [0, 0, 0, 0, 0, 0])  # files, pack, sigmahq, both; tactic-labelled files, tactic recall (both)
    for f, row in gt.items():
        if row["label"] != "malicious":
            continue
        t = row["tactic_folder"] or "(root)"
        po, so = outcome["pack"].get(f), outcome["sigmahq"].get(f)
        p, s = bool(po and po["fired"]), bool(so and so["fired"])
        per[t][0] += 1
        per[t][1] += p
        per[t][2] += s
        per[t][3] += p or s
        tactic = shortname.get(row["attack_tactic_id"])
        if tactic:
            per[t][4] += 1
            per[t][5] += any(tactic in (o or {}).get("tactics", []) for o in (po, so))
    print("### EVTX (EVTX-ATTACK-SAMPLES): files with at least one detection, and with a detection of the folder's tactic, per tactic folder\n")
    print("| tactic folder | files | pack | SigmaHQ rules/ | pack + SigmaHQ | folder's tactic, pack + SigmaHQ |")
    print("|---|---:|---:|---:|---:|---:|")
    tot = [0, 0, 0, 0, 0, 0]
    for t in sorted(per):
        n, p, s, b, tn, tr = per[t]
        tot = [a + c for a, c in zip(tot, per[t])]
        tcell = f"{tr} of {tn} ({100*tr/tn:.0f}%)" if tn else "-"
        print(f"| {t} | {n} | {p} ({100*p/n:.0f}%) | {s} ({100*s/n:.0f}%) | {b} ({100*b/n:.0f}%) | {tcell} |")
    n, p, s, b, tn, tr = tot
    print(f"| **all** | {n} | {p} ({100*p/n:.0f}%) | {s} ({100*s/n:.0f}%) | {b} ({100*b/n:.0f}%) | {tr} of {tn} ({100*tr/tn:.0f}%) |")
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


PARTS = {"windows_json": windows_json, "noise": noise, "evtx": evtx, "zeek": zeek, "cloudtrail": cloudtrail, "eml": eml}
for name in (os.environ.get("PARTS") or " ".join(PARTS)).split():
    PARTS[name]()
    sys.stdout.flush()

#!/usr/bin/env python3
"""Per-message phishing figures on ../shared/data/eml: precision, recall, false-positive rate and
what each signal family contributes, from `nightwatch detect` over the pack.

A message is *flagged* when the pack's message-analysis rule concludes phishing or suspicious
(the analysis score is 40 or more). Sets: phishing_pot (every message phishing), the SpamAssassin
test messages (ham, spam and phishing per ground_truth.csv; spam is reported apart, it is neither
phishing nor legitimate), and spamassassin-public/easy_ham (2,500 legitimate messages).

Usage: measure_email.py NIGHTWATCH DATA_DIR [--list-flagged-ham]
"""
import csv
import json
import os
import subprocess
import sys
from collections import Counter

PHISHING_RULE = "0e5787da-08b2-426f-910e-6de5e02bbfa5"
SUSPICIOUS_RULE = "893c9aef-2454-48d7-8a80-1397f3a888f4"
FAMILIES = ["sender", "brand", "lookalike", "auth", "url", "html", "attachment", "qr", "lure", "obfuscation"]


def detect(nw, paths):
    """Every message file read, with what the analysis rules concluded on it."""
    out = subprocess.run([nw, "detect", "--rules", "rules", *paths], capture_output=True, text=True, check=True)
    flagged = {}
    for line in out.stdout.splitlines():
        d = json.loads(line)
        if d.get("rule_id") in (PHISHING_RULE, SUSPICIOUS_RULE) and d.get("event_index") == 0:
            fields = d.get("fields", {})
            flagged[os.path.normpath(d["input"])] = {
                "verdict": "phishing" if d["rule_id"] == PHISHING_RULE else "suspicious",
                "score": fields.get("phishing_score"),
                "families": [f for f in FAMILIES if f"phishing_{f}" in fields],
                "fields": fields,
            }
    return flagged


def files(path):
    for root, _, names in os.walk(path):
        for n in sorted(names):
            if n in ("SOURCE.txt",) or n.startswith("LICENSE"):
                continue
            yield os.path.normpath(os.path.join(root, n))


def main():
    nw, data = sys.argv[1], sys.argv[2]
    list_ham = "--list-flagged-ham" in sys.argv
    root = os.path.join(data, "eml")
    truth = {}
    for r in csv.DictReader(open(os.path.join(root, "ground_truth.csv"))):
        truth[os.path.normpath(os.path.join(root, r["file"]))] = r["label"]
    ham_dir = os.path.join(root, "spamassassin-public", "easy_ham")
    for f in files(ham_dir):
        truth[f] = "ham"
    sets = {
        "phishing_pot (phishing)": [f for f in files(os.path.join(root, "phishing_pot"))],
        "spamassassin test phishing": [f for f in files(os.path.join(root, "spamassassin")) if truth.get(f) == "phishing"],
        "spamassassin test ham": [f for f in files(os.path.join(root, "spamassassin")) if truth.get(f) == "ham"],
        "spamassassin test spam (not scored)": [f for f in files(os.path.join(root, "spamassassin")) if truth.get(f) == "spam"],
        "easy_ham (legitimate)": list(files(ham_dir)),
    }
    flagged = {}
    for paths in ([os.path.join(root, "phishing_pot")], [os.path.join(root, "spamassassin")], [ham_dir]):
        flagged.update(detect(nw, paths))
    print("| set | messages | phishing | suspicious | flagged |")
    print("|---|---:|---:|---:|---:|")
    for name, members in sets.items():
        c = Counter(flagged[f]["verdict"] for f in members if f in flagged)
        n = len(members)
        hit = c["phishing"] + c["suspicious"]
        pct = f"{100 * hit / n:.1f}%" if n else "-"
        print(f"| {name} | {n} | {c['phishing']} | {c['suspicious']} | {hit} ({pct}) |")
    pos = sets["phishing_pot (phishing)"] + sets["spamassassin test phishing"]
    neg = sets["easy_ham (legitimate)"] + sets["spamassassin test ham"]
    tp = sum(f in flagged for f in pos)
    fp = sum(f in flagged for f in neg)
    prec = tp / (tp + fp) if tp + fp else 0.0
    print(f"\nPhishing vs legitimate, per message: TP {tp}, FN {len(pos) - tp}, FP {fp}, TN {len(neg) - fp}; "
          f"precision {100 * prec:.1f}%, recall {100 * tp / len(pos):.1f}%, false-positive rate {100 * fp / len(neg):.2f}%\n")
    print("Signal families among flagged messages (how many flagged messages each family contributed to):\n")
    print("| family | phishing flagged | legitimate flagged |")
    print("|---|---:|---:|")
    for fam in FAMILIES:
        p = sum(1 for f in pos if f in flagged and fam in flagged[f]["families"])
        h = sum(1 for f in neg if f in flagged and fam in flagged[f]["families"])
        print(f"| {fam} | {p} | {h} |")
    if list_ham:
        print("\nFlagged legitimate messages:\n")
        for f in neg:
            if f in flagged:
                x = flagged[f]
                print(f"- {os.path.relpath(f, root)}: score {x['score']}")
                for fam in x["families"]:
                    print(f"  - {fam}: {x['fields'][f'phishing_{fam}']}")


if __name__ == "__main__":
    main()

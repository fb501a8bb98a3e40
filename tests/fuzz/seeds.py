#!/usr/bin/env python3
"""Builds the fuzz seed corpora in tests/fuzz/corpus/<target>/ (git-ignored).

Seeds come from the project's own fixtures and, when it exists, from ../shared/data (read in
place, never committed). Whole-document formats are cut to MAX bytes so libFuzzer mutates
small inputs; EVTX seeds are single 64 KiB chunks cut out of real files; line formats get one
line per seed. Usage: seeds.py [TARGET ...]   (default: all targets)
"""
import hashlib
import json
import pathlib
import sys

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent.parent
SHARED = ROOT.parent / "shared" / "data"
FIXTURES = ROOT / "tests" / "fixtures"
MAX = 64 * 1024
PER_TARGET = 300


def files(base, patterns):
    if not base.exists():
        return []
    out = []
    for p in patterns:
        out.extend(sorted(x for x in base.rglob(p) if x.is_file()))
    return out


def lines(paths, per_file=40):
    for p in paths:
        with open(p, "rb") as f:
            for i, line in enumerate(f):
                if i >= per_file:
                    break
                if line.strip():
                    yield line.rstrip(b"\r\n")


def evtx_chunks(paths, per_file=1):
    for p in paths:
        data = p.read_bytes()
        for k in range(per_file):
            start = 4096 + k * 65536
            chunk = data[start:start + 65536]
            if chunk.startswith(b"ElfChnk\0"):
                yield chunk


def cloudtrail_records(paths):
    for p in paths:
        try:
            doc = json.loads(p.read_bytes())
        except ValueError:
            continue
        records = doc.get("Records", []) if isinstance(doc, dict) else doc
        for r in records[:10] if isinstance(records, list) else []:
            yield json.dumps(r).encode()


HANDWRITTEN = {
    "weblog": [
        b'203.0.113.9 - - [10/Oct/2026:13:55:36 +0000] "GET /shell.php?cmd=id HTTP/1.1" 200 2326 "-" "curl/8.0"',
        b"2026-10-10 13:55:36 10.0.0.5 GET /owa/auth.aspx - 443 - 198.51.100.7 Mozilla/5.0+(Windows) - 200 0 0 15",
        b"#Fields: date time s-ip cs-method cs-uri-stem cs-uri-query s-port cs-username c-ip cs(User-Agent) sc-status",
    ],
    "text": [b"failed password for root from 198.51.100.7 port 22 ssh2 http://evil.example/x.exe"],
    "syslog": [
        b"<134>1 2026-10-10T13:55:36Z fw01 filterlog - - - 5,,,1000000103,igb1,match,block,in,4,0x0,,64,0,0,DF,6,tcp,60,198.51.100.7,10.0.0.5,51234,22,0,S,1,,64240,,mss",
        b"%ASA-6-302013: Built inbound TCP connection 1 for outside:198.51.100.7/51234 (198.51.100.7/51234) to inside:10.0.0.5/22 (10.0.0.5/22)",
        b"CEF:0|Vendor|Product|1.0|100|Port scan|5|src=198.51.100.7 dst=10.0.0.5 dpt=22 act=blocked",
    ],
    "json": [b'{"EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Image":"C:\\\\Windows\\\\System32\\\\cmd.exe"}'],
}


def seeds(target):
    if target == "evtx":
        yield from evtx_chunks(files(SHARED / "evtx", ["*.evtx"]))
    elif target == "winxml":
        for p in files(FIXTURES / "logs", ["*.xml"]) + files(SHARED / "sysmon-xml", ["*.xml"]):
            yield p.read_bytes()[:MAX]
    elif target == "syslog":
        yield from lines(files(SHARED / "syslog", ["*.log", "*.txt"]), 15)
    elif target == "eml":
        for p in files(SHARED / "eml", ["*.eml"])[:PER_TARGET]:
            yield p.read_bytes()[:MAX]
    elif target == "pcap":
        for p in files(SHARED / "pcap", ["*.pcap", "*.pcapng", "*.cap"]):
            yield p.read_bytes()[:MAX]
    elif target == "zeek":
        for p in files(FIXTURES / "logs" / "zeek", ["*.log"]) + files(SHARED / "zeek", ["*.log", "*.labeled"]):
            yield p.read_bytes()[:16 * 1024]
    elif target == "cloudtrail":
        yield from cloudtrail_records(files(SHARED / "cloudtrail", ["*.json"]))
    elif target == "json":
        yield from lines(files(FIXTURES / "logs", ["*.jsonl"]), 100)
        yield from cloudtrail_records(files(SHARED / "cloudtrail", ["*.json"])[:5])
    elif target == "weblog":
        yield from lines(files(SHARED / "syslog" / "EVTX-ATTACK-SAMPLES", ["*.log", "*access_log*"]), 60)
        yield from lines(files(SHARED / "syslog" / "loghub", ["Apache_2k.log"]), 20)
    elif target == "text":
        yield from lines(files(SHARED / "syslog" / "loghub", ["*.log"]), 10)
    yield from HANDWRITTEN.get(target, [])


def main():
    targets = sys.argv[1:] or [p.stem for p in (FUZZ / "fuzz_targets").glob("*.rs")]
    for t in sorted(targets):
        out = FUZZ / "corpus" / t
        out.mkdir(parents=True, exist_ok=True)
        n = 0
        for seed in seeds(t):
            if n >= PER_TARGET:
                break
            (out / hashlib.sha1(seed).hexdigest()).write_bytes(seed)
            n += 1
        print(f"{t}: {n} seeds -> {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()

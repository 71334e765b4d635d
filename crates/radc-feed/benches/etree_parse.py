"""Baseline for benches/parse.rs: parse the same feeds with the standard
library's ElementTree, walk out the same fields (resolving URLs like the
Rust parser does) and print two lines per file: "<path> <MiB/s> <resources> <runs>"
and the time of every run in seconds, separated by spaces.

Usage: etree_parse.py SECONDS_PER_FILE MIN_RUNS FILE...
"""

import statistics
import sys
import time
import xml.etree.ElementTree as ET
from urllib.parse import urljoin, urlsplit

NS = "{http://schemas.microsoft.com/ts/2007/05/tswf}"
BASE = "https://rdweb.example.test/RDWeb/Feed/webfeed.aspx"


def url(value):
    if not value:
        return None
    resolved = urljoin(BASE, value.strip())
    if urlsplit(resolved).scheme not in ("http", "https"):
        raise ValueError(value)
    return resolved


def icons(parent):
    out = []
    if parent is None:
        return out
    for icon in parent:
        out.append((icon.tag, icon.get("Dimensions"), icon.get("FileType"), url(icon.get("FileURL"))))
    return out


def walk(data):
    root = ET.fromstring(data)
    publisher = root.find(NS + "Publisher")
    fields = [publisher.get("ID"), publisher.get("Name"), publisher.get("LastUpdated"),
              publisher.get("SupportsReconnect") or root.get("SupportsReconnect")]
    resources = []
    for res in publisher.iterfind(NS + "Resources/" + NS + "Resource"):
        extensions = [
            (ext.get("Name"), ext.get("PrimaryHandler"), icons(ext.find(NS + "FileAssociationIcons")))
            for ext in res.iterfind(NS + "FileExtensions/" + NS + "FileExtension")
        ]
        folders = [f.get("Name") for f in res.iterfind(NS + "Folders/" + NS + "Folder")]
        hosting = []
        for hts in res.iterfind(NS + "HostingTerminalServers/" + NS + "HostingTerminalServer"):
            rf = hts.find(NS + "ResourceFile")
            ref = hts.find(NS + "TerminalServerRef")
            hosting.append((
                None if rf is None else (url(rf.get("URL")), rf.get("FileExtension", ".rdp")),
                None if ref is None else ref.get("Ref"),
            ))
        resources.append((
            res.get("ID"), res.get("Alias"), res.get("Title"), res.get("Type"),
            res.get("ShowByDefault", "true"), icons(res.find(NS + "Icons")),
            extensions, folders, hosting,
        ))
    servers = [(s.get("ID"), s.get("Name"))
               for s in publisher.iterfind(NS + "TerminalServers/" + NS + "TerminalServer")]
    return fields, resources, servers


def main():
    budget = float(sys.argv[1])
    min_runs = int(sys.argv[2])
    for path in sys.argv[3:]:
        with open(path, "rb") as f:
            data = f.read()
        count = len(walk(data)[1])
        samples = []
        deadline = time.perf_counter() + budget
        # At least min_runs runs, then until the budget is spent.
        while len(samples) < min_runs or (time.perf_counter() < deadline and len(samples) < 10_000):
            start = time.perf_counter()
            walk(data)
            samples.append(time.perf_counter() - start)
        median = statistics.median(samples)
        print(f"{path} {len(data) / median / (1024 * 1024):.2f} {count} {len(samples)}")
        print(" ".join(repr(sample) for sample in samples))


if __name__ == "__main__":
    main()

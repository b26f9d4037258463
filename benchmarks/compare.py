"""Two JSON results of a side-by-side benchmark (``--json``), side by side: per
workload and runtime, the ratio to the datastore directly and the CPU µs per request
of each run, and how the second differs from the first.

    .venv/bin/python benchmarks/compare.py before.json after.json
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any, Dict


def load(path: str) -> Dict[str, Any]:
    with open(path) as f:
        document: Dict[str, Any] = json.load(f)
    return document


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("before")
    parser.add_argument("after")
    args = parser.parse_args()
    a, b = load(args.before), load(args.after)
    for label, doc in (("A", a), ("B", b)):
        print("%s: %s, commit %s, %s, load average %s" % (
            label, doc["benchmark"], doc.get("commit"), doc["settings"].get("shape", ""),
            "/".join("%.2f" % v for v in doc["loadavg"]["start"])))
    print("\n%-24s %-8s %7s %7s %7s  %9s %9s %7s" % (
        "workload", "runtime", "ratio A", "ratio B", "B-A", "CPU us A", "CPU us B", "B/A"))
    for row, after in b["rows"].items():
        before = a["rows"].get(row)
        for runtime, new in after["runtimes"].items():
            old = before["runtimes"].get(runtime) if before else None
            if old is None:
                print("%-24s %-8s %7s %7.2f %7s  %9s %9.1f %7s" % (
                    row, runtime, "-", new["ratio"], "", "-", new["cpu_us"], ""))
                continue
            print("%-24s %-8s %7.2f %7.2f %+7.2f  %9.1f %9.1f %7.2f" % (
                row, runtime, old["ratio"], new["ratio"], new["ratio"] - old["ratio"],
                old["cpu_us"], new["cpu_us"],
                new["cpu_us"] / old["cpu_us"] if old["cpu_us"] else float("nan")))
    return 0


if __name__ == "__main__":
    sys.exit(main())

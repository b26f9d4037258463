"""What the side-by-side benchmarks share: the interpreters that run the nodes, the CPU
a process spent, and the results (medians over interleaved rounds, ratio to the
datastore reached directly, CPU µs per request), printed as a table and written as
JSON for ``benchmarks/compare.py``.

A runtime is named ``cpython`` (the project's ``.venv``), ``pypy`` (``.venv-pypy``,
made by ``WANT_PYPY=1 source scripts/bootstrap.sh``) or ``name=/path/to/python``.
"""

from __future__ import annotations

import json
import os
import resource
import statistics
import subprocess
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VENVS = {"cpython": ".venv", "pypy": ".venv-pypy"}
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def runtimes(text: str) -> List[Tuple[str, str]]:
    """``cpython,pypy`` (or ``name=python,...``) as (name, interpreter) pairs."""
    chosen = []
    for item in text.split(","):
        name, _, python = item.partition("=")
        if not python:
            if name not in VENVS:
                raise SystemExit("unknown runtime %r: cpython, pypy or name=/path/python" % name)
            python = os.path.join(ROOT, VENVS[name], "bin", "python")
        if not os.access(python, os.X_OK):
            hint = " (WANT_PYPY=1 source scripts/bootstrap.sh)" if name == "pypy" else ""
            raise SystemExit("runtime %s: no interpreter at %s%s" % (name, python, hint))
        chosen.append((name, python))
    return chosen


def describe_python(python: str) -> str:
    """``CPython 3.11.7``, ``PyPy 3.9.16`` ...: what an interpreter is."""
    return subprocess.run(
        [python, "-c", "import platform; print(platform.python_implementation(),"
         " platform.python_version())"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()


def raise_open_files_limit() -> None:
    """Up to the hard limit, for runs with a thousand connections (children inherit it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def git_commit() -> Optional[str]:
    try:
        out = subprocess.run(["git", "-C", ROOT, "describe", "--always", "--dirty"],
                             capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        return None
    return out.stdout.strip()


class Results:
    """Rates of the datastore reached directly and through each runtime's node, per row
    (a workload), one sample per round; the ratio is taken per round, then the median."""

    def __init__(self, benchmark: str, runtimes: Sequence[Tuple[str, str]]) -> None:
        self.benchmark = benchmark
        self.runtimes = [name for name, _ in runtimes]
        self.pythons = {name: describe_python(python) for name, python in runtimes}
        self.rows: Dict[str, Dict[str, Any]] = {}
        self.loadavg_start = os.getloadavg()

    def add(self, row: str, direct: float, node: Dict[str, Tuple[float, List[float]]]) -> None:
        """One round of ``row``: direct ops/s, and per runtime (ops/s, CPU µs/request of
        each of its node processes)."""
        entry = self.rows.setdefault(row, {"direct": [], "runtimes": {}})
        entry["direct"].append(direct)
        for name, (rate, cpu) in node.items():
            samples = entry["runtimes"].setdefault(name, {"rate": [], "ratio": [], "cpu": []})
            samples["rate"].append(rate)
            samples["ratio"].append(rate / direct if direct else 0.0)
            samples["cpu"].append(cpu)
        print("  %-24s direct %9.0f  %s" % (row, direct, "  ".join(
            "%s %9.0f (%.2f, %.1f us)" % (name, rate, rate / direct if direct else 0, sum(cpu))
            for name, (rate, cpu) in node.items())), file=sys.stderr)

    def summary(self) -> Dict[str, Any]:
        rows = {}
        for row, entry in self.rows.items():
            out: Dict[str, Any] = {"direct": statistics.median(entry["direct"]), "runtimes": {}}
            for name, samples in entry["runtimes"].items():
                cpu = samples["cpu"]
                out["runtimes"][name] = {
                    "rate": statistics.median(samples["rate"]),
                    "ratio": statistics.median(samples["ratio"]),
                    "cpu_us": statistics.median(sum(c) for c in cpu),
                    "cpu_us_per_node": [statistics.median(c[i] for c in cpu)
                                        for i in range(len(cpu[0]))],
                    "rounds": len(samples["rate"]),
                }
            rows[row] = out
        return rows

    def print_table(self, note: str) -> None:
        names = self.runtimes
        header = "%-24s %10s" % ("workload", "direct/s") + "".join(
            " | %-7s %9s %5s %8s" % (name, "ops/s", "ratio", "CPU us") for name in names)
        print("\n" + header)
        for row, out in self.summary().items():
            line = "%-24s %10.0f" % (row, out["direct"])
            for name in names:
                r = out["runtimes"][name]
                line += " | %-7s %9.0f %5.2f %8.1f" % ("", r["rate"], r["ratio"], r["cpu_us"])
            print(line)
        print("(%s; %s; load average %s at the start, %s at the end)" % (
            note, ", ".join("%s = %s" % (n, self.pythons[n]) for n in names),
            _loadavg(self.loadavg_start), _loadavg(os.getloadavg())))

    def write_json(self, path: str, settings: Dict[str, Any]) -> None:
        document = {
            "benchmark": self.benchmark,
            "commit": git_commit(),
            "settings": settings,
            "pythons": self.pythons,
            "loadavg": {"start": self.loadavg_start, "end": os.getloadavg()},
            "cpus": os.cpu_count(),
            "rows": self.summary(),
        }
        with open(path, "w") as f:
            json.dump(document, f, indent=1)
            f.write("\n")


def _loadavg(values: Sequence[float]) -> str:
    return "/".join("%.2f" % v for v in values)

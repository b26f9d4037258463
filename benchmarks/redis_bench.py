"""Throughput of Redis reached directly and through one dynotwist node, side by side.

Runs redis-benchmark against both in interleaved rounds and prints, per workload, the
median ops/s of each, the ratio (through dynotwist / direct, same round) and the CPU
time the node spent per request, read from /proc (user + system).

    .venv/bin/python benchmarks/redis_bench.py [--rounds 2] [--requests 100000]
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import statistics
import subprocess
import sys
import tempfile
from typing import Dict, List, Tuple

from dynotwist.local import Node, RedisServer, find_program, free_port, single_node_fields

TESTS = ("set", "get", "incr", "lpush", "lrange_100")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def redis_benchmark(port: int, test: str, pipeline: int, requests: int, clients: int) -> float:
    """Requests per second reported by redis-benchmark for one test."""
    out = subprocess.run(
        [
            find_program("redis-benchmark"),
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-c",
            str(clients),
            "-n",
            str(requests),
            "-P",
            str(pipeline),
            "-t",
            test,
            "--csv",
        ],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rows = [row for row in csv.reader(io.StringIO(out)) if row and row[0] != "test"]
    return float(rows[-1][1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipelines", default="1,16")
    parser.add_argument("--tests", default=",".join(TESTS))
    args = parser.parse_args()
    pipelines = [int(p) for p in args.pipelines.split(",")]
    tests = args.tests.split(",")

    workdir = tempfile.mkdtemp(prefix="dynotwist-bench-")
    direct = RedisServer(workdir)
    backend = RedisServer(workdir)
    node = Node(
        workdir,
        single_node_fields(backend.port, free_port(), free_port(), free_port()),
        verbosity=4,
    )
    results: Dict[Tuple[str, int], Dict[str, List[float]]] = {}
    try:
        for process in (direct, backend, node):
            process.start()
        for round_no in range(1, args.rounds + 1):
            for pipeline in pipelines:
                for test in tests:
                    entry = results.setdefault(
                        (test, pipeline), {"direct": [], "node": [], "cpu": []}
                    )
                    entry["direct"].append(
                        redis_benchmark(direct.port, test, pipeline, args.requests, args.clients)
                    )
                    before = cpu_seconds(node.pid)
                    entry["node"].append(
                        redis_benchmark(
                            node.client_port, test, pipeline, args.requests, args.clients
                        )
                    )
                    spent = cpu_seconds(node.pid) - before
                    entry["cpu"].append(spent * 1e6 / args.requests)
                    print(
                        "round %d  %-10s P=%-2d direct %9.0f  dynotwist %9.0f"
                        % (round_no, test, pipeline, entry["direct"][-1], entry["node"][-1]),
                        file=sys.stderr,
                    )
    finally:
        for process in (node, backend, direct):
            process.stop()

    print(
        "\n%-12s %3s %12s %12s %7s %14s"
        % ("test", "P", "direct/s", "dynotwist/s", "ratio", "node µs/req")
    )
    for (test, pipeline), entry in results.items():
        ratios = [n / d for n, d in zip(entry["node"], entry["direct"])]
        print(
            "%-12s %3d %12.0f %12.0f %7.2f %14.1f"
            % (
                test,
                pipeline,
                statistics.median(entry["direct"]),
                statistics.median(entry["node"]),
                statistics.median(ratios),
                statistics.median(entry["cpu"]),
            )
        )
    print(
        "(%d rounds, %d requests, %d clients; medians; ratio per round then median)"
        % (args.rounds, args.requests, args.clients)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

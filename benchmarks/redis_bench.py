"""Throughput of Redis reached directly and through dynotwist, side by side.

Runs redis-benchmark against both in interleaved rounds and prints, per workload, the
median ops/s of each, the ratio (through dynotwist / direct, same round) and the CPU
time dynotwist spent per request, read from /proc (user + system). With ``--racks N``
the load goes to the first node of a local cluster of N racks (one DC, one node per
rack, each with its own redis-server, writes replicated to every rack); the CPU shown
is then the sum over all nodes, and per node in brackets.

    .venv/bin/python benchmarks/redis_bench.py [--rounds 2] [--requests 100000]
    .venv/bin/python benchmarks/redis_bench.py --racks 3 --tests set,get --pipelines 1
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
from typing import Dict, List, Sequence, Tuple

from dynotwist.testing.cluster import Cluster
from dynotwist.testing.configs import single_node_fields
from dynotwist.testing.ports import free_port
from dynotwist.testing.processes import NodeProcess, RedisServer, find_program

TESTS = ("set", "get", "incr", "lpush", "lrange_100")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process, from /proc/<pid>/stat."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def redis_benchmark(
    port: int, test: str, pipeline: int, requests: int, clients: int, host: str = "127.0.0.1"
) -> float:
    """Requests per second reported by redis-benchmark for one test."""
    out = subprocess.run(
        [
            find_program("redis-benchmark"),
            "-h",
            host,
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


def add_load_options(parser: argparse.ArgumentParser, tests: Sequence[str]) -> None:
    """The load redis-benchmark puts on: rounds, requests, clients, pipelines, tests."""
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipelines", default="1,16")
    parser.add_argument("--tests", default=",".join(tests))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_options(parser, TESTS)
    parser.add_argument("--racks", type=int, default=0, help="benchmark a 1-DC cluster")
    parser.add_argument("--consistency", default="DC_ONE", help="cluster read/write level")
    args = parser.parse_args()
    pipelines = [int(p) for p in args.pipelines.split(",")]
    tests = args.tests.split(",")

    workdir = tempfile.mkdtemp(prefix="dynotwist-bench-")
    direct = RedisServer(workdir)
    if args.racks:
        level = args.consistency
        cluster = Cluster(
            workdir, 1, args.racks, verbosity=4,
            extra_fields={"read_consistency": level, "write_consistency": level},
        )
        target = cluster.nodes[0].client_port
        nodes = [member.node for member in cluster.nodes]
        starts, stops = [direct.start, cluster.start], [cluster.stop, direct.stop]
        shape = "%d-rack cluster at %s" % (args.racks, level)
    else:
        backend = RedisServer(workdir)
        node = NodeProcess(
            workdir, single_node_fields(backend.port, free_port(), free_port(), free_port()),
            verbosity=4,
        )
        target = node.client_port
        nodes = [node]
        starts = [direct.start, backend.start, node.start]
        stops = [node.stop, backend.stop, direct.stop]
        shape = "1 node"
    rates: Dict[Tuple[str, int], Tuple[List[float], List[float]]] = {}
    cpu: Dict[Tuple[str, int], List[List[float]]] = {}
    try:
        for start in starts:
            start()
        for round_no in range(1, args.rounds + 1):
            for pipeline in pipelines:
                for test in tests:
                    direct_rates, node_rates = rates.setdefault((test, pipeline), ([], []))
                    direct_rates.append(
                        redis_benchmark(direct.port, test, pipeline, args.requests, args.clients)
                    )
                    before = [cpu_seconds(n.pid) for n in nodes]
                    node_rates.append(
                        redis_benchmark(target, test, pipeline, args.requests, args.clients)
                    )
                    cpu.setdefault((test, pipeline), []).append(
                        [(cpu_seconds(n.pid) - b) * 1e6 / args.requests
                         for n, b in zip(nodes, before)]
                    )
                    print(
                        "round %d  %-10s P=%-2d direct %9.0f  dynotwist %9.0f"
                        % (round_no, test, pipeline, direct_rates[-1], node_rates[-1]),
                        file=sys.stderr,
                    )
    finally:
        for stop in stops:
            stop()

    print(
        "\n%-12s %3s %12s %12s %7s %12s  %s"
        % ("test", "P", "direct/s", "dynotwist/s", "ratio", "CPU µs/req", "(per node)")
    )
    for (test, pipeline), (direct_rates, node_rates) in rates.items():
        ratios = [n / d for n, d in zip(node_rates, direct_rates)]
        rounds = cpu[(test, pipeline)]
        per_node = [statistics.median(r[i] for r in rounds) for i in range(len(nodes))]
        print(
            "%-12s %3d %12.0f %12.0f %7.2f %12.1f  (%s)"
            % (
                test, pipeline, statistics.median(direct_rates), statistics.median(node_rates),
                statistics.median(ratios), statistics.median(sum(r) for r in rounds),
                " ".join("%.1f" % c for c in per_node),
            )
        )
    print(
        "(%s; %d rounds, %d requests, %d clients; medians; ratio per round then median)"
        % (shape, args.rounds, args.requests, args.clients)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""What counting costs: one node with stats, one with the hot path's counting stubbed
out (DYNOTWIST_STATS=off), each in front of its own redis-server, measured side by side
in interleaved rounds with redis-benchmark. Prints ops/s, the ratio (stats on / off)
and CPU µs per request of each node.

    .venv/bin/python benchmarks/stats_cost.py [--rounds 3] [--pipelines 1,16]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from typing import Dict, List, Tuple

from dynotwist.testing.configs import single_node_fields
from dynotwist.testing.ports import free_port
from dynotwist.testing.processes import NodeProcess, RedisServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from redis_bench import cpu_seconds, redis_benchmark


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=200000)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--pipelines", default="1,16")
    parser.add_argument("--tests", default="set,get")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="dynotwist-stats-")
    nodes: Dict[str, NodeProcess] = {}
    backends: List[RedisServer] = []
    for name in ("on", "off"):
        backend = RedisServer(workdir)
        backends.append(backend)
        fields = single_node_fields(backend.port, free_port(), free_port(), free_port())
        nodes[name] = node = NodeProcess(workdir, fields, name="stats-" + name, verbosity=4)
        if name == "off":
            assert node.env is not None
            node.env["DYNOTWIST_STATS"] = "off"
    results: Dict[Tuple[str, int], Dict[str, List[float]]] = {}
    try:
        for process in (*backends, *nodes.values()):
            process.start()
        for _ in range(args.rounds):
            for pipeline in (int(p) for p in args.pipelines.split(",")):
                for test in args.tests.split(","):
                    entry = results.setdefault((test, pipeline), {})
                    for name, node in nodes.items():
                        before = cpu_seconds(node.pid)
                        rate = redis_benchmark(
                            node.client_port, test, pipeline, args.requests, args.clients
                        )
                        cpu = (cpu_seconds(node.pid) - before) * 1e6 / args.requests
                        entry.setdefault(name, []).append(rate)
                        entry.setdefault(name + " cpu", []).append(cpu)
    finally:
        for process in (*nodes.values(), *backends):
            process.stop()

    print("%-6s %3s %12s %12s %7s %10s %10s" % (
        "test", "P", "stats on/s", "stats off/s", "ratio", "on µs/req", "off µs/req"))
    for (test, pipeline), entry in results.items():
        ratios = [a / b for a, b in zip(entry["on"], entry["off"])]
        print("%-6s %3d %12.0f %12.0f %7.3f %10.2f %10.2f" % (
            test, pipeline, statistics.median(entry["on"]), statistics.median(entry["off"]),
            statistics.median(ratios), statistics.median(entry["on cpu"]),
            statistics.median(entry["off cpu"])))
    print("(%d rounds, %d requests, %d clients; medians)" % (
        args.rounds, args.requests, args.clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Throughput of Redis reached directly and through dynotwist nodes, side by side.

redis-benchmark loads Redis directly and one node (or cluster) per runtime, in
interleaved rounds (every target within each round, one workload after the other),
all in front of redis-servers of the same build. Printed per workload: the median
ops/s of each, the ratio to Redis directly (per round, then the median) and the CPU
time each runtime's nodes spent per request, read from /proc (user + system). With
``--racks N`` each runtime gets a local cluster of N racks (one DC, one node per rack,
each with its own redis-server, writes replicated to every rack) and the load goes to
its first node; the CPU is then the sum over its nodes (per node in the JSON).

    .venv/bin/python benchmarks/redis_bench.py --preset seed --runtimes cpython,pypy
    .venv/bin/python benchmarks/redis_bench.py --racks 3 --tests set,get --pipelines 1,16
    .venv/bin/python benchmarks/redis_bench.py --tests set,get -d 16384 --json big.json
    .venv/bin/python benchmarks/compare.py before.json after.json

``--preset seed`` is the seed's benchmark: ``-c 100 -t set,get,incr,lpush,lpop,sadd,
spop,lrange_100,lrange_300,lrange_600``, P=1. LRANGE_N is measured alone (redis-
benchmark's ``lrange_N`` test runs an LPUSH first): the list is filled, then
``LRANGE mylist 0 N-1`` runs as redis-benchmark's own command.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import subprocess
import sys
import tempfile
from typing import Any, Callable, Dict, List, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.sidebyside import (
    Results,
    cpu_seconds,
    raise_open_files_limit,
    runtimes,
)
from dynotwist.testing.cluster import Cluster
from dynotwist.testing.configs import single_node_fields
from dynotwist.testing.ports import free_port
from dynotwist.testing.processes import NodeProcess, Process, RedisServer, find_program

__all__ = ["add_load_options", "cpu_seconds", "redis_benchmark"]

TESTS = ("set", "get", "incr", "lpush", "lrange_100")
PRESETS = {
    "seed": {
        "clients": 100,
        "pipelines": "1",
        "tests": "set,get,incr,lpush,lpop,sadd,spop,lrange_100,lrange_300,lrange_600",
    },
}
LIST_FILL = 1000  # elements pushed before an LRANGE test: more than it reads


def redis_benchmark(
    port: int,
    test: str,
    pipeline: int,
    requests: int,
    clients: int,
    host: str = "127.0.0.1",
    data_size: int = 3,
) -> float:
    """Requests per second reported by redis-benchmark for one test (``lrange_N``: the
    LRANGE alone, on a list filled beforehand)."""
    base = [find_program("redis-benchmark"), "-h", host, "-p", str(port), "--csv"]
    argv = [*base, "-c", str(clients), "-n", str(requests), "-P", str(pipeline),
            "-d", str(data_size)]
    if test.startswith("lrange_"):
        _run([*base, "-n", str(LIST_FILL), "-P", "16", "-d", str(data_size), "-t", "lpush"])
        argv += ["LRANGE", "mylist", "0", str(int(test[len("lrange_"):]) - 1)]
    else:
        argv += ["-t", test]
    out = _run(argv)
    rows = [row for row in csv.reader(io.StringIO(out)) if row and row[0] != "test"]
    return float(rows[-1][1])


def _run(argv: List[str]) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def add_load_options(parser: argparse.ArgumentParser, tests: Sequence[str]) -> None:
    """The load redis-benchmark puts on: rounds, requests, clients, pipelines, tests."""
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", "-n", type=int, default=100000)
    parser.add_argument("--clients", "-c", type=int, default=50)
    parser.add_argument("--pipelines", "-P", default="1,16")
    parser.add_argument("--tests", "-t", default=",".join(tests))


class Target:
    """What one runtime is benchmarked through: its node processes and the port the
    load goes to."""

    def __init__(self, name: str, port: int, nodes: List[NodeProcess],
                 processes: List[Process], start: Callable[[], None],
                 stop: Callable[[], None]) -> None:
        self.name = name
        self.port = port
        self.nodes = nodes
        self.processes = processes
        self.start = start
        self.stop = stop

    def cpu(self) -> List[float]:
        return [cpu_seconds(node.pid) for node in self.nodes]


def make_target(workdir: str, name: str, python: str, args: argparse.Namespace) -> Target:
    where = os.path.join(workdir, name)
    os.makedirs(where)
    if args.racks:
        level = args.consistency
        cluster = Cluster(
            where, 1, args.racks, verbosity=4, python=python,
            extra_fields={"read_consistency": level, "write_consistency": level},
        )
        nodes = [member.node for member in cluster.nodes]
        return Target(name, cluster.nodes[0].client_port, nodes, [], cluster.start,
                      cluster.stop)
    backend = RedisServer(where)
    node = NodeProcess(
        where, single_node_fields(backend.port, free_port(), free_port(), free_port()),
        verbosity=4, python=python,
    )
    processes: List[Process] = [backend, node]

    def start() -> None:
        for process in processes:
            process.start()

    def stop() -> None:
        for process in reversed(processes):
            process.stop()

    return Target(name, node.client_port, [node], processes, start, stop)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_load_options(parser, TESTS)
    parser.add_argument("--preset", choices=sorted(PRESETS),
                        help="a named load (seed: the seed's benchmark, c100, P=1)")
    parser.add_argument("--data-size", "-d", type=int, default=3, help="value size in bytes")
    parser.add_argument("--runtimes", default="cpython",
                        help="interpreters running the nodes: cpython, pypy or name=python,"
                        " comma-separated")
    parser.add_argument("--racks", type=int, default=0, help="benchmark a 1-DC cluster")
    parser.add_argument("--consistency", default="DC_ONE", help="cluster read/write level")
    parser.add_argument("--warmup", type=int, default=10000,
                        help="requests of each test sent to the nodes before the rounds,"
                        " unmeasured (PyPy's JIT compiles the hot path meanwhile)")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    if args.preset:
        for key, value in PRESETS[args.preset].items():
            setattr(args, key, value)
    pipelines = [int(p) for p in args.pipelines.split(",")]
    tests = args.tests.split(",")
    chosen = runtimes(args.runtimes)
    raise_open_files_limit()

    workdir = tempfile.mkdtemp(prefix="dynotwist-bench-")
    direct = RedisServer(workdir)
    targets = [make_target(workdir, name, python, args) for name, python in chosen]
    results = Results("redis", chosen)
    shape = ("%d-rack cluster at %s" % (args.racks, args.consistency) if args.racks
             else "1 node")
    started: List[Any] = []
    try:
        for thing in (direct, *targets):
            thing.start()
            started.append(thing)
        for target in targets if args.warmup else ():
            for test in tests:
                redis_benchmark(target.port, test, pipelines[0], args.warmup, args.clients,
                                data_size=args.data_size)
        for round_no in range(1, args.rounds + 1):
            print("round %d" % round_no, file=sys.stderr)
            for pipeline in pipelines:
                for test in tests:
                    load = (test, pipeline, args.requests, args.clients, "127.0.0.1",
                            args.data_size)
                    direct_rate = redis_benchmark(direct.port, *load)
                    node: Dict[str, Tuple[float, List[float]]] = {}
                    for target in targets:
                        before = target.cpu()
                        rate = redis_benchmark(target.port, *load)
                        node[target.name] = (rate, [
                            (after - b) * 1e6 / args.requests
                            for after, b in zip(target.cpu(), before)])
                    results.add("%s P=%d" % (test, pipeline), direct_rate, node)
    finally:
        for thing in reversed(started):
            thing.stop()

    settings = {"shape": shape, "rounds": args.rounds, "requests": args.requests,
                "warmup": args.warmup,
                "clients": args.clients, "data_size": args.data_size,
                "pipelines": pipelines, "tests": tests}
    results.print_table("%s; %d rounds, %d requests, %d clients, %d-byte values; medians"
                        % (shape, args.rounds, args.requests, args.clients, args.data_size))
    if args.json:
        results.write_json(args.json, settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Does a node scale with ``workers: N``? Throughput per CPU-second of its processes.

One node per worker count (``--workers 1,2``), each in front of its own redis-server,
loaded in interleaved rounds by redis-benchmark (SET and GET, c50, P=1 by default).
The node's processes (the parent and its workers) run on ``--node-cpus`` (taskset);
this script, redis-benchmark and the redis-servers on ``--load-cpus``, so that the
load does not take the node's CPU. Printed per worker count and test: the median
ops/s, the CPU-seconds the node's processes spent (user + system, from /proc), and
requests per CPU-second of the node, with its ratio to one worker's: a node that
scales keeps that ratio near 1 (each request costs the same CPU, whatever the count).

The same clients split over more workers give each worker fewer requests to share a
reactor tick and a datastore write with, and each request costs more (as it does for
one worker with fewer clients); ``--clients-per-worker`` gives each worker ``-c``
clients, the load a node with more workers is for.

    .venv/bin/python benchmarks/workers_bench.py
    .venv/bin/python benchmarks/workers_bench.py --workers 1,2 --node-cpus 0 --load-cpus 1
    .venv/bin/python benchmarks/workers_bench.py --clients-per-worker
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from typing import Dict, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.redis_bench import add_load_options, redis_benchmark
from benchmarks.sidebyside import cpu_seconds, raise_open_files_limit
from dynotwist.testing.configs import single_node_fields
from dynotwist.testing.ports import free_port
from dynotwist.testing.processes import NodeProcess, Process, RedisServer, find_program


def node_pids(parent: int) -> List[int]:
    """``parent`` and its children (a node's workers), from /proc."""
    pids = [parent]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):  # ended meanwhile
                continue
            if ppid == parent:
                pids.append(int(entry))
    return pids


def node_cpu(parent: int) -> float:
    return sum(cpu_seconds(pid) for pid in node_pids(parent))


def cpus(text: str) -> List[int]:
    return [int(cpu) for cpu in text.split(",")]


def start_node(workdir: str, workers: int, node_cpus: str) -> Tuple[NodeProcess, List[Process]]:
    where = os.path.join(workdir, "workers%d" % workers)
    os.makedirs(where)
    backend = RedisServer(where)
    fields = single_node_fields(backend.port, free_port(), free_port(), free_port())
    fields["workers"] = workers
    node = NodeProcess(where, fields, verbosity=4)
    node.argv = [find_program("taskset"), "-c", node_cpus, *node.argv]
    backend.start()
    node.start()
    return node, [node, backend]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    add_load_options(parser, ("set", "get"))
    parser.set_defaults(pipelines="1", rounds=3)
    parser.add_argument("--workers", default="1,2", help="worker counts, comma-separated")
    parser.add_argument("--node-cpus", default="0", help="CPUs of the node's processes")
    parser.add_argument("--load-cpus", default="1",
                        help="CPUs of redis-benchmark and the redis-servers")
    parser.add_argument("--clients-per-worker", action="store_true",
                        help="-c clients for each worker (N workers: N times as many)")
    args = parser.parse_args()
    counts = [int(n) for n in args.workers.split(",")]
    tests = args.tests.split(",")
    pipelines = [int(p) for p in args.pipelines.split(",")]
    os.sched_setaffinity(0, cpus(args.load_cpus))  # inherited by what this starts
    raise_open_files_limit()

    workdir = tempfile.mkdtemp(prefix="dynotwist-workers-bench-")
    nodes: Dict[int, NodeProcess] = {}
    started: List[Process] = []
    rates: Dict[Tuple[int, str], List[float]] = {}
    per_cpu: Dict[Tuple[int, str], List[float]] = {}
    spent: Dict[Tuple[int, str], List[float]] = {}
    try:
        for count in counts:
            nodes[count], processes = start_node(workdir, count, args.node_cpus)
            started += processes
        clients = {count: args.clients * (count if args.clients_per_worker else 1)
                   for count in counts}
        for count, node in nodes.items():  # unmeasured: connections made, caches warm
            for test in tests:
                redis_benchmark(node.client_port, test, pipelines[0], 10000, clients[count])
        for round_no in range(1, args.rounds + 1):
            print("round %d" % round_no, file=sys.stderr)
            for pipeline in pipelines:
                for test in tests:
                    for count, node in nodes.items():
                        key = (count, "%s P=%d" % (test, pipeline))
                        before = node_cpu(node.pid)
                        rate = redis_benchmark(node.client_port, test, pipeline,
                                               args.requests, clients[count])
                        used = node_cpu(node.pid) - before
                        rates.setdefault(key, []).append(rate)
                        spent.setdefault(key, []).append(used)
                        per_cpu.setdefault(key, []).append(args.requests / used)
    finally:
        for process in reversed(started):
            process.stop()

    print("node CPUs %s, load CPUs %s; %d rounds, %d requests, %d clients%s; medians"
          % (args.node_cpus, args.load_cpus, args.rounds, args.requests, args.clients,
             " per worker" if args.clients_per_worker else ""))
    print("%-10s %7s %10s %12s %14s %9s" % ("test", "workers", "ops/s", "node CPU s",
                                           "req/CPU-s", "vs 1"))
    for pipeline in pipelines:
        for test in tests:
            name = "%s P=%d" % (test, pipeline)
            base = statistics.median(per_cpu[(counts[0], name)])
            for count in counts:
                key = (count, name)
                efficiency = statistics.median(per_cpu[key])
                print("%-10s %7d %10.0f %12.2f %14.0f %9.2f" % (
                    name, count, statistics.median(rates[key]), statistics.median(spent[key]),
                    efficiency, efficiency / base))
    return 0


if __name__ == "__main__":
    sys.exit(main())

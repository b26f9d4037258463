"""Peer TLS against plaintext: two 3-rack clusters side by side, ``all`` and ``none``.

Both clusters (one DC, one node per rack, each node on its own loopback address and
in front of its own redis-server) run at once; redis-benchmark loads the first node of
each in interleaved rounds. Every write is copied to the two other racks, over TLS in
one cluster and in plaintext in the other; reads are answered by the local rack
(DC_ONE) unless ``--consistency`` asks for more. Printed per workload: the median
ops/s of each, their ratio (TLS / plaintext, same round, then the median) and the CPU
time the three nodes spent per request.

    .venv/bin/python benchmarks/tls_bench.py --rounds 2 --tests set,get --pipelines 1,16
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from typing import Dict, List, Tuple

from benchmarks.redis_bench import add_load_options, cpu_seconds, redis_benchmark
from dynotwist.testing.cluster import Cluster
from dynotwist.testing.ports import loopback_hosts

OPTIONS = ("none", "all")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_load_options(parser, ("set", "get"))
    parser.add_argument("--consistency", default="DC_ONE", help="read/write level")
    args = parser.parse_args()
    pipelines = [int(p) for p in args.pipelines.split(",")]
    tests = args.tests.split(",")
    level = args.consistency

    workdir = tempfile.mkdtemp(prefix="dynotwist-tls-bench-")
    clusters = {
        option: Cluster(
            "%s/%s" % (workdir, option), 1, 3, verbosity=4, secure_server_option=option,
            hosts=loopback_hosts(3, first=2 + 3 * index),
            extra_fields={"read_consistency": level, "write_consistency": level},
        )
        for index, option in enumerate(OPTIONS)
    }
    rates: Dict[Tuple[str, int], Dict[str, List[float]]] = {}
    cpu: Dict[Tuple[str, int, str], List[float]] = {}
    try:
        for cluster in clusters.values():
            cluster.start()
        for round_no in range(1, args.rounds + 1):
            for pipeline in pipelines:
                for test in tests:
                    line = []
                    for option, cluster in clusters.items():
                        target = cluster.nodes[0]
                        pids = [m.node.pid for m in cluster.nodes]
                        before = sum(cpu_seconds(pid) for pid in pids)
                        rate = redis_benchmark(
                            target.client_port, test, pipeline, args.requests, args.clients,
                            target.host,
                        )
                        spent = sum(cpu_seconds(pid) for pid in pids) - before
                        rates.setdefault((test, pipeline), {}).setdefault(option, []).append(rate)
                        cpu.setdefault((test, pipeline, option), []).append(
                            spent * 1e6 / args.requests
                        )
                        line.append("%s %9.0f" % (option, rate))
                    print("round %d  %-4s P=%-2d  %s" % (round_no, test, pipeline, "  ".join(line)),
                          file=sys.stderr)
    finally:
        for cluster in clusters.values():
            cluster.stop()

    print("\n%-5s %3s %12s %12s %7s %14s %14s"
          % ("test", "P", "none/s", "all/s", "ratio", "none CPU µs", "all CPU µs"))
    for (test, pipeline), by_option in rates.items():
        ratios = [t / p for t, p in zip(by_option["all"], by_option["none"])]
        print("%-5s %3d %12.0f %12.0f %7.2f %14.1f %14.1f" % (
            test, pipeline,
            statistics.median(by_option["none"]), statistics.median(by_option["all"]),
            statistics.median(ratios),
            statistics.median(cpu[(test, pipeline, "none")]),
            statistics.median(cpu[(test, pipeline, "all")]),
        ))
    print("(3-rack clusters, secure_server_option all vs none, %s; %d rounds, %d requests, "
          "%d clients; medians; ratio all/none per round then median; CPU: the three "
          "nodes per request)" % (level, args.rounds, args.requests, args.clients))
    return 0


if __name__ == "__main__":
    sys.exit(main())

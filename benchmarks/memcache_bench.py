"""Throughput of memcached reached directly and through dynotwist (``data_store: 1``).

memcslap cannot choose a read/write mix (its ``--test=get`` loads keys, then reads), so
the load comes from a small loader here: ``--connections`` connections (50) spread over
``--workers`` processes, each connection with one request in flight, raw text protocol
bytes (``set k 0 0 <n>`` / ``get k`` over ``--keys`` keys, values of ``--size`` bytes),
a seeded mix of sets and gets. Every workload runs against memcached directly and
through one node in front of its own memcached, in interleaved rounds; printed: the
median ops/s of each, the ratio (through dynotwist / direct, same round) and the CPU
time the node process spent per request (user + system, from /proc). With
``--memcslap``, memcslap's ``--test=set`` is run side by side as well.

    .venv/bin/python benchmarks/memcache_bench.py [--rounds 2] [--requests 100000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import selectors
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Tuple

from dynotwist.testing.configs import single_node_fields
from dynotwist.testing.ports import free_port
from dynotwist.testing.processes import MemcachedServer, NodeProcess, find_program, stop_all

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.redis_bench import cpu_seconds

MIXES = {"10% set / 90% get": 0.10, "100% set": 1.0}


def _worker(port: int, connections: int, requests: int, set_ratio: float, keys: int,
            size: int, seed: int, queue: multiprocessing.Queue) -> None:
    rng = random.Random(seed)
    value = b"v" * size
    sets = [b"set key:%d 0 0 %d\r\n%s\r\n" % (k, size, value) for k in range(keys)]
    gets = [b"get key:%d\r\n" % k for k in range(keys)]
    plan = [(True, sets[rng.randrange(keys)]) if rng.random() < set_ratio
            else (False, gets[rng.randrange(keys)]) for _ in range(4096)]
    selector = selectors.DefaultSelector()
    socks = []
    for i in range(connections):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.setblocking(False)
        socks.append(sock)
        selector.register(sock, selectors.EVENT_READ, [bytearray(), False, i])
    sent = done = errors = 0
    position = seed

    def send(sock: socket.socket, state: list) -> None:
        nonlocal sent, position
        is_set, data = plan[position % len(plan)]
        position += 1
        state[1] = is_set
        sent += 1
        sock.sendall(data)

    start = time.perf_counter()
    for sock in socks:
        if sent < requests:
            send(sock, selector.get_key(sock).data)
    while done < requests:
        for key, _ in selector.select():
            sock = key.fileobj
            state = key.data
            chunk = sock.recv(262144)  # type: ignore[union-attr]
            if not chunk:
                raise ConnectionResetError("the server closed a connection")
            buffer = state[0]
            buffer += chunk
            if state[1]:
                complete = buffer.endswith(b"\r\n")
            else:  # a get: VALUE block(s) up to END, or one error line
                complete = buffer.endswith(b"END\r\n") or (
                    buffer.endswith(b"\r\n") and buffer.startswith((b"SERVER_ERROR",
                                                                    b"CLIENT_ERROR", b"ERROR")))
            if not complete:
                continue
            if buffer.startswith((b"SERVER_ERROR", b"CLIENT_ERROR", b"ERROR")):
                errors += 1
            del buffer[:]
            done += 1
            if sent < requests:
                send(sock, state)  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    for sock in socks:
        sock.close()
    queue.put((done, errors, elapsed))


def load(port: int, set_ratio: float, requests: int, connections: int, workers: int,
         keys: int, size: int) -> Tuple[float, int]:
    """Ops/s over all workers (total requests / slowest worker's time), and errors."""
    queue: multiprocessing.Queue = multiprocessing.Queue()
    per_conn = [connections // workers + (1 if i < connections % workers else 0)
                for i in range(workers)]
    procs = [multiprocessing.Process(
        target=_worker,
        args=(port, per_conn[i], requests // workers, set_ratio, keys, size, 1000 * i, queue))
        for i in range(workers)]
    for p in procs:
        p.start()
    results = [queue.get() for _ in procs]
    for p in procs:
        p.join()
    total = sum(r[0] for r in results)
    return total / max(r[2] for r in results), sum(r[1] for r in results)


def memcslap_set(port: int, requests: int, concurrency: int) -> float:
    """Sets per second from memcslap --test=set (its reported time)."""
    out = subprocess.run(
        [find_program("memcslap"), "--servers=127.0.0.1:%d" % port, "--test=set",
         "--concurrency=%d" % concurrency,
         "--execute-number=%d" % max(1, requests // concurrency), "--tcp-nodelay"],
        check=True, capture_output=True, text=True,
    ).stdout
    match = re.search(r"Time to set\s+(\d+) keys by\s+\d+ threads:\s+([0-9.]+) seconds", out)
    if match is None:
        raise RuntimeError("memcslap printed no timing:\n%s" % out)
    return int(match.group(1)) / float(match.group(2))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2, help="loader processes")
    parser.add_argument("--keys", type=int, default=10000)
    parser.add_argument("--size", type=int, default=32, help="value size in bytes")
    parser.add_argument("--memcslap", action="store_true", help="also memcslap --test=set")
    args = parser.parse_args()

    workdir = tempfile.mkdtemp(prefix="dynotwist-mcbench-")
    direct = MemcachedServer(workdir)
    behind = MemcachedServer(workdir)
    fields = single_node_fields(behind.port, free_port(), free_port(), free_port())
    fields["data_store"] = 1
    node = NodeProcess(workdir, fields, verbosity=4)
    processes = [direct, behind, node]
    try:
        for process in processes:
            process.start()
        targets = [("memcached", direct.port), ("dynotwist", node.client_port)]
        workloads = list(MIXES.items())
        if args.memcslap:
            workloads.append(("memcslap --test=set", -1.0))
        # warm both: every key exists before the first round
        for _, port in targets:
            load(port, 1.0, args.keys * 2, args.connections, args.workers, args.keys,
                 args.size)
        results: Dict[str, Dict[str, List[float]]] = {w: {"memcached": [], "dynotwist": [],
                                                          "ratio": [], "cpu": []}
                                                      for w, _ in workloads}
        for round_no in range(1, args.rounds + 1):
            for name, ratio in workloads:
                rates = {}
                for label, port in targets:
                    cpu_before = cpu_seconds(node.pid)
                    if ratio < 0:
                        rate, errors = memcslap_set(port, args.requests, args.connections), 0
                    else:
                        rate, errors = load(port, ratio, args.requests, args.connections,
                                            args.workers, args.keys, args.size)
                    cpu = cpu_seconds(node.pid) - cpu_before
                    if errors:
                        print("  %s via %s: %d error replies" % (name, label, errors))
                    rates[label] = rate
                    results[name][label].append(rate)
                    if label == "dynotwist":
                        results[name]["cpu"].append(cpu / args.requests * 1e6)
                results[name]["ratio"].append(rates["dynotwist"] / rates["memcached"])
                print("round %d  %-22s memcached %9.0f ops/s  dynotwist %9.0f ops/s  "
                      "ratio %.2f  node CPU %.1f us/req"
                      % (round_no, name, rates["memcached"], rates["dynotwist"],
                         results[name]["ratio"][-1], results[name]["cpu"][-1]))
                sys.stdout.flush()
        print()
        print("%-22s %14s %14s %7s %16s" % ("workload (median)", "memcached", "dynotwist",
                                           "ratio", "node CPU us/req"))
        for name, _ in workloads:
            r = results[name]
            print("%-22s %10.0f/s   %10.0f/s   %6.2f %12.1f"
                  % (name, statistics.median(r["memcached"]), statistics.median(r["dynotwist"]),
                     statistics.median(r["ratio"]), statistics.median(r["cpu"])))
        print("(%d requests per run, %d connections, %d loader processes, %d keys, "
              "%d-byte values, %d CPUs)" % (args.requests, args.connections, args.workers,
                                           args.keys, args.size, os.cpu_count() or 0))
    finally:
        stop_all([node])
        stop_all([direct, behind])
    return 0


if __name__ == "__main__":
    sys.exit(main())

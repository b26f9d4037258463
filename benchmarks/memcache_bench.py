"""Throughput of memcached reached directly and through dynotwist nodes (``data_store:
1``), side by side.

The load is memaslap's (``memcaslap`` in Debian's libmemcached-tools; ``memaslap``
elsewhere): ``--connections`` concurrent connections (50) from one thread, two mixes,
10% set / 90% get (memaslap's own default: 64-byte keys, 1024-byte values, or
``--size``) and 100% set. Without memaslap (or with ``--loader python``) it comes from
a small loader here: the connections spread over ``--workers`` processes, each with one
request in flight, raw text protocol bytes (``set k 0 0 <n>`` / ``get k`` over
``--keys`` keys, values of ``--size`` bytes, 32 by default), a seeded mix. The table
says which loader ran. Every mix runs against memcached directly and through one node
per runtime (``--runtimes cpython,pypy``), each in front of its own memcached, in
interleaved rounds; printed: the median ops/s of each, the ratio to memcached
directly (per round, then the median) and the CPU time each node spent per request
(user + system, from /proc). ``--json FILE`` writes them for ``benchmarks/compare.py``.

    .venv/bin/python benchmarks/memcache_bench.py --runtimes cpython,pypy [--rounds 2]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import re
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from benchmarks.sidebyside import Results, cpu_seconds, raise_open_files_limit, runtimes
from dynotwist.testing.configs import single_node_fields
from dynotwist.testing.ports import free_port
from dynotwist.testing.processes import MemcachedServer, NodeProcess, Process, stop_all

MIXES = {"10% set / 90% get": 0.10, "100% set": 1.0}
MEMASLAP_NAMES = ("memcaslap", "memaslap")  # Debian's name, then upstream's


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


def find_memaslap() -> Optional[str]:
    for name in MEMASLAP_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def memaslap(program: str, port: int, set_ratio: float, requests: int, connections: int,
             size: Optional[int], workdir: str) -> Tuple[float, int]:
    """Ops/s memaslap reports for one mix (its own key and value sizes unless ``size``)."""
    config = os.path.join(workdir, "memaslap-%g.cfg" % set_ratio)
    value = size or 1024
    with open(config, "w") as f:
        f.write("key\n64 64 1\nvalue\n%d %d 1\ncmd\n0 %g\n1 %g\n"
                % (value, value, set_ratio, 1 - set_ratio))
    out = subprocess.run(
        [program, "-s", "127.0.0.1:%d" % port, "-T", "1", "-c", str(connections),
         "-x", str(requests), "-F", config],
        check=True, capture_output=True, text=True,
    ).stdout
    match = re.search(r"Ops: (\d+) TPS: (\d+)", out)
    if match is None:
        raise RuntimeError("memaslap printed no throughput:\n%s" % out)
    return float(match.group(2)), 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--loader", choices=("memaslap", "python"),
                        help="memaslap where it is installed, else python")
    parser.add_argument("--workers", type=int, default=2, help="python loader processes")
    parser.add_argument("--keys", type=int, default=10000, help="python loader's keys")
    parser.add_argument("--size", type=int, help="value size in bytes")
    parser.add_argument("--runtimes", default="cpython",
                        help="interpreters running the nodes: cpython, pypy or name=python")
    parser.add_argument("--warmup", type=int, default=20000,
                        help="requests sent to each node before the rounds, unmeasured")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    chosen = runtimes(args.runtimes)
    program = find_memaslap()
    loader = args.loader or ("memaslap" if program else "python")
    if loader == "memaslap" and program is None:
        raise SystemExit("memaslap is not installed (Debian: apt-get install libmemcached-tools)")
    raise_open_files_limit()

    workdir = tempfile.mkdtemp(prefix="dynotwist-mcbench-")
    direct = MemcachedServer(workdir)
    processes: List[Process] = [direct]
    nodes: Dict[str, NodeProcess] = {}
    for name, python in chosen:
        behind = MemcachedServer(workdir)
        fields = single_node_fields(behind.port, free_port(), free_port(), free_port())
        fields["data_store"] = 1
        nodes[name] = NodeProcess(workdir, fields, name=name, verbosity=4, python=python)
        processes += [behind, nodes[name]]

    def run(port: int, ratio: float, requests: int) -> float:
        if loader == "memaslap":
            assert program is not None
            rate, errors = memaslap(program, port, ratio, requests, args.connections,
                                    args.size, workdir)
        else:
            rate, errors = load(port, ratio, requests, args.connections, args.workers,
                                args.keys, args.size or 32)
        if errors:
            print("  %d error replies from port %d" % (errors, port), file=sys.stderr)
        return rate

    results = Results("memcached", chosen)
    try:
        for process in processes:
            process.start()
        # every key exists before the first round; the JIT warm
        for port in [direct.port, *(node.client_port for node in nodes.values())]:
            run(port, 1.0, max(args.warmup, args.keys * 2))
        for round_no in range(1, args.rounds + 1):
            print("round %d" % round_no, file=sys.stderr)
            for mix, ratio in MIXES.items():
                direct_rate = run(direct.port, ratio, args.requests)
                measured = {}
                for name, node in nodes.items():
                    before = cpu_seconds(node.pid)
                    rate = run(node.client_port, ratio, args.requests)
                    measured[name] = (rate, [(cpu_seconds(node.pid) - before) * 1e6
                                             / args.requests])
                results.add(mix, direct_rate, measured)
    finally:
        stop_all([node for node in nodes.values()])
        stop_all(processes)
    size = args.size or (1024 if loader == "memaslap" else 32)
    note = ("%s loader; %d rounds, %d requests, %d connections, %d-byte values; medians"
            % (os.path.basename(program) if loader == "memaslap" and program else "python",
               args.rounds, args.requests, args.connections, size))
    results.print_table(note)
    if args.json:
        results.write_json(args.json, {"loader": loader, "rounds": args.rounds,
                                       "requests": args.requests, "size": size,
                                       "connections": args.connections, "shape": "1 node"})
    return 0


if __name__ == "__main__":
    sys.exit(main())

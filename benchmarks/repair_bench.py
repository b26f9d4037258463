#!/usr/bin/env python3
"""Repair, measured on a local cluster of three racks (one DC, DC_QUORUM).

- hints: writers SET through rack1's and rack2's nodes, one request at a time each;
  rack3's node is killed for ``--stop`` seconds, then started again. Printed: hints
  stored and replayed, how long the replay took, the writers' throughput before the
  outage, during it, while the replay runs and after it, and whether every replica
  holds every acknowledged write (checked key by key).
- warm-up: ``--keys`` keys loaded into every rack's redis-server; rack3's is emptied and
  its node warms up again, unthrottled and idle, then at the default rate under the
  writers' load. Printed: keys/s and MB/s copied, the writers' throughput meanwhile.
- check: ``python -m dynotwist.repair check`` over the same keys, unthrottled.

    .venv/bin/python benchmarks/repair_bench.py [--stop 10] [--writers 4] [--keys 200000]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from typing import Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dynotwist.testing.blocking import RespClient
from dynotwist.testing.cluster import Cluster, ClusterNode
from dynotwist.testing.processes import node_env

FIELDS = {
    "timeout": 1000,
    "server_retry_timeout": 1000,
    "read_consistency": "DC_QUORUM",
    "write_consistency": "DC_QUORUM",
}


def info(member: ClusterNode) -> Dict[str, object]:
    url = "http://%s:%d/info" % (member.host, member.stats_port)
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    return next(v for v in body.values() if isinstance(v, dict))


def admin(member: ClusterNode, path: str) -> str:
    url = "http://%s:%d%s" % (member.host, member.stats_port, path)
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read().decode()


def hint_totals(members: Sequence[ClusterNode]) -> Dict[str, int]:
    totals = dict.fromkeys(("stored", "replayed", "expired", "dropped", "pending"), 0)
    for member in members:
        for counts in info(member).get("hints", {}).values():  # type: ignore[union-attr]
            for field in totals:
                totals[field] += counts[field]
    return totals


class Writers:
    """Threads writing through some nodes, one SET at a time; every ack time kept."""

    def __init__(self, members: Sequence[ClusterNode], count: int) -> None:
        self.members = members
        self.count = count
        self.acks: List[float] = []
        self.last: Dict[bytes, bytes] = {}  # key -> last acknowledged value
        self.failed = 0
        self.running = False
        self.threads: List[threading.Thread] = []
        self.lock = threading.Lock()

    def start(self) -> None:
        self.running = True
        for n in range(self.count):
            member = self.members[n % len(self.members)]
            thread = threading.Thread(target=self._write, args=(member, n), daemon=True)
            thread.start()
            self.threads.append(thread)

    def _write(self, member: ClusterNode, number: int) -> None:
        client = RespClient(member.client_port)
        attempt = 0
        while self.running:
            attempt += 1
            key = b"bench-w%d:%d" % (number, attempt % 1000)
            value = b"w%d:%d" % (number, attempt)
            try:
                ok = client.call(b"SET", key, value) == b"+OK\r\n"
            except OSError:
                client = RespClient(member.client_port)
                ok = False
            with self.lock:
                if ok:
                    self.acks.append(time.monotonic())
                    self.last[key] = value
                else:
                    self.failed += 1
        client.close()

    def stop(self) -> None:
        self.running = False
        for thread in self.threads:
            thread.join()

    def rate(self, start: float, end: float) -> float:
        with self.lock:
            return sum(1 for t in self.acks if start <= t < end) / max(end - start, 1e-9)


def missing(cluster: Cluster, last: Dict[bytes, bytes]) -> int:
    """Acknowledged writes some replica does not hold."""
    wrong = 0
    keys = list(last)
    for member in cluster.nodes:
        with RespClient(member.redis.port) as client:
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                for key, value in zip(chunk, client.pipeline([[b"GET", k] for k in chunk])):
                    if value != b"$%d\r\n%s\r\n" % (len(last[key]), last[key]):
                        wrong += 1
    return wrong


def wait(predicate, timeout: float, step: float = 0.1) -> float:  # type: ignore[no-untyped-def]
    """Poll until true; the time it became true."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError("not reached within %.0f s" % timeout)
        time.sleep(step)
    return time.monotonic()


def bench_hints(cluster: Cluster, stop: float, writers_count: int) -> None:
    rack1, rack2, rack3 = (cluster.node_named("dc1-rack%d" % r) for r in (1, 2, 3))
    before = hint_totals([rack1, rack2])
    writers = Writers([rack1, rack2], writers_count)
    writers.start()
    time.sleep(5)
    killed = time.monotonic()
    cluster.kill(rack3)
    time.sleep(stop)
    outage_end = time.monotonic()
    cluster.restart(rack3)
    back = time.monotonic()
    done = wait(lambda: hint_totals([rack1, rack2])["pending"] == 0, 300)
    time.sleep(5)
    end = time.monotonic()
    writers.stop()
    after = hint_totals([rack1, rack2])
    counts = {k: after[k] - before[k] for k in after}
    print("hints: rack3 down %.1f s (node restart %.1f s), %d writers at DC_QUORUM"
          % (stop, back - outage_end, writers_count))
    print("  stored %(stored)d, replayed %(replayed)d, expired %(expired)d, dropped"
          " %(dropped)d" % counts)
    print("  replay: %.2f s from rack3 serving to no hint pending (%.0f hints/s)"
          % (done - back, counts["replayed"] / max(done - back, 1e-9)))
    print("  writes/s: before %.0f | outage %.0f | replay running %.0f | after %.0f"
          % (writers.rate(killed - 5, killed), writers.rate(killed, outage_end),
             writers.rate(back, done), writers.rate(done, end)))
    print("  failed writes %d; acknowledged writes missing on some replica: %d of %d keys"
          % (writers.failed, missing(cluster, writers.last), len(writers.last)))


def preload(cluster: Cluster, keys: int, size: int = 100) -> None:
    value = b"x" * size
    for member in cluster.nodes:
        with RespClient(member.redis.port) as client:
            for start in range(0, keys, 1000):
                client.pipeline([[b"SET", b"pre:%d" % n, value]
                                 for n in range(start, min(start + 1000, keys))])


def warm_up(cluster: Cluster, rate: Optional[int], writers: Optional[Writers]
            ) -> Tuple[Dict[str, object], float, float]:
    rack3 = cluster.node_named("dc1-rack3")
    with RespClient(rack3.redis.port) as client:
        client.call(b"FLUSHALL")
    started = time.monotonic()
    path = "/warm_up/start" + ("" if rate is None else "?rate=%d" % rate)
    admin(rack3, path)
    status: Dict[str, object] = {}

    def finished() -> bool:
        status.update(json.loads(admin(rack3, "/warm_up/status")))
        return status["state"] in ("done", "failed")

    ended = wait(finished, 600, 0.2)
    return status, started, ended


def bench_warm_up(cluster: Cluster, keys: int, writers_count: int) -> None:
    preload(cluster, keys)
    idle, _, _ = warm_up(cluster, 0, None)
    print("warm-up: %d keys of 100 bytes" % keys)
    print("  unthrottled, idle: %s keys in %.2f s = %s keys/s (%.1f MB/s)" % (
        idle["keys_copied"], idle["seconds"], idle["keys_per_second"],
        int(idle["bytes_copied"]) / float(idle["seconds"]) / 1e6))  # type: ignore[arg-type]
    rack1, rack2 = cluster.node_named("dc1-rack1"), cluster.node_named("dc1-rack2")
    writers = Writers([rack1, rack2], writers_count)
    writers.start()
    time.sleep(3)
    busy, started, ended = warm_up(cluster, None, writers)
    time.sleep(3)
    writers.stop()
    print("  default rate, under load: %s keys in %.2f s = %s keys/s" % (
        busy["keys_copied"], busy["seconds"], busy["keys_per_second"]))
    print("  writes/s: before %.0f | during warm-up %.0f | after %.0f" % (
        writers.rate(started - 3, started), writers.rate(started, ended),
        writers.rate(ended, ended + 3)))


def bench_check(cluster: Cluster) -> None:
    configs = [m.config_path for m in cluster.nodes]
    argv = [sys.executable, "-m", "dynotwist.repair", "check", *configs, "--rate", "0"]
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, env=node_env())
    print("check (%.1f s, exit %d):" % (time.monotonic() - started, result.returncode))
    print("  " + result.stdout.replace("\n", "\n  ").rstrip())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stop", type=float, default=10.0, help="seconds rack3 is down")
    parser.add_argument("--writers", type=int, default=4, help="writer threads")
    parser.add_argument("--keys", type=int, default=200000, help="keys to warm up")
    parser.add_argument("--only", choices=("hints", "warm-up", "check"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="repair-bench-") as workdir:
        cluster = Cluster(workdir, 1, 3, extra_fields=dict(FIELDS))
        cluster.start()
        try:
            if args.only in (None, "hints"):
                bench_hints(cluster, args.stop, args.writers)
            if args.only in (None, "warm-up"):
                bench_warm_up(cluster, args.keys, args.writers)
            if args.only in (None, "check"):
                if args.only == "check":
                    preload(cluster, args.keys)
                bench_check(cluster)
        finally:
            cluster.stop()


if __name__ == "__main__":
    main()

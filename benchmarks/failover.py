"""Failure detection under load: how long from a peer's death to its ejection, and what
the requests in between got.

Starts a local cluster of one DC, two racks of two nodes (``--timeout`` ms request
timeout, the failure detection's defaults otherwise: ``server_failure_limit: 3``,
``server_retry_timeout``), writes keys that dc1-rack1-2 owns, and runs ``--connections``
clients that GET them through dc1-rack1-1 in a loop, each reply checked. After a
steady second, the owner is stopped (``--signal STOP``: a hung process whose kernel
still accepts connections, or ``KILL``: a dead one). The run goes on ``--after``
seconds, then prints:

- the time from the signal to the ejection (the coordinator's ``peer_ejected_at``;
  ``-`` if it was not ejected: a killed peer's requests fail over as soon as its
  connection is lost, before any ejection);
- the requests sent between the signal and the ejection (or the first failed-over
  reply): answered, failed (an error reply), and slow (answered after more than
  ``--slow`` ms), and the slowest;
- the requests sent after it: answered, failed, slow, the slowest.

    .venv/bin/python benchmarks/failover.py
    .venv/bin/python benchmarks/failover.py --timeout 5000 --connections 32
    .venv/bin/python benchmarks/failover.py --signal KILL
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import tempfile
import threading
import time
import urllib.request
from typing import List, NamedTuple, Optional

from dynotwist.testing.blocking import RespClient
from dynotwist.testing.cluster import Cluster, ClusterNode


class Sample(NamedTuple):
    sent: float  # time.time()
    answered: float
    ok: bool


def reader(member: ClusterNode, keys: List[bytes], expected: bytes, samples: List[Sample],
           stop: threading.Event) -> None:
    with RespClient(member.client_port, member.host) as client:
        n = 0
        while not stop.is_set():
            sent = time.time()
            reply = client.call(b"GET", keys[n % len(keys)])
            samples.append(Sample(sent, time.time(), reply == expected))
            n += 1


def ejected_at(member: ClusterNode) -> Optional[float]:
    url = "http://%s:%d/info" % (member.host, member.stats_port)
    with urllib.request.urlopen(url, timeout=5) as response:
        info = json.loads(response.read())
    for value in info.values():
        if isinstance(value, dict) and "peer_ejected_at" in value:
            at = value["peer_ejected_at"]
            return at / 1000.0 if at else None
    return None


def describe(label: str, samples: List[Sample], slow: float) -> str:
    if not samples:
        return "%s: no request" % label
    latencies = [s.answered - s.sent for s in samples]
    failed = sum(1 for s in samples if not s.ok)
    slow_count = sum(1 for s in samples if s.ok and s.answered - s.sent > slow)
    return "%s: %d requests, %d answered, %d failed, %d slow (> %.0f ms), slowest %.0f ms" % (
        label, len(samples), len(samples) - failed, failed, slow_count, slow * 1000,
        max(latencies) * 1000,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=int, default=1000, help="request timeout, ms")
    parser.add_argument("--retry", type=int, default=10000, help="server_retry_timeout, ms")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--signal", choices=("STOP", "KILL"), default="STOP")
    parser.add_argument("--after", type=float, default=5.0, help="seconds after the signal")
    parser.add_argument("--slow", type=float, default=100.0, help="a slow reply, ms")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="dynotwist-failover-")
    cluster = Cluster(workdir, 1, 2, 2, {"timeout": args.timeout,
                                          "server_retry_timeout": args.retry})
    try:
        cluster.start()
        coordinator = cluster.node_named("dc1-rack1-1")
        owner = cluster.node_named("dc1-rack1-2")
        keys = [cluster.key_owned_by(owner, "failover", n * 1000).encode() for n in range(32)]
        with RespClient(coordinator.client_port) as client:
            for key in keys:
                client.call(b"SET", key, b"v")
        time.sleep(1.0)  # the copies reach rack2
        expected = b"$1\r\nv\r\n"
        samples: List[List[Sample]] = [[] for _ in range(args.connections)]
        stop = threading.Event()
        threads = [
            threading.Thread(target=reader, args=(coordinator, keys, expected, s, stop))
            for s in samples
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        killed = time.time()
        os.kill(owner.node.pid, getattr(signal, "SIG" + args.signal))
        time.sleep(args.after)
        stop.set()
        for thread in threads:
            thread.join()
        detected = ejected_at(coordinator)
        every = sorted((s for per in samples for s in per), key=lambda s: s.sent)
        after_kill = [s for s in every if s.sent >= killed]
        if detected is None:  # failed over on the lost connection: the first good reply
            detected = min((s.answered for s in after_kill if s.ok), default=None)
        slow = args.slow / 1000.0
        print("cluster: 1 DC, 2 racks of 2 nodes, timeout %d ms, %d connections reading"
              " keys of dc1-rack1-2 through dc1-rack1-1; SIG%s at t=0"
              % (args.timeout, args.connections, args.signal))
        print(describe("before the signal (1 s)", [s for s in every if s.sent < killed], slow))
        if detected is None:
            print("never ejected nor failed over")
            return 1
        print("ejection (or first failed-over reply) at t=%.0f ms" % ((detected - killed) * 1000))
        print(describe("sent in between", [s for s in after_kill if s.sent < detected], slow))
        print(describe("sent after", [s for s in after_kill if s.sent >= detected], slow))
        return 0
    finally:
        if args.signal == "STOP":
            with contextlib.suppress(OSError):  # already gone
                os.kill(cluster.node_named("dc1-rack1-2").node.pid, signal.SIGCONT)
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""CPU cost of the request path inside one process: no sockets, no datastore.

A node's client protocol reads pipelined requests from an in-memory transport; its
datastore connection is another in-memory transport whose replies are fed back at
once; the write batch is flushed as the reactor would. What is left is the node's
own work per request (parse, route, admit, queue, frame and order the replies),
which this prints in microseconds per request for a few workloads:

    .venv/bin/python benchmarks/path_cost.py [--requests 200000] [--rounds 5]

With ``--racks 3`` the node is the coordinator of a 3-rack cluster (``--consistency``,
DC_ONE by default): writes also go to two peer connections, whose replies are fed back
too (the peers' side is kept cheap: message ids found by a regex, replies formatted).
``--side peer`` measures the other end: a node of such a cluster reading the
requests as peer frames (DMSG_REQ, one copy each) on its ``dyn_listen``.
``--size`` sets the values' size (16384: the large-value rows), ``--memcache`` runs a
memcached node (``data_store: 1``) with memcached's text protocol. Each read of the
client's requests and of the datastore's replies arrives in one piece. Timers are
left alone (the clock does not move).
"""

from __future__ import annotations

import argparse
import gc
import os
import re
import sys
import time
from typing import Any, Callable, List, Tuple

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from twisted.internet.base import DelayedCall
from twisted.internet.testing import MemoryReactorClock, StringTransport

from dynotwist.config import parse_config
from dynotwist.net.peer import DnodeServerFactory
from dynotwist.node import Node
from dynotwist.proto.dnode import DMSG_REQ, request_frame
from dynotwist.proto.resp import encode_command

CONFIG = """\
dyn_o_mite:
  listen: 127.0.0.1:8102
  dyn_listen: 127.0.0.1:8101
  servers:
  - 127.0.0.1:22122:1
  tokens: '0'
  rack: rack1
  datacenter: dc1
"""


def cluster_config(racks: int, memcache: bool, consistency: str = "DC_ONE") -> str:
    seeds = "".join(
        "  - 127.0.0.%d:8101:rack%d:dc1:0\n" % (r, r) for r in range(2, racks + 1)
    )
    return (
        CONFIG
        + ("  data_store: 1\n" if memcache else "")
        + ("  dyn_seeds:\n" + seeds if seeds else "")
        + "  read_consistency: %s\n  write_consistency: %s\n" % (consistency, consistency)
    )


class Reactor(MemoryReactorClock):
    """The fake reactor, with calls for now (the write batch's) run in order, apart
    from the timers: the fake sorts its timers at every call, which costs many times
    what a real reactor's heap does and would hide the node's own cost."""

    def __init__(self) -> None:
        super().__init__()
        self.soon: List[DelayedCall] = []

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        if delay:
            return super().callLater(delay, callable, *args, **kw)
        soon = self.soon
        call = DelayedCall(
            self.seconds(), callable, args, kw, soon.remove, lambda c: None, self.seconds
        )
        soon.append(call)
        return call

    def advance(self, amount: float) -> None:
        if amount:
            super().advance(amount)
        while self.soon:
            call = self.soon.pop(0)
            call.called = 1
            call.func(*call.args, **call.kw)


class Setup:
    def __init__(
        self, racks: int, memcache: bool = False, consistency: str = "DC_ONE", side: str = "client"
    ) -> None:
        self.reactor = Reactor()
        config = cluster_config(racks, memcache, consistency)
        self.node = Node(parse_config(config), self.reactor)
        self.node.start()
        self.store = self._connect_datastore()
        self.peers = [self._connect(i) for i in range(1, len(self.reactor.tcpClients))]
        if side == "peer":  # a coordinator's connection to this node's dyn_listen
            self.client = DnodeServerFactory(self.node).buildProtocol(None)
        else:
            self.client = self.node.kind.client_port(self.node).buildProtocol(None)
        self.client_transport = StringTransport()
        self.client.makeConnection(self.client_transport)

    def _connect_datastore(self):
        return self._connect(0)

    def _connect(self, index: int):
        factory = self.reactor.tcpClients[index][2]
        protocol = factory.buildProtocol(None)
        protocol.makeConnection(StringTransport())
        return protocol


# the message id of each request frame a peer is sent
_MSG_ID = re.compile(rb"\$2014\$ (\d+) ")


def workload(
    setup: Setup, requests: List[bytes], replies: bytes, pipeline: int
) -> Callable[[], int]:
    """One round: every request read in chunks of ``pipeline``, answered, flushed."""
    chunks = [b"".join(requests[i : i + pipeline]) for i in range(0, len(requests), pipeline)]
    reply_chunks = [replies * pipeline] * len(chunks)
    store = setup.store
    peers = setup.peers
    response = b"   $2014$ %s 5 0 1 1 *1 d *" + b"%d\r\n" % len(replies) + replies
    reactor = setup.reactor

    def run() -> int:
        client = setup.client
        for chunk, reply in zip(chunks, reply_chunks):
            client.dataReceived(chunk)
            reactor.advance(0)  # the write batch goes out
            store.transport.clear()
            store.dataReceived(reply)
            for peer in peers:
                ids = _MSG_ID.findall(peer.transport.value())
                peer.transport.clear()
                if ids:
                    peer.dataReceived(b"".join([response % msg_id for msg_id in ids]))
            reactor.advance(0)
            setup.client_transport.clear()
        return len(requests)

    return run


def measure(run: Callable[[], int], rounds: int) -> float:
    best = float("inf")
    for _ in range(rounds):
        gc.collect()
        start = time.process_time()
        count = run()
        best = min(best, (time.process_time() - start) / count * 1e6)
    return best


Cases = List[Tuple[str, List[bytes], bytes]]


def redis_cases(n: int, size: int) -> Cases:
    value = b"x" * size
    element = b"$%d\r\n%s\r\n" % (size, value)
    return [
        ("SET", [encode_command([b"SET", b"key:%d" % (i % 1000), value]) for i in range(n)],
         b"+OK\r\n"),
        ("GET", [encode_command([b"GET", b"key:%d" % (i % 1000)]) for i in range(n)],
         element),
        ("LRANGE_600", [encode_command([b"LRANGE", b"mylist", b"0", b"599"])] * (n // 20),
         b"*600\r\n" + element * 600),
    ]


def memcache_cases(n: int, size: int) -> Cases:
    value = b"x" * size
    return [
        ("set", [b"set key:%d 0 0 %d\r\n%s\r\n" % (i % 1000, size, value) for i in range(n)],
         b"STORED\r\n"),
        ("get", [b"get key:%d\r\n" % (i % 1000) for i in range(n)],
         b"VALUE key:1 0 %d\r\n%s\r\nEND\r\n" % (size, value)),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=100000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--racks", type=int, default=1)
    parser.add_argument("--size", type=int, default=3, help="value size in bytes")
    parser.add_argument("--consistency", default="DC_ONE", help="a cluster's read/write level")
    parser.add_argument("--memcache", action="store_true", help="a memcached node")
    parser.add_argument("--side", choices=("client", "peer"), default="client",
                        help="requests from a client, or relayed by a peer (dyn_listen)")
    parser.add_argument("--only", help="one workload, e.g. SET/16 (for a run under callgrind)")
    options = parser.parse_args()
    cases = (memcache_cases if options.memcache else redis_cases)(options.requests, options.size)
    if options.side == "peer":
        cases = [
            (name, [request_frame(i, DMSG_REQ, 0, 1, raw) for i, raw in enumerate(requests)], reply)
            for name, requests, reply in cases
        ]
    print("%s, %d rack(s) at %s, %d-byte values, from a %s: CPU us per request (best of %d)" % (
        sys.implementation.name, options.racks, options.consistency, options.size,
        options.side, options.rounds))
    for name, requests, reply in cases:
        for pipeline in (1, 16):
            if options.only and options.only != "%s/%d" % (name, pipeline):
                continue
            setup = Setup(options.racks, options.memcache, options.consistency, options.side)
            cost = measure(workload(setup, requests, reply, pipeline), options.rounds)
            print("  %-4s P=%-3d %6.2f" % (name, pipeline, cost))


if __name__ == "__main__":
    main()

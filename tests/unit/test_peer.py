"""Peer links (dnode) on in-memory transports and a fake clock."""

from __future__ import annotations

import ast
import itertools
import os
from typing import List, Optional, Tuple

from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial import unittest

from dynotwist import errors
from dynotwist.core import ring
from dynotwist.core.ejection import Ejection
from dynotwist.core.stats import detached_stats
from dynotwist.datastores import Relayed
from dynotwist.logs import DEFAULT_VERBOSITY, verbosity
from dynotwist.net.batch import WriteBatch
from dynotwist.net.datastore import PoolShared, Slot
from dynotwist.net.health import Reachability
from dynotwist.net.ordered import MAX_PENDING
from dynotwist.net.peer import (
    DnodeServerFactory,
    DnodeServerProtocol,
    PeerPool,
    PeerProtocol,
)
from dynotwist.net.reads import LARGE_READ
from dynotwist.proto.dnode import (
    DMSG_REQ,
    DMSG_REQ_FORWARD,
    DnodeParser,
    Frame,
    encode_frame,
)
from dynotwist.proto.resp import encode_command
from tests.support.fakes import FakeNode, Owner
from tests.support.transports import BatchedTransport

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "vectors")

GET_FOO = encode_command([b"GET", b"foo"])
SET_FOO = encode_command([b"SET", b"foo", b"bar"])


def captured(topology: str, heading: str, direction: str) -> bytes:
    """The bytes of one frame of dnode-frames.txt: the first frame sent ``direction``
    (e.g. ``"[A -> C]"``) under ``### heading`` in the topology named ``topology``."""
    with open(os.path.join(VECTORS, "dnode-frames.txt"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    in_topology = in_heading = False
    for i, line in enumerate(lines):
        if line.startswith("TOPOLOGY: "):
            in_topology = line.startswith("TOPOLOGY: " + topology + " ")
            in_heading = False
        elif line.startswith("### "):
            in_heading = in_topology and line == "### " + heading
        elif in_heading and line.startswith(direction + " dnode "):
            raw = ast.literal_eval(lines[i + 1])
            assert isinstance(raw, bytes)
            return raw
    raise LookupError((topology, heading, direction))


def refused() -> Failure:
    return Failure(ConnectionRefusedError())


def frames(data: bytes) -> List[Frame]:
    return DnodeParser().feed(data)


# -- client side ----------------------------------------------------------------------


class PoolHarness:
    def __init__(
        self,
        size: int = 1,
        timeout_ms: int = 1000,
        same_dc: bool = True,
        first_id: int = 1,
        msg_rate: int = 50000,
        start: bool = True,
        health: Optional[Ejection] = None,
        probe: Optional[bytes] = None,
    ) -> None:
        self.reactor = MemoryReactorClock()
        self.batch = WriteBatch(self.reactor)
        self.peer = ring.Member("b", "127.0.0.2", 8101, "dc1" if same_dc else "dc2", "rack2", (0,))
        self.pool = PeerPool(
            PoolShared(self.reactor, self.batch, detached_stats(), errors.RESP),
            self.peer,
            size,
            timeout_ms,
            same_dc,
            itertools.count(first_id),
            msg_rate=msg_rate,
            health=health,
            probe=probe,
        )
        if start:
            self.pool.start()

    def connect(self, attempt: int = -1) -> PeerProtocol:
        """Complete a connection attempt on an in-memory transport."""
        connector = self.reactor.tcpClients[attempt]
        wrapper = connector[2].buildProtocol(None)
        wrapper.makeConnection(BatchedTransport(self.reactor))
        protocol = self.pool.ready[-1]
        assert isinstance(protocol, PeerProtocol)
        return protocol

    def fail(self, attempt: int = -1) -> None:
        self.reactor.tcpClients[attempt][2].clientConnectionFailed(None, refused())


class SocketTransport(BatchedTransport):
    bufferSize = 65536  # what Twisted's TCP and UNIX connections read at a time


class PeerClientTests(unittest.TestCase):
    def test_a_link_reads_in_large_pieces(self) -> None:
        """The frames of many clients' replies come back on one link (so do a
        datastore's replies, on the same PooledProtocol): read 256 KiB at a time."""
        h = PoolHarness()
        transport = SocketTransport(h.reactor)
        h.reactor.tcpClients[-1][2].buildProtocol(None).makeConnection(transport)
        self.assertEqual(transport.bufferSize, LARGE_READ)

    def test_cross_dc_get_is_framed_as_dynomite_frames_it(self) -> None:
        # T4 "GET foo": A forwards to C with type 4, same_dc 0, msg id 7
        request = captured("T4", "GET foo (hit)", "[A -> C]")
        response = captured("T4", "GET foo (hit)", "[C -> A]")
        h = PoolHarness(same_dc=False, first_id=7)
        link = h.connect()
        owner = Owner()
        slot = owner.slot()
        payload = frames(request)[0].payload
        self.assertEqual(payload, GET_FOO)
        self.assertTrue(h.pool.send(payload, slot, DMSG_REQ_FORWARD, False, 0))
        self.assertEqual(link.transport.flush().value(), request)
        link.dataReceived(response)
        self.assertEqual(owner.replies, [(slot, b"$3\r\nbar\r\n")])

    def test_same_dc_request_is_framed_as_dynomite_frames_it(self) -> None:
        # T1 "SET foo bar": A sends to B with type 3, same_dc 1, msg id 3
        request = captured("T1", "SET foo bar", "[A -> B]")
        response = captured("T1", "SET foo bar", "[B -> A]")
        h = PoolHarness(first_id=3)
        link = h.connect()
        owner = Owner()
        h.pool.send(SET_FOO, owner.slot(), DMSG_REQ, False, 0)
        self.assertEqual(link.transport.flush().value(), request)
        link.dataReceived(response)
        self.assertEqual([reply for _, reply in owner.replies], [b"+OK\r\n"])

    def test_ids_come_from_the_shared_counter(self) -> None:
        ids = itertools.count(40)
        reactor = MemoryReactorClock()
        peer = ring.Member("b", "127.0.0.2", 8101, "dc1", "rack1", (0,))
        shared = PoolShared(reactor, WriteBatch(reactor), detached_stats(), errors.RESP)
        pools = [PeerPool(shared, peer, 1, 1000, True, ids) for _ in "ab"]
        links = []
        for pool in pools:
            pool.start()
            reactor.tcpClients[-1][2].buildProtocol(None).makeConnection(BatchedTransport(reactor))
            links.append(pool.ready[0])
        pools[0].send(GET_FOO, Slot(None), DMSG_REQ, False, 0)
        pools[1].send(GET_FOO, Slot(None), DMSG_REQ, False, 0)
        pools[0].send(GET_FOO, Slot(None), DMSG_REQ, False, 0)
        self.assertEqual([f.msg_id for f in frames(links[0].transport.flush().value())], [40, 42])
        self.assertEqual([f.msg_id for f in frames(links[1].transport.flush().value())], [41])

    def test_resp3_requests_carry_the_flag(self) -> None:
        h = PoolHarness()
        link = h.connect()
        h.pool.send(GET_FOO, Slot(None), DMSG_REQ, True, 0)
        h.pool.send(GET_FOO, Slot(None), DMSG_REQ, False, 0)
        sent = frames(link.transport.flush().value())
        self.assertEqual([f.flags for f in sent], [4, 0])
        self.assertEqual(link.transport.flush().value()[:30], b"   $2014$ 1 3 4 1 1 *1 d *22\r\n")

    def test_replies_are_matched_fifo_by_id(self) -> None:
        h = PoolHarness()
        link = h.connect()
        owner = Owner()
        slots = [owner.slot() for _ in range(4)]
        for slot in slots:
            h.pool.send(GET_FOO, slot, DMSG_REQ, False, 0)
        # id 2 answers: id 1 was skipped, it fails as a mismatch
        link.dataReceived(encode_frame(2, 5, 0, 1, b"+two\r\n"))
        self.assertEqual(owner.replies, [(slots[0], errors.PEER_REFUSED), (slots[1], b"+two\r\n")])
        self.assertEqual(h.pool.mismatches, 1)
        # id 1 answers late: dropped
        link.dataReceived(encode_frame(1, 5, 0, 1, b"+one\r\n"))
        self.assertEqual(len(owner.replies), 2)
        self.assertEqual(h.pool.late_replies, 1)
        link.dataReceived(encode_frame(3, 5, 0, 1, b"+three\r\n"))
        self.assertEqual(owner.reply_to(slots[2]), b"+three\r\n")
        # an id past every request fails them all and is itself dropped
        link.dataReceived(encode_frame(9, 5, 0, 1, b"+nine\r\n"))
        self.assertEqual(owner.reply_to(slots[3]), errors.PEER_REFUSED)
        self.assertEqual(h.pool.mismatches, 2)
        self.assertEqual(h.pool.late_replies, 2)
        self.assertEqual((len(link.pending), len(link.ids)), (0, 0))

    def test_replies_split_anywhere_and_other_frame_types_ignored(self) -> None:
        h = PoolHarness()
        link = h.connect()
        owner = Owner()
        for _ in range(2):
            h.pool.send(GET_FOO, owner.slot(), DMSG_REQ, False, 0)
        stream = (
            b"junk"
            + encode_frame(0, 7, 0, 1, b"dc1$rack1$0,1445912180,4,10.0.0.1", data=b"a")
            + encode_frame(1, 5, 4, 1, b"%1\r\n+a\r\n+b\r\n")
            + encode_frame(7, 3, 0, 1, GET_FOO)
            + encode_frame(2, 5, 0, 1, b"$-1\r\n")
        )
        for byte in range(len(stream)):
            link.dataReceived(stream[byte : byte + 1])
        self.assertEqual([reply for _, reply in owner.replies], [b"%1\r\n+a\r\n+b\r\n", b"$-1\r\n"])
        self.assertEqual(h.pool.mismatches, 0)

    def test_lost_connection_fails_every_pending_request(self) -> None:
        h = PoolHarness()
        link = h.connect()
        owner = Owner()
        slots = [owner.slot() for _ in range(3)]
        for slot in slots:
            h.pool.send(GET_FOO, slot, DMSG_REQ, False, 0)
        link.dataReceived(encode_frame(1, 5, 0, 1, b"+OK\r\n"))
        self.assertTrue(h.pool.is_up)
        link.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(
            owner.replies,
            [
                (slots[0], b"+OK\r\n"),
                (slots[1], errors.PEER_REFUSED),
                (slots[2], errors.PEER_REFUSED),
            ],
        )
        self.assertFalse(h.pool.is_up)
        self.assertFalse(h.pool.send(GET_FOO, owner.slot(), DMSG_REQ, False, 0))
        # counted: for the node and for this peer
        stats, link_stats = h.pool.stats, h.pool.link
        self.assertEqual((stats.peer_requests, link_stats.requests), (3, 3))
        self.assertEqual((stats.peer_responses, link_stats.responses), (1, 1))
        self.assertEqual(stats.peer_dropped_requests, 2)
        self.assertEqual(link_stats.dropped_requests, 2)
        self.assertEqual((stats.peer_eof, link_stats.eof), (1, 1))
        self.assertGreater(stats.peer_request_bytes, 3 * len(GET_FOO))
        self.assertEqual(stats.peer_response_bytes, link_stats.response_bytes)
        self.assertGreater(link_stats.response_bytes, 0)

    def test_requests_wait_for_the_first_connection_being_made(self) -> None:
        h = PoolHarness()
        self.assertFalse(h.pool.is_up)
        owner = Owner()
        first, second = owner.slot(), owner.slot()
        self.assertTrue(h.pool.send(GET_FOO, first, DMSG_REQ, False, 0))
        self.assertTrue(h.pool.send(SET_FOO, second, DMSG_REQ, True, 0))
        link = h.connect()
        self.assertEqual(
            [(f.msg_id, f.flags, f.payload) for f in frames(link.transport.flush().value())],
            [(1, 0, GET_FOO), (2, 4, SET_FOO)],
        )
        link.dataReceived(
            encode_frame(1, 5, 0, 1, b"$-1\r\n") + encode_frame(2, 5, 0, 1, b"+OK\r\n")
        )
        self.assertEqual(owner.replies, [(first, b"$-1\r\n"), (second, b"+OK\r\n")])

    def test_waiting_requests_time_out(self) -> None:
        h = PoolHarness(timeout_ms=1000)
        owner = Owner()
        slot = owner.slot()
        h.pool.send(GET_FOO, slot, DMSG_REQ, False, 0)
        h.reactor.advance(0.9)
        self.assertEqual(owner.replies, [])
        h.reactor.advance(0.2)
        self.assertEqual(owner.replies, [(slot, errors.PEER_REFUSED)])
        link = h.connect()
        self.assertEqual(link.transport.flush().value(), b"")

    def test_not_connected_refuses_and_queues_nothing(self) -> None:
        h = PoolHarness()
        owner = Owner()
        waiting = owner.slot()
        h.pool.send(GET_FOO, waiting, DMSG_REQ, False, 0)
        h.fail()  # the attempt failed: the waiting request too, the next ones at once
        self.assertEqual(owner.replies, [(waiting, errors.PEER_REFUSED)])
        self.assertFalse(h.pool.send(GET_FOO, owner.slot(), DMSG_REQ, False, 0))
        h.reactor.advance(1.0)  # the retry is being made: the peer is known to fail
        self.assertFalse(h.pool.send(GET_FOO, owner.slot(), DMSG_REQ, False, 0))
        link = h.connect()
        self.assertTrue(h.pool.is_up)
        self.assertEqual(link.transport.flush().value(), b"")
        self.assertEqual(len(owner.replies), 1)

    def test_requests_are_spread_over_connections_by_lane(self) -> None:
        h = PoolHarness(size=2)
        first = h.connect(0)
        second = h.connect(1)
        for lane in (1, 2, 3, 5):
            h.pool.send(GET_FOO, Slot(None), DMSG_REQ, False, lane)
        self.assertEqual([f.msg_id for f in frames(first.transport.flush().value())], [2])
        self.assertEqual([f.msg_id for f in frames(second.transport.flush().value())], [1, 3, 4])

    def test_timeout_fails_only_the_late_request_and_drops_its_reply(self) -> None:
        h = PoolHarness(timeout_ms=1000)
        link = h.connect()
        owner = Owner()
        first, second = owner.slot(), owner.slot()
        h.pool.send(GET_FOO, first, DMSG_REQ, False, 0)
        h.reactor.advance(0.6)
        h.pool.send(GET_FOO, second, DMSG_REQ, False, 0)
        h.reactor.advance(0.5)
        self.assertEqual(owner.replies, [(first, errors.PEER_REFUSED)])
        link.dataReceived(
            encode_frame(1, 5, 0, 1, b"+late\r\n") + encode_frame(2, 5, 0, 1, b"+B\r\n")
        )
        self.assertEqual(owner.replies, [(first, errors.PEER_REFUSED), (second, b"+B\r\n")])
        self.assertFalse(link.transport.flush().disconnecting)
        self.assertEqual(h.pool.stats.peer_timedout_requests, 1)
        self.assertEqual(h.pool.link.timedout_requests, 1)
        self.assertEqual(h.pool.stats.remote_peer_timedout_requests, 0)

    def test_a_peer_silent_for_twice_the_timeout_is_dropped(self) -> None:
        h = PoolHarness(timeout_ms=1000)
        link = h.connect()
        owner = Owner()
        h.pool.send(GET_FOO, owner.slot(), DMSG_REQ, False, 0)
        h.reactor.advance(1.1)
        self.assertEqual([reply for _, reply in owner.replies], [errors.PEER_REFUSED])
        self.assertFalse(link.transport.flush().disconnecting)
        h.reactor.advance(1.0)
        self.assertTrue(link.transport.flush().disconnecting)
        self.assertEqual(h.pool.stats.peer_timedout, 1)

    def test_reconnect_backoff_doubles_up_to_ten_seconds(self) -> None:
        h = PoolHarness(health=Ejection(False, 3, 10.0))
        delays = []
        for _ in range(6):
            h.fail()
            call = h.pool._retry_calls[0]
            delays.append(call.getTime() - h.reactor.seconds())
            h.reactor.advance(call.getTime() - h.reactor.seconds())
        self.assertEqual(delays, [1.0, 2.0, 4.0, 8.0, 10.0, 10.0])
        # a connection resets the back-off; losing it retries after 1 s
        link = h.connect()
        link.connectionLost(Failure(ConnectionDone()))
        call = h.pool._retry_calls[0]
        self.assertEqual(call.getTime() - h.reactor.seconds(), 1.0)

    def test_reset_drops_and_reconnects_every_connection_now(self) -> None:
        h = PoolHarness(size=2)
        link = h.connect(0)
        h.fail(1)  # the second connection waits to retry
        owner = Owner()
        slot = owner.slot()
        h.pool.send(GET_FOO, slot, DMSG_REQ, False, 0)
        attempts = len(h.reactor.tcpClients)
        h.pool.reset()
        self.assertEqual(owner.replies, [(slot, errors.PEER_REFUSED)])
        self.assertTrue(link.transport.flush().disconnecting)
        self.assertFalse(h.pool.is_up)
        self.assertEqual(len(h.reactor.tcpClients), attempts + 2)
        self.assertEqual(h.pool._retry_calls, [None, None])
        # the old connection closing later does not schedule anything
        link.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(h.pool._retry_calls, [None, None])
        fresh = h.connect()
        self.assertIsNot(fresh, link)
        self.assertTrue(h.pool.is_up)

    def test_stop_closes_and_does_not_reconnect(self) -> None:
        h = PoolHarness()
        link = h.connect()
        h.pool.stop()
        self.assertTrue(link.transport.flush().disconnecting)
        link.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(h.pool._retry_calls, [None])
        self.assertEqual(h.reactor.getDelayedCalls(), [])

    def test_without_preconnect_the_first_request_starts_connecting(self) -> None:
        h = PoolHarness(start=False)
        h.pool.start(connect_now=False)
        self.assertEqual(h.reactor.tcpClients, [])
        self.assertTrue(h.pool.send(GET_FOO, Slot(None), DMSG_REQ, False, 0))
        self.assertEqual(len(h.reactor.tcpClients), 1)
        link = h.connect()
        self.assertEqual([f.payload for f in frames(link.transport.flush().value())], [GET_FOO])

    def test_connection_life_cycle_is_logged_without_tracebacks(self) -> None:
        events: List[dict] = []
        previous = verbosity.verbosity
        verbosity.set(11)
        globalLogPublisher.addObserver(events.append)
        try:
            h = PoolHarness()
            h.fail()
            h.reactor.advance(1.0)
            h.connect().connectionLost(Failure(ConnectionDone()))
        finally:
            globalLogPublisher.removeObserver(events.append)
            verbosity.set(previous)
        ours = [e for e in events if e.get("log_namespace") == "dynotwist.net.peer"]
        formats = [e["log_format"] for e in ours]
        self.assertTrue(any(f.startswith("cannot connect to peer") for f in formats), formats)
        self.assertTrue(any(f.startswith("reconnecting to peer") for f in formats), formats)
        self.assertTrue(any(f.startswith("connected to peer") for f in formats), formats)
        self.assertTrue(any(f.startswith("lost connection") for f in formats), formats)
        self.assertEqual({e["log_level"].name for e in ours}, {"info"})
        self.assertFalse([e for e in events if "log_failure" in e])


class RateLimitTests(unittest.TestCase):
    def test_cross_dc_writes_over_the_rate_wait_for_the_next_second(self) -> None:
        h = PoolHarness(same_dc=False, msg_rate=2, timeout_ms=10000)
        link = h.connect()
        owner = Owner()
        for _ in range(5):
            self.assertTrue(h.pool.send(GET_FOO, owner.slot(), DMSG_REQ_FORWARD, False, 0))
        self.assertEqual([f.msg_id for f in frames(link.transport.take())], [1, 2])
        h.reactor.advance(0.5)
        self.assertEqual(link.transport.take(), b"")
        h.reactor.advance(0.5)
        self.assertEqual([f.msg_id for f in frames(link.transport.take())], [3, 4])
        # budget spent on held frames: a new one waits behind the last held one
        h.pool.send(GET_FOO, owner.slot(), DMSG_REQ_FORWARD, False, 0)
        self.assertEqual(link.transport.take(), b"")
        h.reactor.advance(1.0)
        self.assertEqual([f.msg_id for f in frames(link.transport.take())], [5, 6])
        h.pool.send(GET_FOO, owner.slot(), DMSG_REQ_FORWARD, False, 0)
        self.assertEqual(link.transport.take(), b"")
        h.reactor.advance(1.0)
        # replies still match in order
        link.dataReceived(b"".join(encode_frame(i, 5, 0, 0, b":%d\r\n" % i) for i in range(1, 8)))
        self.assertEqual([r for _, r in owner.replies], [b":%d\r\n" % i for i in range(1, 8)])
        self.assertEqual([f.msg_id for f in frames(link.transport.take())], [7])

    def test_held_writes_are_dropped_with_the_connection(self) -> None:
        h = PoolHarness(same_dc=False, msg_rate=1)
        link = h.connect()
        owner = Owner()
        for _ in range(3):
            h.pool.send(GET_FOO, owner.slot(), DMSG_REQ_FORWARD, False, 0)
        link.connectionLost(Failure(ConnectionDone()))
        self.assertEqual([r for _, r in owner.replies], [errors.PEER_REFUSED] * 3)
        self.assertEqual(len(link.held), 0)

    def test_same_dc_links_are_not_limited(self) -> None:
        h = PoolHarness(same_dc=True, msg_rate=2)
        link = h.connect()
        for _ in range(5):
            h.pool.send(GET_FOO, Slot(None), DMSG_REQ, False, 0)
        self.assertEqual(len(frames(link.transport.flush().value())), 5)
        self.assertIsNone(link.budget)


# -- server side ----------------------------------------------------------------------


class ServerHarness:
    def __init__(self) -> None:
        self.reactor = MemoryReactorClock()
        self.node = FakeNode(self.reactor)
        self.protocol = DnodeServerFactory(self.node).buildProtocol(None)
        self.transport = BatchedTransport(self.reactor)
        self.protocol.makeConnection(self.transport)


class DnodeServerTests(unittest.TestCase):
    def setUp(self) -> None:
        self.h = ServerHarness()
        self.server = self.h.protocol
        self.out = self.h.transport
        self.node = self.h.node

    def test_a_peer_connection_reads_in_large_pieces(self) -> None:
        transport = SocketTransport(self.h.reactor)
        DnodeServerFactory(self.node).buildProtocol(None).makeConnection(transport)
        self.assertEqual(transport.bufferSize, LARGE_READ)

    def test_factory(self) -> None:
        factory = DnodeServerFactory(self.node)
        self.assertFalse(factory.noisy)
        self.assertIsInstance(self.server, DnodeServerProtocol)

    def test_same_dc_request_goes_to_the_datastore_as_captured(self) -> None:
        # T5: C replays a write to D (type 3, same_dc 1); D answers with C's id
        request = captured("T5", "SET foo bar", "[C -> D]")
        response = captured("T5", "SET foo bar", "[D -> C]")
        self.server.dataReceived(request)
        store = self.node.stores[False]
        self.assertEqual([raw for raw, _, _ in store.sent], [SET_FOO])
        self.assertEqual(store.sent[0][2], self.server.lane)
        self.assertEqual(self.out.flush().value(), b"")
        store.answer(0, b"+OK\r\n")
        self.assertEqual(self.out.flush().value(), response)

    def test_forwarded_get_goes_to_the_node_and_is_answered_as_captured(self) -> None:
        request = captured("T4", "GET foo (hit)", "[A -> C]")
        response = captured("T4", "GET foo (hit)", "[C -> A]")
        self.server.dataReceived(request)
        self.assertEqual(self.node.stores[False].sent, [])
        [(payload, resp3, slot, lane)] = self.node.forwarded
        self.assertEqual((payload, resp3, lane), (GET_FOO, False, self.server.lane))
        slot.owner.complete(slot, b"$3\r\nbar\r\n")
        self.assertEqual(self.out.flush().value(), response)

    def test_replies_go_back_in_request_order_across_protocol_versions(self) -> None:
        self.server.dataReceived(
            encode_frame(11, DMSG_REQ, 0, 1, GET_FOO)
            + encode_frame(12, DMSG_REQ, 4, 1, encode_command([b"HGETALL", b"h"]))
            + encode_frame(13, DMSG_REQ, 0, 0, GET_FOO)
        )
        resp2, resp3 = self.node.stores[False], self.node.stores[True]
        self.assertEqual(len(resp2.sent), 2)
        self.assertEqual(len(resp3.sent), 1)
        resp3.answer(0, b"%0\r\n")
        resp2.answer(1, b"$1\r\nc\r\n")
        self.assertEqual(self.out.flush().value(), b"")
        resp2.answer(0, b"$1\r\na\r\n")
        self.assertEqual(
            self.out.flush().value(),
            encode_frame(11, 5, 0, 1, b"$1\r\na\r\n")
            + encode_frame(12, 5, 4, 1, b"%0\r\n")
            + encode_frame(13, 5, 0, 0, b"$1\r\nc\r\n"),
        )

    def test_refusals_are_answered_in_place(self) -> None:
        self.node.stores[False].up = False
        self.node.forward_ok = False
        self.server.dataReceived(
            encode_frame(1, DMSG_REQ, 0, 1, GET_FOO)
            + encode_frame(2, DMSG_REQ_FORWARD, 4, 0, GET_FOO)
        )
        self.assertEqual(
            self.out.flush().value(),
            encode_frame(1, 5, 0, 1, errors.DATASTORE_REFUSED)
            + encode_frame(2, 5, 4, 0, errors.PEER_NOT_CONNECTED),
        )

    def test_forward_with_resp3(self) -> None:
        self.server.dataReceived(encode_frame(5, DMSG_REQ_FORWARD, 4, 0, GET_FOO))
        [(_, resp3, slot, _)] = self.node.forwarded
        self.assertTrue(resp3)
        slot.owner.complete(slot, b"_\r\n")
        self.assertEqual(self.out.flush().value(), encode_frame(5, 5, 4, 0, b"_\r\n"))

    def test_gossip_responses_and_handshakes_are_ignored(self) -> None:
        gossip = b"   $2014$ 0 7 0 1 1 *1 a *34\r\ndc1$rack1$0,1445912180,4,10.0.0.1\r\n"
        self.server.dataReceived(
            gossip
            + encode_frame(3, 6, 0, 1, b"")
            + encode_frame(4, 5, 0, 1, b"+OK\r\n")
            + encode_frame(5, 13, 0, 1, b"bye", data=b"a")
            + encode_frame(6, 0, 0, 1, b"?")
            + encode_frame(7, DMSG_REQ, 0, 1, GET_FOO)
        )
        self.assertEqual(len(self.node.stores[False].sent), 1)
        self.assertEqual(self.node.forwarded, [])
        self.node.stores[False].answer(0, b"$-1\r\n")
        self.assertEqual(self.out.flush().value(), encode_frame(7, 5, 0, 1, b"$-1\r\n"))

    def test_garbage_before_a_frame_is_skipped(self) -> None:
        request = encode_frame(9, DMSG_REQ, 0, 1, GET_FOO)
        stream = b"hello\r\n$2014$ x 1\r\n  " + request + b"\x00\xff junk " + request
        for i in range(len(stream)):
            self.server.dataReceived(stream[i : i + 1])
        store = self.node.stores[False]
        self.assertEqual([raw for raw, _, _ in store.sent], [GET_FOO, GET_FOO])
        self.assertFalse(self.out.flush().disconnecting)

    def test_a_payload_must_be_exactly_one_request(self) -> None:
        not_one = b"-ERR Protocol error: a peer frame must carry exactly one request\r\n"
        for msg_id, payload in enumerate(
            (GET_FOO + GET_FOO[:5], GET_FOO + GET_FOO, b"", GET_FOO[:-2], b"*0\r\n"), 1
        ):
            self.server.dataReceived(encode_frame(msg_id, DMSG_REQ, 0, 1, payload))
            self.assertEqual(self.out.take(), encode_frame(msg_id, 5, 0, 1, not_one), payload)
        self.assertEqual(self.node.stores[False].sent, [])
        self.assertFalse(self.out.flush().disconnecting)

    def test_peers_are_refused_what_clients_are_refused(self) -> None:
        refused = [
            (encode_command([b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lru"]),
             b"-ERR CONFIG SET is not supported"),
            (encode_command([b"FLUSHALL"]), b"-ERR FLUSHALL is not supported"),
            (encode_command([b"NOSUCH", b"x"]), b"-ERR unknown command 'NOSUCH'"),
            (encode_command([b"GET"]), b"-ERR wrong number of arguments for 'get' command"),
            (encode_command([b"AUTH", b"pw"]), b"-ERR 'auth' is answered by the node"),
            (encode_command([b"WATCH", b"k"]), b"-ERR WATCH is not supported"),
            # MULTI alone: only a whole transaction crosses a node (MULTI ... EXEC)
            (encode_command([b"MULTI"]), b"-ERR 'multi' is answered by the node"),
            (b"*1\r\n$x\r\n", b"-ERR Protocol error: invalid bulk length"),
            (encode_command([b"SET", b"k", b"v" * 65537]), b"-ERR Protocol error: invalid bulk"),
        ]
        for msg_id, (payload, error) in enumerate(refused, 1):
            self.server.dataReceived(encode_frame(msg_id, DMSG_REQ_FORWARD, 0, 0, payload))
            [frame] = frames(self.out.take())
            self.assertEqual((frame.msg_id, frame.msg_type), (msg_id, 5))
            self.assertTrue(frame.payload.startswith(error), (payload, frame.payload))
        self.assertEqual(self.node.stores[False].sent, [])
        self.assertEqual(self.node.forwarded, [])
        self.assertFalse(self.out.flush().disconnecting)

    def test_what_dynomite_peers_send_is_admitted(self) -> None:
        """The requests C Dynomite peers send (captured), lower-case fragments included."""
        with open(os.path.join(VECTORS, "dnode-frames.txt"), encoding="utf-8") as f:
            lines = f.read().splitlines()
        requests = [
            frame
            for i, line in enumerate(lines)
            if " dnode " in line and line.startswith("[")
            for frame in frames(ast.literal_eval(lines[i + 1]))
            if frame.msg_type in (DMSG_REQ, DMSG_REQ_FORWARD)
        ]
        self.assertGreater(len(requests), 50)
        names = set()
        for frame in requests:
            admitted = self.node.admit_relayed(frame.payload)
            self.assertIsInstance(admitted, Relayed, repr(frame.payload[:60]))
            assert isinstance(admitted, Relayed)
            self.assertEqual(admitted.raw, frame.payload)
            names.add(frame.payload.split(b"\r\n")[2])
        self.assertTrue({b"del", b"mget", b"SET", b"GET"} <= names, names)

    def test_unrecoverable_input_closes_the_connection_after_serving_what_came_before(self) -> None:
        self.server.dataReceived(
            encode_frame(1, DMSG_REQ, 0, 1, GET_FOO) + b"   $2014$ 2 3 0 1 1 *99999999 "
        )
        self.assertEqual(len(self.node.stores[False].sent), 1)
        self.assertTrue(self.out.flush().disconnecting)

    def test_a_frame_over_the_payload_limit_closes_the_connection(self) -> None:
        self.server.dataReceived(
            encode_frame(1, DMSG_REQ, 0, 1, GET_FOO) + b"   $2014$ 2 3 0 1 1 *1 d *1048577\r\n"
        )
        self.assertEqual(len(self.node.stores[False].sent), 1)
        self.assertTrue(self.out.flush().disconnecting)

    def test_encrypted_frames_close_the_connection(self) -> None:
        self.server.dataReceived(encode_frame(1, DMSG_REQ, 1, 1, b"\x00" * 16))
        self.assertEqual(self.node.stores[False].sent, [])
        self.assertTrue(self.out.flush().disconnecting)

    def test_a_closed_connection_drops_its_pending_replies(self) -> None:
        self.server.dataReceived(encode_frame(1, DMSG_REQ, 0, 1, GET_FOO))
        slot = self.node.stores[False].sent[0][1]
        self.server.connectionLost(Failure(ConnectionDone()))
        self.assertIsNone(slot.owner)
        self.assertEqual(len(self.server.waiting), 0)

    def test_a_coordinator_that_does_not_read_is_throttled(self) -> None:
        request = encode_frame(1, DMSG_REQ, 0, 1, GET_FOO)
        self.server.dataReceived(request * (MAX_PENDING + 1))
        self.assertEqual(self.out.producerState, "paused")
        store = self.node.stores[False]
        for i in range(MAX_PENDING // 2 + 2):
            store.answer(i, b"$-1\r\n")
        self.assertEqual(self.out.producerState, "producing")


# -- both sides -----------------------------------------------------------------------


class EndToEndTests(unittest.TestCase):
    def test_peer_link_to_a_dnode_server(self) -> None:
        h = PoolHarness()
        node = FakeNode(h.reactor)
        node.batch = h.batch
        server = DnodeServerProtocol(node)
        wrapper = h.reactor.tcpClients[-1][2].buildProtocol(None)
        pump = iosim.connect(
            server,
            iosim.FakeTransport(server, isServer=True),
            wrapper,
            iosim.FakeTransport(wrapper, isServer=False),
            greet=False,
        )

        def run() -> None:
            for _ in range(4):
                h.reactor.advance(0)
                pump.pump()

        run()
        self.assertTrue(h.pool.is_up)
        owner = Owner()
        get2, get3, fwd = owner.slot(), owner.slot(), owner.slot()
        h.pool.send(GET_FOO, get2, DMSG_REQ, False, 0)
        h.pool.send(GET_FOO, get3, DMSG_REQ, True, 0)
        h.pool.send(SET_FOO, fwd, DMSG_REQ_FORWARD, False, 0)
        run()
        self.assertEqual(len(node.stores[False].sent), 1)
        self.assertEqual(len(node.stores[True].sent), 1)
        forwarded = node.forwarded[0][2]
        forwarded.owner.complete(forwarded, b"+OK\r\n")
        node.stores[True].answer(0, b"_\r\n")
        run()
        self.assertEqual(owner.replies, [])
        node.stores[False].answer(0, b"$3\r\nbar\r\n")
        run()
        self.assertEqual(
            owner.replies, [(get2, b"$3\r\nbar\r\n"), (get3, b"_\r\n"), (fwd, b"+OK\r\n")]
        )
        # the server goes away: pending requests on the link fail
        last = owner.slot()
        h.pool.send(GET_FOO, last, DMSG_REQ, False, 0)
        run()
        server.transport.loseConnection()
        run()
        self.assertEqual(owner.reply_to(last), errors.PEER_REFUSED)
        self.assertFalse(h.pool.is_up)
        self.assertIsNone(node.stores[False].sent[1][1].owner)

    def test_peer_protocol_type(self) -> None:
        h = PoolHarness()
        self.assertIs(h.pool.protocol_class, PeerProtocol)
        self.assertIsInstance(h.connect(), PeerProtocol)


class ReachabilityLogTests(unittest.TestCase):
    """At the default verbosity, losing a peer and regaining it are logged once each."""

    def setUp(self) -> None:
        self.events: List[dict] = []
        previous = verbosity.verbosity
        verbosity.set(DEFAULT_VERBOSITY)
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(verbosity.set, previous)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)

    def shown(self) -> List[Tuple[str, bool, str]]:
        """dynotwist's events: (level, is a notice, format)."""
        return [
            (e["log_level"].name, e.get("log_notice", False), e["log_format"])
            for e in self.events
            if e.get("log_namespace", "").startswith("dynotwist")
        ]

    def warnings(self) -> List[str]:
        return [text for level, _, text in self.shown() if level in ("warn", "error")]

    def test_a_peer_coming_up_after_this_node_is_no_warning(self) -> None:
        h = PoolHarness()
        h.fail()  # the peer's process is still starting
        h.reactor.advance(1)
        h.connect()
        self.assertEqual(self.warnings(), [])
        h.pool.ready[0].connectionLost(Failure(ConnectionDone()))  # lost once up: said
        self.assertEqual(len(self.warnings()), 1)

    def test_loss_and_recovery_logged_once_each(self) -> None:
        h = PoolHarness()
        h.reactor.advance(Reachability.STARTUP_GRACE)  # not a cluster starting up
        # failed attempts below server_failure_limit (an ejection has its own line)
        for _ in range(2):  # two failed attempts: one warning
            h.fail()
            retry = h.pool._retry_calls[0]
            h.reactor.advance(retry.getTime() - h.reactor.seconds())
        h.connect()  # back: one notice
        # lost again: the third failure in a row without a reply, which also ejects
        # it: one warning that says so
        h.pool.ready[0].connectionLost(Failure(ConnectionDone()))
        shown = self.shown()
        self.assertEqual(
            [(level, notice) for level, notice, _ in shown],
            [("warn", False), ("info", True), ("warn", False)],
            shown,
        )
        self.assertIn("unreachable", shown[0][2])
        self.assertIn("reachable again", shown[1][2])
        self.assertIn("unreachable", shown[2][2])
        self.assertIn("ejected after 3 failures", str(self.events[-1]["reason"]))

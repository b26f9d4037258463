"""Failure detection: ``auto_eject_hosts``, ``server_failure_limit``,
``server_retry_timeout`` — the rules (core.ejection) and the pools that apply them,
on in-memory transports and a fake clock."""

from __future__ import annotations

import itertools
from typing import Any, Optional

from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from twisted.trial import unittest

from dynotwist import errors
from dynotwist.config import Address
from dynotwist.core import ring
from dynotwist.core.ejection import EJECTED, IN, PROBING, Ejection
from dynotwist.core.stats import detached_stats
from dynotwist.net.batch import WriteBatch
from dynotwist.net.datastore import DatastorePool, PoolShared
from dynotwist.net.peer import PeerPool
from dynotwist.proto.dnode import DMSG_REQ, DnodeParser, encode_frame
from dynotwist.proto.resp import encode_command
from tests.support.fakes import Owner
from tests.support.transports import BatchedTransport

GET_FOO = encode_command([b"GET", b"foo"])
PING = encode_command([b"PING"])


def elapse(reactor: Any, seconds: float, step: float = 0.05) -> None:
    """``seconds`` pass with the reactor running all along (its timers every
    ``step``), as on a node that is not itself stalled: a single jump of the clock
    would be a stall of this process, for which backends are not blamed."""
    while seconds > 1e-9:
        reactor.advance(min(step, seconds))
        seconds -= step


class EjectionRuleTests(unittest.TestCase):
    def test_the_limit_of_failures_in_a_row_ejects(self) -> None:
        health = Ejection(True, 3, 10.0)
        self.assertFalse(health.failed(1.0))
        self.assertFalse(health.failed(2.0))
        self.assertEqual(health.state, IN)
        self.assertTrue(health.failed(3.0))
        self.assertEqual((health.state, health.ejections, health.ejected_at), (EJECTED, 1, 3.0))
        self.assertTrue(health.ejected)

    def test_a_reply_between_failures_starts_the_count_again(self) -> None:
        health = Ejection(True, 3, 10.0)
        health.failed(1.0, 2)
        self.assertFalse(health.succeeded())
        self.assertFalse(health.failed(2.0, 2))
        self.assertEqual(health.state, IN)

    def test_several_failures_at_once_count(self) -> None:
        health = Ejection(True, 3, 10.0)
        self.assertTrue(health.failed(5.0, 40))  # every request in flight timed out

    def test_probe_after_the_retry_timeout_then_back_in_or_ejected_again(self) -> None:
        health = Ejection(True, 1, 10.0)
        health.failed(100.0)
        self.assertFalse(health.probe_due(109.0))
        self.assertTrue(health.probe_due(110.0))
        self.assertEqual(health.state, PROBING)
        self.assertTrue(health.ejected)
        self.assertFalse(health.probe_due(111.0))  # once
        self.assertTrue(health.failed(120.0))  # the probe failed: ejected again...
        self.assertEqual((health.state, health.ejections, health.retry_after), (EJECTED, 1, 130.0))
        self.assertTrue(health.probe_due(130.0))
        self.assertTrue(health.succeeded())  # ...until it answers
        self.assertEqual((health.state, health.failures), (IN, 0))

    def test_disabled_never_ejects(self) -> None:
        health = Ejection(False, 3, 10.0)
        self.assertFalse(health.failed(1.0, 1000))
        self.assertEqual(health.state, IN)


class PeerEjectionHarness:
    def __init__(self, health: Optional[Ejection] = None, size: int = 1) -> None:
        self.reactor = MemoryReactorClock()
        self.reactor.advance(1000.0)
        self.stats = detached_stats()
        peer = ring.Member("b", "127.0.0.2", 8101, "dc1", "rack2", (0,))
        self.pool = PeerPool(
            PoolShared(self.reactor, WriteBatch(self.reactor), self.stats, errors.RESP),
            peer,
            size,
            1000,
            True,
            itertools.count(1),
            health=health if health is not None else Ejection(True, 3, 10.0),
            probe=PING,
        )
        self.pool.start()

    def connect(self, attempt: int = -1) -> Any:
        """Complete a connection attempt; the pool's protocol for it."""
        wrapper = self.reactor.tcpClients[attempt][2].buildProtocol(None)
        wrapper.makeConnection(BatchedTransport(self.reactor))
        return wrapper._wrappedProtocol

    def refuse(self, attempt: int = -1) -> None:
        self.reactor.tcpClients[attempt][2].clientConnectionFailed(
            None, Failure(ConnectionRefusedError())
        )


def sent(link: Any) -> list:
    return DnodeParser().feed(link.transport.take())


class PeerEjectionTests(unittest.TestCase):
    def test_a_silent_peer_is_ejected_when_its_requests_time_out(self) -> None:
        h = PeerEjectionHarness()
        link = h.connect()
        owner = Owner()
        for _ in range(3):
            self.assertTrue(h.pool.send(GET_FOO, owner.slot(), DMSG_REQ, False, 0))
        elapse(h.reactor, 0.5)
        late = owner.slot()
        h.pool.send(GET_FOO, late, DMSG_REQ, False, 0)
        elapse(h.reactor, 0.6)  # the first three time out together: the limit
        self.assertEqual(h.stats.peer_ejects, 1)
        self.assertIn(h.stats.peer_ejected_at, range(1001000, 1001101))
        # ejected: its connection dropped (the later request fails now), nothing sent
        self.assertEqual([reply for _, reply in owner.replies], [errors.PEER_REFUSED] * 4)
        self.assertTrue(link.transport.disconnecting)
        self.assertFalse(h.pool.is_up)
        self.assertFalse(h.pool.send(GET_FOO, owner.slot(), DMSG_REQ, False, 0))
        attempts = len(h.reactor.tcpClients)
        h.reactor.advance(9.9)
        self.assertEqual(len(h.reactor.tcpClients), attempts, "reconnected while ejected")

    def test_a_stall_of_this_process_is_not_blamed_on_the_peer(self) -> None:
        h = PeerEjectionHarness()
        link = h.connect()
        owner = Owner()
        for _ in range(3):
            h.pool.send(GET_FOO, owner.slot(), DMSG_REQ, False, 0)
        h.reactor.advance(1.5)  # no timer ran for 1.5 s: SIGSTOP, a GC pause...
        # the requests past their time fail, but the peer is not counted against
        self.assertEqual([reply for _, reply in owner.replies], [errors.PEER_REFUSED] * 3)
        self.assertEqual((h.pool.health.failures, h.stats.peer_ejects), (0, 0))
        self.assertTrue(h.pool.is_up)
        self.assertFalse(link.transport.disconnecting)

    def test_after_the_retry_timeout_a_probe_takes_the_peer_back(self) -> None:
        h = PeerEjectionHarness(Ejection(True, 1, 10.0))
        h.connect().connectionLost(Failure(ConnectionDone()))
        self.assertEqual(h.stats.peer_ejects, 1)
        h.reactor.advance(10.0)
        probe_link = h.connect()
        self.assertEqual([f.payload for f in sent(probe_link)], [PING])
        # clients still fail fast while the probe waits for its reply
        self.assertFalse(h.pool.send(GET_FOO, Owner().slot(), DMSG_REQ, False, 0))
        probe_link.dataReceived(encode_frame(1, 5, 0, 1, b"+PONG\r\n"))
        self.assertTrue(h.pool.is_up)
        owner = Owner()
        slot = owner.slot()
        self.assertTrue(h.pool.send(GET_FOO, slot, DMSG_REQ, False, 0))
        self.assertEqual([f.payload for f in sent(probe_link)], [GET_FOO])
        probe_link.dataReceived(encode_frame(2, 5, 0, 1, b"$-1\r\n"))
        self.assertEqual(owner.replies, [(slot, b"$-1\r\n")])
        self.assertEqual((h.pool.health.state, h.stats.peer_ejects), (IN, 1))

    def test_a_probe_that_times_out_ejects_again_without_counting_a_new_ejection(self) -> None:
        h = PeerEjectionHarness(Ejection(True, 1, 10.0))
        h.refuse()
        h.reactor.advance(10.0)
        probe_link = h.connect()
        self.assertEqual([f.payload for f in sent(probe_link)], [PING])
        elapse(h.reactor, 1.1)  # the stopped peer's kernel took the connection; no PONG
        self.assertEqual(h.pool.health.state, EJECTED)
        self.assertTrue(probe_link.transport.disconnecting)
        self.assertEqual(h.stats.peer_ejects, 1)
        attempts = len(h.reactor.tcpClients)
        h.reactor.advance(10.0)
        self.assertEqual(len(h.reactor.tcpClients), attempts + 1)  # probed again

    def test_a_refused_probe_connection_ejects_again(self) -> None:
        h = PeerEjectionHarness(Ejection(True, 2, 5.0))
        h.refuse()
        h.reactor.advance(1.0)
        h.refuse()
        self.assertEqual(h.pool.health.state, EJECTED)
        h.reactor.advance(5.0)
        h.refuse()
        self.assertEqual((h.pool.health.state, h.stats.peer_ejects), (EJECTED, 1))

    def test_a_reply_resets_the_count(self) -> None:
        h = PeerEjectionHarness()
        link = h.connect()
        owner = Owner()
        for _ in range(2):
            h.pool.send(GET_FOO, owner.slot(), DMSG_REQ, False, 0)
        elapse(h.reactor, 1.1)  # two timed out
        h.pool.send(GET_FOO, owner.slot(), DMSG_REQ, False, 0)
        link.dataReceived(encode_frame(3, 5, 0, 1, b"+OK\r\n"))
        self.assertEqual(h.pool.health.failures, 0)
        h.pool.send(GET_FOO, owner.slot(), DMSG_REQ, False, 0)
        elapse(h.reactor, 1.1)
        self.assertEqual((h.pool.health.state, h.stats.peer_ejects), (IN, 0))

    def test_auto_eject_hosts_false_never_ejects(self) -> None:
        h = PeerEjectionHarness(Ejection(False, 3, 10.0))
        h.connect()
        owner = Owner()
        for _ in range(10):
            h.pool.send(GET_FOO, owner.slot(), DMSG_REQ, False, 0)
        elapse(h.reactor, 1.1)
        self.assertTrue(h.pool.is_up)
        self.assertEqual(h.stats.peer_ejects, 0)

    def test_reset_takes_an_ejected_peer_back_at_once(self) -> None:
        h = PeerEjectionHarness(Ejection(True, 1, 10.0), size=2)
        h.refuse(0)  # connection 1's attempt is still under way
        self.assertEqual(h.pool.health.state, EJECTED)
        attempts = len(h.reactor.tcpClients)
        h.pool.reset()
        self.assertEqual(h.pool.health.state, IN)
        self.assertEqual(len(h.reactor.tcpClients), attempts + 1)
        h.connect()
        self.assertTrue(h.pool.is_up)


class DatastoreEjectionTests(unittest.TestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.stats = detached_stats()
        shared = PoolShared(self.reactor, WriteBatch(self.reactor), self.stats, errors.RESP)
        self.pool = DatastorePool(
            shared, Address("127.0.0.1", 6379), 1, 1000, 1000, health=Ejection(True, 2, 3.0)
        )
        self.pool.start()

    def connect(self) -> Any:
        wrapper = self.reactor.tcpClients[-1][2].buildProtocol(None)
        wrapper.makeConnection(BatchedTransport(self.reactor))
        return wrapper._wrappedProtocol

    def test_a_stopped_datastore_is_ejected_and_probed_with_ping(self) -> None:
        store = self.connect()
        owner = Owner()
        for _ in range(2):
            self.assertTrue(self.pool.send(GET_FOO, owner.slot(), 0))
        elapse(self.reactor, 1.1)
        self.assertEqual(self.stats.server_ejects, 1)
        self.assertGreater(self.stats.server_ejected_at, 0)
        self.assertFalse(self.pool.send(GET_FOO, owner.slot(), 0))
        self.assertIsNone(self.pool.connection(0))
        self.reactor.advance(3.0)
        probe = self.connect()
        self.assertEqual(probe.transport.take(), PING)
        self.assertIsNone(self.pool.connection(0), "clients use the probe's connection")
        probe.dataReceived(b"+PONG\r\n")
        self.assertIs(self.pool.connection(0), probe)
        self.assertTrue(store.transport.disconnecting)

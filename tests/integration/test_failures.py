"""A node whose datastore fails: killed, restarted, silent, or not yet connected.

Each node runs in the test's own reactor (``dynotwist.testing.start_node``) in front of
a real redis-server, or of a listener that never answers; clients are txredisapi
connections, and raw connections where exact bytes or RESP3 matter (txredisapi speaks
RESP2). Every request must get an answer (a normal reply or Dynomite's
``-ERR Storage: Datastore refused connection``), never a hang: clients give up far
above the node's ``timeout``, so a hang fails the test instead of blocking it.
"""

from __future__ import annotations

from typing import Any, Generator, List

import txredisapi
from twisted.internet import defer
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.trial import unittest

from dynotwist.testing import LOOPBACK, connect_redis, start_node, start_redis
from dynotwist.testing.blocking import SOCKET_TIMEOUT
from tests.support.raw import connect_raw
from tests.support.traffic import REFUSED, RedisPairs, Traffic, through_a_datastore_restart

DATASTORE_REFUSED = b"-ERR " + REFUSED.encode() + b"\r\n"


class FailureTestCase(unittest.TestCase):
    def connect(self, port: int, **options: Any) -> defer.Deferred[Any]:
        return connect_redis(self, port, replyTimeout=SOCKET_TIMEOUT, **options)

    @defer.inlineCallbacks
    def assertRefused(self, request: defer.Deferred[Any]
                      ) -> Generator[defer.Deferred[Any], Any, None]:
        error = yield self.assertFailure(request, txredisapi.ResponseError)
        self.assertEqual(str(error), "ERR " + REFUSED)


class DatastoreRestartTest(FailureTestCase):
    """redis-server is SIGKILLed under traffic, then restarted on the same port."""

    @defer.inlineCallbacks
    def test_kill_and_restart_datastore_under_traffic(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        node = yield start_node(self, timeout=1000, server_retry_timeout=1000)
        traffic = Traffic(RedisPairs((yield self.connect(
            node.client_port, charset=None, convertNumbers=False))))

        @defer.inlineCallbacks
        def while_down() -> Generator[defer.Deferred[Any], Any, None]:
            # a fresh connection is answered too while the datastore is down
            fresh = yield self.connect(node.client_port)
            yield self.assertRefused(fresh.get("traffic:1"))
            self.assertEqual((yield fresh.ping()), "PONG")

        restarted = yield through_a_datastore_restart(
            self, traffic, node, while_down, lambda port: start_redis(self, port=port))

        # the node reconnected by itself: new connections work and reach the new server
        after = yield self.connect(node.client_port)
        self.assertEqual((yield after.set("after:restart", "yes")), "OK")
        self.assertEqual((yield after.get("after:restart")), "yes")
        direct = yield self.connect(restarted.port)
        self.assertEqual((yield direct.get("after:restart")), "yes")


class _Silent(Protocol):
    def __init__(self, owner: SilentDatastore) -> None:
        self.owner = owner
        self.lost: defer.Deferred[None] = defer.Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.owner.received += len(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.owner.connections.remove(self)
        self.lost.callback(None)


class SilentDatastore(Factory):
    """A listener in the reactor that accepts connections and reads them, but never
    answers."""

    def __init__(self, reactor: Any) -> None:
        self.received = 0
        self.connections: List[_Silent] = []
        self.port = reactor.listenTCP(0, self, interface=LOOPBACK)

    def buildProtocol(self, addr: object) -> _Silent:
        protocol = _Silent(self)
        self.connections.append(protocol)
        return protocol

    @defer.inlineCallbacks
    def close(self) -> Generator[defer.Deferred[Any], Any, None]:
        yield self.port.stopListening()
        lost = [protocol.lost for protocol in self.connections]
        for protocol in list(self.connections):
            assert protocol.transport is not None
            protocol.transport.loseConnection()
        yield defer.gatherResults(lost)


class SilentDatastoreTest(FailureTestCase):
    """The datastore accepts the connection and never replies: ``timeout`` answers."""

    @defer.inlineCallbacks
    def setUp(self) -> Generator[defer.Deferred[Any], Any, None]:
        from twisted.internet import reactor

        self.silent = SilentDatastore(reactor)
        self.addCleanup(self.silent.close)
        self.node = yield start_node(
            self, datastore_port=self.silent.port.getHost().port, timeout=500
        )

    @defer.inlineCallbacks
    def test_request_times_out_with_refusal(self) -> Generator[defer.Deferred[Any], Any, None]:
        client = yield self.connect(self.node.client_port)
        yield self.assertRefused(client.get("silent:k"))
        # the same connection answers the next requests too
        yield self.assertRefused(client.set("silent:k", "v"))
        self.assertEqual((yield client.ping()), "PONG")
        # pipelined, in order, one exact reply each
        raw = yield connect_raw(self, self.node.client_port)
        raw.write(b"*2\r\n$3\r\nGET\r\n$1\r\na\r\n*1\r\n$4\r\nPING\r\n*2\r\n$3\r\nGET\r\n$1\r\nb\r\n")
        replies = yield defer.gatherResults([raw.reply(), raw.reply(), raw.reply()])
        self.assertEqual(replies, [DATASTORE_REFUSED, b"+PONG\r\n", DATASTORE_REFUSED])
        self.assertGreater(self.silent.received, 0, "the node never wrote to the datastore")

    @defer.inlineCallbacks
    def test_resp3_request_times_out_with_refusal(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        raw = yield connect_raw(self, self.node.client_port)
        self.assertEqual((yield raw.call("HELLO", "3"))[:1], b"%")
        self.assertEqual((yield raw.call("GET", "silent:k3")), DATASTORE_REFUSED)
        self.assertEqual((yield raw.call("GET", "silent:k3")), DATASTORE_REFUSED)


class NoPreconnectTest(FailureTestCase):
    """``preconnect: false``: the node connects to its datastore on first use."""

    @defer.inlineCallbacks
    def test_first_request_succeeds(self) -> Generator[defer.Deferred[Any], Any, None]:
        node = yield start_node(self, preconnect=False)
        client = yield self.connect(node.client_port)
        self.assertEqual((yield client.set("lazy:k", "first")), "OK")
        self.assertEqual((yield client.get("lazy:k")), "first")
        raw = yield connect_raw(self, node.client_port)
        self.assertEqual((yield raw.call("HELLO", "3"))[:1], b"%")
        # the RESP3 side of the pool is connected on first use as well
        self.assertEqual((yield raw.call("GET", "lazy:k")), b"$5\r\nfirst\r\n")
        self.assertEqual((yield raw.call("HGETALL", "lazy:none")), b"%0\r\n")

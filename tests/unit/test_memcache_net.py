"""The memcached datastore connection's reading of relayed requests."""

from __future__ import annotations

import ast
import os

from twisted.trial import unittest

from dynotwist.proto.memcache import MemcacheRequest, MemcacheRequestParser, expected_reply

VECTORS = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "vectors", "memcache-requests.txt"
)


def relayed_requests():
    """Every request the client port's parser accepts in the recorded vectors."""
    with open(VECTORS) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            request = ast.literal_eval(line.split("\t")[1])
            for item in MemcacheRequestParser().feed(request):
                if isinstance(item, MemcacheRequest) and not item.local:
                    yield item


class ExpectedReplyTests(unittest.TestCase):
    def test_the_first_line_tells_what_the_parser_knows(self) -> None:
        count = 0
        for request in relayed_requests():
            self.assertEqual(
                expected_reply(request.raw_with_fence), request.expect, request.raw[:80]
            )
            count += 1
        self.assertGreater(count, 150)


class FenceTests(unittest.TestCase):
    """The datastore connection's expectations follow the parser, not a guess."""

    def connection(self):
        from twisted.internet.testing import MemoryReactorClock, StringTransport

        from dynotwist.config import Address
        from dynotwist.core.slots import Slot
        from dynotwist.core.stats import detached_stats
        from dynotwist.net.batch import WriteBatch
        from dynotwist.net.datastore import DatastorePool, PoolShared
        from dynotwist.net.memcache import REPLIES, MemcacheDatastoreProtocol

        reactor = MemoryReactorClock()
        shared = PoolShared(reactor, WriteBatch(reactor), detached_stats(), REPLIES)
        pool = DatastorePool(
            shared, Address("127.0.0.1", 11211), 1, 1000, 1000,
            protocol_class=MemcacheDatastoreProtocol,
        )
        protocol = MemcacheDatastoreProtocol(pool)
        protocol.makeConnection(StringTransport())
        return protocol, Slot

    def test_a_key_named_noreply_is_not_a_noreply_request(self) -> None:
        protocol, Slot = self.connection()
        got = []

        class Owner:
            def complete(self, slot, reply):
                got.append(reply)

        protocol.send(b"delete noreply\r\n", Slot(Owner()))
        protocol.send(b"get x\r\n", Slot(Owner()))
        protocol.dataReceived(b"NOT_FOUND\r\nVALUE x 0 1\r\ny\r\nEND\r\n")
        self.assertEqual(got, [b"NOT_FOUND\r\n", b"VALUE x 0 1\r\ny\r\nEND\r\n"])

    def test_an_unfenced_noreply_request_from_a_peer_gets_a_fence(self) -> None:
        protocol, Slot = self.connection()
        got = []

        class Owner:
            def complete(self, slot, reply):
                got.append(reply)

        protocol.send(b"set k 0 0 1 noreply\r\nx\r\n", Slot(Owner()))
        protocol.send(b"get k\r\n", Slot(Owner()))
        protocol.pool.batch.flush()
        self.assertEqual(
            protocol.transport.value(), b"set k 0 0 1 noreply\r\nx\r\nmn\r\nget k\r\n"
        )
        protocol.dataReceived(b"MN\r\nVALUE k 0 1\r\nx\r\nEND\r\n")
        self.assertEqual(got, [b"", b"VALUE k 0 1\r\nx\r\nEND\r\n"])

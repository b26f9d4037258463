"""The memcached datastore connection's reading of relayed requests, and its fences,
driven through a node on in-memory transports."""

from __future__ import annotations

from typing import Any, Iterator, Tuple

from twisted.trial import unittest

from dynotwist.core.slots import Slot
from dynotwist.proto import memcache
from dynotwist.proto.memcache import MemcacheRequest, MemcacheRequestParser, expected_reply
from tests.support.fakes import Owner
from tests.support.nodes import InMemoryNode
from tests.support.vectors import load_memcache_vectors


def relayed_requests() -> Iterator[MemcacheRequest]:
    """Every request the client port's parser accepts in the recorded vectors."""
    for _, request, _ in load_memcache_vectors():
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

    def connection(self) -> Tuple[InMemoryNode, Any]:
        """A memcached node and its datastore connection, on in-memory transports."""
        node = InMemoryNode(data_store=1)
        _, protocol = node.datastore()
        return node, protocol

    def test_a_key_named_noreply_is_not_a_noreply_request(self) -> None:
        _, protocol = self.connection()
        owner = Owner()
        protocol.send(b"delete noreply\r\n", Slot(owner))
        protocol.send(b"get x\r\n", Slot(owner))
        protocol.dataReceived(b"NOT_FOUND\r\nVALUE x 0 1\r\ny\r\nEND\r\n")
        self.assertEqual(owner.received(), [b"NOT_FOUND\r\n", b"VALUE x 0 1\r\ny\r\nEND\r\n"])

    def test_an_unfenced_noreply_request_from_a_peer_gets_a_fence(self) -> None:
        _, protocol = self.connection()
        owner = Owner()
        protocol.send(b"set k 0 0 1 noreply\r\nx\r\n", Slot(owner))
        protocol.send(b"get k\r\n", Slot(owner))
        self.assertEqual(
            protocol.transport.flush().value(), b"set k 0 0 1 noreply\r\nx\r\nmn\r\nget k\r\n"
        )
        protocol.dataReceived(b"MN\r\nVALUE k 0 1\r\nx\r\nEND\r\n")
        self.assertEqual(owner.received(), [b"", b"VALUE k 0 1\r\nx\r\nEND\r\n"])

    def test_a_client_pipeline_through_the_node(self) -> None:
        """noreply and quiet requests cross the shared datastore connection fenced; the
        client reads memcached's replies in order, without the fences' MN, nothing for
        noreply, and its own MN."""
        node, store = self.connection()
        client, out = node.client()
        client.dataReceived(
            b"set a 0 0 1 noreply\r\n1\r\nmg a v q\r\nmg zz v q\r\nget a\r\nmn\r\n"
        )
        self.assertEqual(
            store.transport.flush().value(),
            b"set a 0 0 1 noreply\r\n1\r\nmn\r\nmg a v q\r\nmn\r\nmg zz v q\r\nmn\r\n"
            b"get a\r\n",
        )
        self.assertEqual(out.flush().value(), b"")
        store.dataReceived(b"MN\r\nVA 1\r\n1\r\nMN\r\nMN\r\nVALUE a 0 1\r\n1\r\nEND\r\n")
        self.assertEqual(
            out.flush().value(), b"VA 1\r\n1\r\nVALUE a 0 1\r\n1\r\nEND\r\nMN\r\n"
        )

    def test_a_single_node_sends_with_the_parsers_expectation(self) -> None:
        """A lone node writes a client's requests straight to its datastore connection,
        the reply's shape taken from the client's parser (nothing reads the bytes
        again), and counts them as the gate would."""
        node, store = self.connection()
        client, out = node.client()

        def guess(raw: bytes) -> int:
            raise AssertionError("the relayed bytes were read again: %r" % raw)

        self.patch(memcache, "expected_reply", guess)
        self.patch(node.node.router, "plan", guess)
        client.dataReceived(b"set noreply 0 0 1\r\n1\r\nget noreply\r\ndelete k noreply\r\n")
        self.assertEqual(
            store.transport.flush().value(),
            b"set noreply 0 0 1\r\n1\r\nget noreply\r\ndelete k noreply\r\nmn\r\n",
        )
        store.dataReceived(b"STORED\r\nVALUE noreply 0 1\r\n1\r\nEND\r\nNOT_FOUND\r\nMN\r\n")
        self.assertEqual(out.flush().value(), b"STORED\r\nVALUE noreply 0 1\r\n1\r\nEND\r\n")
        stats = node.node.stats
        self.assertEqual((stats.write_requests, stats.read_requests), (2, 1))

"""net.directsend on a real socket pair: bytes sent at once when the transport holds
nothing (one buffer, or several gathered), Twisted's buffer used (and the order kept)
when it holds something or the kernel takes only part."""

from __future__ import annotations

import errno
from typing import Any, List

from twisted.internet import defer, reactor, task
from twisted.internet.protocol import ClientFactory, Factory, Protocol
from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from dynotwist.net.directsend import holds_nothing, write_all_now, write_now


class Collector(Protocol):
    def __init__(self) -> None:
        self.chunks: List[bytes] = []
        self.received = 0
        self.connected_d: defer.Deferred = defer.Deferred()

    def connectionMade(self) -> None:
        self.connected_d.callback(self)

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)
        self.received += len(data)


def until(predicate: Any, timeout: float = 10.0) -> defer.Deferred:
    """Fires once ``predicate()`` is true (polled on the reactor)."""
    deadline = reactor.seconds() + timeout

    def check() -> Any:
        if predicate():
            return None
        if reactor.seconds() > deadline:
            raise AssertionError("condition not reached")
        return task.deferLater(reactor, 0.01, check)

    return task.deferLater(reactor, 0, check)


class DirectSendTests(unittest.TestCase):
    @defer.inlineCallbacks
    def setUp(self) -> Any:
        server_side = Collector()
        factory = Factory.forProtocol(lambda: server_side)
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        client_side = Collector()
        client_factory = ClientFactory.forProtocol(lambda: client_side)
        connector = reactor.connectTCP("127.0.0.1", port.getHost().port, client_factory)
        self.addCleanup(connector.disconnect)
        yield client_side.connected_d
        yield server_side.connected_d
        self.sender = server_side.transport  # a real tcp.Server
        self.receiver = client_side

    @defer.inlineCallbacks
    def test_sent_at_once_when_nothing_is_held(self) -> Any:
        self.assertTrue(holds_nothing(self.sender))
        write_now(self.sender, b"hello")
        self.assertTrue(holds_nothing(self.sender))  # went to the kernel, not the buffer
        yield until(lambda: self.receiver.received == 5)
        self.assertEqual(b"".join(self.receiver.chunks), b"hello")

    @defer.inlineCallbacks
    def test_order_is_kept_when_the_kernel_buffer_is_full(self) -> Any:
        self.receiver.transport.pauseProducing()  # the other side stops reading
        sent = []
        number = 0
        while holds_nothing(self.sender):  # fill the kernel's buffers
            chunk = (b"%08d" % number) * 8192
            write_now(self.sender, chunk)
            sent.append(chunk)
            number += 1
            self.assertLess(number, 10000)
        for _ in range(10):  # now held by Twisted: these must queue behind
            chunk = (b"%08d" % number) * 8192
            write_now(self.sender, chunk)
            sent.append(chunk)
            number += 1
        self.assertFalse(holds_nothing(self.sender))
        self.receiver.transport.resumeProducing()
        total = sum(map(len, sent))
        yield until(lambda: self.receiver.received == total)
        self.assertEqual(b"".join(self.receiver.chunks), b"".join(sent))
        yield until(lambda: holds_nothing(self.sender))  # drained: direct again
        write_now(self.sender, b"after")
        self.assertTrue(holds_nothing(self.sender))
        yield until(lambda: self.receiver.received == total + 5)

    @defer.inlineCallbacks
    def test_buffers_gathered_at_once_when_nothing_is_held(self) -> Any:
        buffers = [b"a" * 20000, b"b" * 3, b"c" * 30000]
        write_all_now(self.sender, buffers)
        self.assertTrue(holds_nothing(self.sender))  # all went to the kernel
        yield until(lambda: self.receiver.received == 50003)
        self.assertEqual(b"".join(self.receiver.chunks), b"".join(buffers))

    @defer.inlineCallbacks
    def test_gathered_buffers_keep_their_order_when_the_kernel_takes_part(self) -> Any:
        self.receiver.transport.pauseProducing()  # the other side stops reading
        sent: List[bytes] = []
        number = 0
        while holds_nothing(self.sender):  # until the kernel took only part of a batch
            batch = [(b"%08d" % (number + i)) * (1000 + 977 * i) for i in range(5)]
            write_all_now(self.sender, batch)
            sent += batch
            number += 5
            self.assertLess(number, 50000)
        batch = [b"held behind" * 1000, b"the rest"]
        write_all_now(self.sender, batch)  # queued behind what Twisted holds
        write_now(self.sender, b"then this")
        sent += [*batch, b"then this"]
        self.receiver.transport.resumeProducing()
        total = sum(map(len, sent))
        yield until(lambda: self.receiver.received == total)
        self.assertEqual(b"".join(self.receiver.chunks), b"".join(sent))

    @defer.inlineCallbacks
    def test_a_send_error_is_left_to_twisted(self) -> Any:
        """A send that fails (other than on a full buffer) hands the bytes to Twisted,
        whose own send meets the error and closes, or, as here, sends them."""
        real = self.sender.getHandle()

        class Failing:
            def send(self, data: bytes) -> int:
                raise ConnectionResetError(errno.ECONNRESET, "reset")

        self.patch(self.sender, "getHandle", Failing)
        write_now(self.sender, b"given to Twisted")
        self.assertFalse(holds_nothing(self.sender))  # held by the transport
        self.patch(self.sender, "getHandle", lambda: real)
        write_now(self.sender, b", then this")
        yield until(lambda: self.receiver.received == 27)
        self.assertEqual(b"".join(self.receiver.chunks), b"given to Twisted, then this")

    def test_gathered_through_write_sequence_for_another_kind(self) -> None:
        string = StringTransport()
        write_all_now(string, [b"through ", b"writeSequence"])
        self.assertEqual(string.value(), b"through writeSequence")

    def test_not_for_a_closing_transport_or_another_kind(self) -> None:
        self.sender.loseConnection()
        self.assertFalse(holds_nothing(self.sender))
        self.assertFalse(holds_nothing(StringTransport()))
        string = StringTransport()
        write_now(string, b"through write")
        self.assertEqual(string.value(), b"through write")

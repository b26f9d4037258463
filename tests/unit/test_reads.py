"""dynotwist.net.reads: the node's own connections read in large pieces."""

from __future__ import annotations

from twisted.internet.testing import StringTransport
from twisted.trial import unittest

from dynotwist.net.reads import LARGE_READ, read_in_large_pieces


class ReadSizeTests(unittest.TestCase):
    def test_a_socket_transport_reads_up_to_256KiB(self) -> None:
        class SocketLike(StringTransport):
            bufferSize = 65536  # Twisted's tcp.Connection and unix.Connection

        transport = SocketLike()
        read_in_large_pieces(transport)
        self.assertEqual(transport.bufferSize, LARGE_READ)
        self.assertEqual(LARGE_READ, 256 * 1024)
        self.assertEqual(SocketLike.bufferSize, 65536)  # that connection only

    def test_other_transports_are_left_alone(self) -> None:
        transport = StringTransport()  # a TLS wrapper reads through its own transport
        read_in_large_pieces(transport)
        self.assertFalse(hasattr(transport, "bufferSize"))

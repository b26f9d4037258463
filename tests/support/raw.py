"""Exact bytes both ways on a loopback connection, for tests where the bytes are the point.

Blocking (``connect``, ``read_until``) for a server in another process; in the reactor
(``RawConnection``, ``exchange``) for a node that runs in the test's own reactor, which a
blocking socket would wait on forever.
"""

from __future__ import annotations

import socket
from collections import deque
from typing import Any, Deque, Generator, Optional

from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.trial import unittest

from dynotwist.proto.resp import ReplyFramer
from dynotwist.testing.blocking import SOCKET_TIMEOUT, Arg, ConnectionClosed, encode
from dynotwist.testing.ports import LOOPBACK


# -- blocking -------------------------------------------------------------------------------
def connect(port: int, host: str = LOOPBACK, timeout: float = SOCKET_TIMEOUT) -> socket.socket:
    conn = socket.create_connection((host, port), timeout=timeout)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return conn


def read_until(conn: socket.socket, until: Optional[bytes] = None) -> bytes:
    """What ``conn`` receives up to the end ``until`` (AssertionError if it closes
    first), or, without ``until``, up to the close."""
    received = bytearray()
    while until is None or not received.endswith(until):
        try:
            data = conn.recv(256 * 1024)
        except ConnectionResetError:
            data = b""
        if not data:
            if until is not None:
                raise AssertionError("connection closed before %r: %r" % (until, received))
            break
        received += data
    return bytes(received)


# -- in the reactor ---------------------------------------------------------------------------
class RawConnection(Protocol):
    """Writes bytes as given; hands back RESP replies one by one (``reply()``), or every
    byte received once the other side closes (``closed``). Bytes are framed as RESP
    only when a reply is asked for, so it carries any protocol."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.closed: defer.Deferred[bytes] = defer.Deferred()
        self._framer = ReplyFramer()
        self._framed = 0  # how much of ``received`` the framer has seen
        self._replies: Deque[bytes] = deque()
        self._waiting: Deque[defer.Deferred[bytes]] = deque()

    def write(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def call(self, *args: Arg) -> defer.Deferred[bytes]:
        """Send one command; its reply's exact bytes."""
        self.write(encode(*args))
        return self.reply()

    def reply(self) -> defer.Deferred[bytes]:
        """The next whole RESP reply; ConnectionClosed if the connection closes first."""
        self._frame()
        if self._replies:
            return defer.succeed(self._replies.popleft())
        if self.closed.called:
            return defer.fail(ConnectionClosed("the connection is closed"))
        waiting: defer.Deferred[bytes] = defer.Deferred()
        self._waiting.append(waiting)
        return waiting

    def close(self) -> defer.Deferred[bytes]:
        if self.transport is not None and not self.closed.called:
            self.transport.loseConnection()
        return self.closed

    def dataReceived(self, data: bytes) -> None:
        self.received += data
        if self._waiting:
            self._frame()

    def _frame(self) -> None:
        data, self._framed = bytes(self.received[self._framed :]), len(self.received)
        for reply in self._framer.feed(data):
            if self._waiting:
                self._waiting.popleft().callback(reply)
            else:
                self._replies.append(reply)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        while self._waiting:
            self._waiting.popleft().errback(ConnectionClosed("the server closed the connection"))
        self.closed.callback(bytes(self.received))


def connect_raw(testcase: unittest.TestCase, port: int, host: str = LOOPBACK,
                reactor: Any = None) -> defer.Deferred[RawConnection]:
    """A ``RawConnection`` to ``host:port``, closed when the test ends."""
    if reactor is None:
        from twisted.internet import reactor

    def connected(connection: RawConnection) -> RawConnection:
        testcase.addCleanup(connection.close)
        return connection

    endpoint = TCP4ClientEndpoint(reactor, host, port)
    return connectProtocol(endpoint, RawConnection()).addCallback(connected)


@defer.inlineCallbacks
def exchange(testcase: unittest.TestCase, port: int, data: bytes
             ) -> Generator[defer.Deferred[Any], Any, bytes]:
    """Send ``data`` on a new connection; every byte received until the server closes
    it (``data`` ends with what makes it close: ``quit``, a fatal error)."""
    connection = yield connect_raw(testcase, port)
    connection.write(data)
    received = yield connection.closed
    return received

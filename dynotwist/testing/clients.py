"""Clients a trial test talks to nodes and datastores with, disconnected by
``addCleanup``: txredisapi for Redis, Twisted's own memcached client."""

from __future__ import annotations

from typing import Any, Optional

import txredisapi
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import connectionDone
from twisted.protocols.memcache import MemCacheProtocol
from twisted.python.failure import Failure
from twisted.trial import unittest

from dynotwist.testing.ports import LOOPBACK
from dynotwist.testing.trial import default_reactor


class _SameRepliesEverywhere(txredisapi.RedisFactory):
    """txredisapi's protocol without its hiredis reader, which it takes when hiredis
    is installed (CPython's speedups) and whose replies have other types: a test reads
    the same replies on every interpreter."""

    protocol = txredisapi.BaseRedisProtocol


def connect_redis(
    testcase: unittest.TestCase,
    port: int,
    host: str = LOOPBACK,
    password: Optional[str] = None,
    charset: Optional[str] = "utf-8",
    convertNumbers: bool = True,
    replyTimeout: Optional[float] = None,
    reactor: Any = None,
) -> defer.Deferred[Any]:
    """A txredisapi connection to ``host:port`` (RESP2), firing once connected, and
    disconnected when the test ends. Replies are decoded with ``charset`` (``None``:
    bytes), numbers converted unless ``convertNumbers`` is false; a reply not there
    within ``replyTimeout`` seconds fails its request."""
    factory = _SameRepliesEverywhere(
        "%s:%d" % (host, port), None, 1, False, txredisapi.ConnectionHandler,
        charset, password, replyTimeout, convertNumbers,
    )
    factory.reconnect = False
    factory.startConnecting(TCP4ClientEndpoint(default_reactor(reactor), host, port))

    def connected(connection: Any) -> Any:
        testcase.addCleanup(_disconnect, connection)
        return connection

    return factory.deferred.addCallback(connected)


def _disconnect(connection: Any) -> Any:
    # txredisapi 1.6 raises on a second disconnect(): the test may have done the first
    if getattr(connection._factory, "disconnectCalled", False):
        return None
    return connection.disconnect()


class _MemcacheClient(MemCacheProtocol):
    def __init__(self, timeout: float) -> None:
        super().__init__(timeOut=timeout)
        self.closed: defer.Deferred[None] = defer.Deferred()

    def close(self) -> defer.Deferred[None]:
        if self.transport is not None and self.connected:
            self.transport.loseConnection()
            return self.closed
        return defer.succeed(None)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        self.closed.callback(None)


def connect_memcache(
    testcase: unittest.TestCase,
    port: int,
    host: str = LOOPBACK,
    timeout: float = 60.0,
    reactor: Optional[Any] = None,
) -> defer.Deferred[MemCacheProtocol]:
    """Twisted's memcached client (``twisted.protocols.memcache``) connected to
    ``host:port``, failing a request that gets no reply within ``timeout`` seconds;
    disconnected when the test ends."""
    client = _MemcacheClient(timeout)
    endpoint = TCP4ClientEndpoint(default_reactor(reactor), host, port)

    def connected(protocol: _MemcacheClient) -> _MemcacheClient:
        testcase.addCleanup(protocol.close)
        return protocol

    return connectProtocol(endpoint, client).addCallback(connected)

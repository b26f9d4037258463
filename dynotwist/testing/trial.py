"""Processes for trial tests: datastores and clusters that a test starts and leaves to
``addCleanup`` to stop, by pid.

Every helper returns a Deferred, so that a test method (or ``setUp``) returning it makes
trial wait; the reactor keeps running meanwhile (a node of ``start_node`` serves).
"""

from __future__ import annotations

import os
from typing import Any, Generator, Optional, Sequence

from twisted.internet import defer, task, threads
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectError
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.trial import unittest

from dynotwist.testing.cluster import Cluster
from dynotwist.testing.processes import ListeningProcess, MemcachedServer, RedisServer

STARTUP_TIMEOUT = 15.0  # seconds: bound on the wait for a process to serve


def default_reactor(reactor: Optional[Any]) -> Any:
    """``reactor``, or the global one."""
    if reactor is None:
        from twisted.internet import reactor as global_reactor

        return global_reactor
    return reactor


def _workdir(testcase: unittest.TestCase) -> str:
    path = os.path.abspath(testcase.mktemp())
    os.makedirs(path)
    return path


# -- datastores ---------------------------------------------------------------------------
def start_redis(
    testcase: unittest.TestCase,
    password: Optional[str] = None,
    extra_args: Sequence[str] = (),
    port: Optional[int] = None,
    reactor: Optional[Any] = None,
) -> defer.Deferred[RedisServer]:
    """A throw-away redis-server on a free loopback port (``port`` to restart one where
    it was), serving when the Deferred fires; stopped, by pid, when the test ends."""
    server = RedisServer(_workdir(testcase), port, password, extra_args)
    return _serving(testcase, server, reactor)


def start_memcached(
    testcase: unittest.TestCase,
    extra_args: Sequence[str] = (),
    port: Optional[int] = None,
    reactor: Optional[Any] = None,
) -> defer.Deferred[MemcachedServer]:
    """A throw-away memcached, as ``start_redis``."""
    return _serving(testcase, MemcachedServer(_workdir(testcase), port, extra_args), reactor)


@defer.inlineCallbacks
def _serving(
    testcase: unittest.TestCase, server: Any, reactor: Optional[Any]
) -> Generator[defer.Deferred[Any], Any, Any]:
    testcase.addCleanup(server.stop)
    server.spawn()
    yield until_listening(server, default_reactor(reactor))
    return server


@defer.inlineCallbacks
def until_listening(
    process: ListeningProcess, reactor: Any, timeout: float = STARTUP_TIMEOUT
) -> Generator[defer.Deferred[Any], Any, None]:
    """Fires once ``process`` accepts a connection; RuntimeError (with its log) if it
    exits first or does not listen within ``timeout`` seconds."""
    host, port = process.address()
    deadline = reactor.seconds() + timeout
    while True:
        if not process.running:
            raise RuntimeError("%r exited\n%s" % (process.argv, process.diagnosis()))
        try:
            probe = yield connectProtocol(TCP4ClientEndpoint(reactor, host, port), _Probe())
        except ConnectError:
            if reactor.seconds() > deadline:
                raise RuntimeError(
                    "nothing listens on %s:%d after %.0f s\n%s"
                    % (host, port, timeout, process.diagnosis())
                ) from None
            yield task.deferLater(reactor, 0.02, lambda: None)
            continue
        yield probe.close()
        return


class _Probe(Protocol):
    def __init__(self) -> None:
        self.closed: defer.Deferred[None] = defer.Deferred()

    def close(self) -> defer.Deferred[None]:
        assert self.transport is not None
        self.transport.loseConnection()
        return self.closed

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closed.callback(None)


# -- a cluster of processes ---------------------------------------------------------------
def start_cluster(
    testcase: unittest.TestCase,
    dcs: int = 1,
    racks: int = 3,
    nodes_per_rack: int = 1,
    **options: Any,
) -> defer.Deferred[Cluster]:
    """A ``Cluster`` of node processes (``options``: ``extra_fields``, ``tokens``,
    ``datastore``, ``secure_server_option``...), firing once a write through any node
    reaches every replica; every process is stopped, by pid, when the test ends."""
    cluster = Cluster(_workdir(testcase), dcs, racks, nodes_per_rack, **options)
    testcase.addCleanup(cluster.stop)
    # the start blocks on processes and sockets: in a thread, the reactor keeps serving
    return threads.deferToThread(cluster.start).addCallback(lambda _: cluster)

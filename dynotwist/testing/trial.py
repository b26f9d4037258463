"""Helpers for trial suites: datastores, nodes and clusters that a test starts, talks
to through txredisapi and leaves to ``addCleanup`` to stop.

Every helper returns a Deferred, so that a test method (or ``setUp``) returning it makes
trial wait. Datastores and clusters are child processes stopped by pid; a node from
``start_node`` runs inside the test's own reactor, so a test can stop its datastore,
hold a connection or read its state between two requests.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Generator, List, Optional, Sequence, Set, Tuple

import txredisapi
from twisted.internet import defer, task, tcp, threads
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.error import ConnectError
from twisted.internet.protocol import Protocol, connectionDone
from twisted.protocols.memcache import MemCacheProtocol
from twisted.python.failure import Failure
from twisted.trial import unittest

from dynotwist.config import Config, parse_config
from dynotwist.testing.cluster import Cluster
from dynotwist.testing.configs import render_config, single_node_fields
from dynotwist.testing.ports import LOOPBACK, free_ports
from dynotwist.testing.processes import ListeningProcess, MemcachedServer, RedisServer

STARTUP_TIMEOUT = 15.0  # seconds: bound on the wait for a process to serve


def _reactor(reactor: Optional[Any]) -> Any:
    if reactor is None:
        from twisted.internet import reactor as default_reactor

        return default_reactor
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
    yield until_listening(server, _reactor(reactor))
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


# -- a node in the test's reactor ---------------------------------------------------------
class RunningNode:
    """A dynotwist node started by ``start_node``, serving inside the test's reactor.

    ``service`` is its ``DynomiteService``, ``config`` the ``Config`` it runs with
    (written from ``fields``); ``datastore`` is the process behind it (None when
    ``start_node`` was given ``datastore_port``).
    """

    def __init__(
        self,
        service: Any,
        fields: Dict[str, object],
        datastore: Optional[ListeningProcess],
        reactor: Any,
    ) -> None:
        self.service = service
        self.config: Config = service.config
        self.fields = fields
        self.datastore = datastore
        self.reactor = reactor
        self.stopped = False

    @property
    def host(self) -> str:
        return str(self.config.listen.host)

    @property
    def client_port(self) -> int:
        return int(self.config.listen.port)

    @property
    def peer_port(self) -> int:
        return int(self.config.dyn_listen.port)

    @property
    def stats_port(self) -> int:
        return int(self.config.stats_listen.port)

    @property
    def datastore_port(self) -> int:
        return int(self.config.servers[0].address.port)

    @defer.inlineCallbacks
    def stop(self, timeout: float = 10.0) -> Generator[defer.Deferred[Any], Any, None]:
        """Stop listening, close every connection of the node (its clients', its
        datastore's, its peers') and fire once they are closed."""
        if self.stopped:
            return
        self.stopped = True
        yield self.service.stopService()
        deadline = self.reactor.seconds() + timeout
        for connection in self._connections():
            connection.loseConnection()
        while self._connections() and self.reactor.seconds() < deadline:
            yield task.deferLater(self.reactor, 0.01, lambda: None)

    def _connections(self) -> List[Any]:
        """The open TCP connections accepted on the node's ports or made to its
        datastore and peers."""
        ports = {self.client_port, self.peer_port, self.stats_port}
        targets: Set[Tuple[str, int]] = {
            (server.address.host, server.address.port) for server in self.config.servers
        }
        targets.update((seed.host, seed.port) for seed in self.config.dyn_seeds)
        found = []
        for selectable in set(self.reactor.getReaders()) | set(self.reactor.getWriters()):
            if not isinstance(selectable, tcp.Connection):
                continue  # a listening port, a waker
            local, remote = selectable.getHost(), selectable.getPeer()
            if local.port in ports or (remote.host, remote.port) in targets:
                found.append(selectable)
        return found


@defer.inlineCallbacks
def start_node(
    testcase: unittest.TestCase,
    datastore: str = "redis",
    datastore_port: Optional[int] = None,
    reactor: Optional[Any] = None,
    **fields: object,
) -> Generator[defer.Deferred[Any], Any, RunningNode]:
    """A single dynotwist node on free loopback ports, started inside this process's
    reactor (or ``reactor``) in front of a fresh ``datastore`` process ("redis" or
    "memcached"), or of whatever listens on ``datastore_port``. ``fields`` add or
    override YAML keys of its config (``timeout=500``, ``requirepass="s3cret"``...).
    Fires with a ``RunningNode`` once the node listens; node and datastore are stopped
    when the test ends."""
    reactor = _reactor(reactor)
    server: Optional[ListeningProcess] = None
    if datastore_port is None:
        if datastore == "memcached":
            server = yield start_memcached(testcase, reactor=reactor)
        elif datastore == "redis":
            server = yield start_redis(testcase, reactor=reactor)
        else:
            raise ValueError("datastore %r: redis or memcached" % (datastore,))
        assert server is not None
        datastore_port = server.port
    # a port chosen free may be taken by someone else before the node listens on it
    for _attempt in range(3):
        client_port, peer_port, stats_port = free_ports(3)
        node_fields = single_node_fields(datastore_port, client_port, peer_port, stats_port)
        if datastore == "memcached":
            node_fields["data_store"] = 1
        node_fields.update(fields)
        service = _service(node_fields, reactor)
        try:
            service.privilegedStartService()
        except SystemExit:  # it said why on stderr; close what it opened, then retry
            yield service.stopService()
            continue
        service.startService()
        node = RunningNode(service, node_fields, server, reactor)
        testcase.addCleanup(node.stop)
        return node
    raise RuntimeError(
        "the node could not listen on free ports 3 times; its config:\n%s"
        % render_config(node_fields)
    )


def _service(fields: Dict[str, object], reactor: Any) -> Any:
    from dynotwist.service import DynomiteService

    try:
        return DynomiteService(parse_config(render_config(fields)), reactor)
    except SystemExit:  # a test gets an exception, not an exit
        raise RuntimeError(
            "the node refused its config:\n%s" % render_config(fields)
        ) from None


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


# -- clients ------------------------------------------------------------------------------
def connect_redis(
    testcase: unittest.TestCase, port: int, host: str = LOOPBACK, **options: Any
) -> defer.Deferred[Any]:
    """A txredisapi connection to ``host:port`` (RESP2; ``options``: ``password``,
    ``dbid``, ``convertNumbers``...), firing once connected; disconnected when the
    test ends."""
    connecting = txredisapi.Connection(host, port, reconnect=False, **options)

    def connected(connection: Any) -> Any:
        testcase.addCleanup(_disconnect, connection)
        return connection

    return connecting.addCallback(connected)


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
    endpoint = TCP4ClientEndpoint(_reactor(reactor), host, port)

    def connected(protocol: _MemcacheClient) -> _MemcacheClient:
        testcase.addCleanup(protocol.close)
        return protocol

    return connectProtocol(endpoint, client).addCallback(connected)

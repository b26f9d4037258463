"""A dynotwist node inside the test's own reactor, in front of a real datastore: a test
can stop the datastore, hold a connection or read the node's state between two
requests, and waits on Deferreds for all of it."""

from __future__ import annotations

from typing import Any, Dict, Generator, List, Optional, Set, Tuple

from twisted.internet import defer, task, tcp
from twisted.trial import unittest

from dynotwist.config import Config, parse_config
from dynotwist.testing.configs import render_config, single_node_fields
from dynotwist.testing.ports import free_ports
from dynotwist.testing.processes import ListeningProcess
from dynotwist.testing.trial import default_reactor, start_memcached, start_redis


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
        """Stop listening, close every connection of the node — its clients', and every
        connection of this process to its datastore or its peers — and fire once they
        are closed."""
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
    reactor = default_reactor(reactor)
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

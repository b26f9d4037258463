"""The node: one service that owns the listeners and the datastore pools."""

from __future__ import annotations

import itertools
import sys
from typing import Any, Dict, Optional

from twisted.application import service
from twisted.internet import error as netError

from dynotwist import __version__
from dynotwist.config import Address, Config
from dynotwist.core.session import ClientSession
from dynotwist.logs import logger, notice
from dynotwist.net.batch import WriteBatch
from dynotwist.net.client import RedisClientFactory
from dynotwist.net.datastore import DatastorePool

log = logger(__name__)


class Node:
    """What every connection of this node shares: config, sessions, datastore pools."""

    def __init__(self, config: Config, reactor: Any) -> None:
        self.config = config
        self.reactor = reactor
        self.read_consistency = config.read_consistency
        self.write_consistency = config.write_consistency
        self.batch = WriteBatch(reactor)
        self._client_ids = itertools.count(1)
        self._pools: Dict[bool, DatastorePool] = {}

    def new_session(self) -> ClientSession:
        return ClientSession(
            next(self._client_ids),
            self.read_consistency,
            self.write_consistency,
            self.config.requirepass,
        )

    def datastore(self, resp3: bool) -> DatastorePool:
        """The local datastore's pool for clients of this protocol version."""
        pool = self._pools.get(resp3)
        if pool is None:
            pool = self._pools[resp3] = self._make_pool(resp3)
            pool.start(connect_now=self.config.preconnect)
        return pool

    def _make_pool(self, resp3: bool) -> DatastorePool:
        config = self.config
        return DatastorePool(
            self.reactor,
            config.servers[0].address,
            config.datastore_connections,
            config.timeout,
            config.server_retry_timeout,
            resp3=resp3,
            password=config.datastore_password,
            batch=self.batch,
        )

    def start(self) -> None:
        # RESP2 clients are the common case: their pool connects at startup
        self.datastore(False)

    def stop(self) -> None:
        for pool in self._pools.values():
            pool.stop()


def _listen(reactor: Any, address: Address, factory: Any, backlog: int) -> Any:
    if address.path:
        return reactor.listenUNIX(address.path, factory, backlog=backlog)
    return reactor.listenTCP(address.port, factory, backlog=backlog, interface=address.host)


class DynomiteService(service.Service):
    """Starts the node and its client listener; stops them in order."""

    def __init__(self, config: Config, reactor: Optional[Any] = None) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.config = config
        self.reactor = reactor
        self.node = Node(config, reactor)
        self._ports: list = []

    def privilegedStartService(self) -> None:
        config = self.config
        try:
            self._ports.append(
                _listen(self.reactor, config.listen, RedisClientFactory(self.node), config.backlog)
            )
        except netError.CannotListenError as failure:
            # an operator error, not a crash: say what and exit, without a traceback
            sys.stderr.write(
                "dynomite: cannot listen on %s: %s\n" % (_show(config.listen), failure.socketError)
            )
            raise SystemExit(1) from None
        super().privilegedStartService()

    def startService(self) -> None:
        super().startService()
        self.node.start()
        notice(
            log,
            "dynotwist-{version} node {pool} serving clients on {listen}",
            version=__version__,
            pool=self.config.pool_name,
            listen=_show(self.config.listen),
        )

    def stopService(self) -> Any:
        super().stopService()
        self.node.stop()
        return _stop_listening(self._ports)


def _stop_listening(ports: list) -> Any:
    from twisted.internet import defer

    return defer.gatherResults([defer.maybeDeferred(p.stopListening) for p in ports])


def _show(address: Address) -> str:
    return address.path or "%s:%d" % (address.host, address.port)

"""The node: one service that owns the listeners and the datastore pools."""

from __future__ import annotations

import itertools
import socket
import sys
from typing import Any, Dict, List, Optional, Union

from twisted.application import service
from twisted.internet import error as netError

from dynotwist import __version__, datastores
from dynotwist.adminhttp import admin_site
from dynotwist.config import Address, Config
from dynotwist.control import NodeControls
from dynotwist.core.hashkit import NO_TOKEN, get_hash
from dynotwist.core.ring import Node as RingNode
from dynotwist.core.ring import Topology
from dynotwist.core.router import Router
from dynotwist.core.session import ClientSession
from dynotwist.core.slots import Slot
from dynotwist.core.stats import Stats
from dynotwist.datastores import Relayed
from dynotwist.logs import logger, notice
from dynotwist.net.batch import WriteBatch
from dynotwist.net.datastore import DatastorePool
from dynotwist.net.dispatch import Dispatcher
from dynotwist.net.gate import LocalGate
from dynotwist.net.ordered import ClientCount
from dynotwist.net.peer import DnodeServerFactory, PeerPool

log = logger(__name__)


class Node(NodeControls):
    """What every connection of this node shares: config, sessions, datastore pools."""

    def __init__(self, config: Config, reactor: Any) -> None:
        self.config = config
        self.reactor = reactor
        self.read_consistency = config.read_consistency
        self.write_consistency = config.write_consistency
        self.read_repairs = config.read_repairs_enabled
        self.stats = Stats(
            config.pool_name,
            config.servers[0].name,
            config.datacenter,
            config.rack,
            started=reactor.seconds(),
            source=socket.gethostname(),
        )
        self.kind = datastores.resolve(config.data_store)
        self.replies = self.kind.replies
        self.gate = LocalGate(self.datastore, self.replies, self.stats, reactor, self._timeout)
        self.clients = ClientCount(config.client_connections)
        self.batch = WriteBatch(reactor)
        self._client_ids = itertools.count(1)
        self._pools: Dict[bool, DatastorePool] = {}
        self.topology = topology_from_config(config)
        self.router = Router(
            self.topology,
            get_hash(config.hash),
            config.hash_tag.encode("latin-1") if config.hash_tag else None,
        )
        self._msg_ids = itertools.count(1)
        self.peers: Dict[str, PeerPool] = {
            peer.name: self._make_peer_pool(peer) for peer in self.topology.peers
        }
        self.dispatcher = Dispatcher(self.gate, self.peers, self.replies)

    def new_session(self) -> ClientSession:
        return ClientSession(
            next(self._client_ids),
            self.read_consistency,
            self.write_consistency,
            self.config.requirepass,
        )

    def _timeout(self) -> float:
        """The request timeout now, in seconds."""
        return self.config.timeout * self.timeout_factor / 1000.0

    def datastore(self, resp3: bool) -> DatastorePool:
        """The local datastore's pool for clients of this protocol version."""
        resp3 = resp3 and self.kind.speaks_resp3
        pool = self._pools.get(resp3)
        if pool is None:
            pool = self._pools[resp3] = self._make_pool(resp3)
            pool.timeout_factor = self.timeout_factor
            pool.stats = self.stats
            pool.replies = self.replies
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
            protocol_class=self.kind.connection_class,
            resp3=resp3,
            password=config.datastore_password,
            batch=self.batch,
        )

    def admit_relayed(self, payload: bytes) -> Union[Relayed, bytes]:
        """A peer's request, checked as a client's would be (net.peer.ServingNode)."""
        return self.kind.admit_relayed(payload, self.config)

    def serve_local(self, request: Relayed, resp3: bool, slot: Slot, lane: int) -> None:
        """A request from a peer for this node's datastore."""
        self.gate.send(request.raw, slot, resp3, lane, request.write)

    def _make_peer_pool(self, peer: RingNode) -> PeerPool:
        config = self.config
        same_dc = peer.dc == self.topology.local_dc
        pool = PeerPool(
            self.reactor,
            peer,
            config.local_peer_connections if same_dc else config.remote_peer_connections,
            config.timeout + (200 if same_dc else 5000),
            same_dc,
            self._msg_ids,
            self.batch,
            msg_rate=config.conn_msg_rate,
        )
        pool.stats = self.stats
        pool.replies = self.replies
        return pool

    def forward_to_local_dc(self, request: Relayed, resp3: bool, slot: Slot, lane: int) -> bool:
        """A request forwarded from another DC: to every rack of this DC (reference 2.5)."""
        keys = request.keys
        token = self.router.token(keys[0]) if keys else NO_TOKEN
        plan = self.router.local_dc_fanout(token)
        self.dispatcher.execute(plan, request.raw, slot, resp3, lane, request.write)
        return True

    def start(self) -> None:
        # RESP2 clients are the common case: their pool connects at startup
        self.datastore(False)
        for pool in self.peers.values():
            pool.start(connect_now=self.config.preconnect)

    def stop(self) -> None:
        for pool in self._pools.values():
            pool.stop()
        for peer in self.peers.values():
            peer.stop()


def topology_from_config(config: Config) -> Topology:
    """This node and its ``dyn_seeds`` as a ring topology; names are host:port."""
    listen = config.dyn_listen
    local = RingNode(
        "%s:%d" % (listen.host, listen.port),
        listen.host,
        listen.port,
        config.datacenter,
        config.rack,
        config.tokens,
        is_local=True,
    )
    peers = [
        RingNode(
            "%s:%d" % (seed.host, seed.port), seed.host, seed.port, seed.dc, seed.rack, seed.tokens
        )
        for seed in config.dyn_seeds
    ]
    return Topology(local, peers)


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
                _listen(
                    self.reactor, config.listen, self.node.kind.client_port(self.node),
                    config.backlog,
                )
            )
            self._ports.append(
                _listen(
                    self.reactor, config.dyn_listen, DnodeServerFactory(self.node), config.backlog
                )
            )
            admin = admin_site(self.node, self.reactor)
            self._ports.append(_listen(self.reactor, config.stats_listen, admin, config.backlog))
        except netError.CannotListenError as failure:
            # an operator error, not a crash: say what and exit, without a traceback
            sys.stderr.write(
                "dynomite: cannot listen on %s:%s: %s\n"
                % (failure.interface, failure.port, failure.socketError)
            )
            raise SystemExit(1) from None
        super().privilegedStartService()

    def startService(self) -> None:
        super().startService()
        self.node.start()
        for warning in security_warnings(self.config):
            log.warn(warning)
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


def security_warnings(config: Config) -> List[str]:
    """Settings that leave a door open, said once at startup."""
    warnings = []
    if config.requirepass is not None and config.secure_server_option != "all":
        warnings.append(
            "requirepass is set, but dyn_listen (%s) takes plaintext peer frames without"
            " a password from anyone who can reach it: keep that port on the cluster's"
            " private network, or use secure_server_option: all" % _show(config.dyn_listen)
        )
    return warnings


def _stop_listening(ports: list) -> Any:
    from twisted.internet import defer

    return defer.gatherResults([defer.maybeDeferred(p.stopListening) for p in ports])


def _show(address: Address) -> str:
    return address.path or "%s:%d" % (address.host, address.port)

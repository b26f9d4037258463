"""The node: one service that owns the listeners and the datastore pools."""

from __future__ import annotations

import dataclasses
import itertools
import signal
import socket
import sys
import threading
from typing import Any, Dict, List, Optional, Union

from OpenSSL import SSL
from twisted.application import service
from twisted.internet import error as netError

from dynotwist import __version__, datastores, tlsfiles
from dynotwist.adminhttp import admin_site
from dynotwist.config import Address, Config, ConfigError, load_config
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
from dynotwist.net.peerlinks import PeerLinks
from dynotwist.net.peerport import PeerPortFactory
from dynotwist.net.tls import CurrentServerContext, TLSFactory
from dynotwist.proto.dnode import DEFAULT_MAX_PAYLOAD_LEN

log = logger(__name__)


class Node(NodeControls):
    """What every connection of this node shares: config, sessions, datastore pools."""

    def __init__(
        self, config: Config, reactor: Any, tls: Optional[tlsfiles.TLSFiles] = None
    ) -> None:
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
        # a peer's request is bounded as a client's is: by the query buffer limit
        self.max_relayed_payload = config.client_query_buffer_limit or DEFAULT_MAX_PAYLOAD_LEN
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
        self.links = PeerLinks(
            config, tls if tls is not None else tlsfiles.load(config), reactor, self.stats
        )
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
        pool.dialer = self.links.endpoint
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


#: the keys a SIGHUP applies; the others take effect at the next restart
RELOADED_KEYS = (
    "secure_server_option",
    "pem_key_file",
    "tls_ca_file",
    "tls_cert_file",
    "tls_key_file",
    "client_tls_cert_file",
    "client_tls_key_file",
    "client_tls_ca_file",
)


class DynomiteService(service.Service):
    """Starts the node and its listeners; stops them in order.

    SIGHUP reads the configuration file (``config_path``) again and applies its TLS
    settings (:data:`RELOADED_KEYS`): certificate files, CAs, ``secure_server_option``.
    """

    def __init__(
        self, config: Config, reactor: Optional[Any] = None, config_path: Optional[str] = None
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.config = config
        self.config_path = config_path
        self.reactor: Any = reactor
        try:
            self.node = Node(config, reactor, tlsfiles.load(config))
        except (tlsfiles.TLSFileError, SSL.Error) as error:
            # an operator error, not a crash (twistd --test-conf names these too)
            sys.stderr.write("dynomite: %s\n" % error)
            raise SystemExit(1) from None
        self._ports: list = []
        self._previous_sighup: Any = None

    def privilegedStartService(self) -> None:
        config = self.config
        node = self.node
        clients = node.kind.client_port(node)
        if config.client_tls:
            clients = TLSFactory(
                CurrentServerContext(lambda: node.links.contexts.client_port), False, clients
            )
        try:
            self._ports.append(_listen(self.reactor, config.listen, clients, config.backlog))
            self._ports.append(
                _listen(
                    self.reactor,
                    config.dyn_listen,
                    PeerPortFactory(DnodeServerFactory(node), node.links),
                    config.backlog,
                )
            )
            admin = admin_site(node, self.reactor)
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
        if threading.current_thread() is threading.main_thread():
            self._previous_sighup = signal.signal(signal.SIGHUP, self._sighup)
        notice(
            log,
            "dynotwist-{version} node {pool} serving clients on {listen}{tls}",
            version=__version__,
            pool=self.config.pool_name,
            listen=_show(self.config.listen),
            tls=" (TLS)" if self.config.client_tls else "",
        )
        files = self.node.links.contexts.files
        if files.peer is not None or files.client is not None:
            notice(log, "TLS: {summary}", summary=_tls_summary(self.config, files))

    def stopService(self) -> Any:
        if self._previous_sighup is not None:
            signal.signal(signal.SIGHUP, self._previous_sighup)
            self._previous_sighup = None
        super().stopService()
        self.node.stop()
        return _stop_listening(self._ports)

    def _sighup(self, signum: int, frame: Any) -> None:
        # in a signal handler: do the work from the reactor, between events
        self.reactor.callFromThread(self.reload_tls)

    def reload_tls(self) -> bool:
        """Apply the TLS settings of the configuration file as it is now; on any
        problem keep the current ones and log why. True if applied."""
        try:
            current = load_config(self.config_path) if self.config_path else self.config
            config = dataclasses.replace(
                self.config, **{key: getattr(current, key) for key in RELOADED_KEYS}
            )
            files = tlsfiles.load(config)
            reconnected = self.node.links.apply(config, files, self.node.peers.values())
        except (ConfigError, tlsfiles.TLSFileError, SSL.Error, ValueError) as error:
            log.error(
                "SIGHUP: TLS settings not reloaded; the current ones stay: {error}",
                error=error,
            )
            return False
        for warning in files.warnings:
            log.warn("SIGHUP: {warning}", warning=warning)
        notice(
            log,
            "SIGHUP: TLS settings reloaded: {summary}{reconnected}",
            summary=_tls_summary(config, files),
            reconnected="; reconnecting to " + ", ".join(reconnected) if reconnected else "",
        )
        later = _changed_keys(self.config, current, RELOADED_KEYS)
        if later:
            log.warn(
                "SIGHUP: {keys} changed in {path}; the change takes effect at the next restart",
                keys=", ".join(later),
                path=self.config_path,
            )
        return True


def _tls_summary(config: Config, files: tlsfiles.TLSFiles) -> str:
    return "secure_server_option %s, peer certificate %s, client port certificate %s" % (
        config.secure_server_option,
        tlsfiles.describe(files.peer) if files.peer else "none",
        tlsfiles.describe(files.client) if files.client else "none",
    )


def _changed_keys(old: Config, new: Config, ignored: Any) -> List[str]:
    return [
        field.name
        for field in dataclasses.fields(Config)
        if field.name not in ignored
        and field.name != "warnings"
        and getattr(old, field.name) != getattr(new, field.name)
    ]


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

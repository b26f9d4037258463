"""``twistd dynomite``'s service: a node and its three listeners.

:class:`DynomiteService` is a ``MultiService``: the node's life cycle first (pools
connect when it starts, close when it stops), then one
``StreamServerEndpointService`` per port (clients, peers, admin), built from endpoint
descriptions (:func:`endpoint_description`), so that a port is any Twisted endpoint
(TCP, a Unix socket; TLS wraps the factory). Listeners stop before the node.

SIGHUP reads the configuration file again and applies it (:mod:`dynotwist.reload`:
TLS files, consistency, timeouts, log level, peers...), or refuses it whole when it
changes what a running node cannot change.
"""

from __future__ import annotations

import signal
import sys
import threading
from typing import Any, Callable, Dict, List, Optional

from OpenSSL import SSL
from twisted.application import service
from twisted.application.internet import StreamServerEndpointService
from twisted.internet import error as netError
from twisted.internet.endpoints import serverFromString

from dynotwist import __version__, tlsfiles
from dynotwist.adminhttp import admin_site
from dynotwist.config import Address, Config, ConfigError, load_config
from dynotwist.logs import logger, notice
from dynotwist.net.peer import DnodeServerFactory
from dynotwist.net.peerport import PeerPortFactory
from dynotwist.net.tls import CurrentServerContext, TLSFactory
from dynotwist.node import Node
from dynotwist.reload import TLS_KEYS, reload_plan

log = logger(__name__)

def endpoint_description(address: Address, backlog: int) -> str:
    """The server endpoint string of a Dynomite ``host:port`` (or ``/path``)."""
    if address.path:
        return "unix:address=%s:backlog=%d" % (_quote(address.path), backlog)
    return "tcp:port=%d:interface=%s:backlog=%d" % (address.port, _quote(address.host), backlog)


def _quote(text: str) -> str:
    # endpoint descriptions separate fields with ':' and escape with '\'
    return text.replace("\\", "\\\\").replace(":", "\\:")


class Listener(StreamServerEndpointService):
    """One port of the node. A port that cannot be bound stops the node at startup
    with a one-line reason (an operator's error, not a crash)."""

    def __init__(self, name: str, address: Address, endpoint: Any, factory: Any) -> None:
        super().__init__(endpoint, factory)
        self.setName(name)
        self.address = address
        self._raiseSynchronously = True  # listening errors surface at startup

    def privilegedStartService(self) -> None:
        try:
            super().privilegedStartService()
        except netError.CannotListenError as failure:
            sys.stderr.write(
                "dynomite: cannot listen on %s for %s: %s\n"
                % (_show(self.address), self.name, failure.socketError)
            )
            raise SystemExit(1) from None


class SighupHandler:
    """While installed, SIGHUP calls ``action`` from the reactor, between events (a
    signal handler may interrupt anything). Installed only from the main thread, the
    one signals reach."""

    def __init__(self, reactor: Any, action: Callable[[], object]) -> None:
        self.reactor = reactor
        self.action = action
        self._previous: Any = None

    def install(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGHUP, self._received)

    def uninstall(self) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGHUP, self._previous)
            self._previous = None

    def _received(self, signum: int, frame: Any) -> None:
        self.reactor.callFromThread(self.action)


class _NodeLifecycle(service.Service):
    """Starts the node's pools with the service, stops them after the listeners."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def startService(self) -> None:
        super().startService()
        self.node.start()

    def stopService(self) -> None:
        super().stopService()
        self.node.stop()


class DynomiteService(service.MultiService):
    """A node and its listeners, started and stopped in order."""

    def __init__(
        self,
        config: Config,
        reactor: Optional[Any] = None,
        config_path: Optional[str] = None,
        endpoints: Optional[Dict[str, Any]] = None,
    ) -> None:
        """``endpoints``: a server endpoint by port name ("listen", "dyn_listen",
        "stats_listen") to listen with instead of the configured address (a worker
        adopts sockets its parent bound: :mod:`dynotwist.worker`)."""
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.config = config
        self.config_path = config_path
        self.reactor: Any = reactor
        try:
            self.node = Node(config, reactor, tlsfiles.load(config), config_path)
        except (tlsfiles.TLSFileError, SSL.Error, ValueError) as error:
            # an operator error, not a crash (twistd --test-conf names these too)
            sys.stderr.write("dynomite: %s\n" % error)
            raise SystemExit(1) from None
        self._sighup = SighupHandler(reactor, self.reload)
        _NodeLifecycle(self.node).setServiceParent(self)
        given = endpoints or {}
        for name, address, factory in self._ports():
            endpoint = given.get(name) or serverFromString(
                reactor, endpoint_description(address, config.backlog)
            )
            Listener(name, address, endpoint, factory).setServiceParent(self)

    def _ports(self) -> List[Any]:
        node = self.node
        config = self.config
        clients = node.kind.client_port(node)
        if config.client_tls:
            clients = TLSFactory(
                CurrentServerContext(lambda: node.links.contexts.client_port), False, clients
            )
        peers = PeerPortFactory(DnodeServerFactory(node), node.links)
        return [
            ("listen", config.listen, clients),
            ("dyn_listen", config.dyn_listen, peers),
            ("stats_listen", config.stats_listen, admin_site(node, self.reactor)),
        ]

    def startService(self) -> None:
        super().startService()
        for warning in security_warnings(self.config):
            log.warn(warning)
        self._sighup.install()
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
        self._sighup.uninstall()
        return super().stopService()

    def load_config(self) -> Config:
        """The configuration file as it is now (``ConfigError`` if refused)."""
        assert self.config_path is not None
        return load_config(self.config_path)

    def reload(self) -> bool:
        """Apply the configuration file as it is now (:mod:`dynotwist.reload`): TLS files
        read again, then the live keys that changed. Nothing is applied when a key that
        cannot change while running changed, or anything is wrong (logged). True if
        applied."""
        try:
            current = self.load_config() if self.config_path else self.config
        except ConfigError as error:
            log.error("SIGHUP: configuration not reloaded; the current one stays: {error}",
                      error=error)
            return False
        plan = reload_plan(self.config, current)
        if plan.refused:
            log.error(
                "SIGHUP: configuration not reloaded; the current one stays: {keys} cannot"
                " change while the node runs (restart it to change them)",
                keys=", ".join(plan.refused),
            )
            return False
        try:
            files = tlsfiles.load(current)
            reconnected = self.node.links.apply(current, files, self.node.peers.values())
        except (tlsfiles.TLSFileError, SSL.Error, ValueError) as error:
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
            summary=_tls_summary(current, files),
            reconnected="; reconnecting to " + ", ".join(reconnected) if reconnected else "",
        )
        self.config = current
        self.node.reconfigure(current)
        others = [key for key in plan.changed if key not in TLS_KEYS]
        if others:
            notice(log, "SIGHUP: {keys} changed in {path}: applied", keys=", ".join(others),
                   path=self.config_path)
        return True


def _tls_summary(config: Config, files: tlsfiles.TLSFiles) -> str:
    return "secure_server_option %s, peer certificate %s, client port certificate %s" % (
        config.secure_server_option,
        tlsfiles.describe(files.peer) if files.peer else "none",
        tlsfiles.describe(files.client) if files.client else "none",
    )


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


def _show(address: Address) -> str:
    return address.path or "%s:%d" % (address.host, address.port)

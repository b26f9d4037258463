"""A node served by N worker processes (``workers: N`` or ``twistd dynomite --workers N``).

The parent process (this module) runs no node itself. It

1. binds every listening socket once, at startup: for each worker, one socket on
   ``listen`` and one on ``dyn_listen`` (``SO_REUSEPORT``: the kernel spreads new
   connections over the workers' sockets), and one admin socket on loopback;
2. starts the workers (``python -m dynotwist.worker``, :mod:`dynotwist.worker`), each
   given its three sockets as file descriptors, and starts a worker again when it
   ends (said once, counted in ``worker_restarts``). The parent keeps the sockets, so
   a restarted worker adopts the same ones: connections that arrive meanwhile wait in
   the socket's backlog, and the other workers serve theirs;
3. serves the node's one admin port, ``stats_listen``, by relaying each request to
   the workers' admin ports (:mod:`dynotwist.workersadmin`): /info and /metrics sum
   the workers' stats, a change reaches every worker;
4. forwards SIGHUP to every worker (each reads the file again) and, when it stops
   (SIGTERM, SIGINT), stops the workers and waits for them.

Each worker is a whole node with the one identity, ring and tokens of the file, its
own datastore and peer connections.
"""

from __future__ import annotations

import signal
import socket
import sys
from typing import Any, Dict, List, NamedTuple, Optional

from twisted.application import service
from twisted.internet import defer
from twisted.internet.endpoints import serverFromString
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

from dynotwist import worker
from dynotwist.adminhttp import AdminSite
from dynotwist.config import Address, Config
from dynotwist.logs import logger, notice
from dynotwist.service import Listener, SighupHandler, endpoint_description
from dynotwist.workersadmin import WorkersAdmin

log = logger(__name__)

LOOPBACK = "127.0.0.1"

#: a worker that ends sooner than this after its start is started again after as long
#: (a worker that cannot start does not spin the parent)
RESTART_DELAY = 1.0


class PortsRefused(Exception):
    """A port the workers need cannot be bound; ``str()`` says which and why."""


def _bound(address: Address, port: int, reuse_port: bool) -> socket.socket:
    family, kind, proto, _, sockaddr = socket.getaddrinfo(
        address.host, port, 0, socket.SOCK_STREAM, 0, socket.AI_PASSIVE
    )[0]
    bound = socket.socket(family, kind, proto)
    try:
        bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            bound.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        bound.bind(sockaddr)
    except OSError:
        bound.close()
        raise
    return bound


def bind_port(address: Address, backlog: int, port: int) -> socket.socket:
    """A listening TCP socket on ``address``'s host and ``port``, which other
    sockets may share (``SO_REUSEPORT``)."""
    listening = _bound(address, port, reuse_port=True)
    listening.listen(backlog)
    listening.setblocking(False)
    return listening


def bind_shared(address: Address, backlog: int, count: int) -> List[socket.socket]:
    """``count`` sockets listening on ``address``'s one port (port 0: a free one)."""
    # bound once without SO_REUSEPORT first: a port anything holds is refused, even
    # the SO_REUSEPORT sockets of another node's workers (which would share it)
    with _bound(address, address.port, reuse_port=False) as probe:
        port = probe.getsockname()[1]
    return [bind_port(address, backlog, port) for _ in range(count)]


class WorkerSockets(NamedTuple):
    listen: socket.socket
    dyn_listen: socket.socket
    admin: socket.socket  # the worker's own admin port, on loopback

    @property
    def admin_port(self) -> int:
        return int(self.admin.getsockname()[1])


def bind_workers(config: Config, count: int) -> List[WorkerSockets]:
    """Every worker's sockets (``PortsRefused`` if one cannot be bound)."""
    ports = []
    for name, address in (("listen", config.listen), ("dyn_listen", config.dyn_listen)):
        try:
            ports.append(bind_shared(address, config.backlog, count))
        except OSError as error:
            raise PortsRefused(
                "cannot listen on %s:%d for %s: %s" % (address.host, address.port, name, error)
            ) from None
    admins = [bind_port(Address(LOOPBACK, 0), 50, 0) for _ in range(count)]
    return [WorkerSockets(*sockets) for sockets in zip(*ports, admins)]


class _Worker(ProcessProtocol):
    """One worker process's life, seen from the parent."""

    def __init__(self, workers: WorkersService, index: int) -> None:
        self.workers = workers
        self.index = index
        self.started_at = 0.0
        self.ended: defer.Deferred[None] = defer.Deferred()

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(None)
        self.workers.worker_ended(self, reason)


class WorkersService(service.MultiService):
    """The parent of a node's workers: their sockets, their lives and the admin port."""

    def __init__(
        self,
        config: Config,
        config_path: str,
        count: int,
        log_level: int,
        reactor: Optional[Any] = None,
    ) -> None:
        super().__init__()
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.reactor: Any = reactor
        self.config = config
        self.config_path = config_path
        self.log_level = log_level
        self.restarts = 0
        try:
            self.sockets = bind_workers(config, count)
        except PortsRefused as refused:
            sys.stderr.write("dynomite: %s\n" % refused)
            raise SystemExit(1) from None
        self.processes: Dict[int, Any] = {}  # index -> IProcessTransport
        self._lives: Dict[int, _Worker] = {}
        self._sighup = SighupHandler(reactor, lambda: self.signal_workers(signal.SIGHUP))
        self.admin = WorkersAdmin(
            [s.admin_port for s in self.sockets], config.admin_token, reactor, self
        )
        endpoint = serverFromString(
            reactor, endpoint_description(config.stats_listen, config.backlog)
        )
        site = AdminSite(self.admin, reactor)
        Listener("stats_listen", config.stats_listen, endpoint, site).setServiceParent(self)

    @property
    def count(self) -> int:
        return len(self.sockets)

    def startService(self) -> None:
        super().startService()
        for index in range(self.count):
            self.spawn(index)
        self._sighup.install()
        notice(log, "node {pool}: {count} workers serving clients on {host}:{port}",
               pool=self.config.pool_name, count=self.count,
               host=self.config.listen.host, port=self.sockets[0].listen.getsockname()[1])

    def spawn(self, index: int) -> None:
        """Start worker ``index`` on its sockets."""
        sockets = self.sockets[index]
        life = _Worker(self, index)
        life.started_at = self.reactor.seconds()
        self._lives[index] = life
        argv = [sys.executable, "-m", "dynotwist.worker", self.config_path, str(index),
                str(self.log_level)]
        self.processes[index] = self.reactor.spawnProcess(
            life, sys.executable, argv, env=None,
            childFDs={
                0: 0, 1: 1, 2: 2,
                worker.LISTEN_FD: sockets.listen.fileno(),
                worker.DYN_LISTEN_FD: sockets.dyn_listen.fileno(),
                worker.ADMIN_FD: sockets.admin.fileno(),
            },
        )
        self.admin.worker_started(index)

    def worker_ended(self, life: _Worker, reason: Failure) -> None:
        self.processes.pop(life.index, None)
        if not self.running:
            return
        self.restarts += 1
        lived = self.reactor.seconds() - life.started_at
        delay = 0.0 if lived >= RESTART_DELAY else RESTART_DELAY
        log.warn("worker {index} ended ({why}): starting it again", index=life.index,
                 why=reason.value)
        self.reactor.callLater(delay, self._respawn, life.index)

    def _respawn(self, index: int) -> None:
        if self.running and index not in self.processes:
            self.spawn(index)

    def signal_workers(self, signum: int) -> None:
        for process in list(self.processes.values()):
            process.signalProcess(signum)

    def stopService(self) -> Any:
        self._sighup.uninstall()
        stopped = super().stopService()
        ends = [life.ended for index, life in self._lives.items() if index in self.processes]
        self.signal_workers(signal.SIGTERM)
        return defer.gatherResults([stopped, *ends])

"""One worker process of a node with ``workers: N`` (started by :mod:`dynotwist.workers`).

``python -m dynotwist.worker CONFIG INDEX VERBOSITY``, with three listening sockets
its parent bound and passed as file descriptors: :data:`LISTEN_FD` (clients),
:data:`DYN_LISTEN_FD` (peers) and :data:`ADMIN_FD` (this worker's admin port on
loopback, which the parent's admin port relays to). The worker is a whole node
(:class:`~dynotwist.service.DynomiteService`) with its own datastore and peer
connections, listening on the adopted sockets. Its configuration is the file's,
with what must be one per node kept to worker 0 (:func:`worker_config`).

It logs to its standard output (the parent's), tagged ``worker <index>``, stops on
SIGTERM, reloads on SIGHUP (the parent forwards both) and ignores SIGINT: a Ctrl-C
in a terminal reaches the parent, which stops its workers in order. It also stops
when its parent dies (Linux).
"""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import sys
from dataclasses import replace
from typing import Any, Dict, List, Optional

from twisted.internet.endpoints import AdoptedStreamServerEndpoint
from twisted.logger import ILogObserver, globalLogBeginner, textFileLogObserver
from zope.interface import implementer

from dynotwist.config import Config, ConfigError, load_config
from dynotwist.logs import verbosity
from dynotwist.net.handoff import default_hints_dir
from dynotwist.runtime import tune
from dynotwist.service import DynomiteService

LISTEN_FD = 3
DYN_LISTEN_FD = 4
ADMIN_FD = 5

_PR_SET_PDEATHSIG = 1


def worker_config(config: Config, config_path: Optional[str], index: int) -> Config:
    """The configuration worker ``index`` runs: its own hints directory, and the
    warm-up at startup only in worker 0 (one copy of the range for the datastore)."""
    hints = config.hints_dir or default_hints_dir(config_path)
    return replace(
        config,
        workers=1,
        hints_dir=os.path.join(hints, "worker%d" % index),
        warm_up=config.warm_up and index == 0,
    )


class WorkerService(DynomiteService):
    """A node listening on its parent's sockets; reloads apply :func:`worker_config`."""

    def __init__(self, config: Config, config_path: str, index: int, reactor: Any) -> None:
        self.index = index
        endpoints = {
            "listen": _adopted(reactor, LISTEN_FD),
            "dyn_listen": _adopted(reactor, DYN_LISTEN_FD),
            "stats_listen": _adopted(reactor, ADMIN_FD),
        }
        super().__init__(
            worker_config(config, config_path, index), reactor, config_path, endpoints
        )

    def load_config(self) -> Config:
        return worker_config(super().load_config(), self.config_path, self.index)


def _adopted(reactor: Any, fd: int) -> AdoptedStreamServerEndpoint:
    with socket.socket(fileno=os.dup(fd)) as probe:
        return AdoptedStreamServerEndpoint(reactor, fd, probe.family)


@implementer(ILogObserver)
class _Tagged:
    """Events without a system of their own are this worker's."""

    def __init__(self, index: int, observer: ILogObserver) -> None:
        self.system = "worker %d" % index
        self.observer = observer

    def __call__(self, event: Dict[str, Any]) -> None:
        if event.get("log_system", "-") == "-":
            event["log_system"] = self.system
        self.observer(event)


def _stop_with_parent() -> None:
    """SIGTERM when the parent dies, so that no orphan keeps the ports (Linux only)."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent:  # it died before prctl
        os.kill(os.getpid(), signal.SIGTERM)


def main(argv: List[str]) -> int:
    if len(argv) != 3:
        sys.stderr.write("usage: python -m dynotwist.worker CONFIG INDEX VERBOSITY\n")
        return 2
    path, index, level = argv[0], int(argv[1]), int(argv[2])
    try:
        config = load_config(path)
    except ConfigError as error:
        sys.stderr.write("dynomite worker %d: %s\n" % (index, error.describe()))
        return 1
    verbosity.set(level if config.verbosity is None else config.verbosity)
    globalLogBeginner.beginLoggingTo(
        [_Tagged(index, textFileLogObserver(sys.stdout))], redirectStandardIO=False
    )
    from twisted.internet import reactor

    tune(reactor)
    service = WorkerService(config, path, index, reactor)
    _stop_with_parent()
    service.privilegedStartService()
    reactor.callWhenRunning(service.startService)
    reactor.callWhenRunning(signal.signal, signal.SIGINT, signal.SIG_IGN)
    reactor.addSystemEventTrigger("before", "shutdown", service.stopService)
    reactor.run()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

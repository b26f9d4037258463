"""What a node's process sets up for itself once, before it serves: its reactor's
dispatch (:mod:`dynotwist.net.eventloop`) and its garbage collector.

``twistd dynomite`` and each worker call :func:`tune` with their reactor; a node run
inside another program (tests, an embedding application) is left as that program set
its process up.

The collector: CPython's scans every young container object it tracks, and once
enough survive, everything. A node's requests in flight survive young collections by
design (a pipeline of 16 from 50 clients, through 3 racks, keeps thousands of slots
and coordinations alive), and every full collection then walks the whole heap:
Twisted, the command table, the configuration, none of which will ever be garbage.
Once the node has started, :func:`gc.freeze` moves what exists to the permanent
generation, which collections skip: SET at P=16 through 3 racks cost the coordinator
about 10% less CPU (py-spy had put 20% of its samples in the allocations that
triggered collections). What is frozen is never collected: a reference cycle among
the objects of the start (a first connection's transport and protocol, once it is
lost) stays in memory, a bounded cost paid once. PyPy's collector is generational by
itself and has no ``freeze``.
"""

from __future__ import annotations

import gc
from typing import Any

from dynotwist.net.eventloop import streamline


def tune(reactor: Any) -> None:
    """Set up this process for ``reactor`` (the one that will run the node)."""
    streamline(reactor)
    if hasattr(gc, "freeze"):
        # once the services have started: their objects live as long as the process
        reactor.callWhenRunning(gc.freeze)


def tune_installed_reactor() -> None:
    """:func:`tune` for the process's reactor (``twisted.internet.reactor``)."""
    from twisted.internet import reactor

    tune(reactor)

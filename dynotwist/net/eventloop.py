"""The epoll reactor's dispatch of ready connections, without the legacy log context.

Twisted's epoll reactor hands each ready descriptor to ``log.callWithLogger``, which
asks the connection for its ``logPrefix()`` and sets a context dict for the legacy
``log.msg`` API around the read or write: five Python calls per event. At P=1 every
request is an event (its client's read), and in a 3-rack cluster those calls were a
tenth of the coordinator's CPU (py-spy: ``callWithLogger``, ``callWithContext`` and
the context tracker, 8% of the samples by themselves; SET through 3 racks went from
40-45 to 35-40 µs of the coordinator's CPU per request without them). dynotwist logs
with ``twisted.logger`` and its own fields: nothing reads that context.

:func:`streamline` gives one reactor instance (a process's own, from ``twistd
dynomite`` or a worker: :mod:`dynotwist.runtime`) the same poll and dispatch without
it. What a connection's ``doRead``/``doWrite`` raises is still caught by the reactor
(``_doReadOrWrite`` logs it and drops that connection); anything escaping that is
logged and the loop goes on, as under ``callWithLogger``. Other reactors are left as
they are.
"""

from __future__ import annotations

import errno
import types
from typing import Any, Optional

from dynotwist.logs import logger

log = logger(__name__)


def _epoll_reactor_class() -> Optional[type]:
    try:
        from twisted.internet.epollreactor import EPollReactor
    except ImportError:  # no epoll (not Linux): every reactor is left as it is
        return None
    return EPollReactor


_EPOLL_REACTOR = _epoll_reactor_class()


def streamline(reactor: Any) -> bool:
    """Dispatch ``reactor``'s events without the legacy log context; True if it is an
    epoll reactor (and now does), False if it is left alone."""
    if _EPOLL_REACTOR is None or type(reactor) is not _EPOLL_REACTOR:
        return False
    poll = types.MethodType(_poll_and_dispatch, reactor)
    vars(reactor).update(doPoll=poll, doIteration=poll)  # this instance's, not the class's
    return True


def _poll_and_dispatch(self: Any, timeout: Optional[float]) -> None:
    # EPollReactor.doPoll, with _doReadOrWrite called directly
    try:
        events = self._poller.poll(-1 if timeout is None else timeout, len(self._selectables))
    except OSError as error:
        if error.errno == errno.EINTR:
            return
        raise
    dispatch = self._doReadOrWrite
    selectables = self._selectables
    for fd, event in events:
        selectable = selectables.get(fd)
        if selectable is None:
            continue
        try:
            dispatch(selectable, fd, event)
        except KeyboardInterrupt:
            raise
        except BaseException:
            log.failure("event dispatch to {selectable!r}", selectable=selectable)

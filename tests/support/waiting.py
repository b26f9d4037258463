"""Waiting for a state that comes asynchronously (a copy on a replica, a reconnection),
with a bound: a poll that fails the test when the bound passes, never a timed assertion."""

from __future__ import annotations

import time
from typing import Any, Callable, Generator

from twisted.internet import defer, task


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float = 0.05,
               message: str = "condition") -> None:
    """Block, polling ``predicate`` until true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError("%s not reached within %.0f s" % (message, timeout))
        time.sleep(interval)


@defer.inlineCallbacks
def eventually(
    check: Callable[[], Any],
    timeout: float,
    interval: float = 0.05,
    message: str = "condition",
    reactor: Any = None,
) -> Generator[defer.Deferred[Any], Any, None]:
    """Fires once ``check()`` (a value, or a Deferred of one) is true, polling it every
    ``interval`` seconds while the reactor runs; AssertionError after ``timeout``."""
    if reactor is None:
        from twisted.internet import reactor
    deadline = reactor.seconds() + timeout
    while True:
        if (yield defer.maybeDeferred(check)):
            return
        if reactor.seconds() > deadline:
            raise AssertionError("%s not reached within %.0f s" % (message, timeout))
        yield task.deferLater(reactor, interval, lambda: None)

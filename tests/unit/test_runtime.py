"""dynotwist.runtime: what a node's process sets up before it serves."""

from __future__ import annotations

import gc
from typing import Any, List

from twisted.internet.epollreactor import EPollReactor
from twisted.internet.testing import MemoryReactor
from twisted.trial import unittest

from dynotwist.net import eventloop
from dynotwist.runtime import tune


class TuneTests(unittest.TestCase):
    def reactor(self) -> Any:
        reactor = EPollReactor()
        self.addCleanup(reactor._poller.close)
        self.when_running: List[Any] = []
        reactor.callWhenRunning = self.when_running.append
        return reactor

    def test_epoll_dispatch_and_the_heap_frozen_once_running(self) -> None:
        reactor = self.reactor()
        tune(reactor)
        self.assertIn("doIteration", vars(reactor))  # eventloop.streamline's
        # CPython: what exists once the services run is left out of collections
        expected = [gc.freeze] if hasattr(gc, "freeze") else []
        self.assertEqual(self.when_running, expected)

    def test_without_epoll_nothing_is_streamlined(self) -> None:
        self.patch(eventloop, "_EPOLL_REACTOR", None)  # as on a system without epoll
        reactor = self.reactor()
        tune(reactor)
        self.assertNotIn("doIteration", vars(reactor))

    def test_another_reactor_keeps_its_dispatch(self) -> None:
        reactor = MemoryReactor()
        tune(reactor)
        self.assertNotIn("doIteration", vars(reactor))

"""dynotwist.net.eventloop on a real epoll reactor and socket pairs: ready connections
dispatched without the legacy log context, a failing handler logged and the loop on."""

from __future__ import annotations

import socket
from typing import List

from twisted.internet.abstract import FileDescriptor
from twisted.internet.epollreactor import EPollReactor
from twisted.internet.testing import MemoryReactor
from twisted.logger import globalLogPublisher
from twisted.python import context, log
from twisted.trial import unittest

from dynotwist.net.eventloop import streamline


class Reader(FileDescriptor):
    """One end of a socket pair, recording each read and the log context it ran in."""

    def __init__(self, reactor: EPollReactor, sock: socket.socket, fail: bool = False) -> None:
        super().__init__(reactor)
        self.socket = sock
        self.fail = fail
        self.reads: List[bytes] = []
        self.systems: List[object] = []

    def fileno(self) -> int:
        return self.socket.fileno()

    def logPrefix(self) -> str:
        return "reader-%d" % self.fileno()

    def doRead(self) -> None:
        self.systems.append(context.get(log.ILogContext, {}).get("system"))
        self.reads.append(self.socket.recv(100))
        if self.fail:
            raise RuntimeError("handler broke")


class StreamlineTests(unittest.TestCase):
    def setUp(self) -> None:
        self.reactor = EPollReactor()
        self.addCleanup(self.reactor._poller.close)

    def reader(self, fail: bool = False) -> Reader:
        ours, theirs = socket.socketpair()
        self.addCleanup(ours.close)
        self.addCleanup(theirs.close)
        ours.setblocking(False)
        reader = Reader(self.reactor, ours, fail)
        self.reactor.addReader(reader)
        self.addCleanup(self.reactor.removeReader, reader)
        theirs.send(b"hello")
        return reader

    def test_only_epoll_reactors(self) -> None:
        self.assertTrue(streamline(self.reactor))
        memory = MemoryReactor()
        self.assertFalse(streamline(memory))
        self.assertFalse(hasattr(memory, "doPoll"))
        # the class is untouched: another epoll reactor keeps Twisted's dispatch
        other = EPollReactor()
        self.addCleanup(other._poller.close)
        self.assertNotIn("doIteration", vars(other))

    def test_ready_connections_are_dispatched_without_the_context(self) -> None:
        before = self.reader()
        self.reactor.doIteration(0)  # Twisted's dispatch: the legacy context is set
        self.assertEqual(before.systems, ["reader-%d" % before.fileno()])
        streamline(self.reactor)
        first, second = self.reader(), self.reader()
        self.reactor.doIteration(0)
        self.assertEqual([first.reads, second.reads], [[b"hello"], [b"hello"]])
        outside = context.get(log.ILogContext, {}).get("system")  # no context of theirs
        self.assertEqual([first.systems, second.systems], [[outside], [outside]])

    def test_a_failing_handler_is_logged_and_the_loop_goes_on(self) -> None:
        streamline(self.reactor)
        events: List[dict] = []
        globalLogPublisher.addObserver(events.append)
        self.addCleanup(globalLogPublisher.removeObserver, events.append)
        broken, fine = self.reader(fail=True), self.reader()
        self.reactor.doIteration(0)
        self.assertEqual(broken.reads, [b"hello"])
        self.assertEqual(fine.reads, [b"hello"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)  # the reactor's log.err
        self.assertNotIn(broken, self.reactor.getReaders())  # dropped, as Twisted does
        self.assertIn(fine, self.reactor.getReaders())

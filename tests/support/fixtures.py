"""Processes for test classes: started once per class, stopped by pid after its last test.

- ``ProcessTestCase``: a trial TestCase whose processes (redis-server, memcached,
  dynotwist nodes, whole local clusters) are started before the first test of the
  class and stopped, by pid, after its last test, whatever happens. Trial does not call
  ``setUpClass``/``tearDownClass``, so the class fixture is built here from ``setUp``
  and cleanups; processes left running (a run of a single test, an interrupted run)
  are stopped when the interpreter exits.
- ``NodeTestCase``: the common case, one node in front of one redis-server.
- ``started(testcase, process)``: one process for one test, blocking, stopped by a
  cleanup (for tests that compare bytes with a real server over blocking sockets).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple, TypeVar

from twisted.trial import unittest

from dynotwist.testing.blocking import RespClient
from dynotwist.testing.cluster import Cluster, ClusterNode
from dynotwist.testing.configs import single_node_fields
from dynotwist.testing.ports import free_ports
from dynotwist.testing.processes import (
    MemcachedServer,
    NodeProcess,
    Process,
    RedisServer,
    find_program,
)

P = TypeVar("P", bound=Process)

_LIVE: List[Process] = []
_LIVE_LOCK = threading.Lock()


def _stop_leftovers() -> None:
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
        _LIVE.clear()
    for process in reversed(leftovers):
        process.stop()


atexit.register(_stop_leftovers)


def started(testcase: unittest.TestCase, process: P) -> P:
    """``process`` started (blocking until it serves) and stopped when the test ends."""
    testcase.addCleanup(process.stop)
    process.start()
    return process


def workdir(testcase: unittest.TestCase) -> str:
    """A fresh directory for one test's processes."""
    path = os.path.abspath(testcase.mktemp())
    os.makedirs(path)
    return path


class Processes:
    """Processes started for one test class, in one temporary directory."""

    def __init__(self, name: str) -> None:
        self.workdir = tempfile.mkdtemp(prefix="dynotwist-it-%s-" % name)
        self.started: List[Process] = []
        self.cleanups: List[Callable[[], object]] = []

    def track(self, process: Process) -> None:
        """Stop ``process`` with the others."""
        self.started.append(process)
        with _LIVE_LOCK:
            _LIVE.append(process)

    def start(self, process: P) -> P:
        """``process``, running, stopped with the others."""
        self.track(process)
        process.start()
        return process

    def redis(self, port: Optional[int] = None) -> RedisServer:
        """A fresh redis-server (on ``port`` if given), running."""
        return self.start(RedisServer(self.workdir, port=port))

    def memcached(self, port: Optional[int] = None, extra_args: Tuple[str, ...] = ()
                  ) -> MemcachedServer:
        """A fresh memcached (on ``port`` if given), running."""
        return self.start(MemcachedServer(self.workdir, port=port, extra_args=extra_args))

    def node(self, datastore_port: int, name: str = "node", **extra: object) -> NodeProcess:
        """A single dynotwist node process in front of ``datastore_port``; ``extra`` adds
        YAML keys."""
        fields = single_node_fields(datastore_port, *free_ports(3))
        fields.update(extra)
        return self.start(NodeProcess(self.workdir, fields, name=name))

    def cluster(
        self,
        dcs: int,
        racks: int,
        nodes_per_rack: int = 1,
        prepare: Optional[Callable[[Cluster], object]] = None,
        connected: bool = True,
        **options: Any,
    ) -> Cluster:
        """A running ``Cluster`` (``options``: extra_fields, tokens, ...), in a directory
        of its own; its processes are stopped with the others. ``prepare`` may change
        its files before it starts; ``connected``: wait until writes reach every
        replica (``Cluster.start``)."""
        workdir = tempfile.mkdtemp(prefix="cluster-", dir=self.workdir)
        cluster = Cluster(workdir, dcs, racks, nodes_per_rack, **options)
        for member in cluster.nodes:
            self.track(member.redis)
        for member in cluster.nodes:
            self.track(member.node)
        self.add_cleanup(cluster.stop)  # all nodes at once, then all redis-servers
        if prepare is not None:
            prepare(cluster)
        cluster.start(connected=connected)
        return cluster

    def add_cleanup(self, function: Callable[[], object]) -> None:
        """Call ``function`` when the processes are stopped (before stopping them)."""
        self.cleanups.append(function)

    def stop(self) -> None:
        """Stop every process started here, newest first, by pid; remove the directory."""
        errors = []
        for function in reversed(self.cleanups):
            try:
                function()
            except Exception as error:
                errors.append(error)
        self.cleanups = []
        for process in reversed(self.started):
            try:
                process.stop()
            except Exception as error:  # keep stopping the others
                errors.append(error)
            with _LIVE_LOCK:
                if process in _LIVE:
                    _LIVE.remove(process)
        self.started = []
        if not os.environ.get("DYNOTWIST_KEEP_TEST_DIRS"):
            shutil.rmtree(self.workdir, ignore_errors=True)
        if errors:
            raise errors[0]


class _ClassFixture:
    def __init__(self, remaining: int) -> None:
        self.remaining = remaining
        self.processes: Optional[Processes] = None
        self.error: Optional[BaseException] = None


class ProcessTestCase(unittest.TestCase):
    """Tests that share processes started once per class.

    Subclasses implement ``start_processes(cls, processes)``, a classmethod that starts
    what the tests need with ``processes.redis()``/``processes.node()`` and keeps
    references on ``cls``. If it fails, whatever it started is stopped and every test
    of the class reports the same error, without starting anything again.
    """

    # programs the class needs: a missing one fails the tests (never skips them)
    required_programs: Tuple[str, ...] = ("redis-server",)

    _fixtures: Dict[type, _ClassFixture] = {}

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        raise NotImplementedError

    @classmethod
    def _test_count(cls) -> int:
        return len([name for name in dir(cls) if name.startswith("test")
                    and callable(getattr(cls, name))])

    def setUp(self) -> None:
        cls = type(self)
        fixture = self._fixtures.get(cls)
        if fixture is None:
            fixture = self._fixtures[cls] = _ClassFixture(cls._test_count())
        self.addCleanup(self._test_done, cls, fixture)
        if fixture.error is not None:
            raise fixture.error
        if fixture.processes is None:
            for program in self.required_programs:
                find_program(program)  # RuntimeError (a failure) when missing
            processes = Processes(cls.__name__)
            try:
                cls.start_processes(processes)
            except BaseException as error:
                fixture.error = error
                processes.stop()
                raise
            fixture.processes = processes
        self.processes = fixture.processes

    @staticmethod
    def _test_done(owner: type, fixture: _ClassFixture) -> None:
        fixture.remaining -= 1
        if fixture.remaining <= 0:
            del ProcessTestCase._fixtures[owner]
            if fixture.processes is not None:
                fixture.processes.stop()


class NodeTestCase(ProcessTestCase):
    """Tests sharing one node process (``node``) in front of one redis-server
    (``backend``); ``node_fields`` adds YAML keys to the node's config."""

    node_fields: Dict[str, object] = {}
    backend: RedisServer
    node: NodeProcess

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.backend = processes.redis()
        cls.node = processes.node(cls.backend.port, **cls.node_fields)

    def connect(self, port: Optional[int] = None) -> RespClient:
        """A blocking raw-bytes client of ``port`` (the node's client port), closed when
        the test ends."""
        client = RespClient(self.node.client_port if port is None else port)
        self.addCleanup(client.close)
        return client


class ThreeRacksTestCase(ProcessTestCase):
    """One DC of three racks, one node each, at DC_QUORUM with short timeouts, plus the
    class's ``extra_fields``; a node a test stopped is started again for the next one."""

    cluster: Cluster
    extra_fields: Dict[str, object] = {}

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        fields: Dict[str, object] = {
            "timeout": 500,
            "server_retry_timeout": 1000,
            "read_consistency": "DC_QUORUM",
            "write_consistency": "DC_QUORUM",
        }
        fields.update(cls.extra_fields)
        cls.cluster = processes.cluster(1, 3, extra_fields=fields)

    def setUp(self) -> None:
        super().setUp()
        for member in self.cluster.nodes:
            if not member.node.running:
                self.cluster.restart(member)

    def member(self, rack: str) -> ClusterNode:
        return self.cluster.node_named("dc1-" + rack)

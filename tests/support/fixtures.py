"""Shared helpers of the integration tests.

- ``RespClient``: a blocking socket client that sends raw RESP and returns each reply
  as its exact bytes (framed with the node's own ``ReplyFramer``).
- ``parse_reply``: RESP2/RESP3 bytes to Python values, for assertions on structure.
- ``ProcessTestCase``: a trial TestCase whose processes (redis-server, dynotwist nodes,
  whole local clusters) are started before the first test of the class and stopped,
  by pid, after its last test, whatever happens. Trial does not call
  ``setUpClass``/``tearDownClass``, so the class fixture is built here from ``setUp``
  and cleanups; processes left running (a run of a single test, an interrupted run)
  are stopped when the interpreter exits.
"""

from __future__ import annotations

import atexit
import os
import shutil
import socket
import tempfile
import threading
import time
from collections import deque
from typing import Any, Callable, Deque, Dict, Iterable, List, Optional, Sequence, Tuple, Union

from twisted.trial import unittest

from dynotwist.local import (
    LOOPBACK,
    Cluster,
    Node,
    Process,
    RedisServer,
    find_program,
    free_port,
    single_node_fields,
)
from dynotwist.proto.resp import ReplyFramer, encode_command

Arg = Union[bytes, str, int, float]

DATASTORE_REFUSED = b"-ERR Storage: Datastore refused connection\r\n"

# Generous: far above every timeout the nodes under test are configured with.
SOCKET_TIMEOUT = 15.0


def to_bytes(arg: Arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode("utf-8")
    return repr(arg).encode() if isinstance(arg, float) else str(arg).encode()


def encode(*args: Arg) -> bytes:
    """The multibulk encoding of a command."""
    return encode_command([to_bytes(a) for a in args])


class ConnectionClosed(Exception):
    """The server closed the connection while a reply was awaited."""


class RespClient:
    """A blocking RESP client that hands back raw reply bytes."""

    def __init__(self, port: int, host: str = LOOPBACK, timeout: float = SOCKET_TIMEOUT) -> None:
        self.port = port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.framer = ReplyFramer()
        self.replies: Deque[bytes] = deque()

    # -- sending ----------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_command(self, *args: Arg) -> None:
        self.send(encode(*args))

    # -- receiving --------------------------------------------------------------------
    def read_reply(self) -> bytes:
        """The next whole reply; ConnectionClosed on EOF, socket.timeout on silence."""
        while not self.replies:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionClosed("server closed the connection on port %d" % self.port)
            self.replies.extend(self.framer.feed(data))
        return self.replies.popleft()

    def read_replies(self, count: int) -> List[bytes]:
        return [self.read_reply() for _ in range(count)]

    def read_until_closed(self) -> bytes:
        """Every byte the server sends until it closes; socket.timeout if it never does."""
        chunks = list(self.replies)
        self.replies.clear()
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)

    # -- both -------------------------------------------------------------------------
    def call(self, *args: Arg) -> bytes:
        self.send_command(*args)
        return self.read_reply()

    def call_raw(self, data: bytes) -> bytes:
        self.send(data)
        return self.read_reply()

    def pipeline(self, commands: Iterable[Sequence[Arg]]) -> List[bytes]:
        """Send every command in one write, then read as many replies."""
        frames = [encode(*command) for command in commands]
        self.send(b"".join(frames))
        return self.read_replies(len(frames))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RespClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- reply parsing, for assertions on structure ----------------------------------------
class ErrorReply(str):
    """An error reply's text (``-...`` or ``!...``), as a value, never raised."""


def parse_reply(data: bytes) -> Any:
    """One whole RESP2/RESP3 reply as Python values.

    Simple strings -> str, errors -> ErrorReply, integers -> int, bulks -> bytes,
    nulls -> None, arrays/sets/pushes -> list, maps -> dict, doubles -> float,
    booleans -> bool, big numbers -> int, verbatim strings -> bytes (format dropped).
    """
    value, end = _parse(data, 0)
    if end != len(data):
        raise ValueError("%d trailing bytes after the reply" % (len(data) - end))
    return value


def _parse(data: bytes, pos: int) -> Tuple[Any, int]:
    nl = data.index(b"\r\n", pos)
    kind = data[pos : pos + 1]
    line = data[pos + 1 : nl]
    pos = nl + 2
    if kind == b"+":
        return line.decode("latin-1"), pos
    if kind == b"-":
        return ErrorReply(line.decode("latin-1")), pos
    if kind in (b":", b"("):
        return int(line), pos
    if kind == b",":
        return float(line), pos
    if kind == b"#":
        return line == b"t", pos
    if kind == b"_":
        return None, pos
    if kind in (b"$", b"!", b"="):
        size = int(line)
        if size < 0:
            return None, pos
        body = data[pos : pos + size]
        if data[pos + size : pos + size + 2] != b"\r\n":
            raise ValueError("blob not terminated by CRLF")
        pos += size + 2
        if kind == b"!":
            return ErrorReply(body.decode("latin-1")), pos
        return (body[4:] if kind == b"=" else body), pos
    if kind in (b"*", b"~", b">"):
        count = int(line)
        if count < 0:
            return None, pos
        items = []
        for _ in range(count):
            item, pos = _parse(data, pos)
            items.append(item)
        return items, pos
    if kind == b"%":
        result: Dict[Any, Any] = {}
        for _ in range(int(line)):
            key, pos = _parse(data, pos)
            value, pos = _parse(data, pos)
            result[key if not isinstance(key, list) else tuple(key)] = value
        return result, pos
    raise ValueError("unknown reply type %r" % kind)


def split_aggregate(reply: bytes) -> Optional[Tuple[bytes, List[bytes]]]:
    """An aggregate reply's header line and its elements' raw bytes; None if not one."""
    if reply[:1] not in (b"*", b"~", b"%", b">"):
        return None
    nl = reply.index(b"\r\n")
    if int(reply[1:nl]) <= 0:
        return reply[: nl + 2], []
    elements = ReplyFramer().feed(reply[nl + 2 :])
    return reply[: nl + 2], elements


# -- processes --------------------------------------------------------------------------
_LIVE: List[Process] = []
_LIVE_LOCK = threading.Lock()


def _stop_leftovers() -> None:
    with _LIVE_LOCK:
        leftovers = list(_LIVE)
        _LIVE.clear()
    for process in reversed(leftovers):
        process.stop()


atexit.register(_stop_leftovers)


def log_tail(path: str, lines: int = 40) -> str:
    try:
        with open(path, "rb") as f:
            text = f.read().decode("utf-8", "replace")
    except OSError as error:
        return "(no log: %s)" % error
    return "\n".join(text.splitlines()[-lines:])


class Processes:
    """Processes started for one test class, in one temporary directory."""

    def __init__(self, name: str) -> None:
        self.workdir = tempfile.mkdtemp(prefix="dynotwist-it-%s-" % name)
        self.started: List[Process] = []
        self.cleanups: List[Callable[[], object]] = []

    def _track(self, process: Process) -> None:
        self.started.append(process)
        with _LIVE_LOCK:
            _LIVE.append(process)

    def redis(self, port: Optional[int] = None) -> RedisServer:
        """A fresh redis-server (on ``port`` if given), running."""
        server = RedisServer(self.workdir, port=port)
        self._track(server)
        try:
            server.start()
        except RuntimeError as error:
            raise RuntimeError(
                "%s\n--- %s:\n%s" % (error, server.log_path, log_tail(server.log_path))
            ) from None
        return server

    def node(self, redis_port: int, name: str = "node", **extra: object) -> Node:
        """A single dynotwist node in front of ``redis_port``; ``extra`` adds YAML keys."""
        fields = single_node_fields(redis_port, free_port(), free_port(), free_port())
        fields.update(extra)
        node = Node(self.workdir, fields, name=name)
        self._track(node)
        try:
            node.start()
        except RuntimeError as error:
            raise RuntimeError(
                "%s\n--- config %s:\n%s\n--- %s:\n%s"
                % (error, node.config_path, _read(node.config_path), node.log_path,
                   log_tail(node.log_path))
            ) from None
        return node

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
            self._track(member.redis)
        for member in cluster.nodes:
            self._track(member.node)
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


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


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


def wait_until(predicate: Any, timeout: float, interval: float = 0.05,
               message: str = "condition") -> None:
    """Poll ``predicate`` until true; AssertionError after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return
        if time.monotonic() > deadline:
            raise AssertionError("%s not reached within %.0f s" % (message, timeout))
        time.sleep(interval)

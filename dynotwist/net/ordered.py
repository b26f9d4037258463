"""Server-side connections that answer pipelined requests strictly in order.

The client port and the peer port both queue a slot per request and write replies
as the oldest ones complete; a reply that arrives early waits in its slot. Both stop
reading from a connection whose replies pile up — in the kernel (the transport,
full, pauses us as its producer) or here (more than ``MAX_PENDING`` unanswered) —
and resume once they drain.
"""

from __future__ import annotations

import typing
from collections import deque
from time import perf_counter
from typing import Any, Deque, Dict, List, Optional, Tuple

from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure

from dynotwist.core.router import Router
from dynotwist.core.session import ClientSession
from dynotwist.core.slots import Slot
from dynotwist.core.stats import ENABLED as stats_enabled
from dynotwist.core.stats import SAMPLE_EVERY, Histogram, Stats
from dynotwist.errors import Replies
from dynotwist.logs import logger
from dynotwist.net.batch import Batched, WriteBatch

log = logger(__name__)

MAX_PENDING = 4096
_NO_LIMIT = 1 << 62


class OrderedConnection(Batched, Protocol):
    """Replies in request order, through the write batch, with flow control."""

    transport: Any  # a TCP or UNIX transport: ITransport, IProducer, ITCPTransport
    role = "client"  # how logs name the other side
    latency: Optional[Histogram] = None  # request-to-reply times, if measured
    read_started = 0.0  # when the requests being read were read (0.0: not timed)
    depth: Optional[Histogram] = None  # requests awaiting replies after each read, if measured

    def __init__(self, batch: WriteBatch) -> None:
        self.waiting: Deque[Slot] = deque()
        self._batch = batch
        self.closing = False  # no more requests are read; hang up once answered
        self._answered = 0  # replies written this iteration, for the latency histogram
        self._answered_since = 0.0
        self._send_blocked = False  # the transport's buffer is full
        self._too_many = False  # too many replies due
        self._unsent = 0  # bytes written since the transport's buffer filled up
        self._producing = False  # registered with the transport as its producer
        self._reads_to_depth = 1  # the first read's depth is recorded, then one in 16

    def frame(self, reply: bytes) -> bytes:
        """The bytes that carry ``reply`` for the oldest request (a hook)."""
        return reply

    # -- connection life cycle ------------------------------------------------------
    def connectionMade(self) -> None:
        if ITCPTransport.providedBy(self.transport):
            self.transport.setTcpNoDelay(True)
        self.transport.registerProducer(self, True)
        self._producing = True
        log.info("{role} {peer} connected", role=self.role, peer=self.describe_peer())

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closing = True
        for slot in self.waiting:
            slot.forget()
        self.waiting.clear()
        self.hanging_up()
        log.info("{role} {peer} disconnected", role=self.role, peer=self.describe_peer())

    def dataReceived(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self.received(data)
        except Exception:
            self.abort_after_error()

    def received(self, data: bytes) -> None:
        """Requests read (a subclass's own protocol); any exception fails this
        connection alone (``abort_after_error``)."""
        raise NotImplementedError

    def hanging_up(self) -> None:
        """No more replies: no longer a producer. A transport that paused its producer
        resumes it when its buffer drains, instead of closing (Twisted's doWrite): a
        connection hung up while registered would stay open."""
        if self._producing:
            self._producing = False
            self.transport.unregisterProducer()

    def abort_after_error(self) -> None:
        """Called from an ``except`` block: a bug met while serving this connection's
        input. The connection alone is dropped (its replies could no longer be trusted
        to be in order); every other connection goes on."""
        log.failure(
            "{role} {peer}: internal error while serving its requests; closing it",
            role=self.role,
            peer=self.describe_peer(),
        )
        self.closing = True
        self.transport.abortConnection()

    def describe_peer(self) -> str:
        peer = self.transport.getPeer()
        host = getattr(peer, "host", None)
        return "%s:%s" % (host, peer.port) if host is not None else str(getattr(peer, "name", peer))

    # -- producer interface ---------------------------------------------------------
    def pauseProducing(self) -> None:
        self._send_blocked = True
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self._send_blocked = False
        self._unsent = 0
        if not self._too_many and not self.closing:
            self.transport.resumeProducing()

    def stopProducing(self) -> None:
        self.closing = True

    output_limit = 0  # bytes of unsent replies a connection may hold; 0: no limit

    def _check_output(self, size: int) -> None:
        """Bytes written while the transport's buffer is full: the other side is not
        reading. Past ``output_limit`` the connection is closed, as Redis closes a
        client over its output buffer limit."""
        self._unsent += size
        if self.output_limit and self._unsent > self.output_limit and not self.closing:
            log.warn(
                "{role} {peer} does not read its replies ({size} bytes unsent, over the"
                " limit of {limit}); closing it",
                role=self.role,
                peer=self.describe_peer(),
                size=self._unsent,
                limit=self.output_limit,
            )
            self.closing = True
            self.transport.abortConnection()

    def check_backlog(self) -> None:
        """After a read: stop reading while too many replies are due."""
        due = len(self.waiting)
        if self.depth is not None:
            countdown = self._reads_to_depth - 1
            if countdown:
                self._reads_to_depth = countdown
            else:
                self._reads_to_depth = SAMPLE_EVERY
                self.depth.record(due)
        if due > MAX_PENDING and not self._too_many:
            self._too_many = True
            self.transport.pauseProducing()

    # -- replies --------------------------------------------------------------------
    def answer(self, reply: bytes) -> None:
        """A reply made here, in its place among the replies still due."""
        if not self.waiting:
            self._batch.write(self, self.frame(reply))
            started = self.read_started
            if started and self.latency is not None:
                if not self._answered:
                    self._answered_since = started
                self._answered += 1
            return
        slot = Slot(self)
        slot.reply = reply
        self.waiting.append(slot)

    def complete(self, slot: Slot, reply: bytes) -> None:
        """The reply for ``slot``: written now if it is the oldest due, else kept."""
        waiting = self.waiting
        if not waiting:
            return
        if waiting[0] is not slot:
            slot.reply = reply
            return
        write = self._batch.write
        frame = self.frame
        waiting.popleft()
        write(self, frame(reply))
        written = 1
        while waiting:
            ready = waiting[0].reply
            if ready is None:
                break
            waiting.popleft()
            write(self, frame(ready))
            written += 1
        if slot.started and self.latency is not None:
            if not self._answered:
                self._answered_since = slot.started
            self._answered += written
        if self._too_many and len(waiting) < MAX_PENDING // 2:
            self._too_many = False
            if not self._send_blocked and not self.closing:
                self.transport.resumeProducing()
        if self.closing and not waiting:
            self._batch.close(self)

    def flushed(self, size: int) -> None:
        """The replies of this iteration are out: their latency, with one clock reading
        (they were answered together; the oldest request's wait stands for all)."""
        if self._send_blocked:
            self._check_output(size)
        count = self._answered
        if count and self.latency is not None:
            self._answered = 0
            elapsed = int((perf_counter() - self._answered_since) * 1e6)
            self.latency.record_many(elapsed, count * SAMPLE_EVERY)

    def close_when_answered(self) -> None:
        """Stop reading; hang up once every reply due has been written."""
        self.closing = True
        self.transport.pauseProducing()
        if not self.waiting:
            self._batch.close(self)


class ClientPortNode(typing.Protocol):
    """What the client port's connections use of the node (``dynotwist.node.Node``)."""

    config: Any  # dynotwist.config.Config
    reactor: Any
    batch: WriteBatch
    stats: Stats
    replies: Replies
    clients: ClientCount
    kind: Any  # its dynotwist.datastores.IDatastoreKind
    router: Router  # replaced when the peers change
    single_node: bool  # no peers: requests go to the local datastore directly
    dispatcher: Any  # net.dispatch.Dispatcher
    gate: Any  # net.gate.LocalGate: its ``normal`` flag
    repairs_on: bool  # read repair in force: writes and repairable reads are timestamped

    def new_session(self) -> ClientSession: ...

    def datastore(self, resp3: bool) -> Any:
        """The local datastore's pool for this protocol version."""


class ClientConnection(OrderedConnection):
    """A connection on the client port, whatever protocol it speaks: its session and
    the client counters."""

    def __init__(self, node: ClientPortNode) -> None:
        super().__init__(node.batch)
        self.node = node
        self.session = node.new_session()
        self.lane = self.session.client_id
        self.stats = node.stats
        self.read_started = 0.0
        if stats_enabled:
            self.latency = node.stats.latency
            self.depth = node.stats.client_out_queue_depth
        self.last_read = 0.0  # perf_counter() at the last read
        self.connected_at = 0.0
        self.last_command: Any = None  # the spec of the last command handled (CLIENT LIST)
        self.output_limit = node.config.client_output_buffer_limit
        # 0 in the configuration means no limit
        self.query_limit = node.config.client_query_buffer_limit or _NO_LIMIT
        self._admitted = False  # counted among the node's clients

    def sample_clock(self) -> float:
        """At each read: the time (``last_read``: CLIENT LIST's idle), and, if the read
        is to be timed — one read in ``SAMPLE_EVERY`` of all the node's clients — the
        same time in ``read_started`` for the slots of the read's requests; else 0.0
        there, which leaves their latency unmeasured."""
        now = self.last_read = perf_counter()
        stats = self.stats
        countdown = stats.reads_to_sample - 1
        if countdown or not stats_enabled:
            stats.reads_to_sample = countdown
            self.read_started = 0.0
        else:
            stats.reads_to_sample = SAMPLE_EVERY
            self.read_started = now
        return self.read_started

    def client_fields(self, now: float) -> List[Tuple[str, object]]:
        """This connection as CLIENT LIST describes one (Redis's fields, in its order;
        what the node does not track is 0). ``now``: ``time.perf_counter()``."""
        session = self.session
        transport = self.transport
        command = self.last_command
        return [
            ("id", session.client_id),
            ("addr", _address(transport.getPeer())),
            ("laddr", _address(transport.getHost())),
            ("fd", _fileno(transport)),
            ("name", (session.name or b"").decode("utf-8", "replace")),
            ("age", int(now - self.connected_at)),
            ("idle", int(now - (self.last_read or self.connected_at))),
            ("flags", "x" if session.transaction is not None else "N"),
            ("db", 0),
            ("sub", 0),
            ("psub", 0),
            ("ssub", 0),
            ("multi", session.transaction.size if session.transaction is not None else -1),
            ("watch", 0),
            ("qbuf", self.buffered()),
            ("qbuf-free", 0),
            ("argv-mem", 0),
            ("multi-mem", 0),
            ("rbs", 0),
            ("rbp", 0),
            ("obl", 0),
            ("oll", len(self.waiting)),
            ("omem", self._unsent),
            ("tot-mem", 0),
            ("events", "r"),
            ("cmd", command.name if command is not None else "NULL"),
            ("user", "default"),
            ("redir", -1),
            ("resp", 3 if session.resp3 else 2),
            ("lib-name", session.library.get(b"lib-name", b"").decode("utf-8", "replace")),
            ("lib-ver", session.library.get(b"lib-ver", b"").decode("utf-8", "replace")),
        ]

    def buffered(self) -> int:
        """Bytes of an incomplete request held (the client protocols say)."""
        return 0

    def watch_quorum(self, slot: Slot, write: bool) -> None:
        """``slot`` awaits a quorum's decision: a failed quorum is counted on its way to
        this connection (client_non_quorum_*_responses)."""
        slot.owner = _QuorumAnswer(self, write)

    def count_request(self, write: bool) -> None:
        if write:
            self.stats.client_write_requests += 1
        else:
            self.stats.client_read_requests += 1

    def connectionMade(self) -> None:
        super().connectionMade()
        self.connected_at = perf_counter()
        if not self.node.clients.admit(self):
            # Redis's answer at maxclients: an error, then the connection is closed
            self.answer(self.node.replies.max_clients)
            self.close_when_answered()
            return
        self._admitted = True
        self.stats.client_connections += 1

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._admitted:
            self.node.clients.release(self)
            stats = self.stats
            stats.client_connections -= 1
            stats.client_eof += 1
            stats.client_dropped_requests += sum(1 for slot in self.waiting if slot.reply is None)
        super().connectionLost(reason)

    def over_query_limit(self, buffered: int) -> bool:
        """True, and the connection closed, if the client's incomplete request holds
        more than ``client_query_buffer_limit`` bytes (Redis closes such a client
        without a reply)."""
        if buffered <= self.query_limit:
            return False
        log.warn(
            "{role} {peer} sent a request over the query buffer limit ({size} bytes buffered,"
            " limit {limit}); closing it",
            role=self.role,
            peer=self.describe_peer(),
            size=buffered,
            limit=self.query_limit,
        )
        self.closing = True
        self.transport.abortConnection()
        return True


class _QuorumAnswer:
    """The owner of a client's slot whose answer a quorum decides."""

    __slots__ = ("connection", "write")

    def __init__(self, connection: ClientConnection, write: bool) -> None:
        self.connection = connection
        self.write = write

    def complete(self, slot: Slot, reply: bytes) -> None:
        connection = self.connection
        if reply is connection.node.replies.quorum_failed:
            if self.write:
                connection.stats.client_non_quorum_w_responses += 1
            else:
                connection.stats.client_non_quorum_r_responses += 1
        connection.complete(slot, reply)


def _address(address: Any) -> str:
    host = getattr(address, "host", None)
    if host is None:  # a Unix socket
        return "%s:0" % (getattr(address, "name", "") or "")
    return "%s:%s" % (host, address.port)


def _fileno(transport: Any) -> int:
    try:
        return int(transport.fileno())
    except (AttributeError, TypeError, ValueError):  # a TLS or in-memory transport
        return -1


class ClientCount:
    """The node's open client connections against ``client_connections`` (0: no limit).

    Reaching the limit is logged once, and leaving it once, so that a flood of
    refused connections does not flood the log.
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.accepted = 0  # connections admitted since the start
        self.refused = 0  # connections refused at the limit
        self.connections: Dict[int, ClientConnection] = {}  # by client id: CLIENT LIST
        self._full = False

    def admit(self, connection: ClientConnection) -> bool:
        if self.limit and self.open >= self.limit:
            self.refused += 1
            if not self._full:
                self._full = True
                log.warn(
                    "{limit} client connections open (client_connections): refusing new ones",
                    limit=self.limit,
                )
            return False
        self.open += 1
        self.accepted += 1
        self.connections[connection.session.client_id] = connection
        return True

    def release(self, connection: ClientConnection) -> None:
        self.connections.pop(connection.session.client_id, None)
        self.open -= 1
        if self._full and self.open < self.limit:
            self._full = False
            log.info("client connections below client_connections again: accepting new ones")

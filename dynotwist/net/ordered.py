"""Server-side connections that answer pipelined requests strictly in order.

The client port and the peer port both queue a slot per request and write replies
as the oldest ones complete; a reply that arrives early waits in its slot. Both stop
reading from a connection whose replies pile up — in the kernel (the transport,
full, pauses us as its producer) or here (more than ``MAX_PENDING`` unanswered) —
and resume once they drain.
"""

from __future__ import annotations

from collections import deque
from time import perf_counter
from typing import Any, Deque, Optional

from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure

from dynotwist.core.stats import ENABLED as stats_enabled
from dynotwist.core.stats import SAMPLE_EVERY, Histogram
from dynotwist.logs import logger
from dynotwist.net.batch import Batched, WriteBatch
from dynotwist.net.datastore import Slot

log = logger(__name__)

MAX_PENDING = 4096


class OrderedConnection(Batched, Protocol):
    """Replies in request order, through the write batch, with flow control."""

    transport: Any  # a TCP or UNIX transport: ITransport, IProducer, ITCPTransport
    kind = "client"  # how logs name the other side
    latency: Optional[Histogram] = None  # request-to-reply times, if measured

    def __init__(self, batch: WriteBatch) -> None:
        self.waiting: Deque[Slot] = deque()
        self._batch = batch
        self.closing = False  # no more requests are read; hang up once answered
        self._answered = 0  # replies written this iteration, for the latency histogram
        self._answered_since = 0.0
        self._send_blocked = False  # the transport's buffer is full
        self._too_many = False  # too many replies due

    def frame(self, reply: bytes) -> bytes:
        """The bytes that carry ``reply`` for the oldest request (a hook)."""
        return reply

    # -- connection life cycle ------------------------------------------------------
    def connectionMade(self) -> None:
        if ITCPTransport.providedBy(self.transport):
            self.transport.setTcpNoDelay(True)
        self.transport.registerProducer(self, True)
        log.info("{kind} {peer} connected", kind=self.kind, peer=self.describe_peer())

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.closing = True
        for slot in self.waiting:
            slot.owner = None
        self.waiting.clear()
        self.transport.unregisterProducer()
        log.info("{kind} {peer} disconnected", kind=self.kind, peer=self.describe_peer())

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
        if not self._too_many and not self.closing:
            self.transport.resumeProducing()

    def stopProducing(self) -> None:
        self.closing = True

    def check_backlog(self) -> None:
        """After a read: stop reading while too many replies are due."""
        if len(self.waiting) > MAX_PENDING and not self._too_many:
            self._too_many = True
            self.transport.pauseProducing()

    # -- replies --------------------------------------------------------------------
    def answer(self, reply: bytes) -> None:
        """A reply made here, in its place among the replies still due."""
        if not self.waiting:
            self._batch.write(self, self.frame(reply))
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

    def flushed(self) -> None:
        """The replies of this iteration are out: their latency, with one clock reading
        (they were answered together; the oldest request's wait stands for all)."""
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


class ClientConnection(OrderedConnection):
    """A connection on the client port, whatever protocol it speaks: its session and
    the client counters."""

    def __init__(self, node: Any) -> None:
        super().__init__(node.batch)
        self.node = node
        self.session = node.new_session()
        self.lane = self.session.client_id
        self.stats = node.stats
        self._reads = 0
        self.read_started = 0.0
        if stats_enabled:
            self.latency = node.stats.latency

    def sample_clock(self) -> float:
        """At each read: the time, if its requests are to be timed (one read in
        SAMPLE_EVERY), else 0.0, which leaves their latency unmeasured. Kept in
        ``read_started`` for the slots of the read's requests."""
        self._reads += 1
        if stats_enabled and not self._reads % SAMPLE_EVERY:
            self.read_started = perf_counter()
        else:
            self.read_started = 0.0
        return self.read_started

    def connectionMade(self) -> None:
        super().connectionMade()
        self.stats.client_connections += 1

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        stats = self.stats
        stats.client_connections -= 1
        stats.client_eof += 1
        stats.client_dropped_requests += sum(1 for slot in self.waiting if slot.reply is None)
        super().connectionLost(reason)

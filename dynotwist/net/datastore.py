"""Pipelined connections to the local datastore.

A pool holds ``datastore_connections`` connections. Requests are written as they come
and their slots queued; replies come back in the same order and each is handed to its
slot's owner. No Deferred per request: a slot is a plain object in a FIFO.

Timeouts cost nothing per request: the pool ticks a counter a few times per timeout
period and each sent slot records the tick; a periodic check fails the slots that are
too old. A timed-out request gets Dynomite's error at once and its late reply is
dropped when it comes; a connection whose oldest request has waited twice the timeout
is presumed dead and is closed, failing the rest.

The machinery shared with the peer pools (``net.peer``) lives in :class:`PooledProtocol`
and :class:`BackendPool`: fixed connection slots, reconnect back-off, timeout ticks,
expiry and failure of pending requests.
"""

from __future__ import annotations

from collections import deque
from time import perf_counter
from typing import (
    Any,
    Callable,
    Deque,
    Generic,
    List,
    NamedTuple,
    Optional,
    Sequence,
    Set,
    Tuple,
    Type,
    TypeVar,
)

from twisted.internet import endpoints
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from dynotwist import errors
from dynotwist.config import Address
from dynotwist.core.ejection import EJECTED, IN, PROBING, Ejection
from dynotwist.core.slots import Gather, Slot
from dynotwist.core.stats import ENABLED as stats_enabled
from dynotwist.core.stats import Histogram, RoundTrips, Stats
from dynotwist.logs import logger
from dynotwist.net.batch import Batched, WriteBatch
from dynotwist.net.health import Reachability
from dynotwist.net.reads import read_in_large_pieces
from dynotwist.proto.resp import ReplyError, encode_command, is_error_reply, reply_framer_class
from dynotwist.proto.transactions import UnitRequest

log = logger(__name__)


class PooledProtocol(Batched, Protocol):
    """One connection of a :class:`BackendPool`: its requests awaiting replies.

    ``pending`` holds the slots in the order their requests were written. Subclasses
    write requests and match replies; this class fails what is pending when the
    connection is lost or its requests time out.
    """

    transport: Any  # a TCP or UNIX transport
    # set by BackendPool.reset(): the pool no longer counts this connection
    replaced = False
    lost = False  # the connection is gone

    def __init__(self, pool: Any, slot_index: int = 0) -> None:
        self.pool = pool
        self.slot_index = slot_index  # which of the pool's connections this is
        self.pending: Deque[Slot] = deque()
        histograms = pool.rtt_histograms() if stats_enabled else ()
        self.round_trips = (
            RoundTrips(histograms, perf_counter, pool.depth_histogram()) if histograms else None
        )

    def connectionMade(self) -> None:
        if ITCPTransport.providedBy(self.transport):
            self.transport.setTcpNoDelay(True)
            self.transport.setTcpKeepAlive(True)
        read_in_large_pieces(self.transport)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost = True
        self.fail_pending()
        self.pool.connection_lost(self)

    def fail_pending(self) -> None:
        if self.round_trips is not None:
            self.round_trips.clear()
        pending, self.pending = self.pending, deque()
        if pending:
            self.pool.requests_dropped(len(pending))
        failure = self.pool.failure_reply
        for slot in pending:
            slot.deliver(failure)

    def expire(self, oldest_allowed: int, dead_before: int) -> int:
        """Fail requests sent before tick ``oldest_allowed``; drop the connection if
        the oldest was sent before ``dead_before``. Returns how many timed out."""
        pending = self.pending
        if not pending or pending[0].tick >= oldest_allowed:
            return 0
        if pending[0].tick < dead_before:
            self.pool.on_stalled(self)
            self.transport.abortConnection()
            return 0
        failure = self.pool.failure_reply
        expired = 0
        for slot in pending:
            if slot.tick >= oldest_allowed:
                break
            if slot.owner is not None:  # not failed at an earlier tick
                expired += 1
                slot.deliver(failure)
        self.pool.requests_timed_out(expired)
        return expired


class _Handshake:
    """Owner of the replies to a connection's opening commands (AUTH, HELLO)."""

    def __init__(self, connection: DatastoreProtocol, command: bytes) -> None:
        self.connection = connection
        self.command = command

    def complete(self, slot: Slot, reply: bytes) -> None:
        if is_error_reply(reply):
            self.connection.pool.stats.server_err += 1
            log.error(
                "datastore {address} refused {command}: {reply}",
                address=self.connection.pool.name,
                command=self.command.decode(),
                reply=reply.strip().decode("latin-1"),
            )
            if self.connection.transport is not None:
                self.connection.transport.loseConnection()


class DatastoreProtocol(PooledProtocol):
    """A pipelined connection to a datastore speaking RESP.

    Subclasses for other datastores override ``framer_class`` (how replies are
    delimited) and ``opening_commands`` (what to send once connected).
    """

    pool: DatastorePool
    framer_class: Callable[[], Any] = reply_framer_class()
    framer_errors: Tuple[Type[Exception], ...] = (ReplyError,)  # garbage from the datastore
    #: what the pool sends to learn whether an ejected datastore answers again
    probe_request: Optional[bytes] = encode_command([b"PING"])

    def __init__(self, pool: DatastorePool, slot_index: int = 0) -> None:
        super().__init__(pool, slot_index)
        self.framer = self.framer_class()

    def opening_commands(self) -> List[List[bytes]]:
        """Commands sent first on every connection; their replies are checked, not relayed."""
        commands: List[List[bytes]] = []
        password = self.pool.password
        if self.pool.resp3:
            hello = [b"HELLO", b"3"]
            if password is not None:
                hello += [b"AUTH", b"default", password.encode()]
            commands.append(hello)
        elif password is not None:
            commands.append([b"AUTH", password.encode()])
        return commands

    def connectionMade(self) -> None:
        super().connectionMade()
        for args in self.opening_commands():
            self.send(encode_command(args), Slot(_Handshake(self, args[0])))

    def send(self, raw: bytes, slot: Slot) -> None:
        slot.tick = self.pool.tick
        if raw.__class__ is UnitRequest:  # a transaction: its replies read back as one
            self.pending.extend(Gather(slot, raw.replies).slots())
        else:
            self.pending.append(slot)
        self.pool.batch.write(self, raw)
        trips = self.round_trips
        if trips is not None and not trips.probing:
            trips.sent(len(self.pending))

    def send_many(self, slots: List[Slot], requests: List[bytes]) -> None:
        """Several requests, ``requests[i]`` awaiting its reply in ``slots[i]``.

        Each slot is queued together with its bytes, in one step: a slot never waits
        in ``pending`` for a reply to bytes that were not written.
        """
        tick = self.pool.tick
        for slot in slots:
            slot.tick = tick
        self.pending.extend(slots)
        self.pool.batch.write(self, b"".join(requests))
        trips = self.round_trips
        if trips is not None and not trips.probing:
            trips.sent(len(self.pending))

    def dataReceived(self, data: bytes) -> None:
        try:
            replies = self.framer.feed(data)
        except self.framer_errors as error:
            self.pool.stats.server_err += 1
            log.error(
                "datastore {address} sent garbage: {error}", address=self.pool.name, error=error
            )
            self.transport.abortConnection()
            return
        if replies:
            if self.round_trips is not None:
                self.round_trips.answered(len(replies))
            if self.pool.health.failures:
                self.pool.record_reply()
        pending = self.pending
        reads = read_bytes = writes = write_bytes = 0
        for reply in replies:
            if not pending:
                log.error("datastore {address} sent an unrequested reply", address=self.pool.name)
                self.transport.abortConnection()
                break
            # slot.deliver(reply), inlined: the hottest loop of the node
            slot = pending.popleft()
            if slot.write:
                writes += 1
                write_bytes += len(reply)
            else:
                reads += 1
                read_bytes += len(reply)
            owner = slot.owner
            if owner is not None:
                slot.owner = None
                owner.complete(slot, reply)
        if replies:
            stats = self.pool.stats
            stats.read_responses += reads
            stats.read_response_bytes += read_bytes
            stats.write_responses += writes
            stats.write_response_bytes += write_bytes


class PoolShared(NamedTuple):
    """What every pool of a node shares: the clock, the write batch, the node's
    counters, and its errors in the clients' protocol."""

    reactor: Any
    batch: WriteBatch
    stats: Stats
    replies: errors.Replies


class _PoolFactory(Factory):
    noisy = False

    def __init__(self, pool: BackendPool[Any], index: int) -> None:
        self.pool = pool
        self.index = index

    def buildProtocol(self, addr: Any) -> PooledProtocol:
        return self.pool.protocol_class(self.pool, self.index)


P = TypeVar("P", bound=PooledProtocol)


class _Probe:
    """Owner of a probe's reply: the pool learns the outcome from the connection's
    reply matching (a reply) or its timeout (a failure), like any request's."""

    def complete(self, slot: Slot, reply: bytes) -> None:
        pass


_PROBE = _Probe()


class BackendPool(Generic[P]):
    """``size`` connections to one backend, reconnecting with back-off, ejected when
    it fails (:mod:`dynotwist.core.ejection`).

    Connection ``i`` of the pool is built by ``protocol_class(pool, i)``. When it is
    lost (or cannot be made) it is retried after a delay starting at 1 s and doubling
    up to ``retry_cap_ms``; a successful connect resets the delay. A clock-driven tick
    expires old requests (see :meth:`PooledProtocol.expire`).

    ``health`` counts failures (a connection not made or lost, a request timed out);
    once it ejects the backend, the pool drops its connections (their requests fail at
    once), refuses requests, and after the retry timeout sends ``probe`` (a request of
    its own; None: a connection made is proof enough): a reply takes the backend back.
    Requests may wait in the pool while its first connections are being made
    (:meth:`hold`); they are sent when one is up, failed if none can be made, or when
    they time out.
    """

    # checks per timeout period: a request times out within 1/TICKS of its timeout
    TICKS = 20
    STALL_TICKS = TICKS // 4  # a gap between two checks that says this process stalled
    role = "backend"  # how logs name the other side
    probe: Any = None  # the probe request, as send_held takes it

    def __init__(
        self,
        shared: PoolShared,
        address: Address,
        size: int,
        timeout_ms: int,
        retry_cap_ms: int,
        protocol_class: Callable[[Any, int], P],
        health: Optional[Ejection] = None,
    ) -> None:
        reactor = shared.reactor
        self.reactor = reactor
        self.batch = shared.batch
        self.stats = shared.stats
        self.replies = shared.replies  # the client protocol's error syntax
        self.address = address
        self.name = address.path or "%s:%d" % (address.host, address.port)
        self.size = size
        self.timeout_ms = timeout_ms
        self.retry_cap = retry_cap_ms / 1000.0
        self.protocol_class = protocol_class
        self.health = health if health is not None else Ejection(True, 3, self.retry_cap)
        self.timeout_factor = 1
        self.tick = 0
        self._tick_interval = 1.0
        self._ticks_allowed = self.TICKS  # the timeout, in ticks
        self.ready: List[P] = []
        self._connecting: Set[int] = set()  # connection indexes being connected
        self._waiting: Deque[Tuple[Slot, Any]] = deque()
        self._delay = [1.0] * size
        self._retry_calls: List[Any] = [None] * size
        self._probe_call: Any = None
        self._prober: Optional[P] = None  # the connection a probe is sent on
        self._started = False
        self._stopping = False
        self._ticker = LoopingCall(self._check_timeouts)
        self._ticker.clock = reactor
        self.reachability = Reachability("%s %s" % (self.role, self.name), reactor)

    def rtt_histograms(self) -> Sequence[Histogram]:
        """Where a connection records its round trips (none: not measured)."""
        return ()

    def depth_histogram(self) -> Optional[Histogram]:
        """Where a connection's round-trip probes record the requests outstanding."""
        return None

    # -- requests failed by the pool's connections: counted ---------------------------
    def requests_dropped(self, count: int) -> None:
        """``count`` requests failed because their connection went away."""

    def requests_timed_out(self, count: int) -> None:
        """``count`` requests failed because they waited too long."""

    # -- connection events: logged and counted --------------------------------------
    def on_connected(self, protocol: P) -> None:
        log.info("connected to {role} {address}", role=self.role, address=self.name)

    def on_connect_failed(self, reason: Failure) -> None:
        log.info(
            "cannot connect to {role} {address}: {reason}",
            role=self.role,
            address=self.name,
            reason=reason.getErrorMessage(),
        )

    def on_lost(self, protocol: P) -> None:
        log.info("lost connection to {role} {address}", role=self.role, address=self.name)

    def on_retry(self, index: int, delay: float) -> None:
        pass

    def on_stalled(self, protocol: P) -> None:
        log.warn(
            "{role} {address} stopped answering; reconnecting", role=self.role, address=self.name
        )

    #: what an ejection means for requests, said in its log line
    ejected_means = "its requests fail at once or go to another replica"

    def on_ejected(self) -> None:
        """The backend was just ejected (counted by subclasses). Logged as its loss: one
        warning whether the ejection or a lost connection says it first."""
        self.reachability.lost(
            "ejected after %d failures in a row (%s); probed again in %g s"
            % (self.health.failures, self.ejected_means, self.health.retry_timeout)
        )

    def on_back_in(self) -> None:
        log.info("{role} {address} answers again: back in", role=self.role, address=self.name)

    # -- life cycle -----------------------------------------------------------------
    def start(self, connect_now: bool = True) -> None:
        """Start the timeout checks; connect every slot now (or leave it to a subclass)."""
        if self._started:
            return
        self._started = True
        self._tick_interval = self.timeout_ms / 1000.0 / self.TICKS
        self._ticks_allowed = self.TICKS
        self.tick = int(self.reactor.seconds() / self._tick_interval)
        self._ticker.start(self._tick_interval, now=False)
        if connect_now:
            self._connect_all()

    def _connect_all(self) -> None:
        for index in range(self.size):
            self._connect(index)

    def stop(self) -> None:
        self._stopping = True
        if self._ticker.running:
            self._ticker.stop()
        for call in [*self._retry_calls, self._probe_call]:
            if call is not None and call.active():
                call.cancel()
        self._fail_waiting()
        connections = self.ready + ([self._prober] if self._prober is not None else [])
        for connection in connections:
            connection.transport.loseConnection()

    def set_timeout(self, timeout_ms: int) -> None:
        """A new request timeout (the ticks keep their length: the count changes)."""
        self.timeout_ms = timeout_ms
        if self._started:
            self._ticks_allowed = max(1, round(timeout_ms / 1000.0 / self._tick_interval))

    def reset(self) -> None:
        """Drop every connection and connect again now, with the back-off reset and
        the backend taken back if it was ejected.

        Requests pending on a dropped connection get its error reply at once.
        """
        if self._stopping or not self._started:
            return
        self.health.succeeded()
        self._cancel_probe()
        for connection in list(self.ready):
            self._drop(connection)
        self._connect_idle()

    def _drop(self, connection: P) -> None:
        """Stop counting ``connection``: its requests fail now, it is closed."""
        connection.replaced = True
        if connection is self._prober:
            self._prober = None
        else:
            self.ready.remove(connection)
        connection.fail_pending()
        connection.transport.abortConnection()

    def _connect_idle(self) -> None:
        """Connect now every connection that is neither up nor being made."""
        up = {connection.slot_index for connection in self.ready}
        for index in range(self.size):
            self._delay[index] = 1.0
            call = self._retry_calls[index]
            if call is not None and call.active():
                call.cancel()
                self._retry_calls[index] = None
            if index not in up and index not in self._connecting:
                self._connect(index)

    def _endpoint(self) -> Any:
        address = self.address
        timeout = max(1, self.timeout_ms // 1000)
        if address.path:
            return endpoints.UNIXClientEndpoint(self.reactor, address.path, timeout=timeout)
        if isIPAddress(address.host):
            return endpoints.TCP4ClientEndpoint(
                self.reactor, address.host, address.port, timeout=timeout
            )
        if isIPv6Address(address.host):
            return endpoints.TCP6ClientEndpoint(
                self.reactor, address.host, address.port, timeout=timeout
            )
        return endpoints.HostnameEndpoint(self.reactor, address.host, address.port, timeout=timeout)

    def _connect(self, index: int) -> None:
        self._retry_calls[index] = None
        self._connecting.add(index)
        d = self._endpoint().connect(_PoolFactory(self, index))
        d.addCallbacks(self._connected, self._failed, errbackArgs=(index,))

    def _connected(self, protocol: P) -> None:
        self._connecting.discard(protocol.slot_index)
        self._delay[protocol.slot_index] = 1.0
        if self._stopping or self.health.state == EJECTED:
            # made while the pool stopped or ejected its backend: not used
            protocol.replaced = True
            protocol.transport.abortConnection()
            return
        self.on_connected(protocol)
        if self.health.state == PROBING and self.probe is not None:
            # not for requests until the probe's reply takes the backend back
            self._prober = protocol
            self.send_held(protocol, Slot(_PROBE), self.probe)
            return
        self.ready.append(protocol)
        self.reachability.reached()
        if self.health.state == PROBING:
            self.record_reply()  # no probe request: the connection is the proof
            return
        waiting, self._waiting = self._waiting, deque()
        for slot, request in waiting:
            self.send_held(protocol, slot, request)
        self.on_ready(protocol)

    def on_ready(self, protocol: P) -> None:
        """``protocol`` is up and takes requests (hook)."""

    def _failed(self, reason: Failure, index: int) -> None:
        self._connecting.discard(index)
        self.on_connect_failed(reason)
        if not self.ready and not self._stopping:
            self.reachability.lost(reason.getErrorMessage())
        if not self._connecting:
            self._fail_waiting()
        self.record_failures(1)
        self._schedule_retry(index)

    def connection_lost(self, protocol: P) -> None:
        if protocol.replaced:
            return  # reset() or an ejection has already replaced it
        if protocol is self._prober:
            self._prober = None
            self.record_failures(1)
        elif protocol in self.ready:
            self.ready.remove(protocol)
            if not self._stopping:
                self.on_lost(protocol)
                self.record_failures(1)
                if not self.ready:
                    self.reachability.lost("connection lost")
        self._schedule_retry(protocol.slot_index)

    def _schedule_retry(self, index: int) -> None:
        if self._stopping or self.health.ejected or self._retry_calls[index] is not None:
            return  # an ejected backend is probed instead
        delay = self._delay[index]
        self._delay[index] = min(delay * 2, max(self.retry_cap, 1.0))
        self.on_retry(index, delay)
        self._retry_calls[index] = self.reactor.callLater(delay, self._connect, index)

    def _check_timeouts(self) -> None:
        # from the clock, not a count of calls: a busy reactor skips calls
        tick = int(self.reactor.seconds() / self._tick_interval)
        # many ticks since the last check: this process did not run (a GC pause,
        # SIGSTOP, a starved host) and replies may be waiting unread; requests past
        # their time still fail, but the backend is not blamed for them
        stalled = tick - self.tick > self.STALL_TICKS
        self.tick = tick
        allowed = self._ticks_allowed * self.timeout_factor
        oldest_allowed = self.tick - allowed
        expired = 0
        for connection in list(self.ready):
            expired += connection.expire(oldest_allowed, oldest_allowed - allowed)
        if self._prober is not None:
            expired += self._prober.expire(oldest_allowed, oldest_allowed - allowed)
        waiting = self._waiting
        while waiting and waiting[0][0].tick < oldest_allowed:
            waiting.popleft()[0].deliver(self.failure_reply)
        if expired and not stalled:
            self.record_failures(expired)
        self.after_tick()

    def after_tick(self) -> None:
        """The timeouts were checked (hook)."""

    # -- requests waiting for a connection ------------------------------------------
    @property
    def failure_reply(self) -> bytes:
        """What a request gets when the backend cannot answer it."""
        raise NotImplementedError

    def hold(self, slot: Slot, request: Any) -> None:
        """Keep a request until a connection is up (:meth:`send_held` then sends it)."""
        slot.tick = self.tick
        self._waiting.append((slot, request))

    def send_held(self, protocol: P, slot: Slot, request: Any) -> None:
        """Send a request that waited (or the probe) on ``protocol``."""
        raise NotImplementedError

    def _fail_waiting(self) -> None:
        waiting, self._waiting = self._waiting, deque()
        for slot, _ in waiting:
            slot.deliver(self.failure_reply)

    # -- failure detection ------------------------------------------------------------
    def record_failures(self, count: int) -> None:
        health = self.health
        newly = health.state == IN
        if health.failed(self.reactor.seconds(), count) and not self._stopping:
            if newly:
                self.on_ejected()
            self._eject()

    def record_reply(self) -> None:
        """A reply came while failures were counted (connections check ``health.failures``
        first: nothing to do on the hot path while the backend is well)."""
        if self.health.succeeded() and not self._stopping:
            self._cancel_probe()
            prober, self._prober = self._prober, None
            self.on_back_in()
            if prober is not None:
                self.ready.append(prober)
                self.reachability.reached()
                self.on_ready(prober)
            self._connect_idle()

    def _eject(self) -> None:
        for index, call in enumerate(self._retry_calls):
            if call is not None and call.active():
                call.cancel()
            self._retry_calls[index] = None
        for connection in list(self.ready):
            self._drop(connection)
        if self._prober is not None:
            self._drop(self._prober)
        self._fail_waiting()
        self._cancel_probe()
        self._probe_call = self.reactor.callLater(self.health.retry_timeout, self._probe)

    def _cancel_probe(self) -> None:
        call = self._probe_call
        if call is not None and call.active():
            call.cancel()
        self._probe_call = None

    def _probe(self) -> None:
        self._probe_call = None
        if self._stopping or not self.health.probe_due(self.reactor.seconds()):
            return
        log.debug("probing {role} {address}", role=self.role, address=self.name)
        if 0 not in self._connecting:
            self._connect(0)


class DatastorePool(BackendPool[DatastoreProtocol]):
    """``size`` connections to one datastore, reconnecting with back-off."""

    role = "datastore"

    def __init__(
        self,
        shared: PoolShared,
        address: Address,
        size: int,
        timeout_ms: int,
        retry_cap_ms: int,
        protocol_class: Callable[[DatastorePool, int], DatastoreProtocol] = DatastoreProtocol,
        resp3: bool = False,
        password: Optional[str] = None,
        health: Optional[Ejection] = None,
    ) -> None:
        super().__init__(
            shared, address, size, timeout_ms, retry_cap_ms, protocol_class, health
        )
        self.resp3 = resp3
        self.password = password
        self.probe = getattr(protocol_class, "probe_request", None)
        self._connect_on_first_use = False

    @property
    def failure_reply(self) -> bytes:
        """What a request gets when the datastore cannot answer it."""
        return self.replies.datastore_refused

    def rtt_histograms(self) -> Sequence[Histogram]:
        return (self.stats.server_rtt,)

    def depth_histogram(self) -> Optional[Histogram]:
        return self.stats.server_out_queue_depth

    def requests_dropped(self, count: int) -> None:
        self.stats.server_dropped_requests += count

    def requests_timed_out(self, count: int) -> None:
        self.stats.server_timedout_requests += count

    def on_connect_failed(self, reason: Failure) -> None:
        super().on_connect_failed(reason)
        self.stats.server_err += 1

    def on_lost(self, protocol: DatastoreProtocol) -> None:
        super().on_lost(protocol)
        self.stats.server_eof += 1

    def on_ejected(self) -> None:
        super().on_ejected()
        stats = self.stats
        stats.server_ejects += 1
        stats.server_ejected_at = int(self.reactor.seconds() * 1000)

    def on_stalled(self, protocol: DatastoreProtocol) -> None:
        super().on_stalled(protocol)
        self.stats.server_timedout += 1

    def start(self, connect_now: bool = True) -> None:
        """Start the timeout checks; connect every slot now or on first use."""
        if self._started:
            return
        super().start(connect_now)
        if not connect_now:
            self._connect_on_first_use = True

    def send_held(self, protocol: DatastoreProtocol, slot: Slot, request: Any) -> None:
        protocol.send(request, slot)

    # -- requests -----------------------------------------------------------------
    def connection(self, lane: int) -> Optional[DatastoreProtocol]:
        """The connection that requests of ``lane`` take, if one is up."""
        ready = self.ready
        return ready[lane % len(ready)] if ready else None

    def send(self, raw: bytes, slot: Slot, lane: int) -> bool:
        """Queue a request; False if no connection can take it (caller answers the error)."""
        ready = self.ready
        if ready:
            ready[lane % len(ready)].send(raw, slot)
            return True
        if self._connect_on_first_use:  # preconnect: false
            self._connect_on_first_use = False
            self._connect_all()
        if self._connecting and not self.health.ejected:
            self.hold(slot, raw)
            return True
        return False

    @property
    def queued(self) -> int:
        """Requests waiting for the first connection."""
        return len(self._waiting)

    @property
    def queued_bytes(self) -> int:
        return sum(len(raw) for _, raw in self._waiting)

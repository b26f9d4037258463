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
from dynotwist.core.slots import Slot
from dynotwist.core.stats import ENABLED as stats_enabled
from dynotwist.core.stats import Histogram, RoundTrips, Stats
from dynotwist.logs import logger
from dynotwist.net.batch import Batched, WriteBatch
from dynotwist.proto.resp import ReplyError, encode_command, is_error_reply, reply_framer_class

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
        self.round_trips = RoundTrips(histograms, perf_counter) if histograms else None

    def connectionMade(self) -> None:
        if ITCPTransport.providedBy(self.transport):
            self.transport.setTcpNoDelay(True)
            self.transport.setTcpKeepAlive(True)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.lost = True
        self.fail_pending()
        self.pool.connection_lost(self)

    def fail_pending(self) -> None:
        if self.round_trips is not None:
            self.round_trips.clear()
        pending, self.pending = self.pending, deque()
        failure = self.pool.failure_reply
        for slot in pending:
            slot.deliver(failure)

    def expire(self, oldest_allowed: int, dead_before: int) -> None:
        """Fail requests sent before tick ``oldest_allowed``; drop the connection if
        the oldest was sent before ``dead_before``."""
        pending = self.pending
        if not pending or pending[0].tick >= oldest_allowed:
            return
        if pending[0].tick < dead_before:
            self.pool.on_stalled(self)
            self.transport.abortConnection()
            return
        failure = self.pool.failure_reply
        for slot in pending:
            if slot.tick >= oldest_allowed:
                break
            slot.deliver(failure)


class _Handshake:
    """Owner of the replies to a connection's opening commands (AUTH, HELLO)."""

    def __init__(self, connection: DatastoreProtocol, command: bytes) -> None:
        self.connection = connection
        self.command = command

    def complete(self, slot: Slot, reply: bytes) -> None:
        if is_error_reply(reply):
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
            log.error(
                "datastore {address} sent garbage: {error}", address=self.pool.name, error=error
            )
            self.transport.abortConnection()
            return
        if self.round_trips is not None and replies:
            self.round_trips.answered(len(replies))
        pending = self.pending
        for reply in replies:
            if not pending:
                log.error("datastore {address} sent an unrequested reply", address=self.pool.name)
                self.transport.abortConnection()
                return
            # slot.deliver(reply), inlined: the hottest loop of the node
            slot = pending.popleft()
            owner = slot.owner
            if owner is not None:
                slot.owner = None
                owner.complete(slot, reply)


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


class BackendPool(Generic[P]):
    """``size`` connections to one backend, reconnecting with back-off.

    Connection ``i`` of the pool is built by ``protocol_class(pool, i)``. When it is
    lost (or cannot be made) it is retried after a delay starting at 1 s and doubling
    up to ``retry_cap_ms``; a successful connect resets the delay. A clock-driven tick
    expires old requests (see :meth:`PooledProtocol.expire`).
    """

    # checks per timeout period: a request times out within 1/TICKS of its timeout
    TICKS = 20
    role = "backend"  # how logs name the other side

    def __init__(
        self,
        shared: PoolShared,
        address: Address,
        size: int,
        timeout_ms: int,
        retry_cap_ms: int,
        protocol_class: Callable[[Any, int], P],
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
        self.timeout_factor = 1
        self.tick = 0
        self._tick_interval = 1.0
        self.ready: List[P] = []
        self._connecting = 0
        self._delay = [1.0] * size
        self._retry_calls: List[Any] = [None] * size
        self._started = False
        self._stopping = False
        self._ticker = LoopingCall(self._check_timeouts)
        self._ticker.clock = reactor

    def rtt_histograms(self) -> Sequence[Histogram]:
        """Where a connection records its round trips (none: not measured)."""
        return ()

    # -- connection events: logged and counted --------------------------------------
    def on_connected(self, protocol: P) -> None:
        log.info("connected to {role} {address}", role=self.role, address=self.name)

    def on_connect_failed(self, reason: Failure) -> None:
        log.warn(
            "cannot connect to {role} {address}: {reason}",
            role=self.role,
            address=self.name,
            reason=reason.getErrorMessage(),
        )

    def on_lost(self, protocol: P) -> None:
        log.warn("lost connection to {role} {address}", role=self.role, address=self.name)

    def on_retry(self, index: int, delay: float) -> None:
        pass

    def on_stalled(self, protocol: P) -> None:
        log.warn(
            "{role} {address} stopped answering; reconnecting", role=self.role, address=self.name
        )

    # -- life cycle -----------------------------------------------------------------
    def start(self, connect_now: bool = True) -> None:
        """Start the timeout checks; connect every slot now (or leave it to a subclass)."""
        if self._started:
            return
        self._started = True
        self._tick_interval = self.timeout_ms / 1000.0 / self.TICKS
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
        for call in self._retry_calls:
            if call is not None and call.active():
                call.cancel()
        for connection in list(self.ready):
            connection.transport.loseConnection()

    def reset(self) -> None:
        """Drop every connection and connect again now, with the back-off reset.

        Requests pending on a dropped connection get its error reply at once.
        """
        if self._stopping or not self._started:
            return
        for index in range(self.size):
            self._delay[index] = 1.0
        for connection in list(self.ready):
            connection.replaced = True
            self.ready.remove(connection)
            connection.fail_pending()
            connection.transport.abortConnection()
            self._connect(connection.slot_index)
        for index, call in enumerate(self._retry_calls):
            if call is not None and call.active():
                call.cancel()
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
        self._connecting += 1
        d = self._endpoint().connect(_PoolFactory(self, index))
        d.addCallbacks(self._connected, self._failed, errbackArgs=(index,))

    def _connected(self, protocol: P) -> None:
        self._connecting -= 1
        self._delay[protocol.slot_index] = 1.0
        self.ready.append(protocol)
        self.on_connected(protocol)
        self.after_connect(protocol)

    def after_connect(self, protocol: P) -> None:
        """A connection came up (hook)."""

    def _failed(self, reason: Failure, index: int) -> None:
        self._connecting -= 1
        self.on_connect_failed(reason)
        if not self._connecting:
            self.after_attempts_failed()
        self._schedule_retry(index)

    def after_attempts_failed(self) -> None:
        """A connection attempt failed and none is under way (hook)."""

    def connection_lost(self, protocol: P) -> None:
        if protocol.replaced:
            return  # reset() has already replaced it
        if protocol in self.ready:
            self.ready.remove(protocol)
            if not self._stopping:
                self.on_lost(protocol)
        self._schedule_retry(protocol.slot_index)

    def _schedule_retry(self, index: int) -> None:
        if self._stopping or self._retry_calls[index] is not None:
            return
        delay = self._delay[index]
        self._delay[index] = min(delay * 2, max(self.retry_cap, 1.0))
        self.on_retry(index, delay)
        self._retry_calls[index] = self.reactor.callLater(delay, self._connect, index)

    def _check_timeouts(self) -> None:
        # from the clock, not a count of calls: a busy reactor skips calls
        self.tick = int(self.reactor.seconds() / self._tick_interval)
        allowed = self.TICKS * self.timeout_factor
        oldest_allowed = self.tick - allowed
        for connection in list(self.ready):
            connection.expire(oldest_allowed, oldest_allowed - allowed)
        self.expire_waiting(oldest_allowed)

    def expire_waiting(self, oldest_allowed: int) -> None:
        """Fail requests held by the pool itself that were queued before the tick (hook)."""


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
    ) -> None:
        super().__init__(shared, address, size, timeout_ms, retry_cap_ms, protocol_class)
        self.resp3 = resp3
        self.password = password
        # requests that arrived while the first connection attempt was under way
        self._waiting: Deque[Any] = deque()
        self._connect_on_first_use = False

    @property
    def failure_reply(self) -> bytes:
        """What a request gets when the datastore cannot answer it."""
        return self.replies.datastore_refused

    def rtt_histograms(self) -> Sequence[Histogram]:
        return (self.stats.server_rtt,)

    def on_lost(self, protocol: DatastoreProtocol) -> None:
        super().on_lost(protocol)
        stats = self.stats
        stats.server_eof += 1
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

    def after_connect(self, protocol: DatastoreProtocol) -> None:
        waiting, self._waiting = self._waiting, deque()
        for raw, slot in waiting:
            protocol.send(raw, slot)

    def after_attempts_failed(self) -> None:
        self._fail_waiting()

    def _fail_waiting(self) -> None:
        waiting, self._waiting = self._waiting, deque()
        for _, slot in waiting:
            slot.deliver(self.failure_reply)

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
        if self._connecting:
            slot.tick = self.tick
            self._waiting.append((raw, slot))
            return True
        return False

    def expire_waiting(self, oldest_allowed: int) -> None:
        while self._waiting and self._waiting[0][1].tick < oldest_allowed:
            self._waiting.popleft()[1].deliver(self.failure_reply)

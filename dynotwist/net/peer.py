"""Peer links: the dnode protocol between nodes (reference sections 2.5, 4, 9).

Client side: a :class:`PeerPool` holds ``local_peer_connections`` (same DC) or
``remote_peer_connections`` (other DC) pipelined :class:`PeerProtocol` connections to
one peer's ``dyn_listen``. A request is framed with a message id from the node-wide
counter; the peer answers on the same connection, in order, with that id. Replies are
matched FIFO with Dynomite's rules: the head's id -> its reply; a smaller id -> a late
reply, dropped; a larger id -> the skipped requests failed as mismatches.

Server side: :class:`DnodeServerProtocol` serves requests arriving on ``dyn_listen``:
``DMSG_REQ`` goes to the local datastore, ``DMSG_REQ_FORWARD`` to every rack of this
node's DC through the node. Replies go back strictly in request order, each framed
with its request's id.

No Deferred and no timer per request: slots in FIFOs, ticks for timeouts (see
``net.datastore``), and for cross-DC links a per-connection message budget refilled
once a second.
"""

from __future__ import annotations

import itertools
from collections import deque
from typing import (
    TYPE_CHECKING,
    Any,
    Callable,
    Deque,
    Iterator,
    List,
    Optional,
    Protocol,
    Sequence,
    Set,
    Tuple,
    Union,
)

from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import Factory, connectionDone
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from dynotwist import errors
from dynotwist.config import Address
from dynotwist.core import ring
from dynotwist.core.ejection import Ejection
from dynotwist.core.slots import Slot
from dynotwist.core.stats import ENABLED as stats_enabled
from dynotwist.core.stats import Histogram, PeerStats, Stats
from dynotwist.logs import logger
from dynotwist.net.batch import WriteBatch
from dynotwist.net.datastore import BackendPool, PooledProtocol, PoolShared
from dynotwist.net.ordered import OrderedConnection
from dynotwist.net.reads import read_in_large_pieces
from dynotwist.proto.dnode import (
    DMSG_REQ,
    DMSG_REQ_FORWARD,
    DMSG_RES,
    FLAG_ENCRYPTED,
    FLAG_RESP3,
    GOSSIP_SYN,
    DnodeError,
    DnodeParser,
    Frame,
    Framed,
    encode_frame,
    request_frame,
    response_frame,
)

if TYPE_CHECKING:
    from dynotwist.datastores import Relayed

__all__ = [
    "PEER_RETRY_CAP_MS",
    "DnodeServerFactory",
    "DnodeServerProtocol",
    "PeerPool",
    "PeerProtocol",
    "ServingNode",
]

log = logger(__name__)

#: Dynomite retries peers after 1 s, doubling up to 10 s
PEER_RETRY_CAP_MS = 10000


# -- client side --------------------------------------------------------------------


class PeerProtocol(PooledProtocol):
    """A pipelined connection to another node's ``dyn_listen``.

    ``pending`` (slots) and ``ids`` (their message ids) are parallel FIFOs. On a
    cross-DC link, ``budget`` counts the frames this connection may still write in
    the current second; frames over it wait in ``held`` until the pool refills it.
    """

    pool: PeerPool

    def __init__(self, pool: PeerPool, slot_index: int = 0) -> None:
        super().__init__(pool, slot_index)
        self.ids: Deque[int] = deque()
        self.parser = DnodeParser()
        self.budget: Optional[int] = pool.msg_rate  # None: no rate limit
        self.held: Deque[bytes] = deque()

    def send(self, framed: Framed, slot: Slot) -> None:
        """Write a request frame, ``(msg_id, frame)`` as :meth:`PeerPool.frame` makes it."""
        pool = self.pool
        msg_id, frame = framed
        slot.tick = pool.tick
        self.pending.append(slot)
        self.ids.append(msg_id)
        size = len(frame)  # the node's peer counters and this peer's own
        pool.stats.peer_request_bytes += size
        pool.link.request_bytes += size
        trips = self.round_trips
        if trips is not None and not trips.probing:
            trips.sent(len(self.pending))
        budget = self.budget
        if budget is None:
            pool.batch.write(self, frame)
        elif budget > 0 and not self.held:
            self.budget = budget - 1
            pool.batch.write(self, frame)
        else:
            self.held.append(frame)

    def refill(self, rate: int) -> None:
        """A new second: ``rate`` frames may be written; held ones go first."""
        held = self.held
        write = self.pool.batch.write
        budget = rate
        while held and budget > 0:
            write(self, held.popleft())
            budget -= 1
        self.budget = budget

    def dataReceived(self, data: bytes) -> None:
        pool = self.pool
        stats = pool.stats
        link = pool.link
        stats.peer_response_bytes += len(data)
        link.response_bytes += len(data)
        try:
            frames = self.parser.feed(data)
        except DnodeError as error:
            self._match(error.frames)
            pool.count_garbage()
            log.error("peer {peer} sent garbage: {error}", peer=pool.name, error=error)
            self.transport.abortConnection()
            return
        if frames:
            self._match(frames)
            stats.peer_responses += len(frames)
            link.responses += len(frames)
            if self.round_trips is not None:
                self.round_trips.answered(len(frames))

    def _match(self, frames: List[Frame]) -> None:
        pending = self.pending
        ids = self.ids
        if frames and self.pool.health.failures:
            self.pool.record_reply()
        for frame in frames:
            if frame[1] != DMSG_RES:
                continue  # nothing else is expected on a link we opened
            msg_id = frame[0]
            while ids:
                head = ids[0]
                if head == msg_id:
                    ids.popleft()
                    pending.popleft().deliver(frame[5])
                    break
                if msg_id < head:
                    self.pool.late_replies += 1  # its request was already failed
                    break
                # the peer skipped the head: Dynomite fails it and matches on
                ids.popleft()
                self.pool.mismatches += 1
                self.pool.stats.peer_mismatch_requests += 1
                pending.popleft().deliver(self.pool.failure_reply)
            else:
                self.pool.late_replies += 1

    def fail_pending(self) -> None:
        self.ids.clear()
        self.held.clear()
        super().fail_pending()


class PeerPool(BackendPool[PeerProtocol]):
    """``size`` connections to one peer.

    ``timeout_ms`` is the whole peer timeout as the caller computes it (Dynomite:
    ``timeout`` + 200 ms in the same DC, + 5000 ms across DCs). ``msg_ids`` is the
    node-wide message id counter. ``msg_rate`` (``conn_msg_rate``) limits the frames
    per second of each connection to a peer in another DC; 0 or less means no limit.
    ``health`` ejects the peer after failures (:mod:`dynotwist.core.ejection`);
    ``probe`` is the request (a PING in the cluster's datastore protocol) that tells
    whether an ejected peer answers again.

    While the pool's first connections are being made (at startup, at the first
    request without ``preconnect``, after a reset) requests wait for them, within their
    timeout. Otherwise a request finds the peer up or is refused at once
    (:meth:`send` returns False): not connected, or ejected.
    """

    role = "peer"
    admin_down = False  # set through the admin port (/peer/down): no requests sent


    @property
    def failure_reply(self) -> bytes:
        """What a request gets when the peer cannot answer it."""
        return self.replies.peer_refused

    def rtt_histograms(self) -> Sequence[Histogram]:
        stats = self.stats
        zone = stats.cross_zone_rtt if self.same_dc else stats.cross_region_rtt
        return (zone, self.link.rtt)

    def depth_histogram(self) -> Optional[Histogram]:
        stats = self.stats
        return stats.peer_out_queue_depth if self.same_dc else stats.remote_peer_out_queue_depth

    # -- counted: the node's peer counters and this peer's own (bytes and responses: by
    # the connections, inlined on the hot path) ------------------------------------
    def count_garbage(self) -> None:
        """Garbage from the peer, or a failed attempt to connect to it."""
        self.stats.peer_err += 1
        self.link.err += 1

    def requests_dropped(self, count: int) -> None:
        if self.same_dc:
            self.stats.peer_dropped_requests += count
        else:
            self.stats.remote_peer_dropped_requests += count
        self.link.dropped_requests += count

    def requests_timed_out(self, count: int) -> None:
        if self.same_dc:
            self.stats.peer_timedout_requests += count
        else:
            self.stats.remote_peer_timedout_requests += count
        self.link.timedout_requests += count

    def __init__(
        self,
        shared: PoolShared,
        peer: ring.Member,
        size: int,
        timeout_ms: int,
        same_dc: bool,
        msg_ids: Iterator[int],
        msg_rate: int = 50000,
        retry_cap_ms: int = PEER_RETRY_CAP_MS,
        dialer: Optional[Callable[[PeerPool], Any]] = None,
        health: Optional[Ejection] = None,
        probe: Optional[bytes] = None,
        link_up: Optional[Callable[[PeerPool], Any]] = None,
    ) -> None:
        # this peer's own counters, before the connections that record in them
        self.link: PeerStats = shared.stats.peer(peer.name, peer.dc, peer.rack)
        super().__init__(
            shared,
            Address(peer.host, peer.port),
            size,
            timeout_ms,
            retry_cap_ms,
            PeerProtocol,
            health,
        )
        # sent on a connection of its own while the peer is ejected (send_held's form)
        self.probe = (probe, DMSG_REQ, False) if probe is not None else None
        #: told when the pool's first connection is up (the node greets the peer)
        self.link_up = link_up
        #: makes each connection's endpoint (TLS or plaintext, from the node's address:
        #: net.peerlinks); None: plain TCP from any local address
        self.dialer = dialer
        self.peer = peer
        self.same_dc = same_dc
        self.same_dc_digit = 1 if same_dc else 0
        self.msg_ids = msg_ids
        self.msg_rate: Optional[int] = None if same_dc or msg_rate <= 0 else msg_rate
        #: replies whose id was past the head of the queue: requests failed (Dynomite's
        #: peer_mismatch_requests)
        self.mismatches = 0
        #: replies dropped because their request had been failed already
        self.late_replies = 0
        self._connect_on_first_use = False
        self.reachability.what = "peer " + self._describe()
        self._refiller: Optional[LoopingCall] = None
        if self.msg_rate is not None:
            self._refiller = LoopingCall(self._refill)
            self._refiller.clock = self.reactor

    def _endpoint(self) -> Any:
        if self.dialer is not None:
            return self.dialer(self)
        return super()._endpoint()

    @property
    def is_up(self) -> bool:
        """True while at least one connection to the peer is up (and the peer in)."""
        return bool(self.ready)

    @property
    def coming_up(self) -> bool:
        """True while the pool's first connections are being made: requests wait."""
        return bool(self._connecting) and not self.health.failures

    def frame(self, payload: bytes, msg_type: int, resp3: bool) -> Framed:
        """A request frame for this peer and its new message id: ``(msg_id, frame)``.

        The bytes depend on the payload, ``msg_type``, ``resp3`` and ``same_dc_digit``
        alone: one frame serves every peer that shares them (the copies of a request).
        Each connection matches replies by id in its own FIFO, so the same id on several
        peers' connections is unambiguous.
        """
        msg_id = next(self.msg_ids)
        flags = FLAG_RESP3 if resp3 else 0
        return msg_id, request_frame(msg_id, msg_type, flags, self.same_dc_digit, payload)

    def send(
        self,
        payload: bytes,
        slot: Slot,
        msg_type: int,
        resp3: bool,
        lane: int,
        framed: Optional[Framed] = None,
    ) -> bool:
        """Write a request (``DMSG_REQ`` or ``DMSG_REQ_FORWARD``) on the lane's connection,
        or keep it until the connection being made is up. ``framed`` is its frame, if
        already made by :meth:`frame` (of this pool or one with the same ``same_dc_digit``).

        False if the peer cannot take it: the caller answers
        ``errors.PEER_NOT_CONNECTED`` (or sends the request to another replica).
        """
        if self.admin_down:
            return False
        ready = self.ready
        if ready:
            if framed is None:
                framed = self.frame(payload, msg_type, resp3)
            ready[lane % len(ready)].send(framed, slot)
        else:
            if self._connect_on_first_use:  # preconnect: false
                self._connect_on_first_use = False
                self._connect_all()
            if not self.coming_up:
                return False
            self.hold(slot, (payload, msg_type, resp3))  # framed when sent: a newer id
        self.stats.peer_requests += 1
        self.link.requests += 1
        return True

    def send_gossip(self, payload: bytes, data: bytes) -> bool:
        """A GOSSIP_SYN frame on the first connection up (no reply is expected); False
        if none is up."""
        ready = self.ready
        if not ready:
            return False
        frame = encode_frame(
            next(self.msg_ids), GOSSIP_SYN, 0, self.same_dc_digit, payload, data=data
        )
        self.batch.write(ready[0], frame)
        return True

    def send_held(self, protocol: PeerProtocol, slot: Slot, request: Any) -> None:
        payload, msg_type, resp3 = request
        protocol.send(self.frame(payload, msg_type, resp3), slot)

    # -- life cycle -------------------------------------------------------------------
    def start(self, connect_now: bool = True) -> None:
        """Start ticking; connect now (``preconnect``) or at the first request.

        Without ``preconnect`` the first request finds the peer not connected (it
        is not queued) and starts the connections.
        """
        if self._started:
            return
        super().start(connect_now)
        self._connect_on_first_use = not connect_now
        if self._refiller is not None:
            self._refiller.start(1.0, now=False)

    def stop(self) -> None:
        if self._refiller is not None and self._refiller.running:
            self._refiller.stop()
        super().stop()

    def retire(self) -> None:
        """The peer left the ring (removed, or replaced by another address): no new
        requests; each connection closes once its requests are answered or timed out."""
        self.admin_down = True
        self._stopping = True
        for call in [*self._retry_calls, self._probe_call]:
            if call is not None and call.active():
                call.cancel()
        self._fail_waiting()
        self.after_tick()

    def after_tick(self) -> None:
        if not self._stopping or not self._ticker.running:
            return
        for connection in list(self.ready):
            if not connection.pending:
                self.ready.remove(connection)
                connection.transport.loseConnection()
        if not self.ready:
            self.stop()

    def _refill(self) -> None:
        rate = self.msg_rate
        if rate is None:
            return
        for connection in list(self.ready):
            connection.refill(rate)

    # -- log lines: connection life cycle at info ----------------------------------
    def _describe(self) -> str:
        peer = self.peer
        return "%s (%s/%s, %s:%d)" % (peer.name, peer.dc, peer.rack, peer.host, peer.port)

    def on_connected(self, protocol: PeerProtocol) -> None:
        log.info(
            "connected to peer {peer} (connection {index})",
            peer=self._describe(),
            index=protocol.slot_index,
        )

    def on_ready(self, protocol: PeerProtocol) -> None:
        if self.link_up is not None and len(self.ready) == 1:
            self.link_up(self)

    def on_connect_failed(self, reason: Failure) -> None:
        log.info(
            "cannot connect to peer {peer}: {reason}",
            peer=self._describe(),
            reason=reason.getErrorMessage(),
        )
        self.count_garbage()

    def on_lost(self, protocol: PeerProtocol) -> None:
        log.info(
            "lost connection {index} to peer {peer}",
            peer=self._describe(),
            index=protocol.slot_index,
        )
        self.stats.peer_eof += 1
        self.link.eof += 1

    ejected_means = "its requests go to other replicas"

    def on_ejected(self) -> None:
        super().on_ejected()
        stats = self.stats
        stats.peer_ejects += 1
        stats.peer_ejected_at = int(self.reactor.seconds() * 1000)

    def on_back_in(self) -> None:
        log.info("peer {peer} answers again: back in", peer=self._describe())

    def on_retry(self, index: int, delay: float) -> None:
        log.info(
            "reconnecting to peer {peer} (connection {index}) in {delay:g} s",
            peer=self._describe(),
            index=index,
            delay=delay,
        )

    def on_stalled(self, protocol: PeerProtocol) -> None:
        log.warn("peer {peer} stopped answering; reconnecting", peer=self._describe())
        if self.same_dc:
            self.stats.peer_timedout += 1
        else:
            self.stats.remote_peer_timedout += 1


# -- server side --------------------------------------------------------------------

_lanes = itertools.count(1)


class ServingNode(Protocol):
    """What the ``dyn_listen`` side needs of the node."""

    batch: WriteBatch
    replies: errors.Replies
    stats: Stats
    max_relayed_payload: int  # the largest payload a request frame may carry
    serving: Set[Any]  # the open DnodeServerProtocol connections (their replies due)

    def admit_relayed(self, payload: bytes) -> Union[Relayed, bytes]:
        """The frame's payload as one request the client port would accept, or the error
        reply that refuses it (answered to the peer in the response frame)."""

    def serve_local(self, request: Relayed, resp3: bool, slot: Slot, lane: int) -> None:
        """Send to the local datastore (through the node's state); ``slot`` is completed
        with its reply or with the error that stopped it."""

    def forward_to_local_dc(self, request: Relayed, resp3: bool, slot: Slot, lane: int) -> bool:
        """Send to every rack of this DC; complete ``slot`` with the local rack's reply.

        False if that cannot be done (answered ``errors.PEER_NOT_CONNECTED``).
        """

    def gossip_received(self, frame: Frame, sender: str) -> None:
        """A GOSSIP_SYN frame from the peer at address ``sender`` (no reply)."""


class DnodeServerProtocol(OrderedConnection):
    """A connection from another node on ``dyn_listen``.

    ``node`` is a :class:`ServingNode`. Each request's payload is admitted as the
    client port admits a client's request (exactly one request, the same command
    table and limits): a refused one is answered with its error in the response
    frame and nothing reaches the datastore. ``waiting`` holds a slot per request in
    arrival order and ``headers`` its ``(msg_id, flags, same_dc)`` for the response
    frame.
    """

    role = "peer"

    def __init__(self, node: ServingNode) -> None:
        super().__init__(node.batch)
        self.node = node
        self.parser = DnodeParser(node.max_relayed_payload)
        self.headers: Deque[Tuple[int, int, int]] = deque()
        self.lane = next(_lanes)
        if stats_enabled:
            self.depth = node.stats.dnode_client_out_queue_depth

    def connectionMade(self) -> None:
        super().connectionMade()
        if ITCPTransport.providedBy(self.transport):
            self.transport.setTcpKeepAlive(True)
        read_in_large_pieces(self.transport)  # a peer's frames: many clients' requests
        self.node.stats.dnode_client_connections += 1
        self.node.serving.add(self)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        super().connectionLost(reason)
        self.node.serving.discard(self)
        self.headers.clear()
        stats = self.node.stats
        stats.dnode_client_connections -= 1
        stats.dnode_client_eof += 1

    def frame(self, reply: bytes) -> bytes:
        msg_id, flags, same_dc = self.headers.popleft()
        return response_frame(msg_id, flags, same_dc, reply)

    # -- requests -------------------------------------------------------------------
    def received(self, data: bytes) -> None:
        try:
            frames = self.parser.feed(data)
        except DnodeError as error:
            self._serve(error.frames)
            self.node.stats.dnode_client_err += 1
            log.error("peer {peer} sent garbage: {error}", peer=self.describe_peer(), error=error)
            self.transport.abortConnection()
            return
        self._serve(frames)
        self.check_backlog()

    def _serve(self, frames: List[Frame]) -> None:
        node = self.node
        waiting = self.waiting
        headers = self.headers
        lane = self.lane
        for frame in frames:
            msg_type = frame[1]
            if msg_type != DMSG_REQ and msg_type != DMSG_REQ_FORWARD:
                if msg_type == GOSSIP_SYN:
                    node.gossip_received(frame, self.describe_peer())
                continue  # responses, crypto handshakes: no reply
            flags = frame[2]
            if flags & FLAG_ENCRYPTED:
                node.stats.dnode_client_err += 1
                log.error(
                    "peer {peer} sends encrypted dnode frames, which dynotwist does not"
                    " speak (use secure_server_option: none, or TLS); closing",
                    peer=self.describe_peer(),
                )
                self.closing = True
                self.transport.abortConnection()
                return
            resp3 = flags & FLAG_RESP3
            slot = Slot(self)
            waiting.append(slot)
            headers.append((frame[0], resp3, frame[4]))
            request = node.admit_relayed(frame[5])
            if isinstance(request, bytes):
                self.complete(slot, request)
            elif msg_type == DMSG_REQ:
                # the coordinator owns the decision: no token ownership check here
                node.serve_local(request, bool(resp3), slot, lane)
            elif not node.forward_to_local_dc(request, bool(resp3), slot, lane):
                self.complete(slot, node.replies.peer_not_connected)


class DnodeServerFactory(Factory):
    """The ``dyn_listen`` listener's factory."""

    protocol = DnodeServerProtocol
    noisy = False

    def __init__(self, node: ServingNode) -> None:
        self.node = node

    def buildProtocol(self, addr: object) -> DnodeServerProtocol:
        return self.protocol(self.node)

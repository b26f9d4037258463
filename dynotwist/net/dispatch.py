"""Carries coordinations out: each copy to the local datastore (through the node's
state) or to a peer's connection pool.

What the copies' replies make is decided in :mod:`dynotwist.core.coordinator`; here
only the sending happens: a slot per copy, owned by the coordination, on the right
connection, and the coordinator asked again when a peer (or the local datastore) cannot
take its copy: ejected or not connected. Requests answered by another replica for that
reason are counted in ``peer_failover_requests``; copies for a remote DC sent to
another of its racks in ``remote_peer_failover_requests``.
"""

from __future__ import annotations

from typing import AbstractSet, Callable, List, Mapping, Optional, Protocol, Sequence, Tuple

from dynotwist import errors
from dynotwist.core.coordinator import (
    Coordination,
    KeepHint,
    Merge,
    Send,
    undelivered_replies,
)
from dynotwist.core.readrepair import CleanupAfterDelete, RepairingRead, VersionedRead
from dynotwist.core.router import Plan
from dynotwist.core.slots import Slot
from dynotwist.core.stats import Stats
from dynotwist.proto.dnode import DMSG_REQ_FORWARD, Framed

__all__ = ["Dispatcher", "HintKeeper", "LocalDatastore", "PeerLink"]


class LocalDatastore(Protocol):
    """The way to this node's datastore (``net.gate.LocalGate``)."""

    def send(self, raw: bytes, slot: Slot, resp3: bool, lane: int, write: bool) -> bool:
        """False if the datastore cannot take the request (nothing was delivered)."""


class PeerLink(Protocol):
    """One peer's connections (``net.peer.PeerPool``)."""

    same_dc_digit: int  # the dnode header's same_dc field for this peer

    def frame(self, payload: bytes, msg_type: int, resp3: bool) -> Framed:
        """The request's frame, for every peer with this ``same_dc_digit``."""

    def send(self, payload: bytes, slot: Slot, msg_type: int, resp3: bool, lane: int,
             framed: Optional[Framed] = None) -> bool:
        """False if no connection can take the request; ``framed``: made by ``frame``."""


class HintKeeper(Protocol):
    """Where writes for unreachable peers are kept (``net.handoff.HintedHandoff``)."""

    @property
    def holding(self) -> AbstractSet[str]:
        """The peers with hints pending: a write's copy for one goes behind them."""

    def keep(self, hint: KeepHint) -> None: ...


class Dispatcher:
    def __init__(
        self,
        local: LocalDatastore,
        peers: Mapping[str, PeerLink],
        replies: errors.Replies,
        stats: Stats,
        handoff: Optional[HintKeeper] = None,
    ) -> None:
        self.local = local
        self.peers = peers
        self.replies = replies
        self.stats = stats  # peers that cannot take a copy, copies sent to an alternate
        #: hinted handoff (None: off): a write's copies that cannot reach a peer are kept
        self.handoff = handoff
        self._keep: Optional[Callable[[KeepHint], None]] = (
            handoff.keep if handoff is not None else None
        )
        self._undelivered = undelivered_replies(replies)

    def execute(
        self, plan: Plan, raw: bytes, client: Slot, resp3: bool, lane: int, write: bool
    ) -> None:
        """One request, as ``plan`` says; its answer goes to ``client``."""
        self.execute_parts(((plan, raw),), client, None, resp3, lane, write)

    def execute_parts(
        self,
        parts: Sequence[Tuple[Plan, bytes]],
        client: Slot,
        merge: Optional[Merge],
        resp3: bool,
        lane: int,
        write: bool,
    ) -> None:
        """A request made of parts (the fragments of a multi-key command), each its own
        plan; ``merge`` makes their answers one."""
        if write and self._keep is not None:
            coordination = Coordination(
                parts, client, merge, self.replies, self._keep, self._undelivered
            )
        else:
            coordination = Coordination(parts, client, merge, self.replies)
        self._send_all(coordination, coordination.start(), resp3, lane, write)

    def execute_read_repair(
        self, plan: Plan, raw: bytes, client: Slot, resp3: bool, lane: int, read: VersionedRead
    ) -> None:
        """A repairable read (``raw``, rewritten by the datastore kind): the client gets
        the newest value, stale replicas a repair write."""
        coordination = RepairingRead(
            plan, raw, client, read, self._detached(resp3, lane), self.replies
        )
        self._send_all(coordination, coordination.start(), resp3, lane, False)

    def execute_delete(
        self,
        plan: Plan,
        raw: bytes,
        client: Slot,
        resp3: bool,
        lane: int,
        cleanup: Sequence[bytes],
    ) -> None:
        """A timestamped delete: ``cleanup`` goes to every replica once all acknowledged."""
        coordination = CleanupAfterDelete(
            plan, raw, client, cleanup, self._detached(resp3, lane), self.replies,
            self._keep, self._undelivered,
        )
        self._send_all(coordination, coordination.start(), resp3, lane, True)

    def _detached(self, resp3: bool, lane: int) -> Callable[[List[Send]], None]:
        """Sends whose replies nobody waits for (repairs, cleanups: best effort)."""

        def send_all(sends: List[Send]) -> None:
            for send in sends:
                slot = Slot(None)
                if send.node.is_local:
                    self.local.send(send.raw, slot, resp3, lane, True)
                else:
                    pool = self.peers.get(send.node.name)  # None: it left the ring
                    if pool is not None:
                        pool.send(send.raw, slot, send.msg_type, resp3, lane)

        return send_all

    def _send_all(
        self, coordination: Coordination, sends: List[Send], resp3: bool, lane: int, write: bool
    ) -> None:
        local = self.local
        peers = self.peers
        handoff = self.handoff if write else None
        holding = handoff.holding if handoff is not None else ()
        # the last peer frame made: the copies of a part for peers alike share it
        framed: Optional[Framed] = None
        framed_raw: Optional[bytes] = None
        framed_kind = -1
        for send in sends:
            while True:
                copy, node, msg_type, raw = send
                slot = Slot(coordination, copy)
                if node.is_local:
                    if local.send(raw, slot, resp3, lane, write):
                        break
                    error = self.replies.datastore_refused
                else:
                    name = node.name
                    if name not in holding:  # else kept behind the peer's hints, in order
                        # None: the peer left the ring since the request was planned
                        pool = peers.get(name)
                        if pool is not None:
                            kind = msg_type << 1 | pool.same_dc_digit
                            if raw is not framed_raw or kind != framed_kind:
                                framed = pool.frame(raw, msg_type, resp3)
                                framed_raw = raw
                                framed_kind = kind
                            if pool.send(raw, slot, msg_type, resp3, lane, framed):
                                break
                        self.stats.peer_forward_error += 1
                    error = self.replies.peer_not_connected
                retry, answer = coordination.on_unreachable(copy, error)
                if answer is not None:
                    coordination.client.deliver(answer)
                if isinstance(retry, Send):
                    if retry.msg_type == DMSG_REQ_FORWARD:
                        self.stats.remote_peer_failover_requests += 1
                    send = retry
                    continue
                if retry is not None and handoff is not None:
                    handoff.keep(retry)
                break
        if coordination.failed_over:
            self.stats.peer_failover_requests += 1

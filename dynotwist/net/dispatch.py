"""Carries coordinations out: each copy to the local datastore (through the node's
state) or to a peer's connection pool.

What the copies' replies make is decided in :mod:`dynotwist.core.coordinator`; here
only the sending happens: a slot per copy, owned by the coordination, on the right
connection, and the coordinator asked again when a peer cannot take its copy.
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

__all__ = ["Dispatcher", "HintKeeper", "LocalDatastore", "PeerLink"]


class LocalDatastore(Protocol):
    """The way to this node's datastore (``net.gate.LocalGate``)."""

    def send(self, raw: bytes, slot: Slot, resp3: bool, lane: int, write: bool) -> None: ...


class PeerLink(Protocol):
    """One peer's connections (``net.peer.PeerPool``)."""

    def send(self, payload: bytes, slot: Slot, msg_type: int, resp3: bool, lane: int) -> bool:
        """False if no connection can take the request."""


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
        handoff: Optional[HintKeeper] = None,
    ) -> None:
        self.local = local
        self.peers = peers
        self.replies = replies
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
                    self.peers[send.node.name].send(send.raw, slot, send.msg_type, resp3, lane)

        return send_all

    def _send_all(
        self, coordination: Coordination, sends: List[Send], resp3: bool, lane: int, write: bool
    ) -> None:
        local = self.local
        peers = self.peers
        handoff = self.handoff if write else None
        holding = handoff.holding if handoff is not None else ()
        for send in sends:
            while True:
                slot = Slot(coordination, send.copy)
                node = send.node
                if node.is_local:
                    local.send(send.raw, slot, resp3, lane, write)
                    break
                if node.name not in holding and peers[node.name].send(
                    send.raw, slot, send.msg_type, resp3, lane
                ):
                    break
                retry, answer = coordination.on_unreachable(
                    send.copy, self.replies.peer_not_connected
                )
                if answer is not None:
                    coordination.client.deliver(answer)
                if isinstance(retry, Send):
                    send = retry
                    continue
                if retry is not None and handoff is not None:
                    handoff.keep(retry)
                break

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

from typing import List, Mapping, Optional, Protocol, Sequence, Tuple

from dynotwist import errors
from dynotwist.core.coordinator import Coordination, Merge, Send
from dynotwist.core.router import Plan
from dynotwist.core.slots import Slot
from dynotwist.core.stats import Stats
from dynotwist.proto.dnode import DMSG_REQ_FORWARD

__all__ = ["Dispatcher", "LocalDatastore", "PeerLink"]


class LocalDatastore(Protocol):
    """The way to this node's datastore (``net.gate.LocalGate``)."""

    def send(self, raw: bytes, slot: Slot, resp3: bool, lane: int, write: bool) -> bool:
        """False if the datastore cannot take the request (nothing was delivered)."""


class PeerLink(Protocol):
    """One peer's connections (``net.peer.PeerPool``)."""

    def send(self, payload: bytes, slot: Slot, msg_type: int, resp3: bool, lane: int) -> bool:
        """False if no connection can take the request."""


class Dispatcher:
    def __init__(
        self,
        local: LocalDatastore,
        peers: Mapping[str, PeerLink],
        replies: errors.Replies,
        stats: Stats,
    ) -> None:
        self.local = local
        self.peers = peers
        self.replies = replies
        self.stats = stats  # peers that cannot take a copy, copies sent to an alternate

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
        coordination = Coordination(parts, client, merge, self.replies)
        self._send_all(coordination, coordination.start(), resp3, lane, write)

    def _send_all(
        self, coordination: Coordination, sends: List[Send], resp3: bool, lane: int, write: bool
    ) -> None:
        local = self.local
        peers = self.peers
        replies = self.replies
        for send in sends:
            while True:
                slot = Slot(coordination, send.copy)
                node = send.node
                if node.is_local:
                    if local.send(send.raw, slot, resp3, lane, write):
                        break
                    error = replies.datastore_refused
                else:
                    # None: the peer left the ring since the request was planned
                    pool = peers.get(node.name)
                    if pool is not None and pool.send(send.raw, slot, send.msg_type, resp3, lane):
                        break
                    self.stats.peer_forward_error += 1
                    error = replies.peer_not_connected
                retry, answer = coordination.on_unreachable(send.copy, error)
                if answer is not None:
                    coordination.client.deliver(answer)
                if retry is None:
                    break
                if retry.msg_type == DMSG_REQ_FORWARD:
                    self.stats.remote_peer_failover_requests += 1
                send = retry
        if coordination.failed_over:
            self.stats.peer_failover_requests += 1

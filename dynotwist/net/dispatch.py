"""Carries out the router's plans: sends each copy, turns replies into one reply.

A plan's copies go to the local datastore or to peers. Under DC_ONE the first
copy's reply is the client's and the rest are fire-and-forget; under the quorum
levels a collector decides. A fragmented multi-key command runs each fragment as
its own plan and coalesces their replies in key order.

Everything reports back through the slot protocol: an owner's
``complete(slot, reply)``. Collectors and joins are owners too, so they compose.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, List, Optional, Sequence, Tuple

from dynotwist.core import consistency as levels
from dynotwist.core.coalesce import coalesce
from dynotwist.core.consistency import QuorumCollector
from dynotwist.core.router import Fragmented, Plan, Target
from dynotwist.net.datastore import Slot, complete_once
from dynotwist.proto.resp import encode_command

if TYPE_CHECKING:
    from dynotwist.service import Node


class _GroupOwner:
    """Feeds one DC group's replies to a collector; the decision completes ``slot``."""

    __slots__ = ("collector", "group", "slot")

    def __init__(self, collector: QuorumCollector, group: int, slot: Slot) -> None:
        self.collector = collector
        self.group = group
        self.slot = slot

    def complete(self, _: Slot, reply: bytes) -> None:
        decided = self.collector.add(self.group, reply)
        if decided is not None:
            complete_once(self.slot, decided)


class _Join:
    """Waits for every part's reply, then merges them into ``slot``."""

    def __init__(self, parts: int, slot: Slot, merge: Callable[[List[bytes]], bytes]) -> None:
        self.slot = slot
        self.merge = merge
        self.replies: List[Optional[bytes]] = [None] * parts
        self.missing = parts

    def part(self, index: int) -> _Part:
        return _Part(self, index)

    def arrived(self, index: int, reply: bytes) -> None:
        if self.replies[index] is None:
            self.replies[index] = reply
            self.missing -= 1
        if not self.missing:
            complete_once(self.slot, self.merge([r for r in self.replies if r is not None]))


class _Part:
    __slots__ = ("index", "join")

    def __init__(self, join: _Join, index: int) -> None:
        self.join = join
        self.index = index

    def complete(self, _: Slot, reply: bytes) -> None:
        self.join.arrived(self.index, reply)


class Dispatcher:
    def __init__(self, node: Node) -> None:
        self.node = node

    def execute(
        self,
        plan: Plan,
        raw: bytes,
        slot: Slot,
        resp3: bool,
        lane: int,
        write: bool,
        multi_key: bool = False,
    ) -> None:
        if plan.rewritten is not None:
            raw = encode_command(plan.rewritten)
        targets = plan.targets
        if plan.level == levels.DC_ONE:
            self.send(targets[0], raw, slot, resp3, lane, write)
            for target in targets[1:]:
                self.send(target, raw, Slot(None), resp3, lane, write)
            return
        replies = self.node.replies
        collector = QuorumCollector(
            plan.level,
            plan.group_sizes,
            multi_key=multi_key,
            is_error=replies.is_error,
            quorum_failed=replies.quorum_failed,
        )
        owners = [_GroupOwner(collector, g, slot) for g in range(len(plan.group_sizes))]
        for target in targets:
            group = target.group
            copy = Slot(owners[group] if group >= 0 else None)
            self.send(target, raw, copy, resp3, lane, write)

    def execute_fragmented(
        self, routed: Fragmented, slot: Slot, resp3: bool, lane: int, write: bool
    ) -> None:
        """A Redis multi-key command split by owner, coalesced in key order."""
        parts = [(plan, encode_command(args)) for args, plan in routed.fragments]

        def merge(replies: List[bytes]) -> bytes:
            return coalesce(routed.command, replies, routed.positions)

        self.execute_parts(parts, slot, merge, resp3, lane, write)

    def execute_parts(
        self,
        parts: Sequence[Tuple[Plan, bytes]],
        slot: Slot,
        merge: Callable[[List[bytes]], bytes],
        resp3: bool,
        lane: int,
        write: bool,
    ) -> None:
        """Several requests, each its own plan; ``merge`` makes their replies one."""
        join = _Join(len(parts), slot, merge)
        for index, (plan, raw) in enumerate(parts):
            self.execute(plan, raw, Slot(join.part(index)), resp3, lane, write, multi_key=True)

    def send(
        self, target: Target, raw: bytes, slot: Slot, resp3: bool, lane: int, write: bool
    ) -> None:
        """One copy to one node; a copy that cannot leave gets Dynomite's error."""
        node = self.node
        peer = target.node
        if peer.is_local:
            node.gate.send(raw, slot, resp3, lane, write)
            return
        peers = node.peers
        if peers[peer.name].send(raw, slot, target.msg_type, resp3, lane):
            return
        for alternate in target.alternates:
            if peers[alternate.name].send(raw, slot, target.msg_type, resp3, lane):
                return
        complete_once(slot, node.replies.peer_not_connected)

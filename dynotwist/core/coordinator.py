"""The coordinator: the copies of one client request, and the one reply they make.

Sans-I/O. The router says where a request goes: a :class:`~dynotwist.core.router.Plan`
(its copies: targets per rack and DC, and how their replies count) or, for a
multi-key command split by owner, one plan per part. A :class:`Coordination` carries
one request from there, as a state machine fed events and returning commands:

- :meth:`Coordination.start` -> the :class:`Send` of every copy;
- :meth:`Coordination.on_reply` (a copy's reply, or the error standing for it: a
  timeout or a lost connection reach the coordinator as their error reply, which the
  connection pools deliver) -> the client's answer, once decided;
- :meth:`Coordination.on_unreachable` (a copy could not even be sent: its node is
  ejected or not connected) -> a :class:`Send` to the copy's next alternate, or the
  answer that the failure decides, and for a write with hinted handoff on, a
  :class:`KeepHint` once no alternate is left;
- :meth:`Coordination.undelivered` (a copy's reply says the peer never took it: the
  peer's connection timed out or went away, or its datastore refused) -> the
  :class:`KeepHint` of that copy, for a write with hinted handoff on.

How replies decide, per part: under DC_ONE the first target's reply is the part's and
the other copies (other racks, other DCs) are fire-and-forget; under the quorum levels
a :class:`~dynotwist.core.consistency.QuorumCollector` decides over the part's groups.

Failover under DC_ONE: when the copy whose reply is the part's cannot be sent, a read
goes to its target's alternates (the owners in the other racks, then the other DCs);
a write, already on its way to the other racks, takes the reply of the next copy
(another rack of this DC first, then the remote DC's) instead of sending a duplicate.
``failed_over`` counts both. Under the quorum levels an unreachable copy counts as
failed at once.
The answer is the one part's decision, or ``merge`` of every part's, in part order.
Each copy counts once: a reply after a timeout already counted for it, or after the
answer, is dropped.

The network layer owns the slots: it gives every copy a slot owned by the
coordination (``Slot(coordination, copy)``), and :meth:`Coordination.complete`, the
:class:`~dynotwist.core.slots.ReplyOwner` side, hands the decided answer to the
client's slot, and the hints it makes to ``keep_hint``.
"""

from __future__ import annotations

from typing import Callable, FrozenSet, List, NamedTuple, Optional, Sequence, Tuple, Union

from dynotwist import errors
from dynotwist.core import consistency as levels
from dynotwist.core.consistency import QuorumCollector
from dynotwist.core.ring import Member
from dynotwist.core.router import Plan, Target
from dynotwist.core.slots import Slot

__all__ = ["Coordination", "KeepHint", "Merge", "Send", "undelivered_replies"]

Merge = Callable[[List[bytes]], bytes]


class Send(NamedTuple):
    """Send ``raw`` (copy number ``copy`` of the request) to ``node``: the local node
    means the local datastore; a peer gets a dnode frame of type ``msg_type``."""

    copy: int
    node: Member
    msg_type: int
    raw: bytes


class KeepHint(NamedTuple):
    """Keep ``raw`` (copy ``copy`` of a write) for the peer ``node``, which could not
    take it, and replay it as a dnode frame of ``msg_type`` once it can
    (``dynotwist.core.hints``)."""

    copy: int
    node: Member
    msg_type: int
    raw: bytes


# makes a Send without the Python-level __new__ of a NamedTuple: one per copy
_tuple_new = tuple.__new__


def undelivered_replies(replies: errors.Replies) -> FrozenSet[bytes]:
    """The replies that say a copy never reached the peer's datastore: the pool's own
    (timeout, lost connection, not connected) and the peer's datastore refusal."""
    return frozenset(
        (replies.peer_refused, replies.peer_not_connected, replies.datastore_refused)
    )


class Coordination:
    """One client request in flight: its copies, their replies, its answer."""

    __slots__ = (
        "_answering",
        "_collectors",
        "_counted",
        "_errors",
        "_keep_hint",
        "_merge",
        "_next_alternate",
        "_part_of",
        "_raws",
        "_results",
        "_targets",
        "_undecided",
        "_undelivered",
        "answered",
        "client",
        "failed_over",
    )

    def __init__(
        self,
        parts: Sequence[Tuple[Plan, bytes]],
        client: Slot,
        merge: Optional[Merge] = None,
        replies: errors.Replies = errors.RESP,
        keep_hint: Optional[Callable[[KeepHint], None]] = None,
        undelivered: FrozenSet[bytes] = frozenset(),
    ) -> None:
        """``parts``: each part's plan and request bytes (one part, or the fragments
        of a multi-key command, whose answers ``merge`` makes one). ``keep_hint``
        (a write, with hinted handoff on) is given the copies for peers that could
        not take them, as ``undelivered`` replies (:func:`undelivered_replies`) say."""
        self.client = client
        self._merge = merge
        self._errors = replies
        self._keep_hint = keep_hint
        self._undelivered = undelivered
        if len(parts) == 1:  # most requests: the plan's targets are the copies
            plan, raw = parts[0]
            self._raws: Sequence[bytes] = (raw,)
            self._targets: Sequence[Target] = plan.targets  # shared with the plan
            self._part_of: Sequence[int] = bytes(len(plan.targets))  # all part 0
            self._collectors: List[Optional[QuorumCollector]] = [
                None if plan.level == levels.DC_ONE else self._collector(plan, replies, False)
            ]
        else:
            raws: List[bytes] = []
            targets: List[Target] = []
            part_of: List[int] = []
            self._raws, self._targets, self._part_of = raws, targets, part_of
            self._collectors = []
            for index, (plan, raw) in enumerate(parts):
                raws.append(raw)
                targets.extend(plan.targets)
                part_of.extend([index] * len(plan.targets))
                self._collectors.append(
                    None if plan.level == levels.DC_ONE else self._collector(plan, replies, True)
                )
        self._results: List[Optional[bytes]] = [None] * len(parts)
        self._undecided = len(parts)
        self._counted = bytearray(len(self._targets))
        self._next_alternate: Optional[List[int]] = None
        # per DC_ONE part, the copy whose reply answers once the first one failed over
        self._answering: Optional[List[int]] = None
        self.answered = False
        #: copies that answer in place of an unreachable one (alternates, other racks)
        self.failed_over = 0

    @staticmethod
    def _collector(plan: Plan, replies: errors.Replies, multi_key: bool) -> QuorumCollector:
        return QuorumCollector(
            plan.level,
            plan.group_sizes,
            multi_key=multi_key,
            is_error=replies.is_error,
            quorum_failed=replies.quorum_failed,
        )

    @property
    def targets(self) -> Sequence[Target]:
        """Every copy's target, by copy number."""
        return self._targets

    def counted(self, copy: int) -> bool:
        """Copy ``copy``'s reply (or the error standing for it) was counted."""
        return bool(self._counted[copy])

    def count(self, copy: int) -> None:
        self._counted[copy] = 1

    def is_error(self, reply: bytes) -> bool:
        return self._errors.is_error(reply)

    def _quorum_failed(self) -> bytes:
        return self._errors.quorum_failed

    # -- events in, commands out -------------------------------------------------------
    def start(self) -> List[Send]:
        """Every copy to its first target."""
        raws = self._raws
        part_of = self._part_of
        return [  # target[0], target[1]: its node and msg_type (indexing is the quicker)
            _tuple_new(Send, (copy, target[0], target[1], raws[part_of[copy]]))
            for copy, target in enumerate(self._targets)
        ]

    def on_reply(self, copy: int, reply: bytes) -> Optional[bytes]:
        """Copy ``copy``'s reply (or the error standing for it); the client's answer if
        this reply decides it, else None."""
        counted = self._counted
        if counted[copy]:
            return None  # late: this copy already counted
        counted[copy] = 1
        group = self._targets[copy].group
        answering = self._answering
        if answering is not None and answering[self._part_of[copy]] >= 0:
            group = 0 if copy == answering[self._part_of[copy]] else -1
        if group < 0 or self.answered:
            return None  # fire-and-forget, or decided already
        part = self._part_of[copy]
        results = self._results
        if results[part] is not None:
            return None
        collector = self._collectors[part]
        decision = reply if collector is None else collector.add(group, reply)
        if decision is None:
            return None
        results[part] = decision
        self._undecided -= 1
        if self._undecided:
            return None
        self.answered = True
        if self._merge is None:
            return decision
        return self._merge([r for r in results if r is not None])

    def on_unreachable(
        self, copy: int, error: bytes
    ) -> Tuple[Union[Send, KeepHint, None], Optional[bytes]]:
        """Copy ``copy`` could not be sent: the send to its next alternate (the other
        racks of a remote DC, in order), or, once none is left, ``error`` counted as
        its reply (and the answer, if that decides it), with the copy's
        :class:`KeepHint` for its first target when hints are kept."""
        target = self._targets[copy]
        if target.alternates:
            tried = self._next_alternate
            if tried is None:
                tried = self._next_alternate = [0] * len(self._targets)
            index = tried[copy]
            if index < len(target.alternates):
                tried[copy] = index + 1
                if target.group >= 0:
                    self.failed_over += 1
                raw = self._raws[self._part_of[copy]]
                return Send(copy, target.alternates[index], target.msg_type, raw), None
        hint = None
        if self._keep_hint is not None and not target.node.is_local:
            hint = KeepHint(copy, target.node, target.msg_type, self._raws[self._part_of[copy]])
        if self._answers_dc_one_part(copy) and self._answer_from_another_copy(copy):
            self._counted[copy] = 1
            self.failed_over += 1
            return hint, None
        return hint, self.on_reply(copy, error)

    def undelivered(self, copy: int, reply: bytes) -> Optional[KeepHint]:
        """The hint to keep for copy ``copy`` if ``reply`` says its peer never took it
        (and hints are kept); else None."""
        if self._keep_hint is None or reply not in self._undelivered:
            return None
        target = self._targets[copy]
        node = target.node
        tried = self._next_alternate
        if tried is not None and tried[copy]:
            node = target.alternates[tried[copy] - 1]  # the alternate it was sent to
        if node.is_local:
            return None
        return KeepHint(copy, node, target.msg_type, self._raws[self._part_of[copy]])

    def _answers_dc_one_part(self, copy: int) -> bool:
        part = self._part_of[copy]
        if self._collectors[part] is not None or self._results[part] is not None:
            return False
        answering = self._answering
        if answering is not None and answering[part] >= 0:
            return copy == answering[part]
        return self._targets[copy].group >= 0

    def _answer_from_another_copy(self, failed: int) -> bool:
        """Let the next copy of ``failed``'s part, not yet answered, answer in its
        place (targets are in order: the other racks of this DC, then other DCs)."""
        part = self._part_of[failed]
        part_of = self._part_of
        counted = self._counted
        for copy in range(len(self._targets)):
            if copy != failed and part_of[copy] == part and not counted[copy]:
                if self._answering is None:
                    self._answering = [-1] * len(self._results)
                self._answering[part] = copy
                return True
        return False

    # -- the ReplyOwner side -----------------------------------------------------------
    def complete(self, slot: Slot, reply: bytes) -> None:
        keep_hint = self._keep_hint
        if keep_hint is not None and reply in self._undelivered:
            hint = self.undelivered(slot.copy, reply)
            if hint is not None:
                keep_hint(hint)
        answer = self.on_reply(slot.copy, reply)
        if answer is not None:
            self.client.deliver(answer)

"""Read repair: replicas' timestamped replies in, the client's answer and repair writes
out (reference 3.6).

With read repair on, a datastore kind rewrites writes so that each replica records the
coordinator's timestamp of the last write of every key (or field), and rewrites
repairable reads so that each replica answers with a :class:`Versioned` reply: its
status (:data:`EXISTS`, :data:`REMOVED` — a tombstone — or :data:`UNKNOWN`, no
timestamp), that timestamp, and the value the client would get. The kind parses such
replies and builds the write that brings a replica to a given version
(:class:`VersionedRead`); this module decides, kind-neutral and pure:

- :func:`decide`: the newest reply (largest timestamp, the first one on a tie) and the
  replicas that are behind it: an older timestamp, or none at all (Dynomite skips the
  latter; a replica that missed the write altogether answers :data:`UNKNOWN`, and is
  the one most in need of repair);
- :class:`RepairingRead`, the coordination of such a read: the client gets the value
  of a quorum of identical replies, else, once every reply is in, the newest value;
  once every reply is in, each stale replica is sent the repair write;
- :class:`CleanupAfterDelete`, the coordination of a timestamped delete: once every
  replica acknowledged it, the tombstones it left are removed (best effort).
"""

from __future__ import annotations

from typing import Callable, FrozenSet, List, NamedTuple, Optional, Protocol, Sequence, Tuple

from dynotwist import errors
from dynotwist.core import consistency as levels
from dynotwist.core.consistency import quorum_of
from dynotwist.core.coordinator import Coordination, KeepHint, Send
from dynotwist.core.router import Plan
from dynotwist.core.slots import Slot

__all__ = [
    "EXISTS",
    "REMOVED",
    "UNKNOWN",
    "CleanupAfterDelete",
    "RepairDecision",
    "RepairingRead",
    "Versioned",
    "VersionedRead",
    "decide",
    "repairable",
]

EXISTS = b"E"  # the value exists; the timestamp is its last write's
REMOVED = b"R"  # deleted; the timestamp is the delete's (a tombstone)
UNKNOWN = b"X"  # no timestamp recorded for it


class Versioned(NamedTuple):
    """One replica's answer to a repairable read."""

    status: bytes  # EXISTS, REMOVED or UNKNOWN
    timestamp: int  # ms (0 with UNKNOWN)
    value: bytes  # the reply the client gets from it, in the client's protocol


class VersionedRead(Protocol):
    """What the datastore kind knows of one repairable read."""

    def parse(self, reply: bytes) -> Optional[Versioned]:
        """A replica's reply as a version; None if it is not one (an error)."""

    def repair(self, winner: Versioned) -> bytes:
        """The request that makes a replica hold ``winner``, with its timestamp."""


class RepairDecision(NamedTuple):
    winner: Optional[int]  # index of the newest version; None: nothing is timestamped
    stale: Tuple[int, ...]  # indexes of the versions behind it


def decide(versions: Sequence[Optional[Versioned]]) -> RepairDecision:
    """The newest of ``versions`` (None: no usable reply from that replica) and the
    replicas behind it."""
    winner: Optional[int] = None
    newest = -1
    for index, version in enumerate(versions):
        if version is None or version.status == UNKNOWN:
            continue
        if version.timestamp > newest:
            winner, newest = index, version.timestamp
    if winner is None:
        return RepairDecision(None, ())
    stale = tuple(
        index
        for index, version in enumerate(versions)
        if version is not None and (version.status == UNKNOWN or version.timestamp < newest)
    )
    return RepairDecision(winner, stale)


def repairable(plan: Plan) -> bool:
    """A read planned as this can be repaired: a quorum level over the local DC alone
    (EACH_SAFE_QUORUM reads are left as they are)."""
    return plan.level in (levels.DC_QUORUM, levels.DC_SAFE_QUORUM) and len(plan.group_sizes) == 1


Repairs = Callable[[List[Send]], None]


class RepairingRead(Coordination):
    """A repairable read's copies (one part, one DC group): see the module docstring.

    ``repairs`` is given the repair writes once every reply is in.
    """

    __slots__ = ("_expected", "_quorum", "_read", "_received", "_repairs", "_replies",
                 "_safe", "_versions")

    def __init__(self, plan: Plan, raw: bytes, client: Slot, read: VersionedRead,
                 repairs: Repairs, replies: errors.Replies = errors.RESP) -> None:
        super().__init__([(plan, raw)], client, None, replies)
        self._read = read
        self._repairs = repairs
        self._expected = len(plan.targets)
        self._quorum = quorum_of(self._expected)
        self._safe = plan.level == levels.DC_SAFE_QUORUM
        self._replies: List[Optional[bytes]] = [None] * self._expected
        self._versions: List[Optional[Versioned]] = [None] * self._expected
        self._received = 0

    def on_reply(self, copy: int, reply: bytes) -> Optional[bytes]:
        if self.counted(copy):
            return None
        self.count(copy)
        self._replies[copy] = reply
        version = self._read.parse(reply)
        self._versions[copy] = version
        self._received += 1
        answer = None
        if not self.answered:
            answer = self._answer(reply, version)
            self.answered = answer is not None
        if self._received == self._expected:
            self._repair()
        return answer

    def _answer(self, reply: bytes, version: Optional[Versioned]) -> Optional[bytes]:
        versions = self._versions
        replies = self._replies
        if version is not None:
            same = sum(1 for i, v in enumerate(versions) if v is not None and replies[i] == reply)
            if same >= self._quorum:
                return version.value
        good = sum(1 for v in versions if v is not None)
        pending = self._expected - self._received
        if good + pending < self._quorum:
            return next(r for r, v in zip(replies, versions) if r is not None and v is None)
        if pending:
            return None
        winner = decide(versions).winner
        if winner is not None:
            chosen = versions[winner]
            assert chosen is not None
            return chosen.value
        if self._safe:
            return self._quorum_failed()
        return next(v.value for v in versions if v is not None)

    def _repair(self) -> None:
        decision = decide(self._versions)
        if decision.winner is None or not decision.stale:
            return
        winner = self._versions[decision.winner]
        assert winner is not None
        raw = self._read.repair(winner)
        targets = self.targets
        self._repairs([
            Send(index, targets[index].node, targets[index].msg_type, raw)
            for index in decision.stale
        ])


class CleanupAfterDelete(Coordination):
    """A timestamped delete: once every copy is answered, and none with an error,
    ``cleanup`` (the requests that drop the tombstones) goes to every replica."""

    __slots__ = ("_cleanup", "_failed", "_received", "_repairs")

    def __init__(self, plan: Plan, raw: bytes, client: Slot, cleanup: Sequence[bytes],
                 repairs: Repairs, replies: errors.Replies = errors.RESP,
                 keep_hint: Optional[Callable[[KeepHint], None]] = None,
                 undelivered: FrozenSet[bytes] = frozenset()) -> None:
        super().__init__([(plan, raw)], client, None, replies, keep_hint, undelivered)
        self._cleanup = cleanup
        self._repairs = repairs
        self._received = 0
        self._failed = False

    def on_reply(self, copy: int, reply: bytes) -> Optional[bytes]:
        if self.counted(copy):
            return None
        answer = super().on_reply(copy, reply)
        self._received += 1
        if self.is_error(reply):
            self._failed = True
        targets = self.targets
        if self._received == len(targets) and not self._failed:
            self._repairs([
                Send(index, target.node, target.msg_type, raw)
                for index, target in enumerate(targets)
                for raw in self._cleanup
            ])
        return answer

"""Slots: a request awaiting its reply, and the one rule for delivering it.

A slot is queued wherever a request waits (a datastore or peer connection's FIFO, a
held write, a client connection's replies in order). Whoever has the reply calls
``slot.deliver(reply)``: the owner is cleared first, so a slot is completed at most
once, whichever of a reply, an error, a timeout or a closed connection comes first;
what comes later finds no owner and is dropped. No Deferred per request: a slot is a
plain object.
"""

from __future__ import annotations

from typing import List, Optional, Protocol


class ReplyOwner(Protocol):
    """Who is told a slot's reply: a client connection, a coordination, a handshake."""

    def complete(self, slot: Slot, reply: bytes) -> None:
        """``reply`` for ``slot``, delivered once."""


class Slot:
    """One awaited reply.

    ``copy`` tells a coordination which of a request's copies the slot is for;
    ``tick`` is when it was sent (timeouts), ``started`` when the client's request was
    read (latency), ``write`` whether the request sent writes (the datastore's replies
    are counted as read or write responses); ``reply`` holds a reply that arrived
    before its turn.
    """

    __slots__ = ("copy", "owner", "reply", "started", "tick", "write")

    def __init__(self, owner: Optional[ReplyOwner], copy: int = 0) -> None:
        self.owner = owner
        self.copy = copy
        self.reply: Optional[bytes] = None
        self.tick = 0
        self.started = 0.0
        self.write = False

    def deliver(self, reply: bytes) -> None:
        """Hand ``reply`` to the owner, unless the slot was completed already."""
        owner = self.owner
        if owner is not None:
            self.owner = None
            owner.complete(self, reply)

    def forget(self) -> None:
        """Nobody waits for the reply any more (the client went away)."""
        self.owner = None


class Gather:
    """The owner of the slots of a request that draws several replies (a transaction:
    MULTI, its commands, EXEC): once the last is in, their concatenation is ``slot``'s
    reply. A failure delivered to the slots instead (a timeout, a lost connection)
    ends the concatenation, so it is the last reply the owner sees."""

    __slots__ = ("_parts", "_remaining", "slot")

    def __init__(self, slot: Slot, count: int) -> None:
        self.slot = slot
        self._parts: List[bytes] = []
        self._remaining = count

    def slots(self) -> List[Slot]:
        """One slot per expected reply, sent as ``slot`` was (tick, write)."""
        made = []
        for _ in range(self._remaining):
            part = Slot(self)
            part.tick = self.slot.tick
            part.write = self.slot.write
            made.append(part)
        return made

    def complete(self, slot: Slot, reply: bytes) -> None:
        self._parts.append(reply)
        self._remaining -= 1
        if not self._remaining:
            self.slot.deliver(b"".join(self._parts))

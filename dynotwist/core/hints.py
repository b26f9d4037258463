"""Hinted handoff's store: replica writes kept for a peer that could not take them.

A coordinator whose copy of a write cannot reach a peer (not connected, timed out,
refused) keeps it as a :class:`Hint` for that peer, stamped with the coordinator's
clock, and replays it, in order, once the peer is reachable again
(``dynotwist.net.handoff``).

:class:`HintQueue` is one peer's hints, oldest first. Every hint is appended to the
peer's :class:`Journal` as it is stored (write-through: a restart, even a crash of the
process, keeps it); the oldest ones are also held in memory, up to ``memory_limit``
bytes of payload, ready to be replayed. Hints beyond that bound are on the journal only
("spilled") and are read back, in order, as the ones in memory are acknowledged. The
journal itself is bounded by ``disk_limit`` bytes: a hint that would pass it is dropped
(counted). A hint older than ``window_ms`` when its turn comes is dropped as expired
(counted), never replayed.

Replay is a window over the head of the queue: :meth:`HintQueue.take` hands out the
next hints, :meth:`HintQueue.acknowledge` retires the oldest ones once the peer has
answered them (the journal then releases them: ``dynotwist.net.hintfiles`` deletes
what it no longer needs), :meth:`HintQueue.retry` puts the unanswered ones back.

Pure: no Twisted, no files. The clock and the journal are given.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from typing import Any, Callable, Deque, List, NamedTuple, Optional, Protocol, Tuple

__all__ = [
    "DEFAULT_DISK_LIMIT",
    "DEFAULT_MEMORY_LIMIT",
    "Cursor",
    "Hint",
    "HintQueue",
    "Journal",
    "RecordError",
    "decode_record",
    "encode_record",
]

#: payload bytes of one peer's hints held in memory
DEFAULT_MEMORY_LIMIT = 8 << 20
#: bytes of one peer's journal; hints past it are dropped
DEFAULT_DISK_LIMIT = 1 << 30

Cursor = Tuple[int, int]
"""A place in a journal, after a record: compared as journals order them."""


class Hint(NamedTuple):
    """A copy of a write for a peer: sent again as a dnode frame of ``msg_type``."""

    timestamp: int  # ms since the epoch, the coordinator's clock when it was stored
    msg_type: int
    payload: bytes


# -- the record format ---------------------------------------------------------------------
#
#   length (4 bytes, big-endian: what follows, CRC included)
#   timestamp (8 bytes, ms)   msg_type (1 byte)   payload   CRC32 of timestamp..payload (4)

_HEAD = struct.Struct(">I")
_FIELDS = struct.Struct(">QB")
_CRC = struct.Struct(">I")
HEADER_SIZE = _HEAD.size
_MIN_LENGTH = _FIELDS.size + _CRC.size


class RecordError(ValueError):
    """Bytes that are not a whole, intact record (a torn write, a damaged file)."""


def encode_record(hint: Hint) -> bytes:
    body = _FIELDS.pack(hint.timestamp, hint.msg_type) + hint.payload
    return _HEAD.pack(len(body) + _CRC.size) + body + _CRC.pack(zlib.crc32(body))


def record_length(head: bytes) -> int:
    """The length of the whole record whose first :data:`HEADER_SIZE` bytes are ``head``."""
    (length,) = _HEAD.unpack(head)
    if length < _MIN_LENGTH:
        raise RecordError("record length %d is too small" % length)
    return HEADER_SIZE + length


def decode_record(record: bytes) -> Hint:
    """One whole record -> its hint; :class:`RecordError` if damaged."""
    if len(record) < HEADER_SIZE + _MIN_LENGTH or record_length(record[:HEADER_SIZE]) != len(
        record
    ):
        raise RecordError("a record of %d bytes is cut short" % len(record))
    body = record[HEADER_SIZE : -_CRC.size]
    (crc,) = _CRC.unpack(record[-_CRC.size :])
    if zlib.crc32(body) != crc:
        raise RecordError("record checksum mismatch")
    timestamp, msg_type = _FIELDS.unpack_from(body)
    return Hint(timestamp, msg_type, body[_FIELDS.size :])


# -- the queue -----------------------------------------------------------------------------


class Journal(Protocol):
    """Where one peer's records are kept (``dynotwist.net.hintfiles.FileJournal``)."""

    def append(self, record: bytes) -> Cursor:
        """Keep ``record`` after the others; the cursor after it. OSError if it cannot."""

    def read(self, after: Optional[Cursor], max_bytes: int) -> List[Tuple[bytes, Cursor]]:
        """Intact records after ``after`` (None: the first not yet released), each with
        the cursor after it, about ``max_bytes`` of them (at least one if any)."""

    def release(self, through: Cursor) -> None:
        """Every record up to ``through`` is done with: it need not be kept."""


class HintCounters(Protocol):
    """Where a queue counts (``dynotwist.core.stats.PeerStats``)."""

    hints_stored: int
    hints_replayed: int
    hints_expired: int
    hints_dropped: int


class HintQueue:
    """One peer's hints, oldest first (see the module's docstring)."""

    def __init__(
        self,
        journal: Journal,
        now: Callable[[], float],
        window_ms: int,
        counters: HintCounters,
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        disk_limit: int = DEFAULT_DISK_LIMIT,
    ) -> None:
        self._journal = journal
        self._now = now
        self.window_ms = window_ms
        self.counters = counters
        self.memory_limit = memory_limit
        self.disk_limit = disk_limit
        # the oldest hints, each with its record's size and the cursor after it
        self._memory: Deque[Tuple[Hint, int, Cursor]] = deque()
        self._memory_bytes = 0
        self._in_flight = 0  # the first hints of _memory, handed out by take()
        self._spilled = 0  # hints after those in memory, on the journal only
        self._read_from: Optional[Cursor] = None  # where the spilled ones start
        self.pending_bytes = 0  # journal bytes of the hints not yet retired

    # -- reading what a journal holds (a restart) -----------------------------------------
    def load(self) -> int:
        """Take in the hints the journal already holds; how many."""
        found = 0
        after: Optional[Cursor] = None
        while True:
            records = self._journal.read(after, self.memory_limit)
            if not records:
                return found
            for record, cursor in records:
                hint = decode_record(record)
                found += 1
                self.pending_bytes += len(record)
                if not self._spilled and self._fits(hint):
                    self._keep(hint, len(record), cursor)
                else:
                    if not self._spilled:
                        self._read_from = after
                    self._spilled += 1
                after = cursor

    # -- storing ----------------------------------------------------------------------------
    @property
    def pending(self) -> int:
        """Hints not yet acknowledged, expired or dropped."""
        return len(self._memory) + self._spilled

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def now_ms(self) -> int:
        return int(self._now() * 1000)

    def add(self, msg_type: int, payload: bytes) -> bool:
        """Keep a hint stamped now; False if it was dropped (bounds, journal error)."""
        hint = Hint(self.now_ms(), msg_type, payload)
        record = encode_record(hint)
        if self.pending_bytes + len(record) > self.disk_limit:
            self.counters.hints_dropped += 1
            return False
        try:
            cursor = self._journal.append(record)
        except OSError:
            self.counters.hints_dropped += 1
            raise
        self.counters.hints_stored += 1
        self.pending_bytes += len(record)
        if not self._spilled and self._fits(hint):
            self._keep(hint, len(record), cursor)
        else:
            if not self._spilled:
                self._read_from = self._memory[-1][2] if self._memory else None
            self._spilled += 1
        return True

    def _fits(self, hint: Hint) -> bool:
        # one hint is always held, however large, so that replay can make progress
        return not self._memory or self._memory_bytes + len(hint.payload) <= self.memory_limit

    def _keep(self, hint: Hint, size: int, cursor: Cursor) -> None:
        self._memory.append((hint, size, cursor))
        self._memory_bytes += len(hint.payload)

    # -- replaying ----------------------------------------------------------------------------
    def take(self, count: int) -> List[Hint]:
        """Up to ``count`` hints to send next, after those already handed out.

        Hints past the window are dropped first (counted as expired): hints are kept
        in the order they were stamped, so the expired ones are always the oldest.
        """
        if not self._in_flight:
            self._expire()
        memory = self._memory
        start = self._in_flight
        if start >= len(memory):
            self._refill()
        oldest_allowed = self.now_ms() - self.window_ms
        taken: List[Hint] = []
        index = start
        while len(taken) < count and index < len(memory):
            hint = memory[index][0]
            if hint.timestamp < oldest_allowed:
                break  # expired behind hints in flight: dropped once they are answered
            taken.append(hint)
            index += 1
        self._in_flight += len(taken)
        return taken

    def acknowledge(self, count: int = 1) -> None:
        """The peer answered the ``count`` oldest hints handed out: retired."""
        if count > self._in_flight:
            raise ValueError("%d acknowledged, %d in flight" % (count, self._in_flight))
        self._in_flight -= count
        self.counters.hints_replayed += count
        self._retire(count)

    def retry(self) -> None:
        """The hints handed out were not answered: they go out again, first."""
        self._in_flight = 0

    def expire(self) -> int:
        """Drop the hints past the window now (none while some are in flight)."""
        if self._in_flight:
            return 0
        return self._expire()

    def _expire(self) -> int:
        oldest_allowed = self.now_ms() - self.window_ms
        total = 0
        while True:
            memory = self._memory
            count = 0
            while count < len(memory) and memory[count][0].timestamp < oldest_allowed:
                count += 1
            if not count:
                return total
            self._retire(count)  # reads spilled hints back when memory runs low
            self.counters.hints_expired += count
            total += count

    def _retire(self, count: int) -> None:
        memory = self._memory
        cursor: Optional[Cursor] = None
        for _ in range(count):
            hint, size, cursor = memory.popleft()
            self._memory_bytes -= len(hint.payload)
            self.pending_bytes -= size
        if cursor is not None:
            self._journal.release(cursor)
        if self._spilled and self._memory_bytes <= self.memory_limit // 2:
            self._refill()

    def _refill(self) -> None:
        """Read spilled hints back into memory, in order, up to the bound."""
        if not self._spilled:
            return
        room = max(self.memory_limit - self._memory_bytes, 1)
        records = self._journal.read(self._read_from, room)
        for record, cursor in records[: self._spilled]:
            self._keep(decode_record(record), len(record), cursor)
            self._spilled -= 1
            self._read_from = cursor
        if not records:
            # the journal lost them (a damaged file): nothing left to read back
            self.counters.hints_dropped += self._spilled
            self._spilled = 0
            self.pending_bytes = sum(size for _, size, _ in self._memory)

    def describe(self) -> Any:
        """What an operator sees: counts and bytes."""
        return {
            "pending": self.pending,
            "in_memory": len(self._memory),
            "spilled": self._spilled,
            "in_flight": self._in_flight,
            "bytes": self.pending_bytes,
        }

"""Consistency levels (Dynomite's ``consistency_t``) and the quorum collector.

``QuorumCollector`` turns the replies of the replicas of one request into the one reply
the client gets, as Dynomite's response manager (``dyn_response_mgr.c``) does, for any
number of racks per DC and without its EACH_SAFE_QUORUM hang: every expected reply is
fed to it (a peer without a connection, a timeout, a closed connection each arrive as an
error reply), so it always decides once all of them are in.

Pure logic: no Twisted, no I/O.
"""

from __future__ import annotations

import zlib
from typing import Callable, Dict, List, Optional, Sequence

from dynotwist import errors
from dynotwist.core.coalesce import split_array
from dynotwist.proto.resp import is_error_reply

DC_ONE = "DC_ONE"
DC_QUORUM = "DC_QUORUM"
DC_SAFE_QUORUM = "DC_SAFE_QUORUM"
DC_EACH_SAFE_QUORUM = "DC_EACH_SAFE_QUORUM"

LEVELS = (DC_ONE, DC_QUORUM, DC_SAFE_QUORUM, DC_EACH_SAFE_QUORUM)

_SAFE_LEVELS = frozenset((DC_SAFE_QUORUM, DC_EACH_SAFE_QUORUM))


def parse_level(name: bytes) -> Optional[str]:
    """The level named by ``name`` (any case), or None."""
    level = name.decode("latin-1").upper()
    return level if level in LEVELS else None


def quorum_of(replicas: int) -> int:
    """Replies that must agree among ``replicas`` (Dynomite: rack_count / 2 + 1)."""
    return replicas // 2 + 1


def _checksum(reply: bytes) -> int:
    # Dynomite's crc32_sz lower-cases every byte: replies differing in case agree
    return zlib.crc32(reply.lower())


class _Group:
    """The replies expected from the racks of one DC, decided on their own."""

    __slots__ = (
        "counts",
        "failed",
        "first_by_sum",
        "first_error",
        "good",
        "goods",
        "max_count",
        "quorum",
        "received",
        "size",
    )

    def __init__(self, size: int, quorum: int, keep_goods: bool) -> None:
        self.size = size
        self.quorum = quorum
        self.received = 0
        self.good = 0
        self.max_count = 0
        self.counts: Dict[int, int] = {}
        self.first_by_sum: Dict[int, bytes] = {}
        self.first_error: Optional[bytes] = None
        # every good reply in arrival order (multi-key reconciliation); else just the first
        self.goods: Optional[List[bytes]] = [] if keep_goods else None
        self.failed = False  # the group's decision is an error


class QuorumCollector:
    """Replies from the replicas of one request -> the one reply the client gets.

    ``group_sizes[g]`` is the number of replies expected from DC group g (group 0 is the
    local DC). Under DC_QUORUM and DC_SAFE_QUORUM the caller passes one group, the local
    DC's racks; under DC_EACH_SAFE_QUORUM one group per DC. Every group is decided on
    its own:

    - quorum = n // 2 + 1 (DC_ONE: 1); a reply is good unless ``is_error(reply)``; good
      replies are compared by CRC32 of their lower-cased bytes;
    - a checksum reaching quorum decides: the first reply received with it;
    - good + still pending < quorum decides: the first error reply received, verbatim;
    - no checksum can reach quorum any more while good >= quorum (a mismatch; with
      ``multi_key``, only once all replies are in): DC_QUORUM (and DC_ONE) give the
      first good reply, the safe levels ``quorum_failed``. With ``multi_key`` (fragments
      of MGET, DEL, EXISTS, MSET...) array replies of equal length are first reconciled
      element by element: each element needs a quorum of equal elements among the good
      replies; an element without one is taken from the first good reply (DC_QUORUM) or
      fails the request (safe levels).

    The client's reply is the error of the first group, in group order, whose decision
    is an error, else group 0's reply; it is returned as soon as it is certain. DC_ONE
    with one group of one reply relays that reply.
    """

    __slots__ = (
        "_groups",
        "_is_error",
        "_multi_key",
        "_outstanding",
        "_quorum_failed",
        "_results",
        "_safe",
        "decided",
        "reply",
    )

    def __init__(
        self,
        level: str,
        group_sizes: Sequence[int],
        multi_key: bool = False,
        is_error: Callable[[bytes], bool] = is_error_reply,
        quorum_failed: bytes = errors.QUORUM_FAILED,
    ) -> None:
        if level not in LEVELS:
            raise ValueError("unknown consistency level %r" % (level,))
        if not group_sizes:
            raise ValueError("no replies expected")
        for size in group_sizes:
            if size < 1:
                raise ValueError("a group expects at least one reply, not %r" % (size,))
        self._safe = level in _SAFE_LEVELS
        self._multi_key = multi_key
        self._is_error = is_error
        self._quorum_failed = quorum_failed
        self._groups = [
            _Group(size, 1 if level == DC_ONE else quorum_of(size), multi_key)
            for size in group_sizes
        ]
        self._results: List[Optional[bytes]] = [None] * len(group_sizes)
        self.decided = False
        self._outstanding = sum(group_sizes)
        self.reply: Optional[bytes] = None  # the client's reply, once decided

    @property
    def outstanding(self) -> int:
        """Replies still expected: the request can be forgotten when it is 0."""
        return self._outstanding

    def add(self, group: int, reply: bytes) -> Optional[bytes]:
        """Count ``reply`` from a replica in ``group``.

        Returns the client's reply the first time a decision is reached, else None
        (and None for every reply added after the decision).
        """
        state = self._groups[group]
        if state.received >= state.size:
            raise ValueError("more replies than expected in group %d" % group)
        state.received += 1
        self._outstanding -= 1
        if self.decided or self._results[group] is not None:
            return None
        result = self._add(state, reply)
        if result is None:
            return None
        results = self._results
        results[group] = result
        if len(results) == 1:
            self.decided = True
            self.reply = result
            return result
        # the first group, in order, decided on an error gives the client's reply
        groups = self._groups
        for index, decision in enumerate(results):
            if decision is None:
                return None
            if groups[index].failed:
                break
        else:
            decision = results[0]
        self.decided = True
        self.reply = decision
        return decision

    def _add(self, state: _Group, reply: bytes) -> Optional[bytes]:
        """Count ``reply`` in ``state``; the group's decision if reached."""
        quorum = state.quorum
        if self._is_error(reply):
            if state.first_error is None:
                state.first_error = reply
        else:
            state.good += 1
            goods = state.goods
            if goods is not None:
                goods.append(reply)
            if quorum == 1:
                return reply
            checksum = _checksum(reply)
            count = state.counts.get(checksum, 0) + 1
            state.counts[checksum] = count
            if count == 1:
                state.first_by_sum[checksum] = reply
            elif count >= quorum:
                return state.first_by_sum[checksum]
            if count > state.max_count:
                state.max_count = count
        pending = state.size - state.received
        if state.good + pending < quorum:  # quorum impossible
            state.failed = True
            return state.first_error
        if state.good < quorum:
            return None
        if pending == 0:
            return self._mismatch(state)
        if not self._multi_key and state.max_count + pending < quorum:
            return self._mismatch(state)
        return None

    def _mismatch(self, state: _Group) -> bytes:
        """Enough good replies, but no quorum of equal ones."""
        if state.goods is not None:
            reconciled = self._reconcile(state)
            if reconciled is not None:
                return reconciled
        if self._safe:
            state.failed = True
            return self._quorum_failed
        if state.goods:
            return state.goods[0]
        return next(iter(state.first_by_sum.values()))  # insertion order: the first good

    def _reconcile(self, state: _Group) -> Optional[bytes]:
        """Element-wise vote among array replies; None if they are not such arrays."""
        goods = state.goods
        assert goods is not None
        arrays: List[List[bytes]] = []
        for reply in goods:
            elements = split_array(reply)
            if elements is None or (arrays and len(elements) != len(arrays[0])):
                return None
            arrays.append(elements)
        first = goods[0]
        parts = [first[: first.find(b"\r\n") + 2]]
        quorum = state.quorum
        for position, element in enumerate(arrays[0]):
            counts: Dict[int, int] = {}
            chosen: Dict[int, bytes] = {}
            winner: Optional[bytes] = None
            for elements in arrays:
                candidate = elements[position]
                checksum = _checksum(candidate)
                count = counts.get(checksum, 0) + 1
                counts[checksum] = count
                if count == 1:
                    chosen[checksum] = candidate
                if count >= quorum:
                    winner = chosen[checksum]
                    break
            if winner is None:
                if self._safe:
                    state.failed = True
                    return self._quorum_failed
                winner = element
            parts.append(winner)
        return b"".join(parts)

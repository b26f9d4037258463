"""The way to the local datastore, through the node's state (reference 6.5).

Dynomite checks the node's state where a request reaches the local datastore,
whether it came from a client or from a peer; :func:`dynotwist.core.states.admission`
says what each state does. Unlike Dynomite, writes held under WRITES_ONLY are
answered: sent on when the state lets writes through again, refused if the node goes
to STANDBY or when they have waited the request timeout.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable, Deque, Optional, Protocol, Tuple

from twisted.internet.task import LoopingCall

from dynotwist import errors
from dynotwist.core import states
from dynotwist.core.slots import Slot
from dynotwist.core.stats import ENABLED as stats_enabled
from dynotwist.core.stats import Stats


class Datastore(Protocol):
    """One of the local datastore's pools (``net.datastore.DatastorePool``)."""

    def send(self, raw: bytes, slot: Slot, lane: int) -> bool:
        """False if no connection can take the request."""


def count_sent(stats: Stats, slot: Slot, raw: bytes, write: bool) -> None:
    """A request sent to the local datastore, counted (and its slot marked, so that
    the reply is counted as a read's or a write's)."""
    slot.write = write
    if write:
        stats.write_requests += 1
        stats.write_request_bytes += len(raw)
    else:
        stats.read_requests += 1
        stats.read_request_bytes += len(raw)


class LocalGate:
    """Requests for the local datastore, admitted by the node's state.

    ``datastore(resp3)`` gives the pool for a protocol version; ``timeout()`` the
    request timeout in seconds (held writes are refused after it).
    """

    def __init__(
        self,
        datastore: Callable[[bool], Datastore],
        replies: errors.Replies,
        stats: Stats,
        clock: Any,
        timeout: Callable[[], float],
    ) -> None:
        self._datastore = datastore
        self._replies = replies
        self._stats = stats
        self._clock = clock
        self._timeout = timeout
        self.state = states.NORMAL
        self.normal = True  # the state is NORMAL: read on the hot path
        # the current state's decisions, for a read and for a write
        self._read = self._write = states.PASS
        self._held: Deque[Tuple[float, bytes, Slot, bool, int]] = deque()
        self._expiry: Optional[LoopingCall] = None
        #: told every write sent to the datastore (a warm-up leaves their keys alone)
        self.write_observer: Optional[Callable[[bytes], None]] = None

    def set_state(self, state: str) -> None:
        self.state = state
        self.normal = state == states.NORMAL
        self._read = states.admission(state, False)
        self._write = states.admission(state, True)
        if self._write == states.HOLD:
            return
        held, self._held = self._held, deque()
        for _, raw, slot, resp3, lane in held:
            if not self._admit(raw, slot, resp3, lane, True):
                slot.deliver(self._replies.datastore_refused)

    @property
    def refuses_reads(self) -> bool:
        """The state refuses reads (STANDBY, WRITES_ONLY, RESUMING, JOINING...)."""
        return self._read is states.REFUSE

    def send(self, raw: bytes, slot: Slot, resp3: bool, lane: int, write: bool) -> bool:
        """A request for the local datastore, if the state lets it through. False if
        the datastore cannot take it (not connected, or ejected): the caller answers
        ``datastore_refused``, or sends the request to another replica."""
        if stats_enabled:
            count_sent(self._stats, slot, raw, write)
        if write and self.write_observer is not None:
            self.write_observer(raw)
        return self._admit(raw, slot, resp3, lane, write)

    @property
    def held(self) -> int:
        """Writes held by the state."""
        return len(self._held)

    @property
    def held_bytes(self) -> int:
        return sum(len(entry[1]) for entry in self._held)

    def _admit(self, raw: bytes, slot: Slot, resp3: bool, lane: int, write: bool) -> bool:
        decision = self._write if write else self._read
        if decision is states.PASS:
            if self._datastore(resp3).send(raw, slot, lane):
                return True
            self._stats.forward_error += 1
            return False
        if decision is states.HOLD:
            self._hold(raw, slot, resp3, lane)
        else:
            slot.deliver(self._replies.state_forbids)
        return True

    def _hold(self, raw: bytes, slot: Slot, resp3: bool, lane: int) -> None:
        """Keep a write until the state changes — or until the request timeout, when
        it is refused (a coordinator waiting on it would give up and drop its link)."""
        self._held.append((self._clock.seconds(), raw, slot, resp3, lane))
        if self._expiry is None:
            self._expiry = LoopingCall(self._expire)
            self._expiry.clock = self._clock
            self._expiry.start(self._timeout() / 4, now=False)

    def _expire(self) -> None:
        held = self._held
        oldest = self._clock.seconds() - self._timeout()
        while held and held[0][0] <= oldest:
            held.popleft()[2].deliver(self._replies.state_forbids)
        if not held and self._expiry is not None:
            self._expiry.stop()
            self._expiry = None

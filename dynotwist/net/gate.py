"""The way to the local datastore, through the node's state (reference 6.5).

Dynomite checks the node's state where a request reaches the local datastore,
whether it came from a client or from a peer: NORMAL serves everything, STANDBY
nothing, WRITES_ONLY holds writes, RESUMING serves writes (the drain); reads are
refused outside NORMAL with Dynomite's error. Unlike Dynomite, writes held under
WRITES_ONLY are answered: sent on when the state lets writes through again, refused
if the node goes to STANDBY or when they have waited the request timeout.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Deque, Optional, Tuple

from twisted.internet.task import LoopingCall

from dynotwist.core import states
from dynotwist.core.stats import ENABLED as stats_enabled
from dynotwist.net.datastore import Slot, complete_once

if TYPE_CHECKING:
    from dynotwist.service import Node

_HOLDING = frozenset((states.WRITES_ONLY, states.INIT, states.JOINING))


class LocalGate:
    def __init__(self, node: Node) -> None:
        self.node = node
        self.state = states.NORMAL
        self.normal = True  # read on the hot path: everything passes
        self._reads = self._writes = True
        self._held: Deque[Tuple[float, bytes, Slot, bool, int]] = deque()
        self._expiry: Optional[LoopingCall] = None

    def set_state(self, state: str) -> None:
        self.state = state
        self.normal = state == states.NORMAL
        self._reads, self._writes = states.permissions(state)
        if state in _HOLDING:
            return
        held, self._held = self._held, deque()
        for _, raw, slot, resp3, lane in held:
            self._admit(raw, slot, resp3, lane, True)

    def send(self, raw: bytes, slot: Slot, resp3: bool, lane: int, write: bool) -> None:
        """A request for the local datastore, if the state lets it through."""
        if stats_enabled:
            if write:
                self.node.stats.write_requests += 1
            else:
                self.node.stats.read_requests += 1
        self._admit(raw, slot, resp3, lane, write)

    def _admit(self, raw: bytes, slot: Slot, resp3: bool, lane: int, write: bool) -> None:
        if self.normal or (self._writes if write else self._reads):
            if write and self.state in _HOLDING:
                self._hold(raw, slot, resp3, lane)
                return
            if not self.node.datastore(resp3).send(raw, slot, lane):
                complete_once(slot, self.node.replies.datastore_refused)
            return
        complete_once(slot, self.node.replies.state_forbids)

    def _hold(self, raw: bytes, slot: Slot, resp3: bool, lane: int) -> None:
        """Keep a write until the state changes — or until the request timeout, when
        it is refused (a coordinator waiting on it would give up and drop its link)."""
        node = self.node
        self._held.append((node.reactor.seconds(), raw, slot, resp3, lane))
        if self._expiry is None:
            self._expiry = LoopingCall(self._expire)
            self._expiry.clock = node.reactor
            self._expiry.start(self._timeout() / 4, now=False)

    def _timeout(self) -> float:
        return self.node.config.timeout * self.node.timeout_factor / 1000.0

    def _expire(self) -> None:
        held = self._held
        oldest = self.node.reactor.seconds() - self._timeout()
        while held and held[0][0] <= oldest:
            complete_once(held.popleft()[2], self.node.replies.state_forbids)
        if not held and self._expiry is not None:
            self._expiry.stop()
            self._expiry = None

"""Hinted handoff on the reactor: the node's hints, kept on disk and replayed.

:class:`HintedHandoff` holds one :class:`~dynotwist.core.hints.HintQueue` per peer,
each over a :class:`~dynotwist.net.hintfiles.FileJournal` in
``hints_dir/<this node>/<peer>/``. The dispatcher gives it the
:class:`~dynotwist.core.coordinator.KeepHint` commands of coordinations, and asks it,
before sending a write's copy to a peer, whether hints for that peer are still
pending (:meth:`HintedHandoff.holds`): while they are, the copy is kept behind them
rather than sent, so that the peer receives this node's writes in the order the node
took them.

Every :data:`TICK` seconds, for each peer with hints and a connection up, the hints
are replayed in order over the peer's pool, as dnode frames of the type they were
meant to have, like any replica write: at most :data:`REPLAY_WINDOW` unanswered at a
time, at most ``replay_rate`` per second, so that live traffic keeps its share of the
link and of the reactor. A hint is retired once the peer answered it (whatever the
datastore said: that is what the write would have got); a reply that says the peer
never took it (timeout, lost connection, refused) stops the replay until the next
tick, and the unanswered hints are sent again (at least once: a hint the peer applied
just before its connection went away is applied again).
"""

from __future__ import annotations

import os
from typing import Any, Dict, FrozenSet, Mapping, Optional, Set

from twisted.internet.task import LoopingCall

from dynotwist.core.coordinator import KeepHint
from dynotwist.core.hints import DEFAULT_DISK_LIMIT, DEFAULT_MEMORY_LIMIT, HintQueue
from dynotwist.core.ring import Member
from dynotwist.core.slots import Slot
from dynotwist.core.stats import PeerStats, Stats
from dynotwist.logs import logger
from dynotwist.net.hintfiles import FileJournal, peer_directory
from dynotwist.net.peer import PeerPool

__all__ = ["REPLAY_RATE", "REPLAY_WINDOW", "TICK", "HintedHandoff", "default_hints_dir"]

log = logger(__name__)

#: seconds between two looks at the queues (replay start, expiry, journal sync)
TICK = 0.05
#: hints sent to a peer and not yet answered, at most
REPLAY_WINDOW = 32
#: hints replayed per second to one peer, at most
REPLAY_RATE = 10000
#: seconds between two writes of a journal's release cursor
SYNC_EVERY = 1.0
#: the lane replays take on a peer's pool: always the same connection, so in order
REPLAY_LANE = 0


def default_hints_dir(config_path: Optional[str]) -> str:
    """``hints`` beside the configuration file (the working directory without one)."""
    base = os.path.dirname(os.path.abspath(config_path)) if config_path else os.getcwd()
    return os.path.join(base, "hints")


class _Replay:
    """One peer's queue, journal and replay (the owner of its replays' slots)."""

    def __init__(self, name: str, queue: HintQueue, journal: FileJournal, pool: PeerPool,
                 link: PeerStats, undelivered: FrozenSet[bytes], holding: Set[str]) -> None:
        self.name = name
        self.holding = holding
        self.queue = queue
        self.journal = journal
        self.pool = pool
        self.link = link
        self.undelivered = undelivered
        self.generation = 0  # bumped when a replay stops: older replies are ignored
        self.budget = 0
        self.started_at: Optional[float] = None  # when the current replay began
        self.replayed_at_start = 0
        self.failing = False  # appending to the journal failed: said once

    def complete(self, slot: Slot, reply: bytes) -> None:
        if slot.copy != self.generation:
            return  # a reply to a replay abandoned since
        if reply in self.undelivered:
            self.stop()
            return
        queue = self.queue
        queue.acknowledge()
        if queue.pending:
            self.send()
        else:
            self.holding.discard(self.name)  # this node's writes go straight to it again

    def stop(self) -> None:
        """The peer did not take what was sent: everything unanswered goes again."""
        self.generation += 1
        self.queue.retry()

    def send(self) -> None:
        """Send hints while the window and the second's budget allow."""
        queue = self.queue
        room = min(REPLAY_WINDOW - queue.in_flight, self.budget)
        if room <= 0:
            return
        hints = queue.take(room)
        self.budget -= len(hints)
        for hint in hints:
            slot = Slot(self, self.generation)
            if not self.pool.send(hint.payload, slot, hint.msg_type, False, REPLAY_LANE):
                self.stop()
                return


class HintedHandoff:
    """The node's hints for its peers (see the module's docstring)."""

    def __init__(
        self,
        reactor: Any,
        local: Member,
        peers: Mapping[str, PeerPool],
        stats: Stats,
        directory: str,
        window_ms: int,
        undelivered: FrozenSet[bytes],
        memory_limit: int = DEFAULT_MEMORY_LIMIT,
        disk_limit: int = DEFAULT_DISK_LIMIT,
        replay_rate: int = REPLAY_RATE,
    ) -> None:
        self.reactor = reactor
        self.peers = peers
        self.stats = stats
        self.directory = directory
        self.local = local
        self.window_ms = window_ms
        self.undelivered = undelivered
        self.memory_limit = memory_limit
        self.disk_limit = disk_limit
        self.replay_rate = replay_rate
        self._replays: Dict[str, _Replay] = {}
        #: the peers with hints pending (read by the dispatcher for every write's copy)
        self.holding: Set[str] = set()
        self._loop = LoopingCall(self._tick)
        self._loop.clock = reactor
        self._synced_at = 0.0

    # -- what the dispatcher asks ------------------------------------------------------------
    def holds(self, peer: str) -> bool:
        """Hints for ``peer`` are pending: a write's copy for it goes behind them."""
        return peer in self.holding

    def keep(self, hint: KeepHint) -> None:
        replay = self._replay(hint.node.name)
        if replay is None:
            return
        queue = replay.queue
        first = queue.pending == 0
        try:
            queue.add(hint.msg_type, hint.raw)
        except OSError as error:
            if not replay.failing:
                replay.failing = True
                log.error(
                    "cannot keep hints for peer {peer} in {directory}: {error};"
                    " writes it misses are dropped",
                    peer=hint.node.name, directory=replay.journal.directory, error=error,
                )
            return
        if replay.failing:
            replay.failing = False
            log.info("hints for peer {peer} are kept again", peer=hint.node.name)
        self.holding.add(hint.node.name)
        if first:
            log.info(
                "peer {peer} did not take a write: keeping hints for it in {directory}",
                peer=hint.node.name, directory=replay.journal.directory,
            )

    def pending(self) -> Dict[str, int]:
        """Hints not yet replayed, per peer."""
        return {name: replay.queue.pending for name, replay in self._replays.items()}

    def follow_peers(self) -> None:
        """The peers changed: a replay goes on over the peer's new pool; the hints of a
        peer that left the ring stay on disk, unreplayed (said once)."""
        for name, replay in list(self._replays.items()):
            pool = self.peers.get(name)
            if pool is not None:
                if pool is not replay.pool:
                    replay.pool = pool
                    replay.stop()  # what was in flight on the old pool goes again
                continue
            del self._replays[name]
            self.holding.discard(name)
            replay.journal.close()
            if replay.queue.pending:
                log.warn(
                    "peer {peer} left the ring: {count} hints for it stay in {directory},"
                    " not replayed",
                    peer=name, count=replay.queue.pending, directory=replay.journal.directory,
                )

    # -- life cycle -----------------------------------------------------------------------------
    def start(self) -> None:
        """Take in the hints left by a previous run, and start looking at the queues."""
        for name in self.peers:
            if os.path.isdir(self._directory(name)):
                replay = self._replay(name)
                if replay is not None:
                    count = replay.queue.load()
                    if replay.queue.pending:
                        self.holding.add(name)
                    if count:
                        log.info("{count} hints for peer {peer} found in {directory}",
                                 count=count, peer=name, directory=replay.journal.directory)
        self._loop.start(TICK, now=False)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()
        for replay in self._replays.values():
            replay.journal.close()

    # -- internals --------------------------------------------------------------------------------
    def _directory(self, peer: str) -> str:
        return peer_directory(self.directory, self.local.name, peer)

    def _replay(self, name: str) -> Optional[_Replay]:
        replay = self._replays.get(name)
        if replay is None:
            pool = self.peers.get(name)
            if pool is None:
                return None
            link = pool.link
            journal = FileJournal(self._directory(name))
            queue = HintQueue(journal, self.reactor.seconds, self.window_ms, link,
                              self.memory_limit, self.disk_limit)
            replay = self._replays[name] = _Replay(
                name, queue, journal, pool, link, self.undelivered, self.holding)
            link.read_gauge("hints_pending", lambda: queue.pending)
        return replay

    def _tick(self) -> None:
        now = self.reactor.seconds()
        budget = max(1, int(self.replay_rate * TICK))
        sync = now - self._synced_at >= SYNC_EVERY
        if sync:
            self._synced_at = now
        for name, replay in self._replays.items():
            if sync:
                self._sync(replay)
            queue = replay.queue
            if queue.pending:
                queue.expire()
            if not queue.pending:
                self.holding.discard(name)
                self._finished(name, replay, now)
                continue
            if not replay.pool.is_up or replay.pool.admin_down:
                replay.budget = 0
                continue
            if replay.started_at is None:
                replay.started_at = now
                replay.replayed_at_start = replay.link.hints_replayed
                log.info("replaying {count} hints to peer {peer}", count=queue.pending,
                         peer=name)
            replay.budget = budget
            replay.send()

    def _finished(self, name: str, replay: _Replay, now: float) -> None:
        if replay.started_at is None:
            return
        log.info(
            "replayed {count} hints to peer {peer} in {seconds:.2f} s",
            count=replay.link.hints_replayed - replay.replayed_at_start,
            peer=name, seconds=now - replay.started_at,
        )
        replay.started_at = None

    @staticmethod
    def _sync(replay: _Replay) -> None:
        try:
            replay.journal.sync()
        except OSError as error:
            log.error("cannot write {directory}/done: {error}",
                      directory=replay.journal.directory, error=error)

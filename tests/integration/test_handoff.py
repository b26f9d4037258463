"""Hinted handoff in a cluster of three racks, under a steady DC_QUORUM write load.

Writers go through the nodes of rack1 and rack2, each on keys of its own, one request
at a time, every reply recorded (``tests.support.history``). Meanwhile rack3's node is
stopped (SIGSTOP, then SIGCONT), or killed and started again, with a coordinator killed
and restarted too, so that its hints come from disk. After the replay every replica's
redis-server must hold exactly what was acknowledged, checked key by key. The stops are
short here (a few seconds); ``benchmarks/repair_bench.py`` runs longer ones and counts.
"""

from __future__ import annotations

import os
import signal
from typing import Any, Generator, List

from twisted.internet import defer, task, threads

from tests.support.fixtures import ThreeRacksTestCase
from tests.support.history import Writers, divergence, hint_counts, node_info
from tests.support.waiting import eventually

STOP_SECONDS = 4.0  # how long rack3's node is away
LOAD_SECONDS = 1.0  # load before the stop and after it
CONVERGENCE_WAIT = 30.0  # bound on the wait for every replica to hold what was acked


def sleep(seconds: float) -> defer.Deferred[None]:
    from twisted.internet import reactor

    return task.deferLater(reactor, seconds, lambda: None)


class HandoffTest(ThreeRacksTestCase):
    @defer.inlineCallbacks
    def converged(self, writers: Writers) -> Generator[defer.Deferred[Any], Any, None]:
        problems: List[str] = []

        @defer.inlineCallbacks
        def check() -> Generator[defer.Deferred[Any], Any, bool]:
            problems[:] = yield divergence(self.cluster, writers.history)
            return not problems

        try:
            yield eventually(check, CONVERGENCE_WAIT, interval=0.5,
                             message="every replica holding what was acknowledged")
        except AssertionError as error:
            raise AssertionError("%s: %d keys differ, e.g.\n%s" % (
                error, len(problems), "\n".join(problems[:10]))) from None

    @defer.inlineCallbacks
    def test_stopped_node_gets_every_acknowledged_write(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        rack3 = self.member("rack3")
        writers = Writers([self.member("rack1"), self.member("rack2")], prefix="stopped")
        before = yield hint_counts(self.cluster)
        yield writers.start()
        yield sleep(LOAD_SECONDS)
        os.kill(rack3.node.pid, signal.SIGSTOP)
        try:
            yield sleep(STOP_SECONDS)
        finally:
            os.kill(rack3.node.pid, signal.SIGCONT)
        yield sleep(LOAD_SECONDS)
        yield writers.stop()
        history = writers.history
        self.assertGreater(history.ok, 100, "the load ran")
        self.assertEqual(history.failed, 0, "DC_QUORUM: two racks of three answer")
        yield self.converged(writers)
        after = yield hint_counts(self.cluster)
        counts = {field: after[field] - before[field] for field in after}
        self.assertGreater(counts["stored"], 0, counts)
        self.assertEqual(counts["pending"], 0, counts)
        self.assertEqual(counts["dropped"], 0, counts)
        self.assertEqual(counts["replayed"], counts["stored"], counts)

    @defer.inlineCallbacks
    def test_killed_node_and_restarted_coordinator(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        """rack3's node is killed; rack1's node is killed too once the load stopped, and
        started again: its hints for rack3 come back from its hints directory."""
        rack1, rack3 = self.member("rack1"), self.member("rack3")
        writers = Writers([rack1, self.member("rack2")], prefix="killed")
        yield writers.start()
        yield sleep(LOAD_SECONDS)
        self.cluster.kill(rack3)
        yield sleep(STOP_SECONDS)
        yield writers.stop()
        self.assertEqual(writers.history.failed, 0)
        before = yield node_info(rack1)
        kept = sum(c["pending"] for c in _hints(before).values())
        self.assertGreater(kept, 0, "rack1 kept hints for rack3")
        self.cluster.kill(rack1)  # SIGKILL: nothing is flushed at exit
        yield threads.deferToThread(self.cluster.restart, rack1)
        yield threads.deferToThread(self.cluster.restart, rack3)
        yield self.converged(writers)
        after = yield node_info(rack1)
        replayed = sum(c["replayed"] for c in _hints(after).values())
        self.assertGreaterEqual(replayed, kept, "the hints found on disk were replayed")


def _hints(info: Any) -> Any:
    pool = next(value for value in info.values() if isinstance(value, dict))
    return pool["hints"]

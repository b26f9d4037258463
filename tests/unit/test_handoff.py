"""Hinted handoff on a fake reactor: hints kept while a peer is away, replayed over its
pool in order once it is back, throttled, retired when answered, kept on disk."""

from __future__ import annotations

import os
from typing import List

from twisted.trial import unittest

from dynotwist import errors
from dynotwist.core import ring
from dynotwist.core.coordinator import KeepHint, undelivered_replies
from dynotwist.core.stats import detached_stats
from dynotwist.net import handoff as handoff_module
from dynotwist.net.handoff import REPLAY_WINDOW, TICK, HintedHandoff, default_hints_dir
from dynotwist.proto.dnode import DMSG_REQ, DMSG_REQ_FORWARD, response_frame
from dynotwist.proto.resp import encode_command
from tests.unit.test_peer import PoolHarness, frames

OK = b"+OK\r\n"
LOCAL = ring.Member("127.0.0.1:8101", "127.0.0.1", 8101, "dc1", "rack1", (0,), is_local=True)


def write(n: int) -> bytes:
    return encode_command([b"SET", b"k%d" % n, b"v%d" % n])


class HandoffTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.directory = os.path.abspath(self.mktemp())
        self.harness = PoolHarness(start=False)
        self.reactor = self.harness.reactor
        self.reactor.advance(1700000000)
        self.pool = self.harness.pool
        self.name = self.harness.peer.name
        self.pool.start(connect_now=False)
        self.handoff = self.make(rate=handoff_module.REPLAY_RATE)

    def make(self, rate: int, window_ms: int = 3600 * 1000) -> HintedHandoff:
        handoff = HintedHandoff(
            self.reactor, LOCAL, {self.name: self.pool}, detached_stats(),
            self.directory, window_ms, undelivered_replies(errors.RESP), replay_rate=rate,
        )
        handoff.start()
        self.addCleanup(handoff.stop)
        return handoff

    def keep(self, *numbers: int, msg_type: int = DMSG_REQ) -> None:
        for n in numbers:
            self.handoff.keep(KeepHint(0, self.harness.peer, msg_type, write(n)))

    def connect(self) -> None:
        self.pool._connect_all()
        self.link = self.harness.connect()

    def sent(self) -> List[tuple]:
        """The frames written to the peer since the last look: (id, type, payload)."""
        return [(f.msg_id, f.msg_type, f.payload) for f in frames(self.link.transport.take())]

    def answer(self, sent: List[tuple], reply: bytes = OK) -> None:
        self.link.dataReceived(b"".join(response_frame(i, 0, 1, reply) for i, _, _ in sent))

    def tick(self) -> None:
        self.reactor.advance(TICK)


class ReplayTests(HandoffTestCase):
    def test_hints_wait_for_the_peer_then_replay_in_order(self) -> None:
        self.keep(1, 2, 3)
        self.keep(4, msg_type=DMSG_REQ_FORWARD)
        self.assertTrue(self.handoff.holds(self.name))
        self.assertEqual(self.pool.link.hints_stored, 4)
        self.tick()  # no connection: nothing is sent
        self.connect()
        self.tick()
        sent = self.sent()
        self.assertEqual([(t, p) for _, t, p in sent],
                         [(DMSG_REQ, write(1)), (DMSG_REQ, write(2)), (DMSG_REQ, write(3)),
                          (DMSG_REQ_FORWARD, write(4))])
        self.answer(sent)
        self.assertFalse(self.handoff.holds(self.name))
        self.assertEqual(self.pool.link.hints_replayed, 4)
        self.assertEqual(self.handoff.pending(), {self.name: 0})
        self.assertEqual(os.listdir(os.path.join(self.directory, "127.0.0.1_8101")), ["b"])
        self.assertEqual(os.listdir(os.path.join(self.directory, "127.0.0.1_8101", "b")), [],
                         "all released")

    def test_window_bounds_unanswered_replays(self) -> None:
        self.keep(*range(REPLAY_WINDOW + 10))
        self.connect()
        self.tick()
        first = self.sent()
        self.assertEqual(len(first), REPLAY_WINDOW)
        self.tick()
        self.assertEqual(self.sent(), [], "the window is full")
        self.answer(first[:5])  # each answer lets the next one go
        self.assertEqual([p for _, _, p in self.sent()],
                         [write(n) for n in range(REPLAY_WINDOW, REPLAY_WINDOW + 5)])

    def test_rate_limits_replays_per_tick(self) -> None:
        self.handoff = self.make(rate=int(3 / TICK))  # 3 per tick
        self.keep(*range(10))
        self.connect()
        self.tick()
        first = self.sent()
        self.assertEqual(len(first), 3)
        self.answer(first)
        self.assertEqual(self.sent(), [], "this tick's budget is spent")
        self.tick()
        self.assertEqual([p for _, _, p in self.sent()], [write(n) for n in (3, 4, 5)])

    def test_a_lost_replay_is_sent_again(self) -> None:
        self.keep(1, 2, 3)
        self.connect()
        self.tick()
        sent = self.sent()
        self.answer(sent[:1])
        self.answer(sent[1:2], errors.DATASTORE_REFUSED)  # the peer's datastore is away
        self.assertEqual(self.pool.link.hints_replayed, 1)
        self.answer(sent[2:])  # answered, but after the replay stopped: ignored
        self.assertEqual(self.pool.link.hints_replayed, 1)
        self.tick()
        again = self.sent()
        self.assertEqual([p for _, _, p in again], [write(2), write(3)])
        self.answer(again)
        self.assertEqual(self.pool.link.hints_replayed, 3)

    def test_datastore_errors_are_answers(self) -> None:
        """A Redis error is what the write would have got: the hint is retired."""
        self.keep(1)
        self.connect()
        self.tick()
        self.answer(self.sent(), b"-WRONGTYPE Operation against a key\r\n")
        self.assertEqual(self.handoff.pending(), {self.name: 0})

    def test_expired_hints_are_not_replayed(self) -> None:
        self.handoff = self.make(rate=1000, window_ms=1000)
        self.keep(1)
        self.reactor.advance(2)
        self.keep(2)
        self.connect()
        self.tick()
        self.assertEqual([p for _, _, p in self.sent()], [write(2)])
        self.assertEqual(self.pool.link.hints_expired, 1)

    def test_restart_replays_hints_kept_on_disk(self) -> None:
        self.keep(1, 2)
        self.handoff.stop()
        again = self.make(rate=1000)
        self.assertTrue(again.holds(self.name))
        self.connect()
        self.tick()
        self.assertEqual([p for _, _, p in self.sent()], [write(1), write(2)])

    def test_unknown_peer_is_ignored(self) -> None:
        stranger = ring.Member("10.0.0.9:8101", "10.0.0.9", 8101, "dc1", "rack2", (0,))
        self.handoff.keep(KeepHint(0, stranger, DMSG_REQ, write(1)))
        self.assertFalse(self.handoff.holds(stranger.name))


class DefaultDirectoryTests(unittest.TestCase):
    def test_beside_the_configuration_file(self) -> None:
        self.assertEqual(default_hints_dir("/etc/dynomite/node.yml"), "/etc/dynomite/hints")
        self.assertEqual(default_hints_dir(None), os.path.join(os.getcwd(), "hints"))

"""The hint store: records, bounds, spill to the journal, expiry, restart.

Time is a ``task.Clock``; the journal is a real ``FileJournal`` in the test's temporary
directory (files, no sockets), so that a restart is a new queue over the same
directory.
"""

from __future__ import annotations

import os
from typing import List, Tuple

from twisted.internet import task
from twisted.trial import unittest

from dynotwist.core.hints import (
    Hint,
    HintQueue,
    RecordError,
    decode_record,
    encode_record,
)
from dynotwist.core.stats import PeerStats
from dynotwist.net.hintfiles import FileJournal, peer_directory
from dynotwist.proto.dnode import DMSG_REQ, DMSG_REQ_FORWARD

HOUR_MS = 3600 * 1000
T0 = 1700000000.0  # the clock's start, seconds


def payload(n: int, size: int = 0) -> bytes:
    value = b"v%d" % n + b"x" * size
    return b"*3\r\n$3\r\nSET\r\n$%d\r\nk%d\r\n$%d\r\n%s\r\n" % (
        len(b"k%d" % n), n, len(value), value)


class RecordTests(unittest.TestCase):
    def test_round_trip(self) -> None:
        hint = Hint(1700000000123, DMSG_REQ_FORWARD, payload(1))
        record = encode_record(hint)
        self.assertEqual(decode_record(record), hint)
        self.assertEqual(record[:4], (len(record) - 4).to_bytes(4, "big"))

    def test_damage_is_refused(self) -> None:
        record = encode_record(Hint(1, DMSG_REQ, b"payload"))
        for broken in (
            record[:-1],  # torn
            record[:5],
            record[:12] + b"X" + record[13:],  # a flipped byte: checksum
            b"\x00\x00\x00\x01" + record[4:],  # a length too small
        ):
            self.assertRaises(RecordError, decode_record, broken)


class QueueTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = task.Clock()
        self.clock.advance(T0)
        self.directory = peer_directory(self.mktemp(), "127.0.0.1:8101", "127.0.0.1:8103")
        self.stats = PeerStats("127.0.0.1:8103", "dc1", "rack2")

    def queue(self, memory_limit: int = 1 << 20, disk_limit: int = 1 << 30,
              window_ms: int = 3 * HOUR_MS, segment_size: int = 1 << 20) -> HintQueue:
        self.journal = FileJournal(self.directory, segment_size)
        return HintQueue(self.journal, self.clock.seconds, window_ms, self.stats,
                         memory_limit, disk_limit)

    def replay(self, queue: HintQueue, batch: int = 3) -> List[bytes]:
        """Everything the queue hands out, acknowledged batch by batch."""
        sent = []
        while True:
            hints = queue.take(batch)
            if not hints:
                return sent
            sent.extend(h.payload for h in hints)
            queue.acknowledge(len(hints))

    def counts(self) -> Tuple[int, int, int, int]:
        s = self.stats
        return s.hints_stored, s.hints_replayed, s.hints_expired, s.hints_dropped

    def files(self) -> List[str]:
        return sorted(os.listdir(self.directory)) if os.path.isdir(self.directory) else []


class QueueTests(QueueTestCase):
    def test_replay_in_order_with_timestamps(self) -> None:
        queue = self.queue()
        for n in range(5):
            self.assertTrue(queue.add(DMSG_REQ, payload(n)))
            self.clock.advance(0.25)
        first = queue.take(2)
        self.assertEqual([h.timestamp for h in first],
                         [int(T0 * 1000), int(T0 * 1000) + 250])
        self.assertEqual(queue.in_flight, 2)
        self.assertEqual([h.payload for h in queue.take(10)], [payload(n) for n in (2, 3, 4)])
        queue.acknowledge(5)
        self.assertEqual(queue.pending, 0)
        self.assertEqual(self.counts(), (5, 5, 0, 0))
        self.assertEqual(self.files(), [], "every record released: no file left")

    def test_retry_sends_the_unanswered_again(self) -> None:
        queue = self.queue()
        for n in range(4):
            queue.add(DMSG_REQ, payload(n))
        self.assertEqual(len(queue.take(3)), 3)
        queue.acknowledge(1)
        queue.retry()  # the connection went away with two unanswered
        self.assertEqual(self.replay(queue), [payload(n) for n in (1, 2, 3)])
        self.assertEqual(self.counts(), (4, 4, 0, 0))

    def test_more_acknowledged_than_sent_is_refused(self) -> None:
        queue = self.queue()
        queue.add(DMSG_REQ, payload(1))
        self.assertRaises(ValueError, queue.acknowledge, 1)

    def test_memory_bound_spills_to_the_journal(self) -> None:
        """Past the memory bound hints are on the journal only, and come back in order."""
        size = len(payload(0, 100))
        queue = self.queue(memory_limit=size * 4)
        for n in range(20):
            queue.add(DMSG_REQ, payload(n, 100))
        described = queue.describe()
        self.assertEqual(described["in_memory"], 4)
        self.assertEqual(described["spilled"], 16)
        self.assertEqual(queue.pending, 20)
        self.assertEqual(self.replay(queue), [payload(n, 100) for n in range(20)])
        self.assertEqual(self.counts(), (20, 20, 0, 0))

    def test_one_large_hint_is_always_held(self) -> None:
        queue = self.queue(memory_limit=10)
        queue.add(DMSG_REQ, payload(1, 1000))
        queue.add(DMSG_REQ, payload(2, 1000))
        self.assertEqual(queue.describe()["in_memory"], 1)
        self.assertEqual(self.replay(queue, batch=1), [payload(1, 1000), payload(2, 1000)])

    def test_disk_bound_drops(self) -> None:
        record = len(encode_record(Hint(0, DMSG_REQ, payload(0))))
        queue = self.queue(disk_limit=record * 3)
        results = [queue.add(DMSG_REQ, payload(n)) for n in range(5)]
        self.assertEqual(results, [True, True, True, False, False])
        self.assertEqual(self.counts(), (3, 0, 0, 2))
        # room again once some are replayed
        self.assertEqual(len(queue.take(1)), 1)
        queue.acknowledge()
        self.assertTrue(queue.add(DMSG_REQ, payload(9)))
        self.assertEqual(self.replay(queue), [payload(n) for n in (1, 2, 9)])

    def test_journal_error_drops_and_raises(self) -> None:
        queue = self.queue()
        os.makedirs(os.path.dirname(self.directory), exist_ok=True)
        with open(self.directory, "w") as blocker:  # a file where the directory goes
            blocker.write("x")
        self.assertRaises(OSError, queue.add, DMSG_REQ, payload(1))
        self.assertEqual(self.counts(), (0, 0, 0, 1))
        self.assertEqual(queue.pending, 0)


class ExpiryTests(QueueTestCase):
    def test_expired_hints_are_dropped_not_replayed(self) -> None:
        queue = self.queue(window_ms=10000)
        queue.add(DMSG_REQ, payload(1))
        self.clock.advance(6)
        queue.add(DMSG_REQ, payload(2))
        self.clock.advance(5)  # the first is 11 s old, the second 5 s
        self.assertEqual(self.replay(queue), [payload(2)])
        self.assertEqual(self.counts(), (2, 1, 1, 0))

    def test_expire_without_replay(self) -> None:
        queue = self.queue(window_ms=1000)
        for n in range(3):
            queue.add(DMSG_REQ, payload(n))
        self.clock.advance(2)
        self.assertEqual(queue.expire(), 3)
        self.assertEqual(queue.pending, 0)
        self.assertEqual(self.files(), [])

    def test_expiry_reaches_spilled_hints(self) -> None:
        size = len(payload(0, 50))
        queue = self.queue(memory_limit=size * 2, window_ms=1000)
        for n in range(10):
            queue.add(DMSG_REQ, payload(n, 50))
        self.clock.advance(0.6)
        queue.add(DMSG_REQ, payload(10, 50))
        self.clock.advance(0.6)  # all but the last are past the window
        self.assertEqual(queue.expire(), 10)
        self.assertEqual(self.replay(queue), [payload(10, 50)])
        self.assertEqual(self.counts(), (11, 1, 10, 0))

    def test_nothing_expires_while_in_flight(self) -> None:
        queue = self.queue(window_ms=1000)
        queue.add(DMSG_REQ, payload(1))
        queue.add(DMSG_REQ, payload(2))
        self.assertEqual(len(queue.take(1)), 1)
        self.clock.advance(5)
        self.assertEqual(queue.expire(), 0)
        self.assertEqual(queue.take(5), [], "the expired one behind is not handed out")
        queue.acknowledge()
        self.assertEqual(queue.take(5), [])
        self.assertEqual(self.counts(), (2, 1, 1, 0))


class RestartTests(QueueTestCase):
    def test_restart_keeps_the_hints(self) -> None:
        queue = self.queue(memory_limit=len(payload(0)) * 3)
        for n in range(10):
            queue.add(DMSG_REQ_FORWARD if n % 2 else DMSG_REQ, payload(n))
        self.clock.advance(1)
        # the process goes away without closing anything; a new one reads the files
        again = self.queue(memory_limit=len(payload(0)) * 3)
        self.assertEqual(again.load(), 10)
        self.assertEqual(again.pending, 10)
        hints = again.take(10)
        self.assertEqual([h.payload for h in hints[:3]], [payload(n) for n in range(3)])
        self.assertEqual(hints[1].msg_type, DMSG_REQ_FORWARD)
        self.assertEqual(hints[0].timestamp, int(T0 * 1000), "the original timestamp")
        again.acknowledge(len(hints))
        self.assertEqual(self.replay(again), [payload(n) for n in range(3, 10)])

    def test_restart_after_partial_replay(self) -> None:
        queue = self.queue()
        for n in range(6):
            queue.add(DMSG_REQ, payload(n))
        queue.take(4)
        queue.acknowledge(4)
        self.journal.sync()
        queue.add(DMSG_REQ, payload(6))
        again = self.queue()
        self.assertEqual(again.load(), 3)
        self.assertEqual(self.replay(again), [payload(n) for n in (4, 5, 6)])
        self.assertEqual(self.files(), [])

    def test_unsynced_release_replays_again(self) -> None:
        """At least once: what was acknowledged after the last sync comes again."""
        queue = self.queue()
        for n in range(3):
            queue.add(DMSG_REQ, payload(n))
        queue.take(1)
        queue.acknowledge()
        again = self.queue()
        self.assertEqual(again.load(), 3)

    def test_torn_record_is_skipped(self) -> None:
        queue = self.queue()
        for n in range(3):
            queue.add(DMSG_REQ, payload(n))
        segment = os.path.join(self.directory, self.files()[0])
        with open(segment, "ab") as file:
            file.write(encode_record(Hint(1, DMSG_REQ, payload(3)))[:-3])  # a torn write
        again = self.queue()
        self.assertEqual(again.load(), 3)
        again.add(DMSG_REQ, payload(4))  # appended to a new segment
        self.assertEqual(self.replay(again), [payload(n) for n in (0, 1, 2, 4)])

    def test_expired_on_disk_at_restart(self) -> None:
        queue = self.queue(window_ms=1000)
        queue.add(DMSG_REQ, payload(1))
        self.clock.advance(2)
        again = self.queue(window_ms=1000)
        self.assertEqual(again.load(), 1)
        self.assertEqual(again.take(1), [])
        self.assertEqual(self.stats.hints_expired, 1)

    def test_segments_rotate_and_are_deleted_as_released(self) -> None:
        record = len(encode_record(Hint(0, DMSG_REQ, payload(0))))
        queue = self.queue(segment_size=record * 2)
        for n in range(6):
            queue.add(DMSG_REQ, payload(n))
        self.assertEqual(len(self.files()), 3)
        queue.take(3)
        queue.acknowledge(3)
        self.assertEqual(len(self.files()), 2, "the first segment is released")
        queue.take(3)
        queue.acknowledge(3)
        self.assertEqual(self.files(), [])

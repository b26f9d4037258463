"""A node with workers, without processes: the stats summed over workers
(core.stats.merge), the admin relay's choices (dynotwist.workersadmin) and what each
worker's configuration keeps to itself (dynotwist.worker)."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Tuple

from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock
from twisted.trial import unittest
from twisted.web.test.requesthelper import DummyRequest

from dynotwist.config import parse_config
from dynotwist.core.stats import BUCKETS, Snapshot, Stats, render_info
from dynotwist.core.stats.merge import merge_snapshots, snapshot_from_data, snapshot_to_data
from dynotwist.worker import worker_config
from dynotwist.workersadmin import Answer, WorkersAdmin, one_answer, replayed
from tests.support.configs import config_text


def worker_stats(reads: int, latencies: List[int], up: int = 1, ejected_at: int = 0) -> Stats:
    stats = Stats("dyn_o_mite", "127.0.0.1:6379", "dc1", "rack1", started=100.0)
    stats.client_read_requests = reads
    stats.client_connections = reads // 10
    stats.datastore_up = up
    stats.server_ejected_at = ejected_at
    for value in latencies:
        stats.latency.record(value)
    link = stats.peer("10.0.0.2:8101", "dc1", "rack2")
    link.requests = reads
    link.up = up
    link.rtt.record(latencies[0])
    return stats


def snapshot(stats: Stats, now: float = 130.0) -> Snapshot:
    stats.read_gauge("dyn_memory", lambda: 1000)
    return stats.snapshot(now)


class MergeTests(unittest.TestCase):
    def setUp(self) -> None:
        self.first = snapshot(worker_stats(30, [10, 20], up=1, ejected_at=5000))
        self.second = snapshot(worker_stats(12, [400], up=0, ejected_at=7000), now=131.0)
        self.merged = merge_snapshots([self.first, self.second])

    def test_counters_and_gauges_are_summed(self) -> None:
        self.assertEqual(self.merged.pool["client_read_requests"], 42)
        self.assertEqual(self.merged.pool["client_connections"], 3 + 1)
        self.assertEqual(self.merged.node["dyn_memory"], 2000)

    def test_up_flags_are_up_in_every_worker(self) -> None:
        self.assertEqual(self.merged.node["datastore_up"], 0)
        self.assertEqual(self.merged.peers[0].values["up"], 0)
        both_up = merge_snapshots([self.first, self.first])
        self.assertEqual(both_up.node["datastore_up"], 1)

    def test_timestamps_are_the_latest(self) -> None:
        self.assertEqual(self.merged.server["server_ejected_at"], 7000)
        self.assertEqual(self.merged.timestamp, 131)
        self.assertEqual(self.merged.uptime, 31)

    def test_warm_up_is_worker_zeros(self) -> None:
        self.first.pool["warm_up_seconds_left"] = -1
        self.second.pool["warm_up_seconds_left"] = 0
        merged = merge_snapshots([self.first, self.second])
        self.assertEqual(merged.pool["warm_up_seconds_left"], -1)

    def test_histograms_are_merged_bucket_by_bucket(self) -> None:
        latency = self.merged.histograms["latency"]
        alone = worker_stats(0, [10, 20, 400]).latency.snapshot()
        self.assertEqual(latency.buckets, alone.buckets)
        self.assertEqual((latency.sum, latency.max), (430, 400))
        self.assertEqual(latency.percentile(0.99), alone.percentile(0.99))
        self.assertEqual(self.merged.totals["latency"].count, 3)
        self.assertEqual(self.merged.peers[0].histograms["rtt"].count, 2)

    def test_peers_are_merged_by_name(self) -> None:
        self.assertEqual(len(self.merged.peers), 1)
        self.assertEqual(self.merged.peers[0].values["requests"], 42)

    def test_one_worker_renders_as_itself(self) -> None:
        self.assertEqual(render_info(merge_snapshots([self.first])), render_info(self.first))

    def test_nothing_to_merge(self) -> None:
        self.assertRaises(ValueError, merge_snapshots, [])


class SnapshotDataTests(unittest.TestCase):
    def test_round_trip_through_json(self) -> None:
        original = snapshot(worker_stats(30, [10, 20]))
        data = json.loads(json.dumps(snapshot_to_data(original)))
        self.assertEqual(snapshot_from_data(data), original)

    def test_not_a_snapshot(self) -> None:
        self.assertRaises(KeyError, snapshot_from_data, {"pool_name": "x"})
        data = snapshot_to_data(snapshot(worker_stats(1, [1])))
        data["histograms"]["latency"]["buckets"] = [1] * (BUCKETS - 1)
        self.assertRaises(ValueError, snapshot_from_data, data)


class RelayRulesTests(unittest.TestCase):
    def test_first_refusal_wins(self) -> None:
        ok: Answer = (200, b"text/plain", b"OK\r\n")
        refused: Answer = (401, b"text/plain", b"wrong admin token\n")
        self.assertEqual(one_answer([ok, (200, b"x", b"other")]), ok)
        self.assertEqual(one_answer([ok, refused]), refused)

    def test_changes_replayed_to_a_restarted_worker(self) -> None:
        for path in (b"/state/standby", b"/set_consistency/read/dc_quorum",
                     b"/set_timeout_factor/3", b"/setloglevel/6", b"/loglevelup",
                     b"/peer/down/all", b"/peer/forget/10.0.0.2", b"/read_repairs/enable"):
            self.assertTrue(replayed(path), path)
        for path in (b"/state/get_state", b"/info", b"/historeset", b"/peer/reset/all",
                     b"/warm_up/start", b"/get_consistency"):
            self.assertFalse(replayed(path), path)


class _Workers:
    restarts = 2


class FakeRelay(WorkersAdmin):
    """The relay with canned worker answers instead of HTTP requests."""

    def __init__(self, answers: List[Dict[bytes, Answer]]) -> None:
        super().__init__([1, 2][: len(answers)], "secret", MemoryReactorClock(), _Workers())
        self.answers = answers
        self.asked: List[Tuple[int, bytes, Optional[Dict[bytes, List[bytes]]]]] = []

    def ask(self, index: int, method: bytes, uri: bytes,
            headers: Optional[Dict[bytes, List[bytes]]] = None) -> defer.Deferred[Answer]:
        self.asked.append((index, uri, headers))
        return defer.succeed(self.answers[index][uri])


def render(relay: WorkersAdmin, path: bytes, headers: Optional[Dict[bytes, bytes]] = None) -> Any:
    request = DummyRequest(path.lstrip(b"/").split(b"/"))
    request.path = request.uri = path
    for name, value in (headers or {}).items():
        request.requestHeaders.setRawHeaders(name, [value])
    relay.render(request)
    return request


class RelayTests(unittest.TestCase):
    def test_info_sums_the_workers(self) -> None:
        snapshots = [snapshot(worker_stats(30, [10])), snapshot(worker_stats(12, [20]))]
        relay = FakeRelay([
            {b"/snapshot": (200, b"application/json", json.dumps(snapshot_to_data(s)).encode())}
            for s in snapshots
        ])
        request = render(relay, b"/info")
        body = json.loads(b"".join(request.written))
        self.assertEqual(body["dyn_o_mite"]["client_read_requests"], 42)
        self.assertEqual(body["dyn_o_mite"]["worker_restarts"], 2)

    def test_change_reaches_every_worker_and_is_replayed(self) -> None:
        ok: Answer = (200, b"application/json", b"OK\r\n")
        relay = FakeRelay([{b"/state/standby": ok}, {b"/state/standby": ok}])
        request = render(relay, b"/state/standby", {b"authorization": b"Bearer secret"})
        self.assertEqual(b"".join(request.written), b"OK\r\n")
        self.assertEqual([index for index, _, _ in relay.asked], [0, 1])
        self.assertEqual(relay.asked[1][2], {b"authorization": [b"Bearer secret"]})
        relay.asked.clear()
        relay.worker_started(1)
        self.assertEqual(relay.asked, [(1, b"/state/standby",
                                        {b"authorization": [b"Bearer secret"]})])

    def test_refused_change_is_not_replayed(self) -> None:
        refused: Answer = (401, b"text/plain", b"wrong admin token\n")
        relay = FakeRelay([{b"/state/standby": refused}, {b"/state/standby": refused}])
        request = render(relay, b"/state/standby")
        self.assertEqual(request.responseCode, 401)
        self.assertEqual(relay.changes, {})

    def test_warm_up_goes_to_worker_zero(self) -> None:
        started: Answer = (200, b"text/plain", b"Warm-up: started\r\n")
        relay = FakeRelay([{b"/warm_up/start": started}, {}])
        render(relay, b"/warm_up/start")
        self.assertEqual([index for index, _, _ in relay.asked], [0])

    def test_a_worker_that_does_not_answer(self) -> None:
        relay = FakeRelay([{b"/snapshot": (200, b"application/json", b"not json")}])
        request = render(relay, b"/metrics")
        self.assertEqual(request.responseCode, 503)
        self.assertIn(b"a worker did not answer", b"".join(request.written))
        self.flushLoggedErrors()


class WorkerConfigTests(unittest.TestCase):
    def test_hints_per_worker_and_warm_up_in_worker_zero(self) -> None:
        config = parse_config(config_text() + "  workers: 2\n  warm_up: true\n"
                              "  hints_dir: /var/lib/hints\n")
        first, second = (worker_config(config, "/etc/node.yml", i) for i in (0, 1))
        self.assertEqual((first.hints_dir, second.hints_dir),
                         ("/var/lib/hints/worker0", "/var/lib/hints/worker1"))
        self.assertEqual((first.warm_up, second.warm_up), (True, False))
        self.assertEqual((first.workers, first.tokens, first.listen),
                         (1, config.tokens, config.listen))

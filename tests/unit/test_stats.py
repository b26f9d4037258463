"""Stats: Dynomite's histogram, the /info layout byte for byte, Prometheus text, ``-D``."""

from __future__ import annotations

import json
import math

from twisted.trial import unittest

from dynotwist.core import stats
from dynotwist.core.stats import (
    BUCKET_BOUNDS,
    BUCKETS,
    METRICS,
    ClusterMember,
    Histogram,
    HistogramSnapshot,
    Snapshot,
    Stats,
    describe,
    render_cluster_describe,
    render_info,
    render_prometheus,
)
from tests.support.metrics import (
    load_sample,
    metric_names,
    parse_prometheus,
    snapshot_from_info,
    with_extras,
)

# -- tests -----------------------------------------------------------------------------


class BucketTests(unittest.TestCase):
    def test_bounds(self) -> None:
        self.assertEqual(len(BUCKET_BOUNDS), 94)
        self.assertEqual(
            BUCKET_BOUNDS[:16], (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 19, 22, 26)
        )
        # next = floor(prev * 1.2), + 1 when that is prev, computed here in integers
        bounds = [1]
        while len(bounds) < 94:
            nxt = bounds[-1] * 12 // 10
            bounds.append(nxt + 1 if nxt == bounds[-1] else nxt)
        self.assertEqual(BUCKET_BOUNDS, tuple(bounds))
        self.assertEqual(BUCKET_BOUNDS[-1], 36157192)
        self.assertEqual(BUCKETS, 93)

    def index_of(self, value: int) -> int:
        histogram = Histogram()
        histogram.record(value)
        return next(i for i, n in enumerate(histogram.buckets) if n)

    def test_bucket_of_a_value(self) -> None:
        # bucket i holds bounds[i] .. bounds[i + 1] - 1; below 1 goes to bucket 0
        cases = {0: 0, 1: 0, 2: 1, 9: 8, 10: 9, 11: 9, 12: 10, 13: 10, 14: 11, 88: 22, 104: 22}
        for value, index in cases.items():
            self.assertEqual(self.index_of(value), index, value)
        # from bounds[92] on, everything lands in bucket 92 (Dynomite's search never
        # reaches bucket 93)
        self.assertEqual(self.index_of(BUCKET_BOUNDS[92] - 1), 91)
        self.assertEqual(self.index_of(BUCKET_BOUNDS[92]), 92)
        self.assertEqual(self.index_of(BUCKET_BOUNDS[93]), 92)
        self.assertEqual(self.index_of(10**12), 92)


class HistogramTests(unittest.TestCase):
    def test_empty(self) -> None:
        # Dynomite's empty histogram: percentiles give the first bound, mean 0
        self.assertEqual(
            Histogram().summary(), {"mean": 0, "p50": 1, "p95": 1, "p99": 1, "p999": 1, "max": 0}
        )

    def test_hand_computed(self) -> None:
        histogram = Histogram()
        for value in (0, 5, 5, 13, 100):
            histogram.record(value)
        # buckets: 0 -> [1], 5 -> [5] twice, 13 -> [12], 100 -> [88]; n = 5
        # p95: floor(5 * .95) = 4 -> cumulative 1, 3, 4 at bound 12; p99, p999 likewise
        # p50: floor(2.5) = 2 -> bound 5; mean: ceil((1 + 5 + 5 + 12 + 88) / 5) = 23
        self.assertEqual(
            histogram.summary(),
            {"mean": 23, "p50": 5, "p95": 12, "p99": 12, "p999": 12, "max": 100},
        )
        self.assertEqual(histogram.count, 5)
        self.assertEqual(histogram.sum, 123)

    def test_one_value(self) -> None:
        # floor(1 * .95) = 0: reached before the value's bucket, as in Dynomite
        histogram = Histogram()
        histogram.record(7)
        self.assertEqual(histogram.summary()["p95"], 1)
        self.assertEqual(histogram.summary()["mean"], 7)
        self.assertEqual(histogram.summary()["max"], 7)

    def test_hundred_values(self) -> None:
        histogram = Histogram()
        for value in range(1, 101):
            histogram.record(value)
        # bucket [88] holds 88..100 (13 values), [74] holds 74..87: cumulative 87 there
        # p95 = floor(95) -> 88; p99 = 99 -> 88; p999 = floor(99.9) = 99 -> 88
        # p50: [44] holds 44..51, cumulative 51 >= 50 -> 44
        summary = histogram.summary()
        self.assertEqual(
            (summary["p50"], summary["p95"], summary["p99"], summary["p999"]), (44, 88, 88, 88)
        )
        expected_mean = math.ceil(
            sum(BUCKET_BOUNDS[i] * n for i, n in enumerate(histogram.buckets)) / 100
        )
        self.assertEqual(summary["mean"], expected_mean)

    def test_reset(self) -> None:
        histogram = Histogram()
        histogram.record(1000)
        histogram.reset()
        self.assertEqual(histogram.snapshot(), HistogramSnapshot())
        self.assertEqual(histogram.summary()["max"], 0)
        self.assertEqual(histogram.count, 0)
        histogram.record(5)
        self.assertEqual((histogram.snapshot().count, histogram.snapshot().sum), (1, 5))

    def test_totals_never_reset(self) -> None:
        # /metrics reads the totals: Prometheus requires that they never go down
        histogram = Histogram()
        histogram.record(1000)
        histogram.reset()
        histogram.record(5)
        totals = histogram.totals()
        self.assertEqual((totals.count, totals.sum), (2, 1005))

    def test_snapshot_is_a_copy(self) -> None:
        histogram = Histogram()
        histogram.record(3)
        snapshot = histogram.snapshot()
        histogram.record(3)
        self.assertEqual(snapshot.count, 1)

    def test_cumulative_buckets(self) -> None:
        histogram = Histogram()
        for value in (0, 1, 2, 11, 10**9):
            histogram.record(value)
        buckets = dict(histogram.snapshot().cumulative())
        # the upper edges of the exported buckets, each at least 3 times the one before
        edges = [le for le in buckets if le is not None]
        self.assertEqual(edges[:5], [1, 3, 9, 30, 104])
        self.assertTrue(all(b >= 3 * a for a, b in zip(edges, edges[1:])))
        self.assertEqual(len(buckets), len(stats.EXPORTED_BUCKETS) + 1)
        self.assertEqual(buckets[1], 2)  # 0 and 1
        self.assertEqual(buckets[3], 3)  # 2
        self.assertEqual(buckets[30], 4)  # 11: bucket [10] holds 10 and 11
        self.assertEqual(buckets[None], 5)  # +Inf

    def test_snapshot_size_is_checked(self) -> None:
        self.assertRaises(ValueError, HistogramSnapshot, [0, 1])


class TableTests(unittest.TestCase):
    def test_names_are_unique_per_scope(self) -> None:
        for scope in (stats.NODE, stats.POOL, stats.SERVER, stats.PEER):
            names = metric_names(scope)
            self.assertEqual(len(names), len(set(names)), scope)
        exported = [m.family for m in METRICS]
        self.assertEqual(len(exported), len(set(exported)))

    def test_order_matches_dynomite(self) -> None:
        _, body = load_sample("info_final.http")
        info = json.loads(body)
        pool = info["dyn_o_mite"]
        server = pool["127.0.0.61:30900"]
        extras = list(stats.POOL_EXTRAS)
        self.assertEqual(
            metric_names(stats.POOL), [k for k in pool if k != "127.0.0.61:30900"] + extras
        )
        self.assertEqual(metric_names(stats.SERVER), list(server))

    def test_kinds(self) -> None:
        kinds = {m.name: m.kind for m in METRICS if m.scope in (stats.POOL, stats.SERVER)}
        self.assertEqual(kinds["client_eof"], stats.COUNTER)
        self.assertEqual(kinds["client_connections"], stats.GAUGE)
        self.assertEqual(kinds["peer_ejected_at"], stats.TIMESTAMP)
        self.assertEqual(kinds["server_ejected_at"], stats.TIMESTAMP)
        self.assertEqual(kinds["in_queue"], stats.GAUGE)

    def test_stats_attributes_are_the_table(self) -> None:
        s = Stats("p", "s", "dc1", "rack1", started=0.0)
        for metric in METRICS:
            if metric.scope in (stats.PEER,) or metric.name == "uptime":
                continue
            if metric.name in stats.REDIS_REQUESTS:
                self.assertEqual(s.redis_requests[stats.REDIS_REQUESTS.index(metric.name)], 0)
                continue
            value = getattr(s, metric.name)
            if metric.kind == stats.HISTOGRAM:
                self.assertIsInstance(value, Histogram)
            else:
                self.assertEqual(value, 0)
        link = s.peer("p1", "dc1", "rack2")
        for metric in stats.metrics_of(stats.PEER):
            self.assertIsNotNone(getattr(link, metric.name))
        with self.assertRaises(AttributeError):
            s.client_typo = 1  # type: ignore[attr-defined]


class InfoTests(unittest.TestCase):
    def test_info_final_byte_for_byte(self) -> None:
        _, body = load_sample("info_final.http")
        self.assertEqual(render_info(snapshot_from_info(body)), with_extras(body))

    def test_info_at_start_byte_for_byte(self) -> None:
        _, body = load_sample("info.http")
        self.assertEqual(render_info(snapshot_from_info(body)), with_extras(body))

    def live(self) -> Stats:
        s = Stats("dyn_o_mite", "127.0.0.61:30900", "dc1", "rack1", started=1000.0, source="vm")
        s.client_read_requests += 6
        s.client_write_requests += 3
        s.redis_requests[stats.REDIS_REQUESTS.index("redis_req_get")] += 3
        s.redis_requests[stats.REDIS_REQUESTS.index("redis_req_lreqm")] += 2
        s.redis_requests[stats.REDIS_REQUESTS.index("redis_req_lists")] += 1
        s.server_ejected_at = 1795814817613
        s.latency.record(40)
        s.latency.record(48)
        s.payload_size.record(30)
        s.read_gauge("client_connections", lambda: 2)
        s.read_gauge("dyn_memory", lambda: 15572)
        return s

    def test_live_stats_have_dynomites_layout(self) -> None:
        _, sample = load_sample("info_final.http")
        expected = json.loads(sample)
        body = render_info(self.live().snapshot(1045.0))
        info = json.loads(body)
        self.assertEqual(list(info), list(expected))
        pool = list(expected["dyn_o_mite"])
        self.assertEqual(list(info["dyn_o_mite"]), pool[:-1] + list(stats.POOL_EXTRAS) + pool[-1:])
        self.assertEqual(
            list(info["dyn_o_mite"]["127.0.0.61:30900"]),
            list(expected["dyn_o_mite"]["127.0.0.61:30900"]),
        )
        # the same line structure: a newline after every number, none after strings
        self.assertEqual(body.count(b"\n"), with_extras(sample).count(b"\n"))
        self.assertTrue(body.endswith(b"\n}}}\n"))

    def test_hints_per_peer(self) -> None:
        live = self.live()
        link = live.peer("127.0.0.2:8101", "dc1", "rack2")
        link.hints_stored += 5
        link.hints_replayed += 3
        link.hints_expired += 1
        link.read_gauge("hints_pending", lambda: 1)
        live.peer("127.0.0.3:8101", "dc1", "rack3")
        info = json.loads(render_info(live.snapshot(1045.0)))
        self.assertEqual(info["dyn_o_mite"]["hints"], {
            "127.0.0.2:8101": {"stored": 5, "replayed": 3, "expired": 1, "dropped": 0,
                               "pending": 1},
            "127.0.0.3:8101": {"stored": 0, "replayed": 0, "expired": 0, "dropped": 0,
                               "pending": 0},
        })
        # the server object stays the pool's first object (readers take the first)
        objects = [k for k, v in info["dyn_o_mite"].items() if isinstance(v, dict)]
        self.assertEqual(objects, ["127.0.0.61:30900", "hints"])
        metrics = render_prometheus(live.snapshot(1045.0))
        self.assertIn('dynotwist_peer_link_hints_stored_total{dc="dc1",rack="rack1",'
                      'peer="127.0.0.2:8101",peer_dc="dc1",peer_rack="rack2"} 5', metrics)

    def test_live_values(self) -> None:
        info = json.loads(render_info(self.live().snapshot(1045.0)))
        self.assertEqual(info["uptime"], 45)
        self.assertEqual(info["timestamp"], 1045)
        self.assertEqual(info["version"], stats.__version__)
        self.assertEqual(info["latency_max"], 48)
        self.assertEqual(info["latency_95th"], 37)  # floor(2 * .95) = 1 -> [37] holds 40
        self.assertEqual(info["latency_mean"], 41)  # ceil((37 + 44) / 2)
        self.assertEqual(info["payload_size_max"], 30)
        self.assertEqual(info["dyn_memory"], 15572)
        pool = info["dyn_o_mite"]
        self.assertEqual(pool["client_read_requests"], 6)
        self.assertEqual(pool["client_connections"], 2)
        self.assertEqual(pool["127.0.0.61:30900"]["redis_req_get"], 3)
        # LREM counts in its own counter and in the lists' (as Dynomite)
        self.assertEqual(pool["127.0.0.61:30900"]["redis_req_lreqm"], 2)
        self.assertEqual(pool["127.0.0.61:30900"]["redis_req_lists"], 3)
        self.assertEqual(pool["127.0.0.61:30900"]["server_ejected_at"], 1795814817613)

    def test_gauges_are_read_when_asked(self) -> None:
        s = Stats("p", "s", "dc1", "rack1", started=0.0)
        level = [3]
        s.read_gauge("in_queue", lambda: level[0])
        self.assertEqual(s.snapshot(1.0).server["in_queue"], 3)
        level[0] = 5
        self.assertEqual(s.snapshot(2.0).server["in_queue"], 5)
        s.client_connections += 1  # a gauge kept by hand
        self.assertEqual(s.snapshot(3.0).pool["client_connections"], 1)
        self.assertRaises(ValueError, s.read_gauge, "client_eof", lambda: 0)  # a counter
        self.assertRaises(ValueError, s.read_gauge, "nonsense", lambda: 0)
        link = s.peer("p1", "dc1", "rack1")
        link.read_gauge("connections", lambda: 2)
        self.assertEqual(s.snapshot(4.0).peers[0].values["connections"], 2)
        self.assertRaises(ValueError, link.read_gauge, "requests", lambda: 0)

    def test_dyn_memory_defaults_to_max_rss(self) -> None:
        s = Stats("p", "s", "dc1", "rack1", started=0.0)
        self.assertEqual(s.snapshot(1.0).node["dyn_memory"], stats.max_rss_kb())

    def test_histograms_reset_every_five_minutes(self) -> None:
        s = Stats("p", "s", "dc1", "rack1", started=0.0)
        link = s.peer("p1", "dc1", "rack2")
        s.latency.record(10)
        link.rtt.record(10)
        self.assertEqual(s.snapshot(299.0).histograms["latency"].count, 1)
        snapshot = s.snapshot(300.0)
        self.assertEqual(snapshot.histograms["latency"].count, 0)
        self.assertEqual(snapshot.peers[0].histograms["rtt"].count, 0)
        s.latency.record(10)
        self.assertFalse(s.maybe_reset_histograms(599.0))
        self.assertTrue(s.maybe_reset_histograms(600.0))
        self.assertEqual(s.latency.count, 0)

    def test_reset_period_follows_the_stats_interval(self) -> None:
        # ten stats intervals: 5 minutes at Dynomite's default 30 s
        s = Stats("p", "s", "dc1", "rack1", started=0.0, reset_interval=1.0)
        s.latency.record(10)
        self.assertEqual(s.snapshot(0.5).histograms["latency"].count, 1)
        self.assertEqual(s.snapshot(1.0).histograms["latency"].count, 0)
        self.assertEqual(s.snapshot(1.0).totals["latency"].count, 1)

    def test_historeset(self) -> None:
        s = Stats("p", "s", "dc1", "rack1", started=0.0)
        s.latency.record(10)
        s.client_eof += 1
        s.reset_histograms(100.0)
        snapshot = s.snapshot(101.0)
        self.assertEqual(snapshot.histograms["latency"].count, 0)
        self.assertEqual(snapshot.totals["latency"].count, 1)  # what /metrics shows
        self.assertEqual(snapshot.pool["client_eof"], 1)  # counters are never reset
        # the next periodic reset counts from the manual one
        s.latency.record(10)
        self.assertEqual(s.snapshot(399.0).histograms["latency"].count, 1)
        self.assertEqual(s.snapshot(400.0).histograms["latency"].count, 0)

    def test_strings_are_escaped(self) -> None:
        snapshot = Snapshot("pool", "srv", 'a"b', "v", "dc", "rack", 0, 0)
        self.assertEqual(json.loads(render_info(snapshot))["source"], 'a"b')


class ClusterDescribeTests(unittest.TestCase):
    def test_sample_byte_for_byte(self) -> None:
        _, body = load_sample("cluster_describe.http")
        members = [
            ClusterMember("dc1", "rack1", "127.0.0.61", "127.0.0.61", 30920, 101134286),
            ClusterMember("dc1", "rack2", "127.0.0.61", "127.0.0.61", 30921, 101134286),
        ]
        self.assertEqual(render_cluster_describe(members), body)

    def test_grouping_in_first_seen_order(self) -> None:
        members = [
            ClusterMember("dc2", "r1", "a", "a", 1, 0),
            ClusterMember("dc1", "r2", "b", "b", 2, 5),
            ClusterMember("dc2", "r1", "c", "c", 3, 7),
            ClusterMember("dc1", "r1", "d", "d", 4, 9),
        ]
        described = json.loads(render_cluster_describe(members))
        self.assertEqual([dc["name"] for dc in described["dcs"]], ["dc2", "dc1"])
        self.assertEqual(
            [s["name"] for s in described["dcs"][0]["racks"][0]["servers"]], ["a", "c"]
        )
        self.assertEqual([r["name"] for r in described["dcs"][1]["racks"]], ["r2", "r1"])


class PrometheusTests(unittest.TestCase):
    def stats(self) -> Stats:
        s = Stats("dyn_o_mite", "127.0.0.1:6379", "dc1", "rack1", started=0.0, source="h")
        s.client_read_requests += 7
        s.client_connections += 2
        s.peer_ejected_at = 1234
        for value in (0, 5, 5, 13, 100):
            s.latency.record(value)
        a = s.peer("10.0.0.2:8101", "dc1", "rack2")
        a.requests += 4
        a.rtt.record(250)
        b = s.peer("10.0.0.3:8101", "dc2", 'r"ack\\1')
        b.responses += 1
        b.read_gauge("connections", lambda: 3)
        return s

    def test_parses_strictly(self) -> None:
        families = parse_prometheus(render_prometheus(self.stats().snapshot(60.0)))
        # one family per exported metric of the table, counters with _total
        expected = {m.family for m in METRICS if m.exported} | {"dynotwist_build_info"}
        self.assertEqual(set(families), expected)
        for metric in METRICS:
            if not metric.exported:
                continue
            family = families[metric.family]
            self.assertEqual(family["help"], metric.description)
            kind = {stats.TIMESTAMP: "gauge"}.get(metric.kind, metric.kind)
            self.assertEqual(family["type"], kind)

    def test_base_units_and_names(self) -> None:
        families = parse_prometheus(render_prometheus(self.stats().snapshot(60.0)))
        for name in families:
            self.assertTrue(name.startswith("dynotwist_"), name)
            self.assertNotIn("micro", name)
            self.assertNotIn("_kb", name)
        self.assertIn("dynotwist_latency_seconds", families)
        self.assertIn("dynotwist_payload_size_bytes", families)
        self.assertIn("dynotwist_dyn_memory_bytes", families)
        self.assertIn("dynotwist_peer_request_bytes_total", families)
        self.assertIn("dynotwist_server_ejected_at_timestamp_seconds", families)
        # nothing behind them in dynotwist: not exported
        for name in ("alloc_msgs", "free_mbufs", "server_queue_wait", "out_queue_bytes"):
            self.assertFalse(any(name in family for family in families), name)
        build = families["dynotwist_build_info"]["samples"]
        self.assertEqual(build[0][1]["version"], stats.__version__)
        self.assertEqual(build[0][2], 1)

    def value(self, families: dict, family: str, **labels: str) -> float:
        for _name, sample_labels, value in families[family]["samples"]:
            if all(sample_labels.get(k) == v for k, v in labels.items()):
                return value
        raise KeyError((family, labels))

    def test_values_and_labels(self) -> None:
        families = parse_prometheus(render_prometheus(self.stats().snapshot(60.0)))
        node = {"dc": "dc1", "rack": "rack1"}
        self.assertEqual(
            families["dynotwist_client_read_requests_total"]["samples"],
            [("dynotwist_client_read_requests_total", node, 7.0)],
        )
        self.assertEqual(self.value(families, "dynotwist_client_connections", **node), 2)
        self.assertEqual(
            self.value(families, "dynotwist_peer_ejected_at_timestamp_seconds", **node), 1.234
        )
        self.assertEqual(self.value(families, "dynotwist_uptime_seconds", **node), 60)
        self.assertEqual(
            self.value(families, "dynotwist_peer_link_requests_total", peer="10.0.0.2:8101"), 4
        )
        self.assertEqual(
            families["dynotwist_peer_link_responses_total"]["samples"][1][1],
            {
                "dc": "dc1",
                "rack": "rack1",
                "peer": "10.0.0.3:8101",
                "peer_dc": "dc2",
                "peer_rack": 'r"ack\\1',
            },
        )
        self.assertEqual(
            self.value(families, "dynotwist_peer_link_connections", peer="10.0.0.3:8101"), 3
        )

    def test_histograms(self) -> None:
        families = parse_prometheus(render_prometheus(self.stats().snapshot(60.0)))
        samples = families["dynotwist_latency_seconds"]["samples"]
        buckets = {s[1]["le"]: s[2] for s in samples if s[0].endswith("_bucket")}
        self.assertEqual(len(buckets), len(stats.EXPORTED_BUCKETS) + 1)
        self.assertEqual(buckets["1e-06"], 1)  # 0
        self.assertEqual(buckets["9e-06"], 3)  # 5, 5
        self.assertEqual(buckets["3e-05"], 4)  # 13
        self.assertEqual(buckets["0.000104"], 5)  # [88] holds 88..104
        self.assertEqual(buckets["+Inf"], 5)
        by_name = {s[0]: s[2] for s in samples if not s[0].endswith("_bucket")}
        self.assertEqual(by_name["dynotwist_latency_seconds_sum"], 0.000123)
        self.assertEqual(by_name["dynotwist_latency_seconds_count"], 5)
        rtt = families["dynotwist_peer_link_rtt_seconds"]["samples"]
        self.assertEqual(
            [s[2] for s in rtt if s[0].endswith("_count")], [1, 0]
        )  # one series per peer

    def test_histograms_never_go_down(self) -> None:
        s = self.stats()
        before = parse_prometheus(render_prometheus(s.snapshot(60.0)))
        s.reset_histograms(61.0)  # /historeset
        after = parse_prometheus(render_prometheus(s.snapshot(400.0)))  # and a periodic reset
        self.assertEqual(
            before["dynotwist_latency_seconds"]["samples"],
            after["dynotwist_latency_seconds"]["samples"],
        )
        self.assertEqual(s.snapshot(401.0).histograms["latency"].count, 0)  # /info's

    def test_no_peers(self) -> None:
        s = Stats("p", "s", "dc1", "rack1", started=0.0)
        families = parse_prometheus(render_prometheus(s.snapshot(1.0)))
        self.assertEqual(families["dynotwist_peer_link_requests_total"]["samples"], [])

    def test_parser_is_strict(self) -> None:
        bad = [
            "dynotwist_x 1",  # no trailing newline
            "# HELP a x\n# TYPE a gauge\nb 1\n",  # sample outside its family
            "# HELP a x\n# TYPE a counter\na 1\n",  # counter without _total
            '# HELP a x\n# TYPE a gauge\na{x="1} 1\n',  # bad label
            "# HELP a x\n# TYPE a gauge\n\na 1\n",  # blank line
            '# HELP h x\n# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\n'
            "h_sum 1\nh_count 1\n",  # not cumulative
        ]
        for text in bad:
            self.assertRaises(ValueError, parse_prometheus, text)


class DescribeTests(unittest.TestCase):
    def test_layout(self) -> None:
        text = describe("9.9.9")
        lines = text.split("\n")
        self.assertEqual(lines[:3], ["This is dynotwist-9.9.9", "", "pool stats:"])
        self.assertEqual(lines[3], '  client_eof          "# client connections closed"')
        self.assertIn('  client_read_requests"# client read requests"', lines)
        server = lines.index("server stats:")
        self.assertEqual(lines[server - 1], "")
        self.assertEqual(
            lines[server + 1], '  server_eof          "# connections to the datastore lost"'
        )
        # Dynomite's two sections end with the last server metric; dynotwist's follow
        node = lines.index("node stats (dynotwist: /info's top level):")
        self.assertEqual(
            lines[node - 2 : node], ['  redis_req_other     "# other Redis commands"', ""]
        )
        self.assertLess(node, lines.index("peer stats (dynotwist: /metrics, per peer):"))
        # what has nothing behind it says so; what /info shows in other units says which
        self.assertIn(
            '  free_mbufs          "always 0: dynotwist keeps no message or buffer pool'
            ' (not in /metrics)"',
            lines,
        )
        self.assertIn("(usec in /info)", text)
        # Dynomite's typos are not copied
        for typo in ("respones", "# client write responses"):
            self.assertNotIn(typo, text)

    def test_every_metric_once(self) -> None:
        text = describe()
        for metric in METRICS:
            name = metric.exported_name if metric.scope == stats.PEER else metric.name
            line = '  %-20s"%s' % (name, metric.description)
            self.assertEqual(
                len([x for x in text.split("\n") if x.startswith(line)]), 1, line
            )


class RoundTripTests(unittest.TestCase):
    def test_one_probe_at_a_time_timed_from_its_write_to_its_reply(self) -> None:
        from dynotwist.core.stats import Histogram, RoundTrips

        now = [10.0]
        histogram = Histogram()
        trips = RoundTrips([histogram], lambda: now[0])
        trips.sent(2)  # two requests outstanding: the second is the probe
        now[0] = 10.5
        trips.sent(3)  # a probe is out: not timed
        now[0] = 11.0
        trips.answered(1)  # not yet the probe's reply
        self.assertEqual(histogram.count, 0)
        now[0] = 12.0
        trips.answered(2)  # the probe's reply (and the next)
        self.assertEqual((histogram.count, histogram.sum), (1, 2_000_000))
        self.assertFalse(trips.probing)
        trips.sent(1)  # a new probe
        trips.clear()  # the connection is gone
        trips.answered(1)
        self.assertEqual(histogram.count, 1)

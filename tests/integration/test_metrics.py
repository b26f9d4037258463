"""/metrics of running nodes, read as Prometheus reads it (prometheus_client): series
that never go down across /historeset and /info's periodic reset, counters that count
what happened, and a size that stays small."""

from __future__ import annotations

import http.client
import json
import time
from typing import Dict, Tuple

import redis
from prometheus_client.parser import text_string_to_metric_families

from dynotwist.testing.ports import LOOPBACK
from tests.support.fixtures import NodeTestCase, Processes, ProcessTestCase
from tests.support.metrics import parse_prometheus

Series = Dict[Tuple[str, Tuple[Tuple[str, str], ...]], float]

# every family a client's SET, GET and LRANGE must move on a node alone in its cluster
MOVED_BY_TRAFFIC = (
    "client_read_requests_total", "client_write_requests_total", "read_requests_total",
    "write_requests_total", "read_request_bytes_total", "write_request_bytes_total",
    "read_responses_total", "write_responses_total", "read_response_bytes_total",
    "write_response_bytes_total", "redis_req_get_total", "redis_req_set_total",
    "redis_req_lists_total", "redis_req_ping_total", "client_eof_total",
    "stats_count_total", "latency_seconds", "payload_size_bytes", "server_rtt_seconds",
    "client_out_queue_depth", "server_out_queue_depth", "dyn_memory_bytes", "datastore_up",
    "build_info",
)


def get(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=15)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        body = response.read()
        assert response.status == 200, (path, response.status, body)
        return body
    finally:
        connection.close()


def series(text: str) -> Series:
    """Every sample of the counters and histograms, as prometheus_client reads them."""
    values: Series = {}
    for family in text_string_to_metric_families(text):
        if family.type not in ("counter", "histogram"):
            continue
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


class MetricsTest(NodeTestCase):
    """One node whose /info histograms start afresh every second (stats_interval 100)."""

    node_fields = {"stats_interval": 100}

    def traffic(self, count: int = 200) -> None:
        client = redis.Redis(host=LOOPBACK, port=self.node.client_port, socket_timeout=15)
        self.addCleanup(client.close)
        for i in range(count):
            client.set("metrics:%d" % (i % 10), "v" * i)
            client.get("metrics:%d" % (i % 10))
            client.rpush("metrics:list", i)
            client.lrange("metrics:list", 0, 3)
            # a fifth request: one read in 16 is timed (node-wide), and a cycle of 4
            # would time the same command every time
            client.exists("metrics:list")
        client.ping()
        for _ in range(20):  # short-lived clients are counted too
            short = redis.Redis(host=LOOPBACK, port=self.node.client_port, socket_timeout=15)
            short.get("metrics:1")
            short.close()

    def metrics(self) -> str:
        return get(self.node.stats_port, "/metrics").decode("utf-8")

    def test_no_series_goes_down_across_historeset_and_the_periodic_reset(self) -> None:
        self.traffic()
        before = series(self.metrics())
        self.assertEqual(get(self.node.stats_port, "/historeset"), b"OK\r\n")
        info = json.loads(get(self.node.stats_port, "/info"))
        self.assertEqual(info["latency_max"], 0)  # /info's histograms start afresh
        self.traffic(20)
        time.sleep(1.2)  # past /info's periodic reset (10 stats intervals of 100 ms)
        text = self.metrics()
        parse_prometheus(text)  # strict text format
        after = series(text)
        self.assertTrue(set(before) <= set(after))
        went_down = {key: (before[key], after[key]) for key in before if after[key] < before[key]}
        self.assertEqual(went_down, {})
        counts = [v for (name, _), v in after.items() if name == "dynotwist_latency_seconds_count"]
        self.assertGreater(counts[0], 200)

    def test_what_traffic_moves_is_counted(self) -> None:
        self.traffic()
        families = {f.name: f for f in text_string_to_metric_families(self.metrics())}
        for name in MOVED_BY_TRAFFIC:
            family = families["dynotwist_" + name.replace("_total", "")]
            values = [s.value for s in family.samples if not s.name.endswith("_bucket")]
            self.assertTrue(values and all(v > 0 for v in values), (name, family.samples))
        # nothing behind these in dynotwist: not exported
        for name in ("alloc_msgs", "free_mbufs", "server_queue_wait", "out_queue_bytes"):
            self.assertNotIn("dynotwist_" + name, families)


class IdleMetricsSizeTest(ProcessTestCase):
    """An idle node of two racks of two nodes: /metrics stays small."""

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.cluster = processes.cluster(1, 2, 2)

    def test_idle_size(self) -> None:
        body = get(self.cluster.nodes[0].stats_port, "/metrics")  # type: ignore[attr-defined]
        families = parse_prometheus(body.decode("utf-8"))
        self.assertEqual(len(families["dynotwist_peer_link_up"]["samples"]), 3)
        self.assertLess(len(body), 48000, len(body))  # 178 KB with 93 buckets per histogram

"""Health that tells the truth, with real processes: a node of a two-rack cluster whose
redis-server, then whose peer, is killed and restarted. ``/ping`` stays Dynomite's
liveness answer; ``/ready`` and the ``datastore_up`` and per-peer ``up`` gauges follow
what the node can serve; the loss and the return are logged once each at the default
verbosity, however many reconnection attempts come between."""

from __future__ import annotations

import http.client
import json
import signal
from typing import Dict, List, Tuple

from dynotwist.testing.cluster import Cluster, ClusterNode
from dynotwist.testing.ports import LOOPBACK
from tests.support.fixtures import Processes, ProcessTestCase
from tests.support.metrics import parse_prometheus
from tests.support.waiting import wait_until

WAIT = 30.0  # seconds: bound on the waits for a reconnection


def http_get(port: int, path: str) -> Tuple[int, bytes]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=15)
    try:
        connection.request("GET", path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


class HealthTest(ProcessTestCase):
    cluster: Cluster

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        # reconnection attempts to the datastore every second
        cls.cluster = processes.cluster(1, 2, extra_fields={"server_retry_timeout": 1000})

    @property
    def node(self) -> ClusterNode:
        return self.cluster.nodes[0]

    def ready(self) -> Tuple[int, bytes]:
        return http_get(self.node.stats_port, "/ready")

    def gauges(self) -> Dict[str, float]:
        _status, body = http_get(self.node.stats_port, "/metrics")
        families = parse_prometheus(body.decode("utf-8"))
        values = {"datastore_up": families["dynotwist_datastore_up"]["samples"][0][2]}
        for _, labels, value in families["dynotwist_peer_link_up"]["samples"]:
            values["peer " + labels["peer"]] = value
        return values

    def counter(self, name: str) -> int:
        _status, body = http_get(self.node.stats_port, "/info")
        pool = json.loads(body)["dyn_o_mite"]
        server = next(v for v in pool.values() if isinstance(v, dict))
        return int(pool.get(name, server.get(name, 0)))

    def log_lines(self, text: str) -> int:
        return len(self.logged(text))

    def logged(self, text: str) -> List[str]:
        with open(self.node.log_path, encoding="utf-8", errors="replace") as f:
            return [line for line in f if text in line]

    def set_consistency(self, level: str) -> None:
        for op in ("read", "write"):
            status, _ = http_get(self.node.stats_port, "/set_consistency/%s/%s" % (op, level))
            self.assertEqual(status, 200)

    def test_datastore_killed_and_restarted(self) -> None:
        self.assertEqual(self.ready(), (200, b"ready\n"))
        self.assertEqual(self.gauges()["datastore_up"], 1)
        redis = self.node.redis
        failures = self.counter("server_err")
        redis.stop(signal.SIGKILL)
        wait_until(lambda: self.ready()[0] == 503, WAIT, message="/ready 503")
        _status, reason = self.ready()
        self.assertIn(b"not ready: datastore 127.0.0.1:%d not connected" % redis.port, reason)
        self.assertEqual(self.gauges()["datastore_up"], 0)
        self.assertEqual(http_get(self.node.stats_port, "/ping"), (200, b"OK\r\n"))
        # several attempts to reconnect, one warning
        wait_until(lambda: self.counter("server_err") >= failures + 3, WAIT,
                   message="three failed reconnection attempts")
        self.assertEqual(self.log_lines("datastore 127.0.0.1:%d is unreachable" % redis.port), 1)
        redis.spawn()
        redis.ready(WAIT)
        wait_until(lambda: self.ready()[0] == 200, WAIT, message="/ready 200 again")
        self.assertEqual(self.gauges()["datastore_up"], 1)
        back = "datastore 127.0.0.1:%d is reachable again" % redis.port
        wait_until(lambda: self.log_lines(back) >= 1, WAIT, message="the return logged")
        self.assertEqual(self.log_lines(back), 1)

    def test_peer_killed_and_restarted(self) -> None:
        peer = self.cluster.nodes[1]
        name = "%s:%d" % (peer.host, peer.peer_port)
        self.assertEqual(self.gauges()["peer " + name], 1)
        self.set_consistency("dc_quorum")  # both racks needed: the peer's too
        self.addCleanup(self.set_consistency, "dc_one")
        self.cluster.kill(peer)
        wait_until(lambda: self.gauges()["peer " + name] == 0, WAIT, message="peer down")
        status, reason = self.ready()
        self.assertEqual(status, 503)
        self.assertIn(b"DC_QUORUM: 1 of the 2 racks of dc1 reachable, 2 needed", reason)
        self.set_consistency("dc_one")  # the local rack alone serves DC_ONE
        self.assertEqual(self.ready()[0], 200)
        self.set_consistency("dc_quorum")
        errors = self.counter("peer_err")
        wait_until(lambda: self.counter("peer_err") >= errors + 2, WAIT,
                   message="two failed reconnection attempts")
        self.assertEqual(self.log_lines("peer %s " % name), 1,  # the loss, once
                         self.logged("peer %s " % name))
        self.cluster.restart(peer)
        wait_until(lambda: self.ready()[0] == 200, WAIT, message="/ready 200 again")
        self.assertEqual(self.gauges()["peer " + name], 1)
        wait_until(lambda: self.log_lines("peer %s " % name) >= 2, WAIT,
                   message="the return logged")
        self.assertEqual(self.log_lines("peer %s " % name), 2)  # and the return, once

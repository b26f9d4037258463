"""The admin port (``stats_listen``) of running nodes: /info, /metrics, states, settings.

- Stats, in a cluster of one DC of three racks: a known number of GETs and SETs
  through node 1; /info of every node has every field of Dynomite's sample
  (tests/vectors/rest-samples/info_final.http) and counts them where they happened;
  /metrics parses as strict Prometheus text and agrees with /info.
- Settings, in the same cluster: read consistency (seen by new connections), the
  timeout factor, unknown paths and bad values, peers marked down, up and reset.
- States, through the admin port of a single node: STANDBY, WRITES_ONLY (writes
  held until the state changes), RESUMING, NORMAL.
- Guards, on two single nodes (one with ``admin_token``): a browser's request (Origin,
  Sec-Fetch-Site) or another method than GET changes nothing; the token is needed
  when set; a request announcing a 1 GB body is answered 413 from its headers; a
  connection that trickles its headers is closed; connections over the cap get 503.
- ``twistd dynomite -D`` lists every metric.

No timing assertions: the one short socket read that times out proves that a write is
held, it does not measure the node; the trickling client gives up (and fails) only
after three times the node's header deadline.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from email.message import Message
from typing import Any, Dict, List, Optional, Tuple

from prometheus_client.parser import text_string_to_metric_families
from twisted.trial import unittest

from dynotwist.adminhttp import MAX_CONNECTIONS, REQUEST_DEADLINE
from dynotwist.core.stats import METRICS, PEER, POOL_EXTRAS
from dynotwist.testing.blocking import SOCKET_TIMEOUT, RespClient
from dynotwist.testing.cluster import Cluster, ClusterNode
from dynotwist.testing.ports import LOOPBACK
from dynotwist.testing.processes import NodeProcess, node_env, twistd_argv
from tests.support.fixtures import NodeTestCase, Processes, ProcessTestCase
from tests.support.metrics import parse_prometheus
from tests.support.resp import bulk
from tests.support.waiting import wait_until

SAMPLES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "vectors", "rest-samples")
POOL = "dyn_o_mite"  # the YAML root key dynotwist.testing.render_config writes
STATE_FORBIDS = b"-ERR Dynomite: Dynomite's current state does not allow this request\r\n"
OK = b"+OK\r\n"
NULL = b"$-1\r\n"
REPLICATION_WAIT = 10.0  # seconds: bound on the wait for asynchronous copies
HELD_PROBE = 1.0  # seconds: a read that must time out while a write is held


def http_call(
    port: int, path: str, method: str = "GET", headers: Optional[Dict[str, str]] = None
) -> Tuple[int, bytes, Message]:
    """A request on the admin port: (status, body, headers)."""
    url = "http://127.0.0.1:%d%s" % (port, path)
    request = urllib.request.Request(url, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=SOCKET_TIMEOUT) as response:
            return response.status, response.read(), response.headers
    except urllib.error.HTTPError as error:
        with error:
            return error.code, error.read(), error.headers


def http_get(port: int, path: str) -> Tuple[int, bytes, str]:
    """GET ``path`` on the admin port: (status, body, content type)."""
    status, body, headers = http_call(port, path)
    return status, body, headers.get("content-type", "")


def admin(port: int, path: str) -> bytes:
    """The body of a GET that must answer 200."""
    status, body, _ = http_get(port, path)
    if status != 200:
        raise AssertionError("GET %s: %d %r" % (path, status, body))
    return body


def info(port: int) -> Dict[str, Any]:
    result: Dict[str, Any] = json.loads(admin(port, "/info").decode("utf-8"))
    return result


def sample_info() -> Dict[str, Any]:
    with open(os.path.join(SAMPLES, "info_final.http"), "rb") as f:
        raw = f.read()
    body = raw[raw.index(b"{"):]
    result: Dict[str, Any] = json.loads(body.decode("utf-8"))
    return result


def nested(obj: Dict[str, Any]) -> Tuple[str, Dict[str, Any]]:
    """The one object inside ``obj``: (its key, its value); the pool's per-peer "hints"
    object (dynotwist's) aside."""
    objects = [(k, v) for k, v in obj.items() if isinstance(v, dict) and k != "hints"]
    if len(objects) != 1:
        raise AssertionError("%d nested objects in %r" % (len(objects), sorted(obj)))
    return objects[0]


def pool_counters(port: int) -> Dict[str, Any]:
    result: Dict[str, Any] = info(port)[POOL]
    return result


def direct(redis_port: int, *args: Any) -> bytes:
    with RespClient(redis_port) as client:
        return client.call(*args)


def fresh_key(prefix: str) -> str:
    return "%s:%s" % (prefix, uuid.uuid4().hex)


class AdminClusterTests(ProcessTestCase):
    """The admin port of each node of one DC of three racks."""

    cluster: Cluster

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.cluster = processes.cluster(1, 3)

    @property
    def nodes(self) -> List[ClusterNode]:
        return self.cluster.nodes

    def test_info_and_metrics_count_client_and_peer_requests(self) -> None:
        gets, sets = 7, 5
        first, others = self.nodes[0], self.nodes[1:]
        before = {m.name: pool_counters(m.stats_port) for m in self.nodes}
        keys = [fresh_key("admin-count") for _ in range(sets)]
        with RespClient(first.client_port) as client:
            for key in keys:
                self.assertEqual(client.call("SET", key, b"v"), OK)
            for i in range(gets):
                self.assertEqual(client.call("GET", keys[i % sets]), bulk(b"v"))
        for key in keys:  # the copies to the other racks have arrived
            self.wait_replicated(key, b"v")

        sample = sample_info()
        sample_pool_name, sample_pool = nested(sample)
        self.assertEqual(sample_pool_name, POOL)
        sample_server_name, sample_server = nested(sample_pool)
        after = {}
        for member in self.nodes:
            body = info(member.stats_port)
            after[member.name] = body.get(POOL, {})
            self.assertEqual(set(body), set(sample), member.name)
            pool_name, pool = nested(body)
            self.assertEqual(pool_name, POOL)
            # the server object is named after the datastore's address, as in Dynomite
            server_name, server = nested(pool)
            self.assertEqual(server_name, "127.0.0.1:%d" % member.redis_port)
            self.assertEqual(set(pool) - {server_name, "hints"},
                             set(sample_pool) - {sample_server_name} | set(POOL_EXTRAS),
                             member.name)
            self.assertEqual(set(server), set(sample_server), member.name)
            self.assertEqual((body["dc"], body["rack"]), (member.dc, member.rack))
            # dynotwist's hint counters, one object per peer
            self.assertEqual(set(pool["hints"]), {"%s:%d" % (m.host, m.peer_port)
                                                  for m in self.nodes if m is not member})

        def grew(name: str, counter: str) -> int:
            return int(after[name][counter]) - int(before[name][counter])

        self.assertGreaterEqual(grew(first.name, "client_read_requests"), gets)
        self.assertGreaterEqual(grew(first.name, "client_write_requests"), sets)
        # each SET is copied to the two other racks
        self.assertGreaterEqual(grew(first.name, "peer_requests"), 2 * sets)
        for member in others:
            self.assertEqual(grew(member.name, "client_read_requests"), 0, member.name)
            self.assertEqual(grew(member.name, "client_write_requests"), 0, member.name)
            self.assertGreaterEqual(after[member.name]["dnode_client_connections"], 1,
                                    member.name)

        for member in self.nodes:
            status, body, content_type = http_get(member.stats_port, "/metrics")
            self.assertEqual(status, 200)
            self.assertTrue(content_type.startswith("text/plain"), content_type)
            families = parse_prometheus(body.decode("utf-8"))
            # and as Prometheus itself reads it
            official = {
                family.name: family
                for family in text_string_to_metric_families(body.decode("utf-8"))
            }
            self.assertEqual(official["dynotwist_client_read_requests"].type, "counter")
            self.assertEqual(official["dynotwist_latency_seconds"].type, "histogram")
            self.assertGreater(len(official), 50)
            samples = families["dynotwist_client_read_requests_total"]["samples"]
            self.assertEqual(len(samples), 1, samples)
            _, labels, value = samples[0]
            self.assertEqual(labels, {"dc": member.dc, "rack": member.rack})
            # no client traffic since: the two reads agree
            self.assertEqual(value, pool_counters(member.stats_port)["client_read_requests"],
                             member.name)

    def test_read_consistency_applies_to_new_connections(self) -> None:
        first = self.nodes[0]
        port = first.stats_port
        self.addCleanup(admin, port, "/set_consistency/read/dc_one")
        key = fresh_key("admin-quorum")
        # the local replica (rack 1) differs from the two others
        for member in self.nodes:
            value = b"local" if member is first else b"same"
            self.assertEqual(direct(member.redis_port, "SET", key, value), OK)
        self.assertEqual(admin(port, "/get_consistency"),
                         b"Read Consistency: DC_ONE\r\nWrite Consistency: DC_ONE\r\n")
        with RespClient(first.client_port) as client:
            self.assertEqual(client.call("GET", key), bulk(b"local"))
        self.assertEqual(admin(port, "/set_consistency/read/dc_quorum"), b"OK\r\n")
        self.assertEqual(admin(port, "/get_consistency"),
                         b"Read Consistency: DC_QUORUM\r\nWrite Consistency: DC_ONE\r\n")
        with RespClient(first.client_port) as client:
            self.assertEqual(client.call("GET", key), bulk(b"same"))  # two racks agree

    def test_timeout_factor(self) -> None:
        port = self.nodes[0].stats_port
        self.addCleanup(admin, port, "/set_timeout_factor/1")
        self.assertEqual(admin(port, "/set_timeout_factor/5"), b"OK\r\n")
        self.assertEqual(admin(port, "/get_timeout_factor"), b"Timeout factor: 5\n")

    def test_unknown_path_and_bad_value(self) -> None:
        port = self.nodes[0].stats_port
        self.assertEqual(http_get(port, "/no/such/path")[0], 404)
        self.assertEqual(http_get(port, "/set_consistency/read/bogus")[0], 400)
        self.assertEqual(admin(port, "/get_consistency"),
                         b"Read Consistency: DC_ONE\r\nWrite Consistency: DC_ONE\r\n")

    def test_peer_down_up_reset(self) -> None:
        first = self.nodes[0]
        port = first.stats_port
        self.addCleanup(http_get, port, "/peer/up/all")
        self.addCleanup(http_get, port, "/set_consistency/read/dc_one")
        self.assertEqual(admin(port, "/peer/down/all"), b"OK\r\n")
        # peers down: a write is served locally and no copy is sent to the other racks
        down_key = fresh_key("admin-down")
        sent = pool_counters(port)["peer_requests"]
        with RespClient(first.client_port) as client:
            self.assertEqual(client.call("SET", down_key, b"local"), OK)
        self.assertEqual(direct(first.redis_port, "GET", down_key), bulk(b"local"))
        self.assertEqual(pool_counters(port)["peer_requests"], sent)
        # and a quorum read, which needs another rack, fails
        self.assertEqual(admin(port, "/set_consistency/read/dc_quorum"), b"OK\r\n")
        with RespClient(first.client_port) as client:
            reply = client.call("GET", down_key)
        self.assertTrue(reply.startswith(b"-ERR "), reply)
        self.assertEqual(admin(port, "/set_consistency/read/dc_one"), b"OK\r\n")
        self.assertEqual(admin(port, "/peer/up/all"), b"OK\r\n")
        self.assertEqual(admin(port, "/peer/reset/all"), b"OK\r\n")
        self.assertEqual(http_get(port, "/peer/down/nosuchpeer")[0], 400)
        key = fresh_key("admin-reset")
        attempt = [0]

        def replicated() -> bool:
            # the copies are dropped while the peers reconnect: write again until they land
            attempt[0] += 1
            value = b"%d" % attempt[0]
            with RespClient(first.client_port) as client:
                if client.call("SET", key, value) != OK:
                    return False
            return all(direct(m.redis_port, "GET", key) == bulk(value) for m in self.nodes)

        wait_until(replicated, REPLICATION_WAIT, interval=0.2,
                   message="a SET through node 1 on every rack after /peer/reset/all")
        with RespClient(first.client_port) as client:
            self.assertEqual(client.call("GET", key), bulk(b"%d" % attempt[0]))

    def wait_replicated(self, key: str, value: bytes) -> None:
        def everywhere() -> bool:
            return all(direct(m.redis_port, "GET", key) == bulk(value) for m in self.nodes)

        wait_until(everywhere, REPLICATION_WAIT, message="%r on every rack" % key)


class AdminStateTests(NodeTestCase):
    """/state/<name> on a single node: what each state serves, refuses and holds."""

    def set_state(self, name: str) -> None:
        self.assertEqual(admin(self.node.stats_port, "/state/%s" % name), b"OK\r\n")

    def test_states(self) -> None:
        port = self.node.stats_port
        self.addCleanup(http_get, port, "/state/normal")
        key = fresh_key("admin-state")
        client = RespClient(self.node.client_port)
        self.addCleanup(client.close)

        # STANDBY: everything refused, the connection stays usable
        self.set_state("standby")
        self.assertEqual(admin(port, "/state/get_state"), b"State: STANDBY\n")
        self.assertEqual(client.call("GET", key), STATE_FORBIDS)
        self.assertEqual(client.call("SET", key, b"standby"), STATE_FORBIDS)
        self.assertEqual(client.call("GET", key), STATE_FORBIDS)
        self.assertEqual(direct(self.backend.port, "GET", key), NULL)

        # WRITES_ONLY: reads refused, writes held until the state changes
        self.set_state("writes_only")
        self.assertEqual(admin(port, "/state/get_state"), b"State: WRITES_ONLY\n")
        self.assertEqual(client.call("GET", key), STATE_FORBIDS)
        with RespClient(self.node.client_port) as writer:
            writer.send_command("SET", key, b"held")
            writer.sock.settimeout(HELD_PROBE)
            with self.assertRaises(socket.timeout):
                writer.read_reply()  # held: no reply yet
            writer.sock.settimeout(SOCKET_TIMEOUT)
            self.assertEqual(direct(self.backend.port, "GET", key), NULL)
            self.set_state("normal")
            self.assertEqual(writer.read_reply(), OK)
        self.assertEqual(direct(self.backend.port, "GET", key), bulk(b"held"))

        # RESUMING: writes served, reads refused
        self.set_state("resuming")
        self.assertEqual(admin(port, "/state/get_state"), b"State: RESUMING\n")
        self.assertEqual(client.call("SET", key, b"resuming"), OK)
        self.assertEqual(client.call("GET", key), STATE_FORBIDS)
        self.assertEqual(direct(self.backend.port, "GET", key), bulk(b"resuming"))

        # NORMAL: everything served
        self.set_state("normal")
        self.assertEqual(client.call("SET", key, b"normal"), OK)
        self.assertEqual(client.call("GET", key), bulk(b"normal"))
        self.assertEqual(admin(port, "/state/get_state"), b"State: NORMAL\n")


TOKEN = "it-admin-token"
DRIP_INTERVAL = 0.5  # seconds between the bytes of a trickling client


class AdminGuardTests(ProcessTestCase):
    """What the admin port refuses, on a node without and a node with ``admin_token``."""

    open_node: NodeProcess
    guarded_node: NodeProcess

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        redis = processes.redis()
        cls.open_node = processes.node(redis.port, name="open")
        cls.guarded_node = processes.node(redis.port, name="guarded", admin_token=TOKEN)

    def assert_state(self, node: NodeProcess, state: bytes) -> None:
        self.assertEqual(admin(node.stats_port, "/state/get_state"), b"State: %s\n" % state)

    def test_browser_requests_change_nothing(self) -> None:
        port = self.open_node.stats_port
        self.addCleanup(http_get, port, "/state/normal")
        for headers in (
            {"Origin": "http://evil.example"},
            {"Origin": "null"},
            {"Sec-Fetch-Site": "cross-site"},  # an <img src> on another site sends no Origin
        ):
            status, body, _ = http_call(port, "/state/standby", headers=headers)
            self.assertEqual(status, 403, (headers, body))
            self.assertTrue(body.endswith(b"cannot change the node\n"), body)
        self.assert_state(self.open_node, b"NORMAL")
        # reading stays open to them
        status, body, _ = http_call(port, "/ping", headers={"Origin": "http://evil.example"})
        self.assertEqual((status, body), (200, b"OK\r\n"))
        # and a plain GET changes the node
        self.assertEqual(admin(port, "/state/standby"), b"OK\r\n")
        self.assert_state(self.open_node, b"STANDBY")

    def test_other_methods_change_nothing(self) -> None:
        port = self.open_node.stats_port
        for method in ("POST", "PUT", "DELETE", "HEAD"):
            status, body, _ = http_call(port, "/state/standby", method)
            self.assertEqual(status, 403, (method, body))
        status, body, _ = http_call(port, "/set_timeout_factor/7", "POST")
        self.assertEqual((status, body), (403, b"method POST cannot change the node: use GET\n"))
        self.assert_state(self.open_node, b"NORMAL")
        self.assertEqual(admin(port, "/get_timeout_factor"), b"Timeout factor: 1\n")

    def test_token_required_when_set(self) -> None:
        port = self.guarded_node.stats_port
        right = {"Authorization": "Bearer " + TOKEN}
        self.addCleanup(http_call, port, "/state/normal", "GET", right)
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
            status, _, answer_headers = http_call(port, "/state/standby", headers=headers)
            self.assertEqual(status, 401, headers)
            self.assertEqual(answer_headers.get("www-authenticate"), "Bearer")
        self.assert_state(self.guarded_node, b"NORMAL")  # reading needs no token
        # the token does not let a browser in
        browser = dict(right, Origin="http://evil.example")
        self.assertEqual(http_call(port, "/state/standby", headers=browser)[0], 403)
        self.assertEqual(http_call(port, "/state/standby", headers=right)[:2], (200, b"OK\r\n"))
        self.assert_state(self.guarded_node, b"STANDBY")

    def test_declared_body_refused_from_the_headers(self) -> None:
        port = self.open_node.stats_port
        with RespClient(port) as client:  # raw bytes both ways
            # 1 GB announced, only the headers sent: the answer comes without the body
            client.send(b"POST /state/standby HTTP/1.1\r\nHost: %s:%d\r\n"
                        b"Content-Length: 1073741824\r\n\r\n" % (LOOPBACK.encode(), port))
            answer = client.read_until_closed()
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 "), answer)
        self.assertTrue(answer.endswith(b"\r\n\r\nthe admin port takes no request body\n"))
        self.assert_state(self.open_node, b"NORMAL")

    def test_trickled_headers_closed(self) -> None:
        port = self.open_node.stats_port
        with RespClient(port) as client:
            client.send(b"GET /ping HTTP/1.1\r\nHost: a\r\nX-Slow: ")
            answer = self.trickle(client, time.monotonic() + 3 * REQUEST_DEADLINE)
        self.assertEqual(answer, b"")  # dropped, not answered
        self.assertEqual(admin(port, "/ping"), b"OK\r\n")

    def trickle(self, client: RespClient, give_up: float) -> bytes:
        """Send a byte every DRIP_INTERVAL until the node closes; what it sent."""
        while time.monotonic() < give_up:
            readable, _, _ = select.select([client.sock], [], [], DRIP_INTERVAL)
            if readable:
                return client.read_until_closed()
            try:
                client.send(b"x")
            except ConnectionError:
                return client.read_until_closed()
        raise AssertionError("a connection trickling its headers is still open")


class AdminConnectionCapTests(NodeTestCase):
    """At most MAX_CONNECTIONS admin connections at once (a node of its own)."""

    def test_connections_over_the_cap(self) -> None:
        port = self.node.stats_port
        held = []
        request = b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n"
        for _ in range(MAX_CONNECTIONS):
            client = RespClient(port)
            self.addCleanup(client.close)
            held.append(client)
            client.send(request)
            # the answer proves the node counts this connection
            self.assertTrue(client.sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n"))
        with RespClient(port) as client:
            answer = client.read_until_closed()
        self.assertTrue(answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer)
        self.assertTrue(answer.endswith(b"too many admin connections (%d): try again later\n"
                                        % MAX_CONNECTIONS))
        held.pop().close()

        def served() -> bool:
            with RespClient(port) as client:
                try:  # a 503 until the node has seen the close
                    client.send(request)
                    return client.sock.recv(65536).startswith(b"HTTP/1.1 200 OK\r\n")
                except ConnectionError:
                    return False

        wait_until(served, SOCKET_TIMEOUT, message="an admin connection once one closed")


class DescribeStatsTests(unittest.TestCase):
    def test_describe_lists_every_metric(self) -> None:
        argv = twistd_argv("-D")
        result = subprocess.run(argv, capture_output=True, env=node_env(), timeout=60,
                                cwd=self.mktemp_dir())
        self.assertEqual(result.returncode, 0, result.stderr.decode("utf-8", "replace"))
        output = result.stdout.decode("utf-8")
        missing = [m.name for m in METRICS
                   if (m.exported_name if m.scope == PEER else m.name) not in output]
        self.assertEqual(missing, [])

    def mktemp_dir(self) -> str:
        path = self.mktemp()
        os.makedirs(path)
        return path

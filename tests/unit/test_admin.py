"""The admin app: Dynomite's REST paths replayed against its recorded responses."""

from __future__ import annotations

import os
from typing import Dict, List, Optional, Tuple

from treq.testing import StubTreq
from twisted.trial import unittest

from dynotwist.admin import HELP, AdminApp
from dynotwist.config import parse_config
from dynotwist.core import consistency, states
from dynotwist.core.ring import Node, Topology
from dynotwist.core.stats import Snapshot, Stats
from tests.unit.test_stats import (
    SAMPLES,
    load_sample,
    parse_prometheus,
    snapshot_from_info,
    with_extras,
)

JSON = b"application/json; charset=utf-8"

# node A of the cluster the samples were recorded on (data/README.md section 4)
NODE_A = """\
dyn_o_mite:
  datacenter: dc1
  rack: rack1
  dyn_listen: 127.0.0.61:30920
  listen: 127.0.0.61:30910
  servers:
  - 127.0.0.61:30900:1
  tokens: '101134286'
  data_store: 0
  stats_listen: 127.0.0.61:30930
  enable_gossip: false
  secure_server_option: none
  pem_key_file: conf/dynomite.pem
  dyn_seeds:
  - 127.0.0.61:30921:rack2:dc1:101134286
"""


class FakeNodeView:
    """The node as the admin app sees it, recording what it was asked to do."""

    def __init__(self) -> None:
        self.config = parse_config(NODE_A)
        local = Node(
            "127.0.0.61:30920", "127.0.0.61", 30920, "dc1", "rack1", (101134286,), is_local=True
        )
        peer = Node("127.0.0.61:30921", "127.0.0.61", 30921, "dc1", "rack2", (101134286,))
        self.topology = Topology(local, [peer])
        self.read_consistency = self.config.read_consistency
        self.write_consistency = self.config.write_consistency
        self.timeout_factor = 1
        self.state = states.NORMAL
        self.read_repairs = False
        self.verbosity = 5
        self.histogram_resets = 0
        self.peer_states: Dict[str, str] = {peer.name: "NORMAL"}
        self.peer_calls: List[Tuple[str, str]] = []
        self.stats = Stats("dyn_o_mite", "127.0.0.61:30900", "dc1", "rack1", started=0.0)
        self.snapshot: Optional[Snapshot] = None

    def stats_snapshot(self) -> Snapshot:
        if self.snapshot is not None:
            return self.snapshot
        return self.stats.snapshot(45.0)

    def set_verbosity(self, level: int) -> int:
        self.verbosity = max(0, min(11, level))
        return self.verbosity

    def reset_histograms(self) -> None:
        self.histogram_resets += 1

    def _peer(self, verb: str, name: str, state: str) -> bool:
        self.peer_calls.append((verb, name))
        if name == "all":
            for peer in self.peer_states:
                self.peer_states[peer] = state
            return True
        if name not in self.peer_states:
            return False
        self.peer_states[name] = state
        return True

    def peer_up(self, name: str) -> bool:
        return self._peer("up", name, "NORMAL")

    def peer_down(self, name: str) -> bool:
        return self._peer("down", name, "DOWN")

    def peer_reset(self, name: str) -> bool:
        return self._peer("reset", name, "RESET")


def read_index() -> List[Tuple[str, str]]:
    """(file, request line) of every recorded call, in the order they were made."""
    calls = []
    with open(os.path.join(SAMPLES, "INDEX.tsv")) as f:
        for line in f:
            if line.startswith("#") or line.startswith("order\t"):
                continue
            fields = line.rstrip("\n").split("\t")
            calls.append((fields[2], fields[3]))
    return calls


class AdminTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.node = FakeNodeView()
        self.environ: Dict[str, str] = {}
        self.http = StubTreq(AdminApp(self.node, environ=self.environ).resource())

    def request(self, path: str, method: str = "GET"):
        d = self.http.request(method, "http://127.0.0.61:30930" + path)
        self.http.flush()
        response = self.successResultOf(d)
        body = self.successResultOf(self.http.content(response))
        return response, body

    def get(self, path: str) -> bytes:
        """The body of a 200 answer, checking Dynomite's content type and the length."""
        response, body = self.request(path)
        self.assertEqual(response.code, 200, (path, body))
        self.assertEqual(response.headers.getRawHeaders(b"content-type"), [JSON])
        self.assertEqual(response.length, len(body))  # the client took Content-Length
        return body

    def refused(self, path: str, code: int = 400) -> bytes:
        """The one-line reason of a 4xx answer."""
        response, body = self.request(path)
        self.assertEqual(response.code, code, (path, body))
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"), [b"text/plain; charset=utf-8"]
        )
        self.assertTrue(body.endswith(b"\n"), body)
        self.assertEqual(body.count(b"\n"), 1, body)
        return body


# what dynotwist answers differently on purpose, by sample file: (status, body or None)
DEVIATIONS: Dict[str, Tuple[int, Optional[bytes]]] = {
    "set_consistency_read_bogus.http": (400, None),
    # dc_each_safe_quorum is accepted (Dynomite's parser ignores it), so the read level
    # after all the sets is EACH_SAFE, not QUORUM
    "get_consistency_after_all_sets.http": (
        200,
        b"Read Consistency: DC_EACH_SAFE_QUORUM\r\nWrite Consistency: DC_SAFE_QUORUM\r\n",
    ),
    "state_bogus.http": (400, None),
    "read_repairs_bogus.http": (400, None),
    "peer_down_unknown.http": (400, None),
    "unknown_path.http": (404, None),
    "unknown_path_nested.http": (404, None),
}

# the malformed request lines: twisted.web answers them, not the app
NOT_REPLAYED = {"bad_http_version.http", "no_http_version.http"}


class ReplayTests(AdminTestCase):
    def test_every_recorded_call(self) -> None:
        """Every call of INDEX.tsv, in order: the same body, or the deliberate difference."""
        replayed = 0
        for name, request_line in read_index():
            if name in NOT_REPLAYED:
                continue
            path = request_line.split(" ")[1]
            _, expected = load_sample(name)
            if path in ("/", "/info"):
                self.node.snapshot = snapshot_from_info(expected)
                expected = with_extras(expected)
            code, body = DEVIATIONS.get(name, (200, expected))
            if code == 200:
                self.assertEqual(self.get(path), body, name)
            else:
                self.refused(path, code)
            replayed += 1
        self.assertEqual(replayed, 43)
        # the calls leave the node as they found it
        self.assertEqual(self.node.read_consistency, "DC_ONE")
        self.assertEqual(self.node.write_consistency, "DC_ONE")
        self.assertEqual(self.node.timeout_factor, 1)
        self.assertEqual(self.node.state, states.NORMAL)
        self.assertFalse(self.node.read_repairs)
        self.assertEqual(self.node.verbosity, 5)
        self.assertEqual(self.node.histogram_resets, 1)
        self.assertEqual(self.node.peer_calls, [("down", "nonexistent")])

    def test_every_sample_is_replayed(self) -> None:
        files = {f for f in os.listdir(SAMPLES) if f.endswith(".http")}
        self.assertEqual(files, {name for name, _ in read_index()})


class PathTests(AdminTestCase):
    def test_ping_and_help(self) -> None:
        self.assertEqual(self.get("/ping"), b"OK\r\n")
        self.assertEqual(self.get("/help"), HELP)
        self.assertEqual(self.get("/help"), load_sample("help.http")[1])

    def test_root_is_info(self) -> None:
        self.node.snapshot = snapshot_from_info(load_sample("info_final.http")[1])
        self.assertEqual(self.get("/"), self.get("/info"))
        self.assertEqual(self.get("/"), with_extras(load_sample("info_final.http")[1]))

    def test_info_from_live_stats(self) -> None:
        self.node.stats.client_read_requests += 3
        body = self.get("/info")
        self.assertIn(b'"client_read_requests":3,\n', body)
        self.assertTrue(body.startswith(b'{"service":"dynomite",'))

    def test_metrics(self) -> None:
        self.node.stats.client_read_requests += 3
        self.node.stats.peer("127.0.0.61:30921", "dc1", "rack2").requests += 2
        response, body = self.request("/metrics")
        self.assertEqual(response.code, 200)
        self.assertEqual(
            response.headers.getRawHeaders(b"content-type"),
            [b"text/plain; version=0.0.4; charset=utf-8"],
        )
        families = parse_prometheus(body.decode("utf-8"))
        self.assertEqual(families["dynomite_client_read_requests_total"]["samples"][0][2], 3.0)
        self.assertEqual(families["dynomite_peer_link_requests_total"]["samples"][0][2], 2.0)

    def test_historeset(self) -> None:
        self.assertEqual(self.get("/historeset"), b"OK\r\n")
        self.assertEqual(self.node.histogram_resets, 1)

    def test_head(self) -> None:
        response, body = self.request("/ping", "HEAD")
        self.assertEqual(response.code, 200)
        self.assertEqual(body, b"")

    def test_other_methods(self) -> None:
        response, body = self.request("/state/standby", "POST")
        self.assertEqual(response.code, 405)
        self.assertEqual(body, b"method POST not allowed: use GET\n")
        self.assertEqual(response.headers.getRawHeaders(b"allow"), [b"GET, HEAD"])
        self.assertEqual(self.node.state, states.NORMAL)

    def test_unknown_paths(self) -> None:
        self.assertEqual(
            self.refused("/no_such_path", 404), b"unknown path /no_such_path: see /help\n"
        )
        for path in (
            "/foo/bar?x=1",
            "/info/",
            "/state",
            "/set_consistency",
            "/set_consistency/read",
            "/set_timeout_factor/",
            "/describe",
            "/INFO",
        ):
            self.refused(path, 404)


class ClusterDescribeTests(AdminTestCase):
    def test_sample(self) -> None:
        self.assertEqual(self.get("/cluster_describe"), load_sample("cluster_describe.http")[1])

    def test_public_address_from_the_environment(self) -> None:
        self.environ.update(PUBLIC_IPV4="192.0.2.1", PUBLIC_HOSTNAME="a.example")
        self.environ.update(EC2_PUBLIC_IPV4="198.51.100.1", EC2_PUBLIC_HOSTNAME="ec2.example")
        # env: aws (the default) reads the EC2_ variables
        body = self.get("/cluster_describe")
        self.assertIn(b'{"name":"198.51.100.1","host":"ec2.example","port":30920,', body)
        # the peer keeps its own address
        self.assertIn(b'{"name":"127.0.0.61","host":"127.0.0.61","port":30921,', body)
        self.node.config = parse_config(NODE_A + "  env: network\n")
        body = self.get("/cluster_describe")
        self.assertIn(b'{"name":"192.0.2.1","host":"a.example","port":30920,', body)


class ConsistencyTests(AdminTestCase):
    def test_every_level(self) -> None:
        for op in ("read", "write"):
            for level in consistency.LEVELS:
                for spelling in (level.lower(), level):
                    self.assertEqual(self.get("/set_consistency/%s/%s" % (op, spelling)), b"OK\r\n")
                    current = (
                        self.node.read_consistency if op == "read" else self.node.write_consistency
                    )
                    self.assertEqual(current, level)
        self.assertEqual(
            self.get("/get_consistency"),
            b"Read Consistency: DC_EACH_SAFE_QUORUM\r\nWrite Consistency: DC_EACH_SAFE_QUORUM\r\n",
        )

    def test_read_and_write_are_separate(self) -> None:
        self.get("/set_consistency/read/dc_quorum")
        self.assertEqual(
            self.get("/get_consistency"),
            load_sample("get_consistency_after_set.http")[1],
        )

    def test_bad_values(self) -> None:
        body = self.refused("/set_consistency/read/bogus")
        self.assertEqual(
            body,
            b"unknown consistency level 'bogus': one of dc_one, dc_quorum, dc_safe_quorum,"
            b" dc_each_safe_quorum\n",
        )
        self.refused("/set_consistency/both/dc_one")
        self.assertEqual(self.node.read_consistency, "DC_ONE")
        self.assertEqual(self.node.write_consistency, "DC_ONE")


class TimeoutFactorTests(AdminTestCase):
    def test_set_and_get(self) -> None:
        self.assertEqual(self.get("/get_timeout_factor"), b"Timeout factor: 1\n")
        self.assertEqual(self.get("/set_timeout_factor/5"), b"OK\r\n")
        self.assertEqual(self.get("/get_timeout_factor"), b"Timeout factor: 5\n")
        self.assertEqual(
            self.get("/get_timeout_factor"), load_sample("get_timeout_factor_after_set.http")[1]
        )

    def test_clamped_as_dynomite(self) -> None:
        for value, factor in (("0", 1), ("-3", 1), ("11", 10), ("+7", 7), ("99999", 10)):
            self.get("/set_timeout_factor/" + value)
            self.assertEqual(self.node.timeout_factor, factor, value)

    def test_not_a_number(self) -> None:
        for value in ("abc", "5x", "1.5", "%20"):
            self.refused("/set_timeout_factor/" + value)
        self.assertEqual(self.node.timeout_factor, 1)


class LogLevelTests(AdminTestCase):
    def test_levels(self) -> None:
        self.assertEqual(self.get("/setloglevel/7"), b"OK\r\n")
        self.assertEqual(self.node.verbosity, 7)
        self.get("/loglevelup")
        self.assertEqual(self.node.verbosity, 8)
        self.get("/logleveldown")
        self.get("/logleveldown")
        self.assertEqual(self.node.verbosity, 6)
        self.get("/setloglevel/42")
        self.assertEqual(self.node.verbosity, 11)
        self.get("/loglevelup")
        self.assertEqual(self.node.verbosity, 11)
        self.get("/setloglevel/0")
        self.get("/logleveldown")
        self.assertEqual(self.node.verbosity, 0)

    def test_not_a_number(self) -> None:
        self.refused("/setloglevel/loud")
        self.assertEqual(self.node.verbosity, 5)


class StateTests(AdminTestCase):
    def test_every_transition(self) -> None:
        names = {
            "standby": (states.STANDBY, b"State: STANDBY\n"),
            "writes_only": (states.WRITES_ONLY, b"State: WRITES_ONLY\n"),
            "resuming": (states.RESUMING, b"State: RESUMING\n"),
            "normal": (states.NORMAL, b"State: NORMAL\n"),
        }
        self.assertEqual(self.get("/state/get_state"), b"State: NORMAL\n")
        for start in names:
            for target, (state, body) in names.items():
                self.get("/state/" + start)
                self.assertEqual(self.get("/state/" + target), b"OK\r\n")
                self.assertEqual(self.node.state, state)
                self.assertEqual(self.get("/state/get_state"), body)

    def test_bodies_match_the_samples(self) -> None:
        for path, sample in (
            ("standby", "state_get_state_after_standby.http"),
            ("writes_only", "state_get_state_after_writes_only.http"),
            ("resuming", "state_get_state_after_resuming.http"),
            ("normal", "state_get_state_after_normal.http"),
        ):
            self.assertEqual(self.get("/state/" + path), load_sample("state_standby.http")[1])
            self.assertEqual(self.get("/state/get_state"), load_sample(sample)[1])

    def test_unknown_state(self) -> None:
        self.get("/state/standby")
        for name in ("bogus", "NORMAL", "joining", "get_state2"):
            self.refused("/state/" + name)
        self.assertEqual(self.node.state, states.STANDBY)


class PeerTests(AdminTestCase):
    PEER = "127.0.0.61:30921"

    def test_verbs(self) -> None:
        for verb, state in (("down", "DOWN"), ("up", "NORMAL"), ("reset", "RESET")):
            self.assertEqual(self.get("/peer/%s/%s" % (verb, self.PEER)), b"OK\r\n")
            self.assertEqual(self.node.peer_states[self.PEER], state)

    def test_all(self) -> None:
        self.assertEqual(self.get("/peer/reset/all"), b"OK\r\n")
        self.assertEqual(self.node.peer_calls, [("reset", "all")])
        self.get("/peer/down/all")
        self.assertEqual(self.node.peer_calls[-1], ("down", "all"))

    def test_unknown_peer(self) -> None:
        self.assertEqual(self.refused("/peer/down/nonexistent"), b"no peer named 'nonexistent'\n")
        self.assertEqual(self.node.peer_states[self.PEER], "NORMAL")

    def test_unknown_verb_or_no_name(self) -> None:
        self.refused("/peer/kill/" + self.PEER)
        self.refused("/peer/up")
        self.assertEqual(self.node.peer_calls, [])


class ReadRepairTests(AdminTestCase):
    def test_toggle(self) -> None:
        self.assertEqual(
            self.get("/read_repairs/enable"), load_sample("read_repairs_enable.http")[1]
        )
        self.assertTrue(self.node.read_repairs)
        self.assertEqual(
            self.get("/read_repairs/disable"), load_sample("read_repairs_disable.http")[1]
        )
        self.assertFalse(self.node.read_repairs)

    def test_unknown_action(self) -> None:
        self.refused("/read_repairs/toggle")
        self.assertFalse(self.node.read_repairs)


class StatesModuleTests(unittest.TestCase):
    def test_allows(self) -> None:
        table = {
            states.NORMAL: (True, True),
            states.STANDBY: (False, False),
            states.WRITES_ONLY: (False, True),
            states.RESUMING: (False, True),
            states.INIT: (False, True),
            states.JOINING: (False, True),
            states.LEAVING: (False, False),
            states.DOWN: (False, False),
            states.RESET: (False, False),
            states.UNKNOWN: (False, False),
        }
        self.assertEqual(set(table), set(states.NAMES))
        for state, (reads, writes) in table.items():
            self.assertEqual(states.allows(state, False), reads, state)
            self.assertEqual(states.allows(state, True), writes, state)
            self.assertEqual(states.permissions(state), (reads, writes), state)

    def test_admin_names(self) -> None:
        self.assertEqual(states.from_admin("writes_only"), states.WRITES_ONLY)
        self.assertIsNone(states.from_admin("WRITES_ONLY"))
        self.assertIsNone(states.from_admin("get_state"))

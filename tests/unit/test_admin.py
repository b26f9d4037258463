"""The admin app: Dynomite's REST paths replayed against its recorded responses."""

from __future__ import annotations

import json
import os
from typing import Dict, List, Optional, Tuple

from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import formatEvent, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial import unittest
from twisted.web.http_headers import Headers

from dynotwist.admin import HELP, AdminApp
from dynotwist.adminhttp import MAX_CONNECTIONS, REQUEST_DEADLINE, AdminChannel, AdminSite
from dynotwist.config import parse_config
from dynotwist.core import consistency, states
from dynotwist.core.ring import Member, Topology
from dynotwist.core.stats import Snapshot, Stats
from dynotwist.core.stats.merge import snapshot_from_data
from dynotwist.logs import DEFAULT_VERBOSITY, verbosity
from tests.support.metrics import (
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
        local = Member(
            "127.0.0.61:30920", "127.0.0.61", 30920, "dc1", "rack1", (101134286,), is_local=True
        )
        peer = Member("127.0.0.61:30921", "127.0.0.61", 30921, "dc1", "rack2", (101134286,))
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
        self.unready: Optional[str] = None
        self.warm_ups: List[Tuple[Optional[str], Optional[int]]] = []

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

    def not_ready(self) -> Optional[str]:
        return self.unready
    def start_warm_up(self, source: Optional[str] = None, rate: Optional[int] = None) -> str:
        if source == "busy:1":
            return "refused: already running"
        self.warm_ups.append((source, rate))
        return "started"

    def warm_up_status(self) -> Dict[str, object]:
        return {"state": "running", "keys_copied": len(self.warm_ups)}


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

    def request(self, path: str, method: str = "GET", headers: Optional[Headers] = None):
        d = self.http.request(method, "http://127.0.0.61:30930" + path, headers=headers)
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
    # /help lists every path the node serves: Dynomite's, then dynotwist's
    "help.http": (200, HELP),
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
        # Dynomite's lines come first, in its order; the levels gain dc_each_safe_quorum
        # and /peer/<verb> its name
        dynomite = load_sample("help.http")[1].split(b"\n")[:13]
        ours = HELP.split(b"\n")[:13]
        self.assertEqual(ours[:9], dynomite[:9])
        self.assertTrue(ours[9].startswith(dynomite[9][:-1]))
        self.assertEqual(ours[10:12], dynomite[10:12])
        self.assertTrue(ours[12].startswith(dynomite[12]))

    def test_help_lists_every_path_served(self) -> None:
        lines = [line.split(b" ")[0].decode() for line in HELP.split(b"\n") if line]

        def covered(rule: str) -> bool:
            if rule in lines:
                return True
            if "<" in rule:  # /peer/<verb>/<name>: a line with its fixed part, then <...>
                prefix = rule.split("<")[0]
                return any(line.startswith(prefix + "<") for line in lines)
            parent, _, last = rule.rpartition("/")  # /state/get_state: /state/<...|get_state|...>
            return any(
                line.startswith(parent + "/<") and last in line[len(parent) + 2 : -1].split("|")
                for line in lines
            )

        for rule in AdminApp.app.url_map.iter_rules():
            self.assertTrue(covered(rule.rule), rule.rule)

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
        self.assertEqual(families["dynotwist_client_read_requests_total"]["samples"][0][2], 3.0)
        self.assertEqual(families["dynotwist_peer_link_requests_total"]["samples"][0][2], 2.0)

    def test_snapshot_is_the_stats_as_data(self) -> None:
        self.node.stats.client_read_requests += 3
        self.node.stats.latency.record(40)
        self.node.stats.read_gauge("dyn_memory", lambda: 1000)  # not this process's RSS
        response, body = self.request("/snapshot")
        self.assertEqual(response.code, 200)
        self.assertEqual(snapshot_from_data(json.loads(body)), self.node.stats_snapshot())

    def test_historeset(self) -> None:
        self.assertEqual(self.get("/historeset"), b"OK\r\n")
        self.assertEqual(self.node.histogram_resets, 1)

    def test_head(self) -> None:
        response, body = self.request("/ping", "HEAD")
        self.assertEqual(response.code, 200)
        self.assertEqual(body, b"")

    def test_other_methods(self) -> None:
        response, body = self.request("/ping", "POST")
        self.assertEqual(response.code, 405)
        self.assertEqual(body, b"method POST not allowed: use GET\n")
        self.assertEqual(response.headers.getRawHeaders(b"allow"), [b"GET, HEAD"])
        response, body = self.request("/get_consistency", "DELETE")
        self.assertEqual(response.code, 405)

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

    def test_out_of_range_refused_with_the_range(self) -> None:
        # Dynomite clamps; a 400 tells the operator the value was not applied
        for value in ("0", "-3", "11", "99999"):
            response, body = self.request("/set_timeout_factor/" + value)
            self.assertEqual((response.code, body),
                             (400, b"timeout factor '%s' is not a number from 1 to 10\n"
                              % value.encode()))
        self.assertEqual(self.node.timeout_factor, 1)
        self.get("/set_timeout_factor/+7")
        self.assertEqual(self.node.timeout_factor, 7)

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
        response, body = self.request("/setloglevel/42")
        self.assertEqual((response.code, body),
                         (400, b"log level '42' is not a number from 0 to 11\n"))
        self.assertEqual(self.node.verbosity, 6)
        self.get("/setloglevel/11")
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


class WarmUpTests(AdminTestCase):
    def test_start(self) -> None:
        self.assertEqual(self.get("/warm_up/start"), b"Warm-up: started\r\n")
        self.assertEqual(self.get("/warm_up/start/10.0.0.2:22122?rate=500"),
                         b"Warm-up: started\r\n")
        self.assertEqual(self.node.warm_ups, [(None, None), ("10.0.0.2:22122", 500)])

    def test_refusals(self) -> None:
        self.assertIn(b"already running", self.refused("/warm_up/start/busy:1", 409))
        self.refused("/warm_up/start?rate=fast")
        self.refused("/warm_up/start?rate=-1")
        self.assertEqual(self.node.warm_ups, [])

    def test_status(self) -> None:
        self.get("/warm_up/start")
        self.assertEqual(json.loads(self.get("/warm_up/status")),
                         {"state": "running", "keys_copied": 1})


class StatesModuleTests(unittest.TestCase):
    def test_admission(self) -> None:
        PASS, HOLD, REFUSE = states.PASS, states.HOLD, states.REFUSE
        table = {  # state: (a read, a write)
            states.NORMAL: (PASS, PASS),
            states.STANDBY: (REFUSE, REFUSE),
            states.WRITES_ONLY: (REFUSE, HOLD),
            states.RESUMING: (REFUSE, PASS),
            states.INIT: (REFUSE, HOLD),
            states.JOINING: (REFUSE, HOLD),
            states.LEAVING: (REFUSE, REFUSE),
            states.DOWN: (REFUSE, REFUSE),
            states.RESET: (REFUSE, REFUSE),
            states.UNKNOWN: (REFUSE, REFUSE),
        }
        self.assertEqual(set(table), set(states.NAMES))
        for state, (read, write) in table.items():
            self.assertEqual(states.admission(state, False), read, state)
            self.assertEqual(states.admission(state, True), write, state)

    def test_admin_names(self) -> None:
        self.assertEqual(states.from_admin("writes_only"), states.WRITES_ONLY)
        self.assertIsNone(states.from_admin("WRITES_ONLY"))
        self.assertIsNone(states.from_admin("get_state"))


# every route that changes the node (Klein rules without a method list), with a path
# that reaches it and changes something
CHANGING = {
    "/historeset": "/historeset",
    "/set_consistency/<op>/<level>": "/set_consistency/read/dc_quorum",
    "/set_timeout_factor/<value>": "/set_timeout_factor/5",
    "/setloglevel/<value>": "/setloglevel/7",
    "/loglevelup": "/loglevelup",
    "/logleveldown": "/logleveldown",
    "/state/<name>": "/state/standby",
    "/peer/<verb>/<name>": "/peer/down/all",
    "/peer/<verb>": "/peer/up",
    "/read_repairs/<action>": "/read_repairs/enable",
    "/warm_up/start": "/warm_up/start",
    "/warm_up/start/<source>": "/warm_up/start/10.0.0.2:22122",
}

READING = [
    "/", "/info", "/metrics", "/ping", "/help", "/cluster_describe", "/get_consistency",
    "/get_timeout_factor", "/state/get_state", "/ready", "/warm_up/status", "/snapshot",
]

TOKEN = "s3cret-t0ken"


class GuardTests(AdminTestCase):
    """Paths that change the node: GET only, no browser, the token when one is set."""

    def settings(self) -> Tuple[object, ...]:
        node = self.node
        return (
            node.state, node.read_consistency, node.write_consistency, node.timeout_factor,
            node.verbosity, node.histogram_resets, node.read_repairs, list(node.peer_calls),
            list(node.warm_ups),
        )

    def set_token(self, token: str) -> None:
        self.node.config = parse_config(NODE_A + "  admin_token: %s\n" % token)

    def assert_refused_everywhere(
        self, code: int, method: str = "GET", headers: Optional[Headers] = None
    ) -> List[bytes]:
        """Every changing path answers ``code`` with one line, and nothing changes."""
        before = self.settings()
        bodies = []
        for path in CHANGING.values():
            response, body = self.request(path, method, headers)
            self.assertEqual(response.code, code, (path, method, body))
            if method != "HEAD":
                self.assertEqual(body.count(b"\n"), 1, body)
                self.assertTrue(body.endswith(b"\n"), body)
            bodies.append(body)
        self.assertEqual(self.settings(), before)
        return bodies

    def test_every_route_is_classified(self) -> None:
        rules = {rule.rule: rule.methods for rule in AdminApp.app.url_map.iter_rules()}
        self.assertEqual({path for path, methods in rules.items() if methods is None},
                         set(CHANGING))
        self.assertEqual({path for path, methods in rules.items() if methods is not None},
                         set(READING))

    def test_changing_paths_work_for_a_plain_get(self) -> None:
        for path in CHANGING.values():
            response, body = self.request(path)
            self.assertIn(response.code, (200, 400), (path, body))  # /peer/up: no name
        self.assertEqual(self.node.state, states.STANDBY)
        self.assertEqual(self.node.timeout_factor, 5)

    def test_origin_refused(self) -> None:
        bodies = self.assert_refused_everywhere(
            403, headers=Headers({"Origin": ["http://evil.example"]})
        )
        self.assertEqual(
            bodies[0], b"a request with an Origin header (a web page) cannot change the node\n"
        )
        # even from the admin port's own origin, and with the right token
        self.set_token(TOKEN)
        self.assert_refused_everywhere(403, headers=Headers({
            "Origin": ["http://127.0.0.61:30930"], "Authorization": ["Bearer " + TOKEN],
        }))

    def test_cross_site_fetch_refused(self) -> None:
        for site in ("cross-site", "same-site", "Cross-Site", "same-origin", ""):
            self.assert_refused_everywhere(403, headers=Headers({"Sec-Fetch-Site": [site]}))
        for site in ("none", "None"):  # typed in the address bar
            response, body = self.request(
                "/loglevelup", headers=Headers({"Sec-Fetch-Site": [site]})
            )
            self.assertEqual(response.code, 200, body)
        self.assertEqual(self.node.verbosity, 7)

    def test_methods_other_than_get_refused(self) -> None:
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"):
            bodies = self.assert_refused_everywhere(403, method)
            if method != "HEAD":
                self.assertEqual(
                    bodies[0], b"method %s cannot change the node: use GET\n" % method.encode()
                )

    def test_reading_paths_are_open(self) -> None:
        self.set_token(TOKEN)
        browser = Headers({"Origin": ["http://evil.example"], "Sec-Fetch-Site": ["cross-site"]})
        for path in READING:
            for method in ("GET", "HEAD"):
                response, body = self.request(path, method, browser)
                self.assertEqual(response.code, 200, (path, method, body))
        self.assertEqual(self.get("/state/get_state"), b"State: NORMAL\n")

    def test_token_required_when_set(self) -> None:
        self.set_token(TOKEN)
        for authorization in (
            [],
            ["Bearer wrong"],
            ["Bearer " + TOKEN[:-1]],
            ["Bearer " + TOKEN + "x"],
            ["Basic " + TOKEN],
            [TOKEN],
            ["Bearer"],
            ["Bearer " + TOKEN, "Bearer " + TOKEN],  # one header, not two
        ):
            headers = Headers({"Authorization": authorization})
            self.assert_refused_everywhere(401, headers=headers)
            response, _ = self.request("/loglevelup", headers=headers)
            self.assertEqual(response.headers.getRawHeaders(b"www-authenticate"), [b"Bearer"])
        response, body = self.request("/loglevelup")
        self.assertEqual(
            body, b"this path changes the node: send Authorization: Bearer <admin_token>\n"
        )
        response, body = self.request(
            "/loglevelup", headers=Headers({"Authorization": ["Bearer wrong"]})
        )
        self.assertEqual(body, b"wrong admin token\n")
        for scheme in ("Bearer", "bearer", "BEARER"):
            response, body = self.request(
                "/state/standby", headers=Headers({"Authorization": [scheme + " " + TOKEN]})
            )
            self.assertEqual((response.code, body), (200, b"OK\r\n"))
        self.assertEqual(self.node.state, states.STANDBY)

    def test_unknown_paths_and_bad_values_unchanged(self) -> None:
        self.set_token(TOKEN)
        authorized = Headers({"Authorization": ["Bearer " + TOKEN]})
        for path in ("/no_such_path", "/peer/up/a/b", "/state/"):
            response, _ = self.request(path, headers=Headers({"Origin": ["http://x.example"]}))
            self.assertEqual(response.code, 404, path)
        response, _ = self.request("/state/bogus", headers=authorized)
        self.assertEqual(response.code, 400)
        self.assertEqual(self.node.state, states.NORMAL)


class ReadyTests(AdminTestCase):
    def test_ready_or_the_reason(self) -> None:
        response, body = self.request("/ready")
        self.assertEqual((response.code, body), (200, b"ready\n"))
        self.node.unready = "datastore 127.0.0.61:30900 not connected"
        body = self.refused("/ready", 503)
        self.assertEqual(body, b"not ready: datastore 127.0.0.61:30900 not connected\n")
        self.assertEqual(self.get("/ping"), b"OK\r\n")  # liveness: Dynomite's answer


def captured_events(testcase: unittest.TestCase, level: int) -> List[dict]:
    """The dynotwist events that pass the log filter at ``level``, from now on."""
    events: List[dict] = []
    previous = verbosity.verbosity
    verbosity.set(level)
    globalLogPublisher.addObserver(events.append)

    def restore() -> None:
        globalLogPublisher.removeObserver(events.append)
        verbosity.set(previous)

    testcase.addCleanup(restore)
    return events


def shown(events: List[dict]) -> List[str]:
    return [
        formatEvent(e) for e in events if e.get("log_namespace", "").startswith("dynotwist")
    ]


class ChangeLogTests(AdminTestCase):
    def test_each_change_is_one_line_at_the_default_verbosity(self) -> None:
        events = captured_events(self, DEFAULT_VERBOSITY)
        for path in ("/state/standby", "/set_consistency/write/dc_quorum",
                     "/set_timeout_factor/3", "/peer/down/all", "/setloglevel/6",
                     "/read_repairs/enable", "/historeset"):
            self.get(path)
        self.get("/info")  # reads are not changes
        self.request("/metrics")
        lines = shown(events)
        self.assertEqual(len(lines), 7, lines)
        self.assertEqual(lines[0], "admin: 127.0.0.1:31337 changed state: NORMAL -> STANDBY")
        self.assertEqual(
            lines[1],
            "admin: 127.0.0.1:31337 changed write consistency (of new connections):"
            " DC_ONE -> DC_QUORUM",
        )
        self.assertEqual(lines[2], "admin: 127.0.0.1:31337 changed timeout factor: 1 -> 3")
        self.assertEqual(lines[3], "admin: 127.0.0.1:31337: peer all marked down")
        self.assertEqual(lines[4], "admin: 127.0.0.1:31337 changed log level: 5 -> 6")
        self.assertEqual(
            lines[5], "admin: 127.0.0.1:31337 changed read repairs: DISABLED -> ENABLED"
        )
        self.assertIn("histograms", lines[6])

    def test_refused_changes_are_not_logged_as_changes(self) -> None:
        events = captured_events(self, DEFAULT_VERBOSITY)
        self.refused("/set_timeout_factor/99")
        self.refused("/state/bogus")
        self.assertEqual(shown(events), [])


class ChannelTests(unittest.TestCase):
    """The admin port's connections, driven byte by byte on a clock."""

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.node = FakeNodeView()
        self.site = AdminSite(AdminApp(self.node).resource(), self.clock)
        self.ports = iter(range(40000, 50000))

    def connect(self) -> Tuple[AdminChannel, StringTransport]:
        address = IPv4Address("TCP", "127.0.0.1", next(self.ports))
        channel = self.site.buildProtocol(address)
        transport = StringTransport(peerAddress=address)
        channel.makeConnection(transport)
        return channel, transport

    def disconnect(self, channel: AdminChannel, transport: StringTransport) -> None:
        """What the reactor does once a transport is closed."""
        self.assertTrue(transport.disconnecting)
        channel.connectionLost(Failure(ConnectionDone()))

    def test_access_log_only_from_verbosity_7(self) -> None:
        for level, expected in ((DEFAULT_VERBOSITY, 0), (6, 0), (7, 1)):
            events = captured_events(self, level)
            channel, transport = self.connect()
            channel.dataReceived(b"GET /metrics HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertIn(b"200 OK", transport.value())
            access = [line for line in shown(events) if '"GET /metrics HTTP/1.1"' in line]
            self.assertEqual(len(access), expected, (level, shown(events)))

    def test_request_served(self) -> None:
        channel, transport = self.connect()
        channel.dataReceived(b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 OK\r\n"), transport.value())
        self.assertTrue(transport.value().endswith(b"\r\n\r\nOK\r\n"))
        self.assertFalse(transport.disconnecting)

    def assert_body_refused(self, head: bytes) -> None:
        channel, transport = self.connect()
        channel.dataReceived(head)
        answer = transport.value()
        self.assertTrue(answer.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n"), answer)
        self.assertIn(b"\r\nConnection: close\r\n", answer)
        self.assertTrue(answer.endswith(b"\r\n\r\nthe admin port takes no request body\n"))
        self.assertTrue(transport.disconnecting)
        # no request was started: nothing opened to hold a body, nothing run
        self.assertIsNone(getattr(channel.requests[-1], "content", None))
        self.assertEqual(self.node.state, states.NORMAL)

    def test_declared_body_refused_from_the_headers(self) -> None:
        # 1 GB announced, only the headers sent: answered at once
        self.assert_body_refused(
            b"POST /state/standby HTTP/1.1\r\nHost: a\r\nContent-Length: 1073741824\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        for length in (b"1", b"1073741824"):
            self.assert_body_refused(
                b"GET /ping HTTP/1.1\r\nContent-Length: %s\r\nHost: a\r\n\r\n" % length
            )
        for coding in (b"chunked", b"identity", b"gzip, chunked"):
            self.assert_body_refused(
                b"GET /ping HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: %s\r\n\r\n" % coding
            )

    def test_body_sent_with_the_headers_is_not_read(self) -> None:
        # what follows the headers (here a request of its own) is never parsed
        self.assert_body_refused(
            b"POST /ping HTTP/1.1\r\nContent-Length: 40\r\n\r\n"
            b"GET /state/standby HTTP/1.1\r\n\r\n"
        )

    def test_empty_body_allowed(self) -> None:
        channel, transport = self.connect()
        channel.dataReceived(b"GET /ping HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 OK\r\n"))

    def test_headers_trickled_past_the_deadline(self) -> None:
        channel, transport = self.connect()
        request = b"GET /ping HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"x" * 100
        elapsed = 0.0
        for byte in request:
            if transport.disconnected:
                break
            channel.dataReceived(bytes([byte]))
            self.clock.advance(0.5)  # a byte every half second: never idle for long
            elapsed += 0.5
        self.assertTrue(transport.disconnected)  # aborted, not waited on
        self.assertEqual(elapsed, REQUEST_DEADLINE)
        self.assertEqual(transport.value(), b"")
        self.disconnect(channel, transport)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_silent_connection_dropped(self) -> None:
        _, transport = self.connect()
        self.clock.advance(REQUEST_DEADLINE - 0.01)
        self.assertFalse(transport.disconnected)
        self.clock.advance(0.01)
        self.assertTrue(transport.disconnected)

    def test_kept_alive_connection_idle_after_an_answer(self) -> None:
        channel, transport = self.connect()
        for _ in range(3):  # each answer restarts the wait for the next request
            self.clock.advance(REQUEST_DEADLINE - 1)
            channel.dataReceived(b"GET /ping HTTP/1.1\r\nHost: a\r\n\r\n")
            self.assertFalse(transport.disconnected)
        self.assertEqual(transport.value().count(b"HTTP/1.1 200 OK\r\n"), 3)
        self.clock.advance(REQUEST_DEADLINE)
        self.assertTrue(transport.disconnected)

    def test_pipelined_requests(self) -> None:
        channel, transport = self.connect()
        channel.dataReceived(b"GET /ping HTTP/1.1\r\n\r\nGET /help HTTP/1.1\r\n\r\nGET /pi")
        self.assertEqual(transport.value().count(b"HTTP/1.1 200 OK\r\n"), 2)
        self.clock.advance(REQUEST_DEADLINE)  # the third never completes
        self.assertTrue(transport.disconnected)

    def test_headers_too_large(self) -> None:
        channel, transport = self.connect()
        headers = b"".join(b"X-H%d: %s\r\n" % (i, b"v" * 1000) for i in range(17))
        channel.dataReceived(b"GET /ping HTTP/1.1\r\n" + headers + b"\r\n")
        self.assertEqual(transport.value(), b"HTTP/1.1 400 Bad Request\r\n\r\n")
        self.assertTrue(transport.disconnecting)
        # one line too long
        channel, transport = self.connect()
        channel.dataReceived(b"GET /ping HTTP/1.1\r\nX-H: " + b"v" * 16384)
        self.assertTrue(transport.disconnecting)
        self.assertEqual(transport.value(), b"")

    def test_connection_cap(self) -> None:
        connections = [self.connect() for _ in range(MAX_CONNECTIONS)]
        self.assertTrue(all(isinstance(c, AdminChannel) for c, _ in connections))
        self.assertEqual(self.site.open_connections, MAX_CONNECTIONS)
        busy, transport = self.connect()
        self.assertNotIsInstance(busy, AdminChannel)
        answer = transport.value()
        self.assertTrue(answer.startswith(b"HTTP/1.1 503 Service Unavailable\r\n"), answer)
        self.assertTrue(answer.endswith(
            b"\r\n\r\ntoo many admin connections (%d): try again later\n" % MAX_CONNECTIONS
        ))
        self.assertTrue(transport.disconnecting)
        busy.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.site.open_connections, MAX_CONNECTIONS)
        # one closes: the next is served
        closing, closed = connections[0]
        closed.loseConnection()
        self.disconnect(closing, closed)
        channel, transport = self.connect()
        self.assertIsInstance(channel, AdminChannel)
        channel.dataReceived(b"GET /ping HTTP/1.1\r\n\r\n")
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 200 OK\r\n"))

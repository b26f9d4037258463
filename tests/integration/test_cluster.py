"""Local clusters of ``twistd -n dynomite`` nodes, each in front of its own redis-server.

- Replication: one DC of three racks, two DCs of two racks. A SET through any node
  lands in every rack's redis-server and in every DC (checked on each backend
  directly; copies to other racks and DCs are asynchronous, so they are polled for).
- Differential: the seeded commands of test_differential.py through one node of a
  cluster of three racks of two nodes, compared with a reference redis-server. Each
  run's keys share one hash tag owned by another node of the coordinator's rack (every
  request crosses a peer link; multi-key commands are colocated), and MGET/MSET/DEL/
  EXISTS/TOUCH/UNLINK over untagged keys spread over both owners are fragmented.
- Placement: the ``four_nodes_uneven`` and ``four_nodes_even`` layouts of
  tests/vectors/placement-vectors.tsv; each key, SET through node 1, is found only in
  the backend of the node Dynomite put it on.
- Failures, in a cluster of three racks of two nodes (timeouts of 1 s): quorum over
  divergent replicas, then one node SIGKILLed and restarted on the same ports.

No timing assertions: waits for asynchronous copies and for recovery are polls with a
bound, and client sockets time out far above every node timeout, so that a hang fails
a test instead of blocking it.
"""

from __future__ import annotations

import itertools
import os
import random
import signal
import sys
from collections import Counter
from typing import Any, Dict, Generator, List, Optional, Sequence, Tuple

import txredisapi
from twisted.internet import defer
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure
from twisted.trial import unittest

from dynotwist.config import load_config
from dynotwist.testing import LOOPBACK, connect_redis
from dynotwist.testing.blocking import SOCKET_TIMEOUT
from dynotwist.testing.cluster import Cluster, ClusterNode
from dynotwist.testing.configs import even_tokens
from dynotwist.testing.processes import RedisServer
from tests.support.differential import (
    COVERED,
    EXACT,
    SEED,
    STRING,
    CommandGenerator,
    Generated,
    compare_sequence,
)
from tests.support.fixtures import Processes, ProcessTestCase
from tests.support.resp import RespError
from tests.support.waiting import eventually

REPLICATION_WAIT = 10.0  # seconds: bound on the wait for asynchronous copies
RECOVERY_WAIT = 20.0  # seconds: bound on the wait for a restarted node to be used again

NO_QUORUM = RespError("ERR Dynomite: Failed to achieve Quorum")
VECTORS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "vectors",
                       "placement-vectors.tsv")


def ok(reply: Any) -> bool:
    return reply in (b"OK", "OK")


@defer.inlineCallbacks
def call_once(port: int, *args: Any, consistency: Optional[str] = None
              ) -> Generator[defer.Deferred[Any], Any, Any]:
    """One command on a fresh txredisapi connection (closed after it): its reply as
    bytes, or a ``RespError`` with the text of an error reply."""
    client = yield txredisapi.Connection(LOOPBACK, port, reconnect=False, charset=None,
                                         convertNumbers=False, replyTimeout=SOCKET_TIMEOUT)
    try:
        if consistency is not None:
            reply = yield client.execute_command("DYNO_CONFIG:CONN_CONSISTENCY", consistency)
            if not ok(reply):
                raise AssertionError("DYNO_CONFIG:CONN_CONSISTENCY %s: %r" % (consistency, reply))
        try:
            reply = yield client.execute_command(*args)
        except txredisapi.ResponseError as error:
            reply = RespError(str(error))
    finally:
        yield client.disconnect()
    return reply


def call_through(member: ClusterNode, *args: Any, consistency: Optional[str] = None
                 ) -> defer.Deferred[Any]:
    """One command through ``member``'s client port, on a fresh connection."""
    return call_once(member.client_port, *args, consistency=consistency)


def direct_get(member: ClusterNode, key: str) -> defer.Deferred[Any]:
    """GET straight from ``member``'s redis-server."""
    return call_once(member.redis.port, "GET", key)


class ClusterTestCase(ProcessTestCase):
    """A test class sharing one local cluster, started once."""

    dcs = 1
    racks = 3
    nodes_per_rack = 1
    extra_fields: Dict[str, object] = {}
    tokens: Optional[Sequence[str]] = None
    cluster: Cluster

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.cluster = processes.cluster(
            cls.dcs, cls.racks, cls.nodes_per_rack,
            extra_fields=dict(cls.extra_fields), tokens=cls.tokens,
        )

    def connect(self, port: int) -> defer.Deferred[Any]:
        """A txredisapi connection (bytes in, bytes out), closed when the test ends."""
        return connect_redis(self, port, charset=None, convertNumbers=False,
                             replyTimeout=SOCKET_TIMEOUT)

    @defer.inlineCallbacks
    def wait_replicated(self, key: str, value: Optional[bytes],
                        replicas: Optional[Sequence[ClusterNode]] = None
                        ) -> Generator[defer.Deferred[Any], Any, None]:
        """Poll every replica's redis-server until GET ``key`` is ``value`` (None: absent)."""
        replicas = self.cluster.replicas(key.encode()) if replicas is None else replicas
        last: Dict[str, bytes] = {}

        @defer.inlineCallbacks
        def everywhere() -> Generator[defer.Deferred[Any], Any, bool]:
            for member in replicas:
                last[member.name] = yield direct_get(member, key)
            return all(reply == value for reply in last.values())

        try:
            yield eventually(everywhere, REPLICATION_WAIT,
                             message="%r = %r on every replica" % (key, value))
        except AssertionError as error:
            raise AssertionError("%s; last GETs: %r" % (error, last)) from None


# -- configuration, no processes ----------------------------------------------------------
class ClusterConfigTests(unittest.TestCase):
    """What ``Cluster`` writes: configs ``load_config`` accepts, seeds that agree."""

    def test_configs(self) -> None:
        cluster = Cluster(self.mktemp(), 2, 2, 2, {"hash_tag": "{}", "timeout": 1000})
        self.assertEqual(len(cluster.nodes), 8)
        configs = {m.name: load_config(m.config_path) for m in cluster.nodes}
        for member in cluster.nodes:
            config = configs[member.name]
            self.assertEqual((config.datacenter, config.rack), (member.dc, member.rack))
            self.assertEqual(config.listen.port, member.client_port)
            self.assertEqual(config.dyn_listen.port, member.peer_port)
            self.assertEqual(config.servers[0].address.port, member.redis.port)
            self.assertEqual(config.hash_tag, "{}")
            self.assertEqual(config.timeout, 1000)
            self.assertEqual(config.secure_server_option, "none")
            seeds = sorted((s.port, s.rack, s.dc, s.tokens) for s in config.dyn_seeds)
            others = sorted((o.peer_port, o.rack, o.dc, o.token_values)
                            for o in cluster.nodes if o is not member)
            self.assertEqual(seeds, others)
        for dc in ("dc1", "dc2"):
            for rack in ("rack1", "rack2"):
                self.assertEqual([m.tokens for m in cluster.rack_nodes(dc, rack)],
                                 ["0", "2147483647"])
        ports = [p for m in cluster.nodes
                 for p in (m.client_port, m.peer_port, m.stats_port, m.redis.port)]
        self.assertEqual(len(ports), len(set(ports)))

    def test_even_tokens(self) -> None:
        self.assertEqual(even_tokens(1), ["0"])
        self.assertEqual(even_tokens(3), ["0", "1431655765", "2863311530"])


# -- replication --------------------------------------------------------------------------
class ReplicationMixin:
    cluster: Cluster
    wait_replicated: Any
    assertEqual: Any
    assertTrue: Any

    @defer.inlineCallbacks
    def test_set_through_any_node_reaches_every_replica(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        for i, coordinator in enumerate(self.cluster.nodes):
            key = "replicated:%s:%d" % (coordinator.name, i)
            value = b"value of %s" % key.encode()
            self.assertTrue(ok((yield call_through(coordinator, "SET", key, value))))
            yield self.wait_replicated(key, value, self.cluster.nodes)
            for member in self.cluster.nodes:  # DC_ONE: each node reads its own rack
                self.assertEqual((yield call_through(member, "GET", key)), value, member.name)

    @defer.inlineCallbacks
    def test_delete_through_another_node(self) -> Generator[defer.Deferred[Any], Any, None]:
        first, last = self.cluster.nodes[0], self.cluster.nodes[-1]
        self.assertTrue(ok((yield call_through(first, "SET", "doomed", "x"))))
        yield self.wait_replicated("doomed", b"x", self.cluster.nodes)
        self.assertEqual((yield call_through(last, "DEL", "doomed")), 1)
        yield self.wait_replicated("doomed", None, self.cluster.nodes)


class ReplicationOneDcThreeRacksTest(ReplicationMixin, ClusterTestCase):
    dcs, racks = 1, 3


class ReplicationTwoDcsTwoRacksTest(ReplicationMixin, ClusterTestCase):
    dcs, racks = 2, 2

    @defer.inlineCallbacks
    def test_each_dc_replicates_rack_to_rack(self) -> Generator[defer.Deferred[Any], Any, None]:
        """A write through each node reaches both racks of the other DC (the rack it
        is forwarded to hands it to its DC's other rack)."""
        for coordinator in self.cluster.nodes:
            key = "cross-dc:%s" % coordinator.name
            self.assertTrue(ok((yield call_through(coordinator, "SET", key, "v"))))
            remote = [m for m in self.cluster.nodes if m.dc != coordinator.dc]
            yield self.wait_replicated(key, b"v", remote)


# -- differential -------------------------------------------------------------------------
SPREAD_KEYS = 24


class ClusterCommandGenerator(CommandGenerator):
    """test_differential's commands, for a cluster whose nodes have ``hash_tag: '{}'``.

    The run's keys share the hash tag ``tag``, so the multi-key commands on them
    (RENAME, SINTERSTORE, LMOVE, EVAL...) are colocated. DBSIZE is left out (it counts
    one node's datastore). One more family sends MGET/MSET/DEL/EXISTS/TOUCH/UNLINK over
    untagged keys (``spread``) that live on different nodes, sometimes with tagged keys.
    """

    def __init__(self, seed: int, prefix: str, tag: str, spread: Sequence[str]) -> None:
        self.tag = tag
        super().__init__(seed, prefix)
        self.spread = list(spread)
        self.spread_commands: List[List[str]] = []
        self.families.append((12, self.spread_command))
        self.total_weight = sum(w for w, _ in self.families)

    def key_name(self, cls: str, index: int) -> str:
        return "{%s}:%s:%d" % (self.tag, cls, index)

    def server_command(self) -> Generated:
        return self.pick([["PING"], ["PING", "hello"], ["ECHO", "echo me"]]), EXACT

    def spread_keys(self, low: int, high: int, tagged: bool = True) -> List[str]:
        keys = [str(self.pick(self.spread)) for _ in range(self.rng.randint(low, high))]
        if tagged and self.rng.random() < 0.3:
            keys.insert(self.rng.randint(0, len(keys)), self.key(STRING))
        return keys

    def spread_command(self) -> Generated:
        r = self.rng
        n = r.randrange(9)
        if n in (0, 1):
            args: List[Any] = ["MSET"]
            for key in self.spread_keys(1, 5, tagged=False):
                args += [key, self.value()]
        elif n in (2, 3):
            args = ["MGET", *self.spread_keys(1, 6)]
        elif n == 4:
            args = ["DEL", *self.spread_keys(1, 4)]
        elif n == 5:
            args = ["EXISTS", *self.spread_keys(1, 5)]
        elif n == 6:
            args = [self.pick(["TOUCH", "UNLINK"]), *self.spread_keys(1, 4)]
        elif n == 7:
            args = ["SET", self.pick(self.spread), self.value()]
        else:
            args = ["GET", self.pick(self.spread)]
        self.spread_commands.append([str(a) for a in args])
        return args, EXACT


class DifferentialClusterTest(ClusterTestCase):
    """A cluster and a reference redis-server answer the same commands identically."""

    dcs, racks, nodes_per_rack = 1, 3, 2
    extra_fields = {"hash_tag": "{}"}
    reference: RedisServer

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.reference = processes.redis()
        super().start_processes(processes)

    def run_sequence(self, mode: str, coordinator: ClusterNode, resp3: bool,
                     pipelined: bool) -> None:
        cluster = self.cluster
        seed = SEED + sum(mode.encode())
        # a hash tag owned by the other node of the coordinator's rack
        tag = next("%s-%d" % (mode, i) for i in range(1000) if cluster.owner(
            b"{%s-%d}" % (mode.encode(), i), coordinator.dc, coordinator.rack) is not coordinator)
        spread = ["%s:spread:%d" % (mode, i) for i in range(SPREAD_KEYS)]
        rack = cluster.rack_nodes(coordinator.dc, coordinator.rack)
        owners = {cluster.owner(k.encode(), coordinator.dc, coordinator.rack).name
                  for k in spread}
        self.assertEqual(owners, {m.name for m in rack}, "spread keys on every node")
        generator = ClusterCommandGenerator(seed, mode, tag, spread)
        compare_sequence(
            self, coordinator.client_port, self.reference.port, generator,
            "cluster mode %s through %s, seed %d, DYNOTWIST_DIFF_SEED=%d"
            % (mode, coordinator.name, seed, SEED),
            random.Random(seed + 1), resp3, pipelined, covered=COVERED - {"DBSIZE"},
        )
        fragmented = Counter(
            args[0] for args in generator.spread_commands
            if args[0] not in ("SET", "GET") and len({
                cluster.owner(k.encode(), coordinator.dc, coordinator.rack).name
                for k in (args[1::2] if args[0] == "MSET" else args[1:])
            }) > 1
        )
        for name in ("MGET", "MSET", "DEL", "EXISTS"):
            self.assertGreater(fragmented[name], 10, "%s over keys of several owners" % name)

    def test_resp2_pipelined(self) -> None:
        self.run_sequence("cluster-resp2-pipe", self.cluster.nodes[0], resp3=False,
                          pipelined=True)

    def test_resp3_one_at_a_time(self) -> None:
        self.run_sequence("cluster-resp3-seq", self.cluster.nodes[3], resp3=True,
                          pipelined=False)


# -- placement ----------------------------------------------------------------------------
def placement_vectors(layout: str) -> Tuple[List[str], int, List[Tuple[bytes, int]]]:
    """A layout's tokens, coordinator index, and (key, owner index) of its keys."""
    tokens: List[str] = []
    coordinator = -1
    keys: List[Tuple[bytes, int]] = []
    with open(VECTORS) as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            row = dict(zip(header, line.rstrip("\n").split("\t")))
            if row["layout"] != layout:
                continue
            tokens = row["tokens_sorted"].split(",")
            coordinator = int(row["coordinator_index"])
            if row["owner_index"].isdigit():
                keys.append((bytes.fromhex(row["key_hex"]), int(row["owner_index"])))
    return tokens, coordinator, keys


def pipelined(client: Any, commands: Sequence[Sequence[Any]]) -> defer.Deferred[List[Any]]:
    """Every command sent at once on one connection; their replies, in order."""
    return defer.gatherResults([client.execute_command(*command) for command in commands])


class PlacementMixin:
    layout: str
    cluster: Cluster
    assertEqual: Any
    assertTrue: Any
    connect: Any

    @defer.inlineCallbacks
    def test_keys_live_on_the_predicted_node(self) -> Generator[defer.Deferred[Any], Any, None]:
        tokens, coordinator_index, keys = placement_vectors(self.layout)
        self.assertTrue(keys)
        nodes = self.cluster.nodes
        self.assertEqual([m.tokens for m in nodes], tokens)
        client = yield self.connect(nodes[coordinator_index].client_port)
        replies = yield pipelined(client, [("SET", key, b"v") for key, _ in keys])
        self.assertEqual(replies, ["OK"] * len(keys))
        found: Dict[int, List[int]] = {}
        for index, member in enumerate(nodes):
            client = yield self.connect(member.redis.port)
            found[index] = yield pipelined(client, [("EXISTS", key) for key, _ in keys])
        wrong = []
        for position, (key, owner) in enumerate(keys):
            holders = [i for i in found if found[i][position] == 1]
            if holders != [owner]:
                wrong.append("%r: on nodes %s, expected only on node %d (token %s)"
                             % (key, holders, owner, tokens[owner]))
        self.assertEqual(wrong, [], "%d of %d keys misplaced" % (len(wrong), len(keys)))
        counts = []
        for member in nodes:
            counts.append((yield call_once(member.redis.port, "DBSIZE")))
        expected = [sum(1 for _, o in keys if o == i) for i in range(len(nodes))]
        self.assertEqual(counts, expected, "keys per backend")


class PlacementUnevenTest(PlacementMixin, ClusterTestCase):
    layout = "four_nodes_uneven"
    dcs, racks, nodes_per_rack = 1, 1, 4
    tokens = placement_vectors(layout)[0]


class PlacementEvenTest(PlacementMixin, ClusterTestCase):
    layout = "four_nodes_even"
    dcs, racks, nodes_per_rack = 1, 1, 4
    tokens = placement_vectors(layout)[0]


# -- failures -----------------------------------------------------------------------------
class FailuresTest(ClusterTestCase):
    """Three racks of two nodes; a node of rack2 is killed, then restarted."""

    dcs, racks, nodes_per_rack = 1, 3, 2
    extra_fields = {"timeout": 1000, "server_retry_timeout": 1000}

    def setUp(self) -> None:
        super().setUp()
        # each test starts with every node up, whatever an earlier test left
        down = [m for m in self.cluster.nodes if not m.node.running]
        for member in down:
            self.cluster.restart(member)
        if down:
            self.cluster.wait_connected(RECOVERY_WAIT)

    def member(self, name: str) -> ClusterNode:
        return self.cluster.node_named(name)

    def owned_key(self, name: str, prefix: str) -> str:
        """A key the node ``name`` owns in its rack (the same position in every rack)."""
        return self.cluster.key_owned_by(self.member(name), prefix)

    @defer.inlineCallbacks
    def write_everywhere(self, key: str, value: bytes
                         ) -> Generator[defer.Deferred[Any], Any, None]:
        self.assertTrue(ok((yield call_through(self.member("dc1-rack1-1"), "SET", key, value))))
        yield self.wait_replicated(key, value)

    @defer.inlineCallbacks
    def diverge(self, key: str, values: Dict[str, bytes]
                ) -> Generator[defer.Deferred[Any], Any, None]:
        """Write straight into some replicas' redis-servers, by rack name."""
        for member in self.cluster.replicas(key.encode()):
            if member.rack in values:
                reply = yield call_once(member.redis.port, "SET", key, values[member.rack])
                self.assertTrue(ok(reply))

    @defer.inlineCallbacks
    def test_quorum_over_divergent_replicas(self) -> Generator[defer.Deferred[Any], Any, None]:
        """All nodes up: a quorum agrees when one replica differs, none when all do."""
        coordinator = self.member("dc1-rack1-1")
        for owner in ("dc1-rack1-1", "dc1-rack1-2"):  # the local datastore and a peer
            key = self.owned_key(owner, "diverge")
            yield self.write_everywhere(key, b"same")
            yield self.diverge(key, {"rack3": b"other"})
            for level in ("DC_QUORUM", "DC_SAFE_QUORUM"):
                self.assertEqual((yield call_through(coordinator, "GET", key, consistency=level)),
                                 b"same", "%s %s" % (level, key))
            yield self.diverge(key, {"rack2": b"two", "rack3": b"three"})
            self.assertEqual(
                (yield call_through(coordinator, "GET", key, consistency="DC_SAFE_QUORUM")),
                NO_QUORUM, key)
            # DC_QUORUM without agreement: the first good reply
            self.assertIn((yield call_through(coordinator, "GET", key, consistency="DC_QUORUM")),
                          [b"same", b"two", b"three"])

    @defer.inlineCallbacks
    def test_kill_and_restart_a_node(self) -> Generator[defer.Deferred[Any], Any, None]:
        cluster = self.cluster
        victim = self.member("dc1-rack2-1")
        neighbour = self.member("dc1-rack2-2")  # same rack as the victim
        others = [m for m in cluster.nodes if m.rack != victim.rack]
        victim_key = self.owned_key(victim.name, "failure")  # rack2's copy is the victim's
        neighbour_key = self.owned_key(neighbour.name, "failure")
        for key in (victim_key, neighbour_key):
            yield self.write_everywhere(key, b"before")

        cluster.kill(victim)

        # DC_ONE reads through the other racks: each rack holds a full copy
        for member in others:
            for key in (victim_key, neighbour_key):
                self.assertEqual((yield call_through(member, "GET", key)), b"before",
                                 "GET %s through %s" % (key, member.name))
        # DC_ONE writes through the other racks: the local rack's reply is the client's
        rack3 = self.member("dc1-rack3-1")
        self.assertTrue(ok((yield call_through(rack3, "SET", neighbour_key, "during"))))
        self.assertEqual((yield call_through(rack3, "GET", neighbour_key)), b"during")
        # DC_ONE, owner in the coordinator's rack is the dead peer: another rack answers
        self.assertEqual((yield call_through(neighbour, "GET", victim_key)), b"before")
        self.assertTrue(ok((yield call_through(neighbour, "SET", victim_key, "moved"))))
        self.assertEqual((yield call_through(neighbour, "GET", victim_key)), b"moved")
        # ... its own keys are still served (the write above reached it)
        yield self.wait_replicated(neighbour_key, b"during", [neighbour])
        self.assertEqual((yield call_through(neighbour, "GET", neighbour_key)), b"during")
        # DC_QUORUM: 2 of 3 racks answer
        for coordinator in (self.member("dc1-rack1-1"), self.member("dc1-rack3-2")):
            client = yield self.connect(coordinator.client_port)
            self.assertTrue(ok((yield client.execute_command(
                "DYNO_CONFIG:CONN_CONSISTENCY", "DC_QUORUM"))))
            for value in (b"quorum-1", b"quorum-2"):
                self.assertTrue(ok((yield client.set(victim_key, value))))
                self.assertEqual((yield client.get(victim_key)), value)
        # DC_SAFE_QUORUM: the two live replicas disagree
        yield self.diverge(victim_key, {"rack1": b"one", "rack3": b"three"})
        rack1_second = self.member("dc1-rack1-2")
        self.assertEqual((yield call_through(rack1_second, "GET", victim_key,
                                             consistency="DC_SAFE_QUORUM")), NO_QUORUM)
        # ... and agree again
        yield self.diverge(victim_key, {"rack3": b"one"})
        self.assertEqual((yield call_through(rack1_second, "GET", victim_key,
                                             consistency="DC_SAFE_QUORUM")), b"one")

        # a key whose safe quorum needs the victim: rack1 and rack3 disagree
        rack1_node = self.member("dc1-rack1-1")
        needs = self.owned_key(victim.name, "needs-victim")
        yield self.diverge(needs, {"rack1": b"a", "rack2": b"a", "rack3": b"b"})
        self.assertEqual((yield call_through(rack1_node, "GET", needs,
                                             consistency="DC_SAFE_QUORUM")), NO_QUORUM)

        cluster.restart(victim)

        # the other nodes reconnect to it by themselves: nobody else is restarted
        writers = [m for m in cluster.nodes if m is not victim]
        written = {m.name: self.owned_key(victim.name, "to-victim-%s" % m.name) for m in writers}
        last: Dict[str, Any] = {}
        sent: Dict[str, bytes] = {}  # per writer, the value of its last SET
        arrived = set()
        values = itertools.count(1)

        @defer.inlineCallbacks
        def served() -> Generator[defer.Deferred[Any], Any, bool]:
            # DC_ONE through its rack: the victim owns the key there
            through = "GET through %s" % neighbour.name
            last[through] = yield call_through(neighbour, "GET", victim_key)
            # rack1 and rack3 disagree: only the victim's reply makes a safe quorum
            safe = "SAFE_QUORUM GET through %s" % rack1_node.name
            last[safe] = yield call_through(rack1_node, "GET", needs,
                                            consistency="DC_SAFE_QUORUM")
            # a write through every other node reaches the victim's redis-server
            for member in writers:
                key = written[member.name]
                if member.name in arrived:
                    continue
                if member.name in sent and (yield direct_get(victim, key)) == sent[member.name]:
                    arrived.add(member.name)
                    continue
                sent[member.name] = b"v%d" % next(values)
                last["SET through %s" % member.name] = yield call_through(
                    member, "SET", key, sent[member.name])
            return (not isinstance(last[through], RespError) and last[safe] == b"a"
                    and len(arrived) == len(writers))

        try:
            yield eventually(served, RECOVERY_WAIT, interval=0.2,
                             message="requests that need the restarted node served")
        except AssertionError as error:
            raise AssertionError("%s; last replies: %r; copies arrived from %s"
                                 % (error, last, sorted(arrived))) from None
        self.assertTrue(ok((yield call_through(rack3, "SET", victim_key, "after"))))
        yield self.wait_replicated(victim_key, b"after")
        self.assertEqual((yield call_through(neighbour, "GET", victim_key)), b"after")


# -- the command line ---------------------------------------------------------------------
LAUNCH_WAIT = 60.0  # seconds: bound on the launcher's start and on its shutdown


class Launcher(ProcessProtocol):
    """``python -m dynotwist.local cluster`` as a child of the reactor: ``ready`` fires
    with its output once it says it serves, ``ended`` with its exit status."""

    def __init__(self) -> None:
        self.output = b""
        self.ready: defer.Deferred[str] = defer.Deferred()
        self.ended: defer.Deferred[Optional[int]] = defer.Deferred()

    def outReceived(self, data: bytes) -> None:
        self.output += data
        if not self.ready.called and b"\nCtrl-C stops everything." in self.output:
            self.ready.callback(self.output.decode("utf-8", "replace"))

    errReceived = outReceived

    def processEnded(self, reason: Failure) -> None:
        if not self.ready.called:
            self.ready.errback(AssertionError("the launcher exited; its output:\n%s"
                                              % self.output.decode("utf-8", "replace")))
        self.ended.callback(reason.value.exitCode)


class CommandLineTest(unittest.TestCase):
    """``python -m dynotwist.local cluster``: the table it prints, the cluster it runs,
    everything stopped on Ctrl-C (SIGINT) or SIGTERM."""

    @defer.inlineCallbacks
    def launch(self, *options: str
               ) -> Generator[defer.Deferred[Any], Any, Tuple[Any, List[Dict[str, str]]]]:
        from twisted.internet import reactor

        workdir = os.path.abspath(self.mktemp())
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        launcher = Launcher()
        argv = [sys.executable, "-m", "dynotwist.local", "cluster", "--workdir", workdir,
                "-v", "5", *options]
        process = reactor.spawnProcess(launcher, sys.executable, argv,
                                       env=dict(os.environ, PYTHONPATH=root), path=root)
        self.pids: List[int] = []
        self.addCleanup(self.reap, launcher, process)
        output = yield launcher.ready.addTimeout(LAUNCH_WAIT, reactor)
        table = output.split("\n\n", 1)[0].splitlines()
        header = table[0].split()
        rows = [dict(zip(header, line.split())) for line in table[1:]]
        self.pids = [int(pid) for row in rows for pid in row["pids"].split("/")]
        return process, rows

    @defer.inlineCallbacks
    def reap(self, launcher: Launcher, process: Any
             ) -> Generator[defer.Deferred[Any], Any, None]:
        """Whatever a failed test left: the launcher, then its children, by pid."""
        if not launcher.ended.called:
            process.signalProcess("KILL")
            yield launcher.ended
        for pid in self.pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

    @defer.inlineCallbacks
    def check_stops(self, process: Any, sig: str) -> Generator[defer.Deferred[Any], Any, None]:
        from twisted.internet import reactor

        process.signalProcess(sig)
        launcher = process.proto
        self.assertEqual((yield launcher.ended.addTimeout(LAUNCH_WAIT, reactor)), 0)
        yield eventually(lambda: not any(alive(pid) for pid in self.pids), LAUNCH_WAIT,
                         message="every node and redis-server stopped")

    @defer.inlineCallbacks
    def test_two_racks_ctrl_c(self) -> Generator[defer.Deferred[Any], Any, None]:
        process, rows = yield self.launch("--racks", "2", "--hash-tag", "{}")
        self.assertEqual([(r["node"], r["dc"], r["rack"], r["tokens"]) for r in rows],
                         [("dc1-rack1", "dc1", "rack1", "0"), ("dc1-rack2", "dc1", "rack2", "0")])
        for row in rows:
            config = load_config(row["config"])
            self.assertEqual((config.listen.port, config.dyn_listen.port, config.stats_listen.port,
                              config.servers[0].address.port, config.hash_tag),
                             (int(row["client"]), int(row["peer"]), int(row["stats"]),
                              int(row["redis"]), "{}"))
            self.assertTrue(os.path.exists(row["log"]), row["log"])
        client = yield connect_redis(self, int(rows[0]["client"]), convertNumbers=False)
        self.assertEqual((yield client.set("{t}:a", "1")), "OK")
        self.assertEqual((yield client.rename("{t}:a", "{t}:b")), "OK")

        @defer.inlineCallbacks
        def landed() -> Generator[defer.Deferred[Any], Any, bool]:
            return (yield call_once(int(rows[1]["redis"]), "GET", "{t}:b")) == b"1"

        yield eventually(landed, REPLICATION_WAIT, message="the write in rack2's redis-server")
        yield self.check_stops(process, "INT")

    @defer.inlineCallbacks
    def test_two_dcs_sigterm(self) -> Generator[defer.Deferred[Any], Any, None]:
        process, rows = yield self.launch("--dcs", "2", "--racks", "2", "--nodes-per-rack", "2",
                                          "--read-consistency", "dc_quorum")
        self.assertEqual(len(rows), 8)
        self.assertEqual(sorted({(r["dc"], r["rack"]) for r in rows}),
                         [("dc1", "rack1"), ("dc1", "rack2"), ("dc2", "rack1"), ("dc2", "rack2")])
        self.assertEqual(sorted({r["tokens"] for r in rows}), ["0", "2147483647"])
        self.assertEqual({load_config(r["config"]).read_consistency for r in rows}, {"DC_QUORUM"})
        yield self.check_stops(process, "TERM")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (exited, not yet reaped by its parent) has stopped serving
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

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
import subprocess
import sys
import threading
from collections import Counter
from typing import Any, Dict, List, Optional, Sequence, Tuple

from twisted.trial import unittest

from dynotwist.config import load_config
from dynotwist.local import Cluster, ClusterNode, RedisServer, even_tokens
from tests.integration.support import (
    Processes,
    ProcessTestCase,
    RespClient,
    wait_until,
)
from tests.integration.test_differential import (
    COVERED,
    EXACT,
    SEED,
    STRING,
    CommandGenerator,
    Generated,
    compare_sequence,
)

REPLICATION_WAIT = 10.0  # seconds: bound on the wait for asynchronous copies
RECOVERY_WAIT = 20.0  # seconds: bound on the wait for a restarted node to be used again

PEER_NOT_CONNECTED = b"-ERR Peer: Peer Node is not connected\r\n"
NO_QUORUM = b"-ERR Dynomite: Failed to achieve Quorum\r\n"
VECTORS = os.path.join(os.path.dirname(os.path.dirname(__file__)), "vectors",
                       "placement-vectors.tsv")


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def direct_get(member: ClusterNode, key: str) -> bytes:
    """GET straight from ``member``'s redis-server."""
    with RespClient(member.redis.port) as client:
        return client.call("GET", key)


def call_through(member: ClusterNode, *args: Any, consistency: Optional[str] = None) -> bytes:
    """One command through ``member``'s client port, on a fresh connection."""
    with RespClient(member.client_port) as client:
        if consistency is not None:
            reply = client.call("DYNO_CONFIG:CONN_CONSISTENCY", consistency)
            if reply != b"+OK\r\n":
                raise AssertionError("DYNO_CONFIG:CONN_CONSISTENCY %s: %r" % (consistency, reply))
        return client.call(*args)


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

    def wait_replicated(self, key: str, value: Optional[bytes],
                        replicas: Optional[Sequence[ClusterNode]] = None) -> None:
        """Poll every replica's redis-server until GET ``key`` is ``value`` (None: absent)."""
        expected = b"$-1\r\n" if value is None else bulk(value)
        replicas = self.cluster.replicas(key.encode()) if replicas is None else replicas
        last: Dict[str, bytes] = {}

        def everywhere() -> bool:
            for member in replicas:
                last[member.name] = direct_get(member, key)
            return all(reply == expected for reply in last.values())

        try:
            wait_until(everywhere, REPLICATION_WAIT, message="%r = %r on every replica"
                       % (key, value))
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

    def test_set_through_any_node_reaches_every_replica(self) -> None:
        for i, coordinator in enumerate(self.cluster.nodes):
            key = "replicated:%s:%d" % (coordinator.name, i)
            value = b"value of %s" % key.encode()
            self.assertEqual(call_through(coordinator, "SET", key, value), b"+OK\r\n")
            self.wait_replicated(key, value, self.cluster.nodes)
            for member in self.cluster.nodes:  # DC_ONE: each node reads its own rack
                self.assertEqual(call_through(member, "GET", key), bulk(value), member.name)

    def test_delete_through_another_node(self) -> None:
        first, last = self.cluster.nodes[0], self.cluster.nodes[-1]
        self.assertEqual(call_through(first, "SET", "doomed", "x"), b"+OK\r\n")
        self.wait_replicated("doomed", b"x", self.cluster.nodes)
        self.assertEqual(call_through(last, "DEL", "doomed"), b":1\r\n")
        self.wait_replicated("doomed", None, self.cluster.nodes)


class ReplicationOneDcThreeRacksTest(ReplicationMixin, ClusterTestCase):
    dcs, racks = 1, 3


class ReplicationTwoDcsTwoRacksTest(ReplicationMixin, ClusterTestCase):
    dcs, racks = 2, 2

    def test_each_dc_replicates_rack_to_rack(self) -> None:
        """A write through each node reaches both racks of the other DC (the rack it
        is forwarded to hands it to its DC's other rack)."""
        for coordinator in self.cluster.nodes:
            key = "cross-dc:%s" % coordinator.name
            self.assertEqual(call_through(coordinator, "SET", key, "v"), b"+OK\r\n")
            remote = [m for m in self.cluster.nodes if m.dc != coordinator.dc]
            self.wait_replicated(key, b"v", remote)


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


class PlacementMixin:
    layout: str
    cluster: Cluster
    assertEqual: Any
    assertTrue: Any

    def test_keys_live_on_the_predicted_node(self) -> None:
        tokens, coordinator_index, keys = placement_vectors(self.layout)
        self.assertTrue(keys)
        nodes = self.cluster.nodes
        self.assertEqual([m.tokens for m in nodes], tokens)
        with RespClient(nodes[coordinator_index].client_port) as client:
            replies = client.pipeline([("SET", key, b"v") for key, _ in keys])
        self.assertEqual(replies, [b"+OK\r\n"] * len(keys))
        found: Dict[int, List[bytes]] = {}
        for index, member in enumerate(nodes):
            with RespClient(member.redis.port) as client:
                found[index] = client.pipeline([("EXISTS", key) for key, _ in keys])
        wrong = []
        for position, (key, owner) in enumerate(keys):
            holders = [i for i in found if found[i][position] == b":1\r\n"]
            if holders != [owner]:
                wrong.append("%r: on nodes %s, expected only on node %d (token %s)"
                             % (key, holders, owner, tokens[owner]))
        self.assertEqual(wrong, [], "%d of %d keys misplaced" % (len(wrong), len(keys)))
        counts = []
        for member in nodes:
            with RespClient(member.redis.port) as client:
                counts.append(client.call("DBSIZE"))
        expected = [b":%d\r\n" % sum(1 for _, o in keys if o == i) for i in range(len(nodes))]
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

    def write_everywhere(self, key: str, value: bytes) -> None:
        self.assertEqual(call_through(self.member("dc1-rack1-1"), "SET", key, value),
                         b"+OK\r\n")
        self.wait_replicated(key, value)

    def diverge(self, key: str, values: Dict[str, bytes]) -> None:
        """Write straight into some replicas' redis-servers, by rack name."""
        for member in self.cluster.replicas(key.encode()):
            if member.rack in values:
                with RespClient(member.redis.port) as client:
                    self.assertEqual(client.call("SET", key, values[member.rack]), b"+OK\r\n")

    def test_quorum_over_divergent_replicas(self) -> None:
        """All nodes up: a quorum agrees when one replica differs, none when all do."""
        coordinator = self.member("dc1-rack1-1")
        for owner in ("dc1-rack1-1", "dc1-rack1-2"):  # the local datastore and a peer
            key = self.owned_key(owner, "diverge")
            self.write_everywhere(key, b"same")
            self.diverge(key, {"rack3": b"other"})
            for level in ("DC_QUORUM", "DC_SAFE_QUORUM"):
                self.assertEqual(call_through(coordinator, "GET", key, consistency=level),
                                 bulk(b"same"), "%s %s" % (level, key))
            self.diverge(key, {"rack2": b"two", "rack3": b"three"})
            self.assertEqual(call_through(coordinator, "GET", key, consistency="DC_SAFE_QUORUM"),
                             NO_QUORUM, key)
            # DC_QUORUM without agreement: the first good reply
            self.assertIn(call_through(coordinator, "GET", key, consistency="DC_QUORUM"),
                          [bulk(b"same"), bulk(b"two"), bulk(b"three")])

    def test_kill_and_restart_a_node(self) -> None:
        cluster = self.cluster
        victim = self.member("dc1-rack2-1")
        neighbour = self.member("dc1-rack2-2")  # same rack as the victim
        others = [m for m in cluster.nodes if m.rack != victim.rack]
        victim_key = self.owned_key(victim.name, "failure")  # rack2's copy is the victim's
        neighbour_key = self.owned_key(neighbour.name, "failure")
        for key in (victim_key, neighbour_key):
            self.write_everywhere(key, b"before")

        cluster.kill(victim)

        # DC_ONE reads through the other racks: each rack holds a full copy
        for member in others:
            for key in (victim_key, neighbour_key):
                self.assertEqual(call_through(member, "GET", key), bulk(b"before"),
                                 "GET %s through %s" % (key, member.name))
        # DC_ONE writes through the other racks: the local rack's reply is the client's
        self.assertEqual(call_through(self.member("dc1-rack3-1"), "SET", neighbour_key, "during"),
                         b"+OK\r\n")
        self.assertEqual(call_through(self.member("dc1-rack3-1"), "GET", neighbour_key),
                         bulk(b"during"))
        # DC_ONE, owner in the coordinator's rack is the dead peer: an error, at once
        for args in (("GET", victim_key), ("SET", victim_key, "lost")):
            self.assertEqual(call_through(neighbour, *args), PEER_NOT_CONNECTED,
                             "%s through %s" % (args, neighbour.name))
        # ... its own keys are still served (the write above reached it)
        self.wait_replicated(neighbour_key, b"during", [neighbour])
        self.assertEqual(call_through(neighbour, "GET", neighbour_key), bulk(b"during"))
        # DC_QUORUM: 2 of 3 racks answer
        for coordinator in (self.member("dc1-rack1-1"), self.member("dc1-rack3-2")):
            with RespClient(coordinator.client_port) as client:
                self.assertEqual(client.call("DYNO_CONFIG:CONN_CONSISTENCY", "DC_QUORUM"),
                                 b"+OK\r\n")
                for value in (b"quorum-1", b"quorum-2"):
                    self.assertEqual(client.call("SET", victim_key, value), b"+OK\r\n")
                    self.assertEqual(client.call("GET", victim_key), bulk(value))
        # DC_SAFE_QUORUM: the two live replicas disagree
        self.diverge(victim_key, {"rack1": b"one", "rack3": b"three"})
        self.assertEqual(
            call_through(self.member("dc1-rack1-2"), "GET", victim_key,
                         consistency="DC_SAFE_QUORUM"),
            NO_QUORUM)
        # ... and agree again
        self.diverge(victim_key, {"rack3": b"one"})
        self.assertEqual(
            call_through(self.member("dc1-rack1-2"), "GET", victim_key,
                         consistency="DC_SAFE_QUORUM"),
            bulk(b"one"))

        # a key whose safe quorum needs the victim: rack1 and rack3 disagree
        rack1_node = self.member("dc1-rack1-1")
        needs = self.owned_key(victim.name, "needs-victim")
        self.diverge(needs, {"rack1": b"a", "rack2": b"a", "rack3": b"b"})
        self.assertEqual(call_through(rack1_node, "GET", needs, consistency="DC_SAFE_QUORUM"),
                         NO_QUORUM)

        cluster.restart(victim)

        # the other nodes reconnect to it by themselves: nobody else is restarted
        writers = [m for m in cluster.nodes if m is not victim]
        written = {m.name: self.owned_key(victim.name, "to-victim-%s" % m.name) for m in writers}
        last: Dict[str, bytes] = {}
        sent: Dict[str, bytes] = {}  # per writer, the value of its last SET
        arrived = set()
        values = itertools.count(1)

        def served() -> bool:
            # DC_ONE through its rack: the victim owns the key there
            last["GET through %s" % neighbour.name] = call_through(neighbour, "GET", victim_key)
            # rack1 and rack3 disagree: only the victim's reply makes a safe quorum
            last["SAFE_QUORUM GET through %s" % rack1_node.name] = call_through(
                rack1_node, "GET", needs, consistency="DC_SAFE_QUORUM")
            # a write through every other node reaches the victim's redis-server
            for member in writers:
                key = written[member.name]
                if member.name in arrived:
                    continue
                if member.name in sent and direct_get(victim, key) == bulk(sent[member.name]):
                    arrived.add(member.name)
                    continue
                sent[member.name] = b"v%d" % next(values)
                last["SET through %s" % member.name] = call_through(
                    member, "SET", key, sent[member.name])
            return (last["GET through %s" % neighbour.name][:1] == b"$"
                    and last["SAFE_QUORUM GET through %s" % rack1_node.name] == bulk(b"a")
                    and len(arrived) == len(writers))

        try:
            wait_until(served, RECOVERY_WAIT, interval=0.2,
                       message="requests that need the restarted node served")
        except AssertionError as error:
            raise AssertionError("%s; last replies: %r; copies arrived from %s"
                                 % (error, last, sorted(arrived))) from None
        self.assertEqual(call_through(self.member("dc1-rack3-1"), "SET", victim_key, "after"),
                         b"+OK\r\n")
        self.wait_replicated(victim_key, b"after")
        self.assertEqual(call_through(neighbour, "GET", victim_key), bulk(b"after"))


# -- the command line ---------------------------------------------------------------------
LAUNCH_WAIT = 60.0  # seconds: bound on the launcher's start and on its shutdown


class CommandLineTest(unittest.TestCase):
    """``python -m dynotwist.local cluster``: the table it prints, the cluster it runs,
    everything stopped on Ctrl-C (SIGINT) or SIGTERM."""

    def launch(self, *options: str) -> Tuple[subprocess.Popen, List[Dict[str, str]], str]:
        workdir = os.path.abspath(self.mktemp())
        root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        env = dict(os.environ, PYTHONPATH=root)
        launcher = subprocess.Popen(
            [sys.executable, "-m", "dynotwist.local", "cluster", "--workdir", workdir,
             "-v", "5", *options],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env=env, cwd=root,
        )
        self.addCleanup(self.reap, launcher)
        lines: List[str] = []
        reader = threading.Thread(target=self.read_until_ready, args=(launcher, lines),
                                  daemon=True)
        reader.start()
        reader.join(LAUNCH_WAIT)
        output = "".join(lines)
        self.assertIn("Ctrl-C stops everything.", output, "the launcher's output:\n" + output)
        table = output.split("\n\n", 1)[0].splitlines()
        header = table[0].split()
        rows = [dict(zip(header, line.split())) for line in table[1:]]
        self.pids = [int(pid) for row in rows for pid in row["pids"].split("/")]
        return launcher, rows, output

    @staticmethod
    def read_until_ready(launcher: subprocess.Popen, lines: List[str]) -> None:
        assert launcher.stdout is not None
        for raw in launcher.stdout:
            lines.append(raw.decode("utf-8", "replace"))
            if raw.startswith(b"Ctrl-C"):
                return

    def reap(self, launcher: subprocess.Popen) -> None:
        """Whatever a failed test left: the launcher, then its children, by pid."""
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        for pid in getattr(self, "pids", []):
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        if launcher.stdout is not None:
            launcher.stdout.close()

    def check_stops(self, launcher: subprocess.Popen, sig: int) -> None:
        launcher.send_signal(sig)
        self.assertEqual(launcher.wait(LAUNCH_WAIT), 0)
        wait_until(lambda: not any(alive(pid) for pid in self.pids), LAUNCH_WAIT,
                   message="every node and redis-server stopped")

    def test_two_racks_ctrl_c(self) -> None:
        launcher, rows, _ = self.launch("--racks", "2", "--hash-tag", "{}")
        self.assertEqual([(r["node"], r["dc"], r["rack"], r["tokens"]) for r in rows],
                         [("dc1-rack1", "dc1", "rack1", "0"), ("dc1-rack2", "dc1", "rack2", "0")])
        for row in rows:
            config = load_config(row["config"])
            self.assertEqual((config.listen.port, config.dyn_listen.port, config.stats_listen.port,
                              config.servers[0].address.port, config.hash_tag),
                             (int(row["client"]), int(row["peer"]), int(row["stats"]),
                              int(row["redis"]), "{}"))
            self.assertTrue(os.path.exists(row["log"]), row["log"])
        with RespClient(int(rows[0]["client"])) as client:
            self.assertEqual(client.call("SET", "{t}:a", "1"), b"+OK\r\n")
            self.assertEqual(client.call("RENAME", "{t}:a", "{t}:b"), b"+OK\r\n")

        def landed() -> bool:
            with RespClient(int(rows[1]["redis"])) as client:
                return client.call("GET", "{t}:b") == bulk(b"1")

        wait_until(landed, REPLICATION_WAIT, message="the write in rack2's redis-server")
        self.check_stops(launcher, signal.SIGINT)

    def test_two_dcs_sigterm(self) -> None:
        launcher, rows, _ = self.launch("--dcs", "2", "--racks", "2", "--nodes-per-rack", "2",
                                        "--read-consistency", "dc_quorum")
        self.assertEqual(len(rows), 8)
        self.assertEqual(sorted({(r["dc"], r["rack"]) for r in rows}),
                         [("dc1", "rack1"), ("dc1", "rack2"), ("dc2", "rack1"), ("dc2", "rack2")])
        self.assertEqual(sorted({r["tokens"] for r in rows}), ["0", "2147483647"])
        self.assertEqual({load_config(r["config"]).read_consistency for r in rows}, {"DC_QUORUM"})
        self.check_stops(launcher, signal.SIGTERM)


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

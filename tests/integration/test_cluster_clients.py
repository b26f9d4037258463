"""What client libraries do, through a cluster of two racks of two nodes (hash_tag {}):
redis-py's default pipeline (a transaction) and ``transaction=False``, ``scan_iter``,
``keys``, ``dbsize``, ``randomkey``, ``info``, ``client_list``, and ``redis-cli --scan``,
against real processes. Each check is made where the data is: on the redis-servers
themselves.
"""

from __future__ import annotations

import subprocess
import uuid
from typing import Dict, List

import redis

from dynotwist.testing.blocking import RespClient
from dynotwist.testing.cluster import Cluster, ClusterNode
from dynotwist.testing.processes import find_program
from tests.support.fixtures import Processes, ProcessTestCase
from tests.support.resp import parse_all
from tests.support.waiting import wait_until

REPLICATION_WAIT = 10.0  # seconds: bound on the wait for the other rack's copy
CLI_TIMEOUT = 30


def direct(member: ClusterNode, *args: object) -> object:
    """A command straight to ``member``'s redis-server, its reply parsed."""
    with RespClient(member.redis_port) as client:
        return parse_all(client.call(*args))  # type: ignore[arg-type]


class ClusterClientsTest(ProcessTestCase):
    required_programs = ("redis-server", "redis-cli")
    cluster: Cluster

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.cluster = processes.cluster(1, 2, 2, extra_fields={"hash_tag": "{}"})

    def client(self, member: ClusterNode, **options: object) -> redis.Redis:
        client = redis.Redis(host=member.host, port=member.client_port,  # type: ignore[arg-type]
                             socket_timeout=15, **options)
        self.addCleanup(client.close)
        return client

    def prefix(self) -> str:
        return "t%s" % uuid.uuid4().hex[:10]

    def tag_not_owned_by(self, coordinator: ClusterNode) -> str:
        """A hash tag whose keys another node of the coordinator's rack owns: the
        transaction crosses a peer link."""
        for _ in range(1000):
            tag = "{%s}" % self.prefix()
            owner = self.cluster.owner(tag.encode(), coordinator.dc, coordinator.rack)
            if owner is not coordinator:
                return tag
        raise AssertionError("no such tag")

    def on_every_replica(self, key: str, expected: object) -> None:
        for member in self.cluster.replicas(key.encode()):
            wait_until(lambda m=member: direct(m, "GET", key) == expected, REPLICATION_WAIT,
                       message="%s on %s" % (key, member.name))

    # -- transactions ---------------------------------------------------------------
    def test_default_pipeline_runs_as_one_transaction_in_every_rack(self) -> None:
        coordinator = self.cluster.nodes[0]
        tag = self.tag_not_owned_by(coordinator)
        for protocol in (2, 3):
            client = self.client(coordinator, protocol=protocol)
            counter, label = "%s:counter:%d" % (tag, protocol), "%s:label:%d" % (tag, protocol)
            pipe = client.pipeline()  # redis-py wraps it in MULTI ... EXEC
            pipe.set(counter, 1)
            pipe.incr(counter)
            pipe.set(label, "x")
            pipe.get(label)
            self.assertEqual(pipe.execute(), [True, 2, True, b"x"])
            self.on_every_replica(counter, b"2")
            self.on_every_replica(label, b"x")

    def test_a_transaction_over_keys_of_several_nodes_runs_nothing(self) -> None:
        coordinator = self.cluster.nodes[1]
        rack = self.cluster.rack_nodes(coordinator.dc, coordinator.rack)
        prefix = self.prefix()
        keys = [self.cluster.key_owned_by(member, prefix) for member in rack]
        client = self.client(coordinator)
        pipe = client.pipeline()
        for key in keys:
            pipe.set(key, "applied")
        with self.assertRaises(redis.ResponseError) as caught:
            pipe.execute()
        self.assertIn("one hash tag", str(caught.exception))
        for key in keys:  # not half-applied: nothing anywhere
            for member in self.cluster.nodes:
                self.assertIsNone(direct(member, "GET", key), (key, member.name))
        self.assertTrue(client.ping())  # and the connection goes on

    def test_pipeline_without_transaction_over_every_node(self) -> None:
        coordinator = self.cluster.nodes[2]
        prefix = self.prefix()
        client = self.client(coordinator)
        pipe = client.pipeline(transaction=False)
        for i in range(10):
            pipe.set("%s:%d" % (prefix, i), i)
        for i in range(10):
            pipe.get("%s:%d" % (prefix, i))
        self.assertEqual(pipe.execute(), [True] * 10 + [b"%d" % i for i in range(10)])

    def test_watch_is_refused_with_the_reason(self) -> None:
        client = self.client(self.cluster.nodes[0])
        with self.assertRaises(redis.ResponseError) as caught:
            client.execute_command("WATCH", "k")
        self.assertIn("WATCH is not supported", str(caught.exception))

    # -- keys of the whole rack -----------------------------------------------------
    def written(self, coordinator: ClusterNode, count: int = 10) -> List[bytes]:
        """``count`` untagged keys written through ``coordinator``, on both of the
        rack's nodes, each copied to the other rack."""
        for _ in range(100):  # a random prefix may put all the keys on one node
            prefix = self.prefix()
            keys = ["%s:%d" % (prefix, i) for i in range(count)]
            owners = {self.cluster.owner(k.encode(), coordinator.dc, coordinator.rack).name
                      for k in keys}
            if len(owners) == 2:
                break
        self.assertEqual(len(owners), 2, "keys on both nodes of the rack")
        client = self.client(coordinator)
        for key in keys:
            client.set(key, "v")
        for key in keys:
            self.on_every_replica(key, b"v")
        return sorted(k.encode() for k in keys)

    def rack_dbsize(self, member: ClusterNode) -> int:
        return sum(int(direct(m, "DBSIZE")) for m in  # type: ignore[call-overload]
                   self.cluster.rack_nodes(member.dc, member.rack))

    def test_keys_scan_dbsize_and_randomkey_cover_the_rack(self) -> None:
        for coordinator in (self.cluster.nodes[0], self.cluster.nodes[3]):
            keys = self.written(coordinator)
            pattern = keys[0].decode().split(":")[0] + ":*"
            for protocol in (2, 3):
                client = self.client(coordinator, protocol=protocol)
                self.assertEqual(sorted(client.keys(pattern)), keys)
                # several calls per node: the cursor moves from node to node
                self.assertEqual(sorted(client.scan_iter(match=pattern, count=2)), keys)
                self.assertEqual(client.dbsize(), self.rack_dbsize(coordinator))
                self.assertIsNotNone(client.randomkey())

    def test_redis_cli_scan(self) -> None:
        coordinator = self.cluster.nodes[1]
        keys = self.written(coordinator, 12)
        pattern = keys[0].decode().split(":")[0] + ":*"
        argv = [find_program("redis-cli"), "-h", coordinator.host, "-p",
                str(coordinator.client_port), "--scan", "--pattern", pattern]
        result = subprocess.run(argv, capture_output=True, timeout=CLI_TIMEOUT)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(sorted(result.stdout.split()), keys)

    # -- INFO and CLIENT LIST --------------------------------------------------------
    def test_info_describes_the_node(self) -> None:
        coordinator = self.cluster.nodes[2]
        client = self.client(coordinator)
        client.set("info:%s" % self.prefix(), "v")
        info: Dict[str, object] = client.info()
        self.assertEqual(info["process_id"], coordinator.node.pid)
        self.assertEqual(info["tcp_port"], coordinator.client_port)
        self.assertIn("dynotwist_version", info)
        self.assertEqual((info["dc"], info["rack"]), (coordinator.dc, coordinator.rack))
        self.assertEqual((info["peers"], info["peers_up"], info["keyspace_nodes"]), (3, 3, "2/2"))
        self.assertEqual(info["db0"]["keys"], self.rack_dbsize(coordinator))  # type: ignore
        only = client.info("dynomite")
        self.assertEqual(only["state"], "NORMAL")
        self.assertNotIn("process_id", only)

    def test_client_list_shows_the_nodes_clients(self) -> None:
        coordinator = self.cluster.nodes[3]
        first = self.client(coordinator, client_name="first-app")
        first.ping()
        second = self.client(coordinator, protocol=2)
        clients = second.client_list()
        names = [entry["name"] for entry in clients]
        self.assertIn("first-app", names)
        for entry in clients:
            for field in ("id", "addr", "laddr", "fd", "age", "idle", "db", "resp",
                          "lib-name", "lib-ver", "cmd"):
                self.assertIn(field, entry)
            # the node's clients: their addresses are the node's client port, not Redis's
            self.assertEqual(entry["laddr"], "%s:%d" % (coordinator.host,
                                                         coordinator.client_port))
        me = second.client_info()
        self.assertEqual((me["cmd"], me["resp"]), ("client|info", "2"))

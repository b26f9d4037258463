"""Membership with real processes: a cluster whose seeds come from a florida server
and that grows by a rack without a restart; a node's owner stopped (SIGSTOP) under
DC_ONE traffic; SIGHUP changing consistency and seeds.

No timing assertions: every wait is a poll with a bound. "No request waits for the
timeout" is shown by the coordinator's own counters: once the stopped owner is
ejected, nothing more is sent to it (its link's request count stands still) while
every request is answered, by another rack.
"""

from __future__ import annotations

import json
import os
import signal
import urllib.request
from typing import Any, Dict, Generator, List

import txredisapi
from twisted.internet import defer

from dynotwist.testing import connect_redis
from dynotwist.testing.blocking import SOCKET_TIMEOUT
from dynotwist.testing.cluster import Cluster, ClusterNode
from dynotwist.testing.processes import FloridaServer
from tests.support.fixtures import Processes, ProcessTestCase
from tests.support.members import log_of, stored, through
from tests.support.metrics import parse_prometheus
from tests.support.resp import bulk
from tests.support.waiting import eventually, wait_until

WAIT = 15.0  # seconds: bound on every wait (a seed poll, a copy, a detection)
OK = b"+OK\r\n"


def admin(member: ClusterNode, path: str) -> bytes:
    url = "http://%s:%d%s" % (member.host, member.stats_port, path)
    with urllib.request.urlopen(url, timeout=SOCKET_TIMEOUT) as response:
        body: bytes = response.read()
        return body


def racks_described(member: ClusterNode) -> List[str]:
    described = json.loads(admin(member, "/cluster_describe"))
    return sorted(rack["name"] for dc in described["dcs"] for rack in dc["racks"])


def metrics(member: ClusterNode) -> Dict[str, Any]:
    return parse_prometheus(admin(member, "/metrics").decode())


def counter(member: ClusterNode, name: str, **labels: str) -> int:
    """``dynomite_<name>_total`` of ``member`` (the sample with ``labels``)."""
    family = metrics(member)["dynotwist_%s_total" % name]
    for _, sample_labels, value in family["samples"]:
        if all(sample_labels.get(k) == v for k, v in labels.items()):
            return int(value)
    raise AssertionError("no %s%r in the /metrics of %s" % (name, labels, member.name))


def replicated(writer: ClusterNode, readers: List[ClusterNode], key: bytes) -> None:
    """A SET through ``writer`` found in every reader's redis-server (polled)."""
    value = b"from-" + writer.name.encode()

    def everywhere() -> bool:
        if through(writer, b"SET", key, value) != OK:
            return False
        return all(stored(reader, key) == bulk(value) for reader in readers)

    wait_until(everywhere, WAIT, interval=0.1,
               message="SET %r through %s on %s" % (key, writer.name,
                                                    [r.name for r in readers]))


class FloridaGrowthTest(ProcessTestCase):
    """Three nodes (one per rack) with ``dyn_seed_provider: florida_provider``; only two
    run at first, and the florida server lists only them."""

    cluster: Cluster
    florida: FloridaServer

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.florida = processes.start(FloridaServer(processes.workdir))
        cluster = cls.cluster = Cluster(os.path.join(processes.workdir, "cluster"), 1, 3)
        for member in cluster.nodes:
            processes.track(member.redis)
            processes.track(member.node)
            fields = dict(member.node.fields, dyn_seed_provider="florida_provider",
                          seeds_check_interval=200)
            del fields["dyn_seeds"]
            member.node.rewrite(fields)
            member.node.env = dict(member.node.env or {}, **cls.florida.environment())
        cls.florida.set_seeds([m.seed for m in cluster.nodes[:2]])
        for member in cluster.nodes[:2]:
            member.redis.start()
            member.node.start()

    def test_the_cluster_grows_by_a_rack_and_shrinks_without_a_restart(self) -> None:
        first, second, third = self.cluster.nodes
        replicated(first, [first, second], b"florida:1")
        replicated(second, [first, second], b"florida:2")
        self.assertEqual(racks_described(first), ["rack1", "rack2"])
        pids = [first.node.pid, second.node.pid]

        third.redis.start()
        third.node.start()
        self.florida.set_seeds([m.seed for m in self.cluster.nodes])
        replicated(first, [first, second, third], b"florida:3")
        replicated(third, [first, second, third], b"florida:4")
        wait_until(lambda: racks_described(second) == ["rack1", "rack2", "rack3"], WAIT,
                   message="rack3 in rack2's ring")

        self.florida.set_seeds([first.seed, third.seed])  # rack2 leaves
        for member in (first, third):
            wait_until(lambda m=member: racks_described(m) == ["rack1", "rack3"], WAIT,
                       message="rack2 removed from %s's ring" % member.name)
        through(second, b"DEL", b"florida:5")
        replicated(third, [first, third], b"florida:5")
        self.assertEqual(stored(second, b"florida:5"), b"$-1\r\n")
        self.assertEqual([first.node.pid, second.node.pid], pids)  # no restart
        self.assertIn("peers changed (florida at 127.0.0.1:%d): added" % self.florida.port,
                      log_of(first))


class DeadOwnerTest(ProcessTestCase):
    """Two racks of two nodes; through dc1-rack1-1 (token 0), DC_ONE traffic for keys
    that dc1-rack1-2 owns, while dc1-rack1-2 is stopped with SIGSTOP, then resumed."""

    cluster: Cluster

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.cluster = processes.cluster(
            1, 2, 2,
            extra_fields={"timeout": 1000, "server_failure_limit": 3,
                          "server_retry_timeout": 1000},
        )

    def member(self, name: str) -> ClusterNode:
        return self.cluster.node_named(name)

    @defer.inlineCallbacks
    def test_a_stopped_owner_is_ejected_and_another_rack_answers(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        coordinator, owner = self.member("dc1-rack1-1"), self.member("dc1-rack1-2")
        keys = [self.cluster.key_owned_by(owner, "dead", n * 1000).encode() for n in range(8)]
        for key in keys:  # on every replica before the owner stops
            replicated(coordinator, self.cluster.replicas(key), key)
        value = b"from-" + coordinator.name.encode()
        link = {"peer": "%s:%d" % (owner.host, owner.peer_port)}
        client = yield connect_redis(self, coordinator.client_port, charset=None,
                                     convertNumbers=False, replyTimeout=SOCKET_TIMEOUT)
        clients = [client]
        for _ in range(READERS - 1):
            clients.append((yield connect_redis(
                self, coordinator.client_port, charset=None, convertNumbers=False,
                replyTimeout=SOCKET_TIMEOUT)))
        traffic = ReadTraffic(clients, keys, value)
        self.addCleanup(os.kill, owner.node.pid, signal.SIGCONT)

        os.kill(owner.node.pid, signal.SIGSTOP)
        yield eventually(lambda: counter(coordinator, "peer_ejects") >= 1, WAIT,
                         message="the stopped owner ejected")
        traffic.ejected = True  # requests sent from now on must all be answered
        sent_to_owner = counter(coordinator, "peer_link_requests", **link)
        failovers = counter(coordinator, "peer_failover_requests")
        answered = traffic.answered
        yield eventually(lambda: traffic.answered >= answered + 300, WAIT,
                         message="300 reads answered after the ejection")
        # every one answered by rack2, nothing sent to the stopped owner: none waited
        self.assertEqual(counter(coordinator, "peer_link_requests", **link), sent_to_owner)
        self.assertGreaterEqual(counter(coordinator, "peer_failover_requests"), failovers + 300)
        # a write too, answered by rack2's copy
        self.assertTrue((yield client.set(b"dead:write", b"w")) in (b"OK", "OK"))
        rack2 = self.cluster.owner(b"dead:write", "dc1", "rack2")
        self.assertEqual(stored(rack2, b"dead:write"), bulk(b"w"))

        os.kill(owner.node.pid, signal.SIGCONT)
        yield eventually(
            lambda: counter(coordinator, "peer_link_requests", **link) > sent_to_owner + 100,
            WAIT, message="the resumed owner used again")
        yield traffic.stop()
        self.assertEqual(traffic.wrong_after_ejection, [])
        # before the ejection, only the requests in flight to the stopped owner failed
        self.assertLessEqual(len(traffic.failed_before_ejection), READERS * 3)
        self.assertGreater(counter(owner, "read_requests"), 0)


READERS = 4  # connections reading at once: a steady load, several requests in flight


class ReadTraffic:
    """GETs of ``keys`` in a loop on each connection, each reply checked; a wrong one
    is filed by whether its request was sent before or after ``ejected`` was set."""

    def __init__(self, clients: List[Any], keys: List[bytes], value: bytes) -> None:
        self.keys = keys
        self.value = value
        self.answered = 0
        self.ejected = False
        self.failed_before_ejection: List[Any] = []
        self.wrong_after_ejection: List[Any] = []
        self._stopping = False
        self.done = defer.gatherResults([self._run(client) for client in clients])

    @defer.inlineCallbacks
    def _run(self, client: Any) -> Generator[defer.Deferred[Any], Any, None]:
        while not self._stopping:
            key = self.keys[self.answered % len(self.keys)]
            after = self.ejected
            try:
                reply = yield client.get(key)
            except txredisapi.ResponseError as error:
                reply = error
            if reply != self.value:
                wrong = self.wrong_after_ejection if after else self.failed_before_ejection
                wrong.append((key, reply))
            self.answered += 1

    def stop(self) -> defer.Deferred[Any]:
        self._stopping = True
        return self.done


class SighupTest(ProcessTestCase):
    """Two racks seeding each other; a third joins when SIGHUP gives them its seed."""

    cluster: Cluster

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        def two_racks_first(cluster: Cluster) -> None:
            third = cluster.nodes[2]
            for member in cluster.nodes[:2]:
                fields = dict(member.node.fields)
                fields["dyn_seeds"] = [s for s in fields["dyn_seeds"] if s != third.seed]
                member.node.rewrite(fields)

        cls.cluster = processes.cluster(1, 3, prepare=two_racks_first, connected=False)

    def test_sighup_changes_consistency_and_seeds(self) -> None:
        first, second, third = self.cluster.nodes
        replicated(first, [first, second], b"hup:1")
        self.assertNotIn(b"hup:1", stored(third, b"hup:1"))

        fields = dict(first.node.fields, read_consistency="DC_QUORUM")
        first.node.rewrite(fields)
        first.node.reload()
        wait_until(lambda: b"Read Consistency: DC_QUORUM" in admin(first, "/get_consistency"), WAIT,
                   message="read consistency reloaded")

        for member in (first, second):
            member.node.rewrite(dict(member.node.fields,
                                     dyn_seeds=[m.seed for m in self.cluster.nodes
                                                if m is not member]))
            member.node.reload()
        replicated(first, [first, second, third], b"hup:2")
        replicated(second, [first, second, third], b"hup:3")
        # a key that cannot change live: refused, the node keeps running as it was
        first.node.rewrite(dict(first.node.fields, data_store=1))
        first.node.reload()
        wait_until(lambda: "data_store cannot change while the node runs" in log_of(first),
                   WAIT, message="the refusal logged")
        self.assertEqual(through(first, b"GET", b"hup:3"), bulk(b"from-" + b"dc1-rack2"))


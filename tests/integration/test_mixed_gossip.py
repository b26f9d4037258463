"""A mixed cluster with gossip on: a C Dynomite node in rack1 and dynotwist nodes in
rack2 and rack3 (one DC, one node per rack), every node gossiping each second.

It runs where a C Dynomite binary is found (``DYNOMITE_BINARY``, or ``dynomite`` on
PATH), and is reported as skipped elsewhere: the binary is not a Debian package and
is not built by the test suite.
"""

from __future__ import annotations

import os
import shutil
from functools import partial
from typing import List

from dynotwist.testing.blocking import RespClient
from dynotwist.testing.cluster import Cluster, ClusterNode
from tests.support.fixtures import Processes, ProcessTestCase
from tests.support.members import log_of
from tests.support.waiting import wait_until

BINARY = os.environ.get("DYNOMITE_BINARY") or shutil.which("dynomite")
WAIT = 30.0  # seconds: bound on the joining of the nodes and on each copy
OK = b"+OK\r\n"


def call(port: int, *args: str) -> bytes:
    try:
        with RespClient(port) as client:
            return client.call(*args)
    except OSError as error:  # a node still starting
        return str(error).encode()


class MixedGossipTest(ProcessTestCase):
    skip = None if BINARY else "no C Dynomite binary here (DYNOMITE_BINARY names one)"

    cluster: Cluster

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        def c_node_in_rack1(cluster: Cluster) -> None:
            node = cluster.nodes[0].node
            node.argv = [str(BINARY), "-c", node.config_path, "-v", "5"]

        cls.cluster = processes.cluster(
            1, 3, prepare=c_node_in_rack1, connected=False,
            extra_fields={"enable_gossip": True, "gos_interval": 1000},
        )

    def test_writes_through_every_node_reach_every_rack(self) -> None:
        nodes: List[ClusterNode] = self.cluster.nodes
        for member in nodes:  # each node serves once gossip made it NORMAL
            wait_until(partial(self.written_through, member), WAIT,
                       message="a write through %s" % member.name)
        for member in nodes:
            for source in nodes:
                wait_until(partial(self.holds, member, source), WAIT,
                           message="%s's write in %s's redis" % (source.name, member.name))

    @staticmethod
    def written_through(member: ClusterNode) -> bool:
        return call(member.client_port, "SET", "through-" + member.name, member.name) == OK

    @staticmethod
    def holds(member: ClusterNode, source: ClusterNode) -> bool:
        expected = b"$%d\r\n%s\r\n" % (len(source.name), source.name.encode())
        return call(member.redis.port, "GET", "through-" + source.name) == expected

    def test_the_dynotwist_nodes_join_and_take_the_c_nodes_gossip(self) -> None:
        for member in self.cluster.nodes[1:]:
            wait_until(partial(self.joined, member), WAIT, message="%s NORMAL" % member.name)
            self.assertNotIn("refused", log_of(member))  # no gossip frame refused

    @staticmethod
    def joined(member: ClusterNode) -> bool:
        return "gossip: NORMAL" in log_of(member)

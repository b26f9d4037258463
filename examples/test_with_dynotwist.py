"""A trial test of one's own against real dynotwist nodes, written as a user would.

``dynotwist.testing`` starts what the test needs on free loopback ports — a node in
the test's own reactor in front of a fresh redis-server, or a cluster of node
processes — and stops it all when the test ends; the test talks to the nodes with
txredisapi and waits on Deferreds. It needs redis-server installed. Run it with::

    python -m twisted.trial examples/test_with_dynotwist.py
"""

from __future__ import annotations

from typing import Any, Generator

import txredisapi
from twisted.internet import defer, reactor, task
from twisted.trial import unittest

from dynotwist.testing import connect_redis, start_cluster, start_node


class SingleNodeTest(unittest.TestCase):
    @defer.inlineCallbacks
    def test_a_value_written_through_the_node_is_in_redis(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        node = yield start_node(self)
        client = yield connect_redis(self, node.client_port)
        yield client.set("greeting", "hello")
        self.assertEqual((yield client.get("greeting")), "hello")
        # the redis-server behind the node holds it
        redis = yield connect_redis(self, node.datastore_port)
        self.assertEqual((yield redis.get("greeting")), "hello")

    @defer.inlineCallbacks
    def test_clients_must_authenticate(self) -> Generator[defer.Deferred[Any], Any, None]:
        node = yield start_node(self, requirepass="s3cret")
        stranger = yield connect_redis(self, node.client_port)
        error = yield self.assertFailure(stranger.get("greeting"), txredisapi.ResponseError)
        self.assertTrue(str(error).startswith("NOAUTH"), error)
        friend = yield connect_redis(self, node.client_port, password="s3cret")
        self.assertEqual((yield friend.ping()), "PONG")


class ReplicationTest(unittest.TestCase):
    @defer.inlineCallbacks
    def test_a_write_reaches_the_other_rack(self) -> Generator[defer.Deferred[Any], Any, None]:
        cluster = yield start_cluster(self, racks=2)
        first, second = cluster.nodes  # one node per rack: each holds every key
        client = yield connect_redis(self, first.client_port)
        yield client.set("greeting", "hello")
        # the copy to the other rack travels in the background: poll its redis-server
        other = yield connect_redis(self, second.redis.port)
        for _ in range(100):
            if (yield other.get("greeting")) == "hello":
                break
            yield task.deferLater(reactor, 0.05, lambda: None)
        self.assertEqual((yield other.get("greeting")), "hello")

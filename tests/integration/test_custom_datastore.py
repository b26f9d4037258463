"""A datastore kind named by a dotted path (examples/rack_aware_redis.py) through a node,
in the test's reactor, in front of a real redis-server."""

from __future__ import annotations

import os
import sys
from typing import Any, Generator

from twisted.internet import defer
from twisted.trial import unittest

from dynotwist.testing import connect_redis, start_node

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "examples")


class CustomDatastoreTest(unittest.TestCase):
    @defer.inlineCallbacks
    def test_its_own_command_and_redis_through_it(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        self.patch(sys, "path", [os.path.abspath(EXAMPLES), *sys.path])
        node = yield start_node(self, data_store="rack_aware_redis:RackAwareRedis")
        client = yield connect_redis(self, node.client_port)
        self.assertEqual((yield client.execute_command("WHEREAMI")), "dc1/rack1 101134286")
        self.assertEqual((yield client.set("k", "v")), "OK")
        self.assertEqual((yield client.get("k")), "v")
        direct = yield connect_redis(self, node.datastore_port)
        self.assertEqual((yield direct.get("k")), "v")

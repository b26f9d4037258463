"""A datastore kind named by a dotted path (examples/rack_aware_redis.py) through a node."""

from __future__ import annotations

import os
import tempfile

from twisted.trial import unittest

from dynotwist.local import Node, RedisServer, free_port, single_node_fields
from tests.integration.support import RespClient

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), "examples")


class CustomDatastoreTest(unittest.TestCase):
    def setUp(self) -> None:
        workdir = tempfile.mkdtemp(prefix="dynotwist-custom-")
        self.redis = RedisServer(workdir)
        fields = single_node_fields(self.redis.port, free_port(), free_port(), free_port())
        fields["data_store"] = "rack_aware_redis:RackAwareRedis"
        self.node = Node(workdir, fields)
        assert self.node.env is not None
        self.node.env["PYTHONPATH"] += os.pathsep + os.path.abspath(EXAMPLES)
        self.redis.start()
        self.addCleanup(self.redis.stop)
        self.node.start()
        self.addCleanup(self.node.stop)

    def test_its_own_command_and_redis_through_it(self) -> None:
        with RespClient(self.node.client_port) as client:
            self.assertEqual(client.call("WHEREAMI"), b"$19\r\ndc1/rack1 101134286\r\n")
            self.assertEqual(client.call("SET", "k", "v"), b"+OK\r\n")
            self.assertEqual(client.call("GET", "k"), b"$1\r\nv\r\n")
        with RespClient(self.redis.port) as direct:
            self.assertEqual(direct.call("GET", "k"), b"$1\r\nv\r\n")

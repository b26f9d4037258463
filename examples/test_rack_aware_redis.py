"""The rack-aware Redis kind at the protocol level: WHEREAMI answered by the node,
everything else relayed to Redis, on a single node as in a cluster (one request path).
Run: PYTHONPATH=examples .venv/bin/python -m twisted.trial test_rack_aware_redis"""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial import unittest

from dynotwist.config import parse_config
from dynotwist.node import Node
from dynotwist.proto.resp import encode_command

CONFIG = """\
dyn_o_mite:
  listen: 127.0.0.1:8102
  dyn_listen: 127.0.0.1:8101
  servers:
  - 127.0.0.1:6379:1
  tokens: '42'
  datacenter: dc1
  rack: rack1
  data_store: rack_aware_redis:RackAwareRedis
"""


class RackAwareRedisTests(unittest.TestCase):
    def test_whereami_is_the_nodes_and_the_rest_goes_to_redis(self) -> None:
        reactor = MemoryReactorClock()
        node = Node(parse_config(CONFIG), reactor)
        node.start()
        redis = reactor.tcpClients[0][2].buildProtocol(None)
        redis.makeConnection(StringTransport())
        client = node.kind.client_port(node).buildProtocol(None)
        client.makeConnection(StringTransport())
        client.dataReceived(encode_command([b"GET", b"k"]) + encode_command([b"WHEREAMI"]))
        reactor.advance(0)
        self.assertEqual(redis.transport.value(), encode_command([b"GET", b"k"]))
        redis.dataReceived(b"$1\r\nv\r\n")
        reactor.advance(0)
        self.assertEqual(client.transport.value(), b"$1\r\nv\r\n$12\r\ndc1/rack1 42\r\n")

"""Real dynotwist nodes, clusters and datastores for your own trial tests.

A node runs inside the test's reactor, in front of a fresh redis-server (or memcached)
on free loopback ports; a client is a txredisapi connection; ``addCleanup`` stops
everything, by pid for processes, when the test ends::

    from twisted.internet import defer
    from twisted.trial import unittest

    from dynotwist.testing import connect_redis, start_node


    class CacheTest(unittest.TestCase):
        @defer.inlineCallbacks
        def test_set_then_get(self):
            node = yield start_node(self, read_consistency="DC_ONE")
            client = yield connect_redis(self, node.client_port)
            yield client.set("greeting", "hello")
            self.assertEqual((yield client.get("greeting")), "hello")
            # what the node wrote, read from the redis-server behind it
            direct = yield connect_redis(self, node.datastore_port)
            self.assertEqual((yield direct.get("greeting")), "hello")

Run it with ``python -m twisted.trial yourtests``. ``examples/test_with_dynotwist.py``
is a whole such test module, replication included.

- ``start_node(testcase, datastore="redis", **yaml_keys)``: a ``RunningNode``
  (``client_port``, ``peer_port``, ``stats_port``, ``datastore``, ``service``).
- ``start_cluster(testcase, dcs=1, racks=3, nodes_per_rack=1, **options)``: a
  ``Cluster`` of node processes, each in front of its own redis-server, once a write
  through any node reaches every replica; ``cluster.replicas(key)`` names the nodes
  that hold a key, ``member.redis.port`` their redis-servers.
- ``start_redis(testcase)``, ``start_memcached(testcase)``: a datastore process alone.
- ``connect_redis(testcase, port)``: a connected txredisapi client (RESP2);
  ``connect_memcache(testcase, port)``: Twisted's memcached client, connected.

The same classes run without a reactor, blocking: ``Cluster``, ``RedisServer``,
``MemcachedServer`` and ``NodeProcess`` (``start()``, ``stop()``), as
``python -m dynotwist.local`` does; ``FloridaServer`` serves a seed list to nodes
with ``dyn_seed_provider: florida_provider`` (``set_seeds()`` changes it).
"""

from __future__ import annotations

from dynotwist.testing.clients import connect_memcache, connect_redis
from dynotwist.testing.cluster import Cluster, ClusterNode
from dynotwist.testing.configs import render_config, single_node_fields
from dynotwist.testing.inprocess import RunningNode, start_node
from dynotwist.testing.ports import LOOPBACK, free_port, free_ports
from dynotwist.testing.processes import (
    FloridaServer,
    MemcachedServer,
    NodeProcess,
    RedisServer,
)
from dynotwist.testing.trial import start_cluster, start_memcached, start_redis

__all__ = [
    "LOOPBACK",
    "Cluster",
    "ClusterNode",
    "FloridaServer",
    "MemcachedServer",
    "NodeProcess",
    "RedisServer",
    "RunningNode",
    "connect_memcache",
    "connect_redis",
    "free_port",
    "free_ports",
    "render_config",
    "single_node_fields",
    "start_cluster",
    "start_memcached",
    "start_node",
    "start_redis",
]

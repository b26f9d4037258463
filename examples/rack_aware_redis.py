"""A datastore kind of one's own: Redis plus a command the node answers itself.

``data_store: rack_aware_redis:RackAwareRedis`` (with this folder on PYTHONPATH)
runs a node in front of Redis whose clients may also ask ``WHEREAMI``: the node
replies with its datacenter, rack and tokens, without asking Redis. Everything else
is Redis as usual: same routing, replication and consistency.

It shows the extension point: a provider of ``dynotwist.datastores.IDatastoreKind``,
here a subclass of the built-in ``RedisKind`` and of the client protocol it names;
nothing in dynotwist's core changes. ``examples/test_rack_aware_redis.py`` drives it
at the protocol level.
"""

from __future__ import annotations

from typing import List, Optional

from dynotwist.datastores import RedisKind
from dynotwist.net.client import RedisClientFactory, RedisClientProtocol
from dynotwist.proto.commands import CommandSpec
from dynotwist.proto.resp import bulk_reply


class RackAwareClient(RedisClientProtocol):
    def handle(self, spec: Optional[CommandSpec], args: List[bytes], raw: Optional[bytes]) -> None:
        if args[0].upper() == b"WHEREAMI":
            local = self.node.topology.local
            tokens = ",".join(str(t) for t in local.tokens)
            self.answer(bulk_reply(("%s/%s %s" % (local.dc, local.rack, tokens)).encode()))
            return
        super().handle(spec, args, raw)


class RackAwareClientFactory(RedisClientFactory):
    protocol = RackAwareClient


class RackAwareRedis(RedisKind):
    name = "rack-aware-redis"
    client_factory = RackAwareClientFactory

"""Kinds of datastore: what ``data_store:`` selects.

A kind brings the protocol clients speak to the node, the connection the node keeps
to its datastore, the node's error replies in that protocol's syntax, and a way to
read the keys and the read/write nature of a relayed request. ``data_store: 0`` is
Redis, ``1`` Memcached; a dotted path (``mypkg.store:MyDatastore``) names a subclass
of ``Datastore`` — the way to add a datastore without touching the core
(``examples/tagged_redis.py`` is one).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List, Tuple, Type, Union

from dynotwist import errors
from dynotwist.net import memcache
from dynotwist.net.client import RedisClientFactory
from dynotwist.net.datastore import DatastoreProtocol
from dynotwist.proto import commands
from dynotwist.proto.resp import ProtocolError, RequestParser

if TYPE_CHECKING:
    from dynotwist.service import Node


class Datastore:
    """Redis: the default kind, and the base class of every other."""

    name = "redis"
    client_factory: Any = RedisClientFactory
    connection_class: Type[DatastoreProtocol] = DatastoreProtocol
    replies = errors.RESP
    speaks_resp3 = True  # clients may switch to RESP3; the pools follow them

    def client_port(self, node: Node) -> Any:
        """The factory of the client port."""
        return self.client_factory(node)

    def inspect(self, raw: bytes) -> Tuple[List[bytes], bool]:
        """A relayed request's keys, and whether it writes (unknown: a write)."""
        try:
            requests = RequestParser().feed(raw)
        except ProtocolError:
            return [], True
        if not requests:
            return [], True
        args = requests[0][0]
        spec = commands.lookup(args)
        if spec is None:
            return [], True
        try:
            return commands.keys(spec, args), spec.write
        except commands.KeySpecError:
            return [], spec.write


class Memcache(Datastore):
    name = "memcache"
    client_factory = memcache.MemcacheClientFactory
    connection_class = memcache.MemcacheDatastoreProtocol
    replies = memcache.REPLIES
    speaks_resp3 = False

    def inspect(self, raw: bytes) -> Tuple[List[bytes], bool]:
        return memcache.inspect(raw)


def resolve(data_store: Union[int, str]) -> Datastore:
    """The kind ``data_store:`` names: 0, 1, or ``package.module:Class``."""
    if data_store == 0:
        return Datastore()
    if data_store == 1:
        return Memcache()
    path = str(data_store)
    module_name, _, class_name = path.rpartition(":") if ":" in path else path.rpartition(".")
    try:
        kind = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError("data_store %r cannot be loaded: %s" % (path, error)) from None
    if not (isinstance(kind, type) and issubclass(kind, Datastore)):
        raise ValueError("data_store %r is not a dynotwist.datastores.Datastore" % path)
    return kind()

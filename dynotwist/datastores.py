"""Kinds of datastore: what ``data_store:`` selects.

A kind brings the protocol clients speak to the node, the connection the node keeps
to its datastore, the node's error replies in that protocol's syntax, and the check of
a request a peer relays (the same command table and limits as the client port).
``data_store: 0`` is Redis, ``1`` Memcached; a dotted path (``mypkg.store:MyDatastore``)
names a subclass of ``Datastore`` — the way to add a datastore without touching the
core (``examples/rack_aware_redis.py`` is one).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List, NamedTuple, Type, Union

from dynotwist import errors
from dynotwist.net import memcache
from dynotwist.net.client import RedisClientFactory
from dynotwist.net.datastore import DatastoreProtocol
from dynotwist.proto import commands
from dynotwist.proto import memcache as memcache_protocol
from dynotwist.proto.memcache import (
    ClientError,
    Item,
    MemcacheRequest,
    MemcacheRequestParser,
    server_error,
)
from dynotwist.proto.resp import ProtocolError, RequestParser, encode_command, error_reply

if TYPE_CHECKING:
    from dynotwist.config import Config
    from dynotwist.node import Node


class Relayed(NamedTuple):
    """A peer frame's payload, parsed as exactly one request the client port accepts."""

    raw: bytes  # the request's bytes, as the datastore will read them
    write: bool
    keys: List[bytes]


# What a peer frame carries: one request, nothing before or after it.
NOT_ONE_REQUEST = "a peer frame must carry exactly one request"


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

    def admit_relayed(self, payload: bytes, config: Config) -> Union[Relayed, bytes]:
        """A request from a peer, checked as the client port checks a client's: parsed
        as exactly one request, with the same command table, limits and refusals. The
        error reply that refuses it otherwise."""
        parser = RequestParser(config.proto_max_bulk_len)
        try:
            requests = parser.feed(payload)
        except ProtocolError as error:
            return error_reply("ERR " + str(error))
        if len(requests) != 1 or parser.buffered:
            return error_reply("ERR Protocol error: " + NOT_ONE_REQUEST)
        args, raw = requests[0]
        spec = commands.lookup(args)
        if spec is None:
            return commands.unknown_command_error(args)
        if not commands.arity_ok(spec, len(args)):
            return commands.arity_error(spec)
        if spec.route == commands.UNSUPPORTED:
            return commands.unsupported_error(spec, args)
        if spec.route == commands.NODE:
            return error_reply(
                "ERR '%s' is answered by the node a client talks to; peers do not relay it"
                % spec.name
            )
        try:
            keys = commands.keys(spec, args)
        except commands.KeySpecError as error:
            return error.reply
        return Relayed(raw if raw is not None else encode_command(args), spec.write, keys)


class Memcache(Datastore):
    name = "memcache"
    client_factory = memcache.MemcacheClientFactory
    connection_class = memcache.MemcacheDatastoreProtocol
    replies = memcache.REPLIES
    speaks_resp3 = False

    def admit_relayed(self, payload: bytes, config: Config) -> Union[Relayed, bytes]:
        parser = MemcacheRequestParser(config.item_size_max)
        items = parser.feed(payload)
        request = items[0] if items else None
        if isinstance(request, ClientError):
            return request.reply or memcache_protocol.BAD_FORMAT
        if request is None or parser.buffered or not _alone_or_fenced(request, items[1:]):
            return server_error("Protocol error: " + NOT_ONE_REQUEST)
        if request.local:
            return server_error(
                "'%s' is answered by the node a client talks to; peers do not relay it"
                % request.command.decode("latin-1")
            )
        return Relayed(request.raw_with_fence, request.write, request.keys)


def _alone_or_fenced(request: MemcacheRequest, rest: List[Item]) -> bool:
    """A noreply or quiet request may come with its fence (``mn``) from a dynotwist
    peer, or without it from a C Dynomite peer (the datastore connection adds it)."""
    if not rest:
        return True
    fence = rest[0]
    return (
        len(rest) == 1
        and request.fenced
        and isinstance(fence, MemcacheRequest)
        and fence.command == b"mn"
        and fence.raw == memcache_protocol.FENCE
    )


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

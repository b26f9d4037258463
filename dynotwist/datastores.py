"""Kinds of datastore: what ``data_store:`` selects, and how to add one.

A kind provides :class:`IDatastoreKind`: the protocol its clients speak (the client
port's factory), the connection the node keeps to each datastore (requests written,
replies framed), the node's own errors in that protocol, what a reply means for
consistency (``replies.is_error``), and how a request is read and described to the
router: ``describe`` turns a request of that protocol into a datastore-neutral
:class:`~dynotwist.core.command.Command` (how it is routed, whether it writes, its
keys), so that nothing in ``dynotwist.core`` changes for a new kind.

:class:`RedisKind` (``data_store: 0``) and :class:`MemcacheKind` (``data_store: 1``)
are the two built in. Another is named by a dotted path
(``data_store: mypkg.store:MyKind``) or, once installed, by the ``name`` of a
plugin (an object providing ``twisted.plugin.IPlugin`` and :class:`IDatastoreKind`, in
a module of a ``twisted/plugins/`` folder; ``data_store: mykind``). The
usual way to make one is to subclass a built-in kind (``examples/rack_aware_redis.py``:
Redis plus a command the node answers); ``examples/kv_lines.py`` is the skeleton of a
kind with a wire protocol of its own.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any, List, NamedTuple, Optional, Type, Union

from twisted.plugin import IPlugin, getPlugins
from zope.interface import Attribute, Interface, implementer
from zope.interface.exceptions import Invalid
from zope.interface.verify import verifyObject

from dynotwist import errors
from dynotwist.core.command import LOCAL_DATASTORE, NODE, UNSUPPORTED, Command
from dynotwist.net import memcache
from dynotwist.net.client import RedisClientFactory
from dynotwist.net.datastore import DatastoreProtocol
from dynotwist.proto import commands, transactions
from dynotwist.proto import memcache as memcache_protocol
from dynotwist.proto.memcache import (
    ClientError,
    Item,
    MemcacheRequest,
    MemcacheRequestParser,
    server_error,
)
from dynotwist.proto.resp import (
    ProtocolError,
    Request,
    RequestParser,
    encode_command,
    error_reply,
    one_request_function,
)

if TYPE_CHECKING:
    from dynotwist.config import Config
    from dynotwist.node import Node


class Relayed(NamedTuple):
    """A peer frame's payload, parsed as exactly one request the client port accepts."""

    raw: bytes  # the request's bytes, as the datastore will read them
    write: bool
    keys: List[bytes]


# What a peer frame carries: one request, nothing before or after it (or one
# transaction: proto.transactions).
NOT_ONE_REQUEST = "a peer frame must carry exactly one request"
NOT_RELAYED = "'%s' is answered by the node a client talks to; peers do not relay it"
# answered by the node for its clients, but relayed to a peer's datastore by the node
# (INFO: the keyspace of each node of the rack)
_RELAYED_NODE_COMMANDS = frozenset(("info",))
_one_request = one_request_function()


class IDatastoreKind(Interface):
    """A kind of datastore a node fronts."""

    name = Attribute("Short name, for logs and for ``data_store:`` (as a plugin's name).")
    replies = Attribute(
        "The node's own errors in the clients' protocol (dynotwist.errors.Replies), and"
        " ``replies.is_error(reply)``: whether a datastore's reply counts as an error"
        " against a quorum."
    )
    connection_class = Attribute(
        "The protocol of a connection to the datastore (a net.datastore.DatastoreProtocol"
        " subclass: it writes requests and frames their replies, in order)."
    )
    speaks_resp3 = Attribute(
        "True if clients may switch to RESP3 (HELLO 3): the node keeps datastore"
        " connections per protocol version."
    )

    def client_port(node: Node) -> Any:
        """The client port's protocol factory; its protocols read requests, answer the
        node's own commands, and forward the rest through ``node.router`` (planning from
        a ``describe``d Command) and ``node.dispatcher``."""

    def describe(request: Any) -> Union[Command, bytes]:
        """A request of this protocol as routing sees it (route, write, keys), or the
        reply that refuses it."""

    def admit_relayed(payload: bytes, config: Config) -> Union[Relayed, bytes]:
        """A peer frame's payload as exactly one request this kind's client port would
        forward, or the error reply that refuses it."""


@implementer(IPlugin, IDatastoreKind)
class RedisKind:
    """Redis (and any RESP2/RESP3 speaker): ``data_store: 0``."""

    name = "redis"
    client_factory: Any = RedisClientFactory
    connection_class: Type[DatastoreProtocol] = DatastoreProtocol
    replies = errors.RESP
    speaks_resp3 = True

    def client_port(self, node: Node) -> Any:
        return self.client_factory(node)

    def describe(self, request: Request) -> Union[Command, bytes]:
        """``request`` is a parsed ``(args, raw)``."""
        args = request[0]
        spec = commands.lookup(args)
        if spec is None:
            return commands.unknown_command_error(args)
        if not commands.arity_ok(spec, len(args)):
            return commands.arity_error(spec)
        if spec.route == UNSUPPORTED:
            return commands.unsupported_error(spec, args)
        if spec.route == NODE:
            if spec.name in _RELAYED_NODE_COMMANDS:
                return Command(LOCAL_DATASTORE, False, [])
            return error_reply("ERR " + NOT_RELAYED % spec.name)
        return commands.describe(spec, args)

    def admit_relayed(self, payload: bytes, config: Config) -> Union[Relayed, bytes]:
        args = _one_request(payload, config.proto_max_bulk_len)
        if args is not None:  # the usual frame: read without a parser
            command = self.describe((args, payload))
            if isinstance(command, bytes):
                return command
            return Relayed(payload, command.write, list(command.keys))
        parser = RequestParser(config.proto_max_bulk_len)
        try:
            requests = parser.feed(payload)
        except ProtocolError as error:
            return error_reply("ERR " + str(error))
        if parser.buffered or not requests:
            return error_reply("ERR Protocol error: " + NOT_ONE_REQUEST)
        if len(requests) > 1:  # a transaction: MULTI, its commands, EXEC
            admitted = transactions.admit_unit(requests, self.describe)
            if isinstance(admitted, bytes):
                return admitted
            return Relayed(*admitted)
        command = self.describe(requests[0])
        if isinstance(command, bytes):
            return command
        args, raw = requests[0]
        return Relayed(raw if raw is not None else encode_command(args), command.write,
                       list(command.keys))


@implementer(IPlugin, IDatastoreKind)
class MemcacheKind:
    """Memcached's text protocol: ``data_store: 1``."""

    name = "memcache"
    client_factory: Any = memcache.MemcacheClientFactory
    connection_class: Type[DatastoreProtocol] = memcache.MemcacheDatastoreProtocol
    replies = memcache.REPLIES
    speaks_resp3 = False

    def client_port(self, node: Node) -> Any:
        return self.client_factory(node)

    def describe(self, request: Item) -> Union[Command, bytes]:
        if isinstance(request, ClientError):
            return request.reply or memcache_protocol.BAD_FORMAT
        if request.local:
            return server_error(NOT_RELAYED % request.command.decode("latin-1"))
        return memcache_protocol.describe(request)

    def admit_relayed(self, payload: bytes, config: Config) -> Union[Relayed, bytes]:
        parser = MemcacheRequestParser(config.item_size_max)
        items = parser.feed(payload)
        if not items:
            return server_error("Protocol error: " + NOT_ONE_REQUEST)
        command = self.describe(items[0])
        if isinstance(command, bytes):
            return command
        request = items[0]
        assert isinstance(request, MemcacheRequest)
        if parser.buffered or not _alone_or_fenced(request, items[1:]):
            return server_error("Protocol error: " + NOT_ONE_REQUEST)
        return Relayed(request.raw_with_fence, command.write, list(command.keys))


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


def resolve(data_store: Union[int, str]) -> Any:
    """The kind ``data_store:`` names: 0, 1, ``package.module:Class`` (or
    ``package.module.Class``), or the name of an installed plugin."""
    if data_store == 0:
        return RedisKind()
    if data_store == 1:
        return MemcacheKind()
    name = str(data_store)
    kind = _plugin(name) if ":" not in name and "." not in name else _from_path(name)
    try:
        verifyObject(IDatastoreKind, kind)
    except Invalid as error:
        raise ValueError(
            "data_store %r is not a dynotwist.datastores.IDatastoreKind: %s"
            % (name, str(error).strip())
        ) from None
    return kind


def _from_path(path: str) -> Any:
    module_name, _, attribute = path.rpartition(":") if ":" in path else path.rpartition(".")
    try:
        found = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError, ValueError) as error:
        raise ValueError("data_store %r cannot be loaded: %s" % (path, error)) from None
    # a class declaring the interface is instantiated; anything else is checked as is
    return found() if IDatastoreKind.implementedBy(found) else found


def _plugin(name: str) -> Any:
    found: Optional[Any] = None
    for kind in getPlugins(IDatastoreKind):
        if getattr(kind, "name", None) == name:
            found = kind
            break
    if found is None:
        known = sorted(getattr(k, "name", "?") for k in getPlugins(IDatastoreKind))
        raise ValueError(
            "data_store %r is no installed datastore plugin (installed: %s); use 0, 1 or"
            ' "package.module:Class"' % (name, ", ".join(known) or "none")
        )
    return found

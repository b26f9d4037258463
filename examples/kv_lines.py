"""The skeleton of a datastore kind with a wire protocol of its own.

Clients speak a line protocol to the node; the node keeps Redis behind it:

    GET <key>          ->  VALUE <value> | NONE
    SET <key> <value>  ->  OK
    DEL <key>          ->  OK
    PING               ->  PONG            (answered by the node itself)

and anything wrong gets ``ERROR <text>``. Every line is one request; its keys are
routed, replicated and checked at the node's consistency as any Redis or memcached
request is: the kind only reads its protocol, describes each request to the router
(``describe``), writes it for the datastore, and turns replies into lines (``frame``).
Nothing in ``dynotwist.core`` knows this protocol.

Run a node with it: ``data_store: kv_lines:KvLines`` (with this folder on PYTHONPATH).
``examples/test_kv_lines.py`` drives it at the protocol level.
"""

from __future__ import annotations

from typing import Any, List, Union

from twisted.internet.protocol import Factory
from twisted.protocols.basic import LineOnlyReceiver
from zope.interface import implementer

from dynotwist import errors
from dynotwist.config import Config
from dynotwist.core.command import SINGLE, Command
from dynotwist.core.router import Plan
from dynotwist.core.slots import Slot
from dynotwist.datastores import IDatastoreKind, RedisKind, Relayed
from dynotwist.net.datastore import DatastoreProtocol
from dynotwist.net.ordered import ClientConnection
from dynotwist.proto.resp import encode_command

# line verb -> (Redis command, number of arguments, writes)
VERBS = {b"GET": (b"GET", 1, False), b"SET": (b"SET", 2, True), b"DEL": (b"DEL", 1, True)}
# how those requests start once written for Redis
VERBS_SENT = tuple(encode_command([name] + [b""] * n)[:11] for name, n, _ in VERBS.values())


class KvLinesProtocol(ClientConnection, LineOnlyReceiver):
    """One client connection: a request per line, a reply per line, in order."""

    delimiter = b"\n"
    MAX_LENGTH = 64 * 1024  # longer lines: the connection is closed (lineLengthExceeded)

    def received(self, data: bytes) -> None:
        """Bytes read (ClientConnection guards it: an error fails this client alone)."""
        LineOnlyReceiver.dataReceived(self, data)

    def lineReceived(self, line: bytes) -> None:
        words = line.rstrip(b"\r").split()
        if not words:
            return
        verb = words[0].upper()
        if verb == b"PING":
            self.answer(b"+PONG\r\n")
            return
        request = self.node.kind.describe(words)
        if isinstance(request, bytes):
            self.answer(request)
            return
        slot = Slot(self)
        self.waiting.append(slot)
        routed = self.node.router.plan(
            request, self.session.read_consistency, self.session.write_consistency
        )
        assert isinstance(routed, Plan)  # one key: never split
        name, _, write = VERBS[verb]
        raw = encode_command([name, *words[1:]])
        self.node.dispatcher.execute(routed, raw, slot, False, self.lane, write)

    def frame(self, reply: bytes) -> bytes:
        """A Redis reply (or the node's own, in RESP) as one line."""
        kind, body = reply[:1], reply[1:].split(b"\r\n", 1)[0]
        if kind == b"-":
            return b"ERROR " + body + b"\n"
        if kind == b"$":
            if body == b"-1":
                return b"NONE\n"
            return b"VALUE " + reply.split(b"\r\n", 2)[1] + b"\n"
        if kind == b":":  # DEL's count
            return b"OK\n"
        return body + b"\n"  # +OK, +PONG


class KvLinesFactory(Factory):
    noisy = False

    def __init__(self, node: Any) -> None:
        self.node = node

    def buildProtocol(self, addr: object) -> KvLinesProtocol:
        return KvLinesProtocol(self.node)


@implementer(IDatastoreKind)
class KvLines:
    name = "kv-lines"
    replies = errors.RESP  # the node's errors, in RESP until frame() writes them
    connection_class = DatastoreProtocol  # Redis behind it
    speaks_resp3 = False

    def client_port(self, node: Any) -> Any:
        return KvLinesFactory(node)

    def describe(self, request: List[bytes]) -> Union[Command, bytes]:
        """``request``: the words of a line."""
        verb = VERBS.get(request[0].upper())
        if verb is None:
            return b"-unknown command %s\r\n" % request[0][:64]
        _, count, write = verb
        if len(request) != count + 1:
            return b"-%s takes %d argument(s)\r\n" % (request[0].upper(), count)
        return Command(SINGLE, write, [request[1]])

    def admit_relayed(self, payload: bytes, config: Config) -> Union[Relayed, bytes]:
        """Peers relay what this kind writes to Redis: one GET, SET or DEL."""
        admitted = RedisKind().admit_relayed(payload, config)
        if isinstance(admitted, Relayed) and not payload.startswith(VERBS_SENT):
            return b"-ERR kv-lines peers relay GET, SET and DEL only\r\n"
        return admitted

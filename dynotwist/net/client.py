"""The client port: RESP connections from applications.

Each connection parses its requests, answers the ones the node handles itself and
forwards the rest; replies go back strictly in request order. A reply that arrives
while earlier ones are still due waits in its slot; the common case, a reply for the
oldest request, is written at once.

Flow control: the connection stops reading from a client whose replies pile up,
either in the kernel (the transport's buffer is full: it pauses us as its producer)
or here (more than ``MAX_PENDING`` requests unanswered), and resumes when they drain.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any, Deque, List, Optional

from twisted.internet.interfaces import ITCPTransport
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

from dynotwist import errors
from dynotwist.core import session as node_commands
from dynotwist.core.router import Fragmented
from dynotwist.logs import TRACE_REQUESTS, logger, verbosity
from dynotwist.net.batch import Batched
from dynotwist.net.datastore import Slot
from dynotwist.proto import commands
from dynotwist.proto.resp import (
    ProtocolError,
    Request,
    encode_command,
    error_reply,
    request_parser_class,
)

if TYPE_CHECKING:
    from dynotwist.service import Node

log = logger(__name__)

MAX_PENDING = 4096

_NODE = commands.NODE
_UNSUPPORTED = commands.UNSUPPORTED
_FORWARDED = frozenset(
    (
        commands.SINGLE,
        commands.MULTI_FRAGMENT,
        commands.MULTI_COLOCATED,
        commands.LOCAL_DATASTORE,
        commands.LOCAL_RACK_OWNER,
        commands.ALL_NODES,
    )
)
_lookup = commands.lookup
_RequestParser = request_parser_class()


class RedisClientProtocol(Batched, Protocol):
    """One client connection speaking RESP2 or RESP3."""

    transport: Any  # a TCP or UNIX transport: ITransport, IProducer, ITCPTransport

    def __init__(self, node: Node) -> None:
        self.node = node
        self.parser = _RequestParser(node.config.proto_max_bulk_len)
        self.waiting: Deque[Slot] = deque()
        self.session = node.new_session()
        self._batch = node.batch
        self._single_node = node.router.single_node
        self.lane = self.session.client_id
        self._send_blocked = False  # the transport's buffer is full
        self._too_many = False  # too many replies due
        self._closed = False

    # -- connection life cycle ------------------------------------------------------
    def connectionMade(self) -> None:
        if ITCPTransport.providedBy(self.transport):
            self.transport.setTcpNoDelay(True)
        self.transport.registerProducer(self, True)
        log.info("client {peer} connected", peer=self._peer())

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._closed = True
        for slot in self.waiting:
            slot.owner = None
        self.waiting.clear()
        self.transport.unregisterProducer()
        log.info("client {peer} disconnected", peer=self._peer())

    def _peer(self) -> str:
        peer = self.transport.getPeer()
        host = getattr(peer, "host", None)
        return "%s:%s" % (host, peer.port) if host is not None else str(peer.name or "unix")

    # -- producer interface: the transport pauses us when its buffer fills ----------
    def pauseProducing(self) -> None:
        self._send_blocked = True
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        self._send_blocked = False
        if not self._too_many and not self.session.closing:
            self.transport.resumeProducing()

    def stopProducing(self) -> None:
        self._closed = True

    # -- requests -------------------------------------------------------------------
    def dataReceived(self, data: bytes) -> None:
        if self.session.closing:
            return
        try:
            requests = self.parser.feed(data)
        except ProtocolError as error:
            self._serve(error.requests)
            if not self.session.closing:
                self.answer(error_reply("ERR " + str(error)))
                self._close_when_answered()
            return
        self._serve(requests)
        if len(self.waiting) > MAX_PENDING and not self._too_many:
            self._too_many = True
            self.transport.pauseProducing()

    def _serve(self, requests: List[Request]) -> None:
        session = self.session
        waiting = self.waiting
        pool = None
        trace = verbosity.verbosity >= TRACE_REQUESTS
        for args, raw in requests:
            if session.closing:
                return
            if trace:
                log.debug(
                    "client {client} request {command} ({count} args)",
                    client=session.client_id,
                    command=args[0].decode("latin-1"),
                    count=len(args) - 1,
                )
            # the common case inline: a well-formed data command for the datastore
            spec = _lookup(args)
            if (
                spec is not None
                and spec.route in _FORWARDED
                and session.authenticated
                and self._single_node
            ):
                arity = spec.arity
                if len(args) == arity if arity >= 0 else len(args) >= -arity:
                    slot = Slot(self)
                    waiting.append(slot)
                    if pool is None:
                        pool = self.node.datastore(session.resp3)
                    if raw is None:
                        raw = encode_command(args)
                    if not pool.send(raw, slot, self.lane):
                        self.complete(slot, errors.DATASTORE_REFUSED)
                    continue
            self.handle(spec, args, raw)
            pool = None  # HELLO may have changed the protocol version

    def handle(
        self, spec: Optional[commands.CommandSpec], args: List[bytes], raw: Optional[bytes]
    ) -> None:
        """Any request: answered here, refused with an error, or forwarded."""
        if spec is None:
            self.answer(commands.unknown_command_error(args))
            return
        route = spec.route
        if not commands.arity_ok(spec, len(args)):
            self.answer(commands.arity_error(spec))
        elif not self.session.authenticated and spec.name not in node_commands.BEFORE_AUTH:
            self.answer(node_commands.NOAUTH)
        elif route == _NODE:
            self.answer(node_commands.answer(self.session, spec.name, args))
            if self.session.closing:
                self._close_when_answered()
        elif route == _UNSUPPORTED:
            self.answer(commands.unsupported_error(spec, args))
        else:
            self.forward(spec, args, raw if raw is not None else encode_command(args))

    def forward(self, spec: commands.CommandSpec, args: List[bytes], raw: bytes) -> None:
        """Send a request where the router says, at this connection's consistency."""
        slot = Slot(self)
        self.waiting.append(slot)
        node = self.node
        session = self.session
        routed = node.router.plan(spec, args, session.read_consistency, session.write_consistency)
        if isinstance(routed, bytes):
            self.complete(slot, routed)
        elif isinstance(routed, Fragmented):
            node.dispatcher.execute_fragmented(routed, slot, session.resp3, self.lane)
        else:
            node.dispatcher.execute(routed, raw, slot, session.resp3, self.lane)

    # -- replies --------------------------------------------------------------------
    def answer(self, reply: bytes) -> None:
        """A reply made here, in its place among the replies still due."""
        if not self.waiting:
            self._batch.write(self, reply)
            return
        slot = Slot(self)
        slot.reply = reply
        self.waiting.append(slot)

    def complete(self, slot: Slot, reply: bytes) -> None:
        """A reply from a datastore (or an error in its place) for ``slot``."""
        waiting = self.waiting
        if not waiting:
            return
        if waiting[0] is not slot:
            slot.reply = reply
            return
        write = self._batch.write
        waiting.popleft()
        write(self, reply)
        while waiting:
            ready = waiting[0].reply
            if ready is None:
                break
            waiting.popleft()
            write(self, ready)
        if self._too_many and len(waiting) < MAX_PENDING // 2:
            self._too_many = False
            if not self._send_blocked and not self.session.closing:
                self.transport.resumeProducing()
        if self.session.closing and not waiting:
            self._batch.close(self)

    def _close_when_answered(self) -> None:
        """Stop reading; hang up once every reply due has been written (QUIT, errors)."""
        self.session.closing = True
        self.transport.pauseProducing()
        if not self.waiting:
            self._batch.close(self)


class RedisClientFactory(Factory):
    protocol = RedisClientProtocol
    noisy = False

    def __init__(self, node: Node) -> None:
        self.node = node

    def buildProtocol(self, addr: object) -> RedisClientProtocol:
        return self.protocol(self.node)

"""The client port: RESP connections from applications.

Each connection parses its requests, answers the ones the node handles itself and
forwards the rest; replies go back strictly in request order, with flow control
(``dynotwist.net.ordered``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional

from twisted.internet.protocol import Factory

from dynotwist.core import session as node_commands
from dynotwist.core.coalesce import coalesce
from dynotwist.core.router import Fragmented
from dynotwist.core.slots import Slot
from dynotwist.core.stats import ENABLED as stats_enabled
from dynotwist.core.stats import SAMPLE_EVERY
from dynotwist.logs import TRACE_REQUESTS, logger, verbosity
from dynotwist.net.datastore import DatastoreProtocol
from dynotwist.net.ordered import ClientConnection
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
# the first words of an HTTP request that Redis refuses as a cross-protocol attack
_CROSS_PROTOCOL = frozenset((b"post", b"host:"))
_RequestParser = request_parser_class()


class RedisClientProtocol(ClientConnection):
    """One client connection speaking RESP2 or RESP3."""

    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self.parser = _RequestParser(node.config.proto_max_bulk_len)
        self._single_node = node.router.single_node

    # -- requests -------------------------------------------------------------------
    def dataReceived(self, data: bytes) -> None:
        if self.closing:
            return
        try:
            self._received(data)
        except Exception:
            self.abort_after_error()

    def _received(self, data: bytes) -> None:
        try:
            requests = self.parser.feed(data)
        except ProtocolError as error:
            self._serve(error.requests)
            self.stats.client_err += 1
            if not self.closing:
                self.answer(error_reply("ERR " + str(error)))
                self.close_when_answered()
            return
        self._serve(requests)
        if self.check_query_buffer(self.parser.buffered):
            self.check_backlog()

    def _serve(self, requests: List[Request]) -> None:
        session = self.session
        waiting = self.waiting
        stats = self.stats
        now = self.sample_clock()
        trace = verbosity.verbosity >= TRACE_REQUESTS
        # the common case, inline: on a single node in NORMAL state, data commands go
        # straight to one datastore connection, their bytes written together
        direct = self._direct()
        connection: Optional[DatastoreProtocol] = None
        slots: List[Slot] = []
        out: List[bytes] = []
        reads = writes = written_bytes = 0  # sent directly: counted once per read
        for args, raw in requests:
            if self.closing:
                break
            if trace:
                log.debug(
                    "client {client} request {command} ({count} args)",
                    client=session.client_id,
                    command=args[0].decode("latin-1"),
                    count=len(args) - 1,
                )
            spec = _lookup(args)
            if direct and spec is not None and spec.route in _FORWARDED:
                arity = spec.arity
                if len(args) == arity if arity >= 0 else len(args) >= -arity:
                    if connection is None:
                        connection = self._connection()
                    if connection is not None:
                        slot = Slot(self)
                        slot.started = now
                        waiting.append(slot)
                        slots.append(slot)
                        if raw is None:
                            raw = encode_command(args)
                        out.append(raw)
                        if spec.write:
                            writes += 1
                            if now:
                                written_bytes += len(raw)
                        else:
                            reads += 1
                        continue
            if stats_enabled and spec is not None:
                if spec.write:
                    stats.client_write_requests += 1
                else:
                    stats.client_read_requests += 1
            if out:  # what came before goes first
                assert connection is not None
                connection.send_many(slots, out)
                slots = []
                out = []
            connection = None
            self.handle(spec, args, raw)
            direct = self._direct()  # HELLO and AUTH change the session
        if out:
            assert connection is not None
            connection.send_many(slots, out)
        if stats_enabled and (reads or writes):
            stats.client_read_requests += reads
            stats.read_requests += reads
            stats.client_write_requests += writes
            stats.write_requests += writes
            if writes and now:
                # a sampled read: the mean size of the writes it carried
                stats.payload_size.record_many(written_bytes // writes, writes * SAMPLE_EVERY)

    def _direct(self) -> bool:
        return self._single_node and self.node.gate.normal and self.session.authenticated

    def _connection(self) -> Optional[DatastoreProtocol]:
        """This client's connection to the datastore, if one is up."""
        ready = self.node.datastore(self.session.resp3).ready
        return ready[self.lane % len(ready)] if ready else None

    def handle(
        self, spec: Optional[commands.CommandSpec], args: List[bytes], raw: Optional[bytes]
    ) -> None:
        """Any request: answered here, refused with an error, or forwarded."""
        if spec is None:
            if args[0].lower() in _CROSS_PROTOCOL:
                self._refuse_cross_protocol()
                return
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
                self.close_when_answered()
        elif route == _UNSUPPORTED:
            self.answer(commands.unsupported_error(spec, args))
        else:
            self.forward(spec, args, raw if raw is not None else encode_command(args))

    def _refuse_cross_protocol(self) -> None:
        """An HTTP request sent to the RESP port (a browser page or a server-side
        request forgery aiming at the datastore): closed at once, nothing after it
        run, as Redis does."""
        log.warn(
            "possible security attack: client {peer} sent an HTTP request (POST or Host:)"
            " to the RESP port; connection aborted",
            peer=self.describe_peer(),
        )
        self.closing = True
        self.transport.abortConnection()

    def forward(self, spec: commands.CommandSpec, args: List[bytes], raw: bytes) -> None:
        """Send a request where the router says, at this connection's consistency."""
        slot = Slot(self)
        slot.started = self.read_started
        self.waiting.append(slot)
        node = self.node
        session = self.session
        routed = node.router.plan(spec, args, session.read_consistency, session.write_consistency)
        if isinstance(routed, bytes):
            self.complete(slot, routed)
        elif isinstance(routed, Fragmented):
            parts = [(plan, encode_command(part)) for part, plan in routed.fragments]

            def merge(replies: List[bytes]) -> bytes:
                return coalesce(routed.command, replies, routed.positions)

            node.dispatcher.execute_parts(
                parts, slot, merge, session.resp3, self.lane, spec.write
            )
        else:
            if routed.rewritten is not None:
                raw = encode_command(routed.rewritten)
            node.dispatcher.execute(routed, raw, slot, session.resp3, self.lane, spec.write)


class RedisClientFactory(Factory):
    protocol = RedisClientProtocol
    noisy = False

    def __init__(self, node: Node) -> None:
        self.node = node

    def buildProtocol(self, addr: object) -> RedisClientProtocol:
        return self.protocol(self.node)

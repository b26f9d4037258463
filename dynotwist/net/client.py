"""The client port: RESP connections from applications.

Each connection parses its requests, answers the ones the node handles itself and
forwards the rest; replies go back strictly in request order, with flow control
(``dynotwist.net.ordered``).
"""

from __future__ import annotations

import random
from typing import Callable, Dict, List, Optional

from twisted.internet.protocol import Factory

from dynotwist.core import keyspace
from dynotwist.core import session as node_commands
from dynotwist.core.coalesce import coalesce
from dynotwist.core.consistency import DC_EACH_SAFE_QUORUM, DC_ONE, DC_SAFE_QUORUM
from dynotwist.core.readrepair import repairable
from dynotwist.core.router import Fragmented, Plan, RackWide
from dynotwist.core.slots import Slot
from dynotwist.core.stats import ENABLED as stats_enabled
from dynotwist.core.stats import SAMPLE_EVERY
from dynotwist.logs import TRACE_REQUESTS, logger, verbosity
from dynotwist.net.datastore import DatastoreProtocol
from dynotwist.net.gate import count_sent
from dynotwist.net.nodecommands import NodeCommands
from dynotwist.net.ordered import ClientConnection, ClientPortNode
from dynotwist.proto import commands, repair
from dynotwist.proto.resp import (
    ProtocolError,
    Request,
    encode_command,
    error_reply,
    request_parser_class,
)

log = logger(__name__)

_NODE = commands.NODE
_UNSUPPORTED = commands.UNSUPPORTED
_lookup = commands.lookup
_SORTED_READS = frozenset((DC_SAFE_QUORUM, DC_EACH_SAFE_QUORUM))
# the first words of an HTTP request that Redis refuses as a cross-protocol attack
_CROSS_PROTOCOL = frozenset((b"post", b"host:"))
_RequestParser = request_parser_class()

# how the replies of the local rack's nodes make one (LOCAL_RACK_ALL; SCAN: a cursor)
_RACK_MERGES: Dict[str, Callable[[List[bytes]], bytes]] = {
    "keys": keyspace.merge_keys,
    "dbsize": keyspace.merge_dbsize,
    "randomkey": lambda replies: keyspace.merge_randomkey(replies, random.choice),
}


class RedisClientProtocol(NodeCommands, ClientConnection):
    """One client connection speaking RESP2 or RESP3."""

    def __init__(self, node: ClientPortNode) -> None:
        super().__init__(node)
        self.parser = _RequestParser(node.config.proto_max_bulk_len)
        # a read's requests for the local datastore, written together by _send_local
        self._local_connection: Optional[DatastoreProtocol] = None
        self._local_resp3 = False
        self._local_slots: List[Slot] = []
        self._local_raws: List[bytes] = []

    # -- requests -------------------------------------------------------------------
    def dataReceived(self, data: bytes) -> None:
        # OrderedConnection's guard around received(), inlined: one call less per read
        if self.closing:
            return
        parser = self.parser
        try:
            # Redis's limits before AUTH; the parser pauses before a request they
            # refuse, so that an AUTH read with it is served first
            parser.unauthenticated = not self.session.authenticated
            try:
                requests = parser.feed(data)
                self._serve(requests)
                while parser.paused and not self.closing:
                    parser.unauthenticated = not self.session.authenticated
                    self._serve(parser.feed(b""))
            except ProtocolError as error:
                self._serve(error.requests)
                self.stats.client_err += 1
                if not self.closing:
                    self.answer(error_reply("ERR " + str(error)))
                    self.close_when_answered()
                return
            buffered = parser.buffered
            if buffered <= self.query_limit or not self.over_query_limit(buffered):
                self.check_backlog()
        except Exception:
            self.abort_after_error()

    def _serve(self, requests: List[Request]) -> None:
        """Every request through ``handle``; those for the local datastore alone are
        written together at the end (``send_many``), or before anything else is sent."""
        self.sample_clock()
        trace = verbosity.verbosity >= TRACE_REQUESTS
        handle = self.handle
        for args, raw in requests:
            if self.closing:
                break
            if trace:
                log.debug(
                    "client {client} request {command} ({count} args)",
                    client=self.session.client_id,
                    command=args[0].decode("latin-1"),
                    count=len(args) - 1,
                )
            handle(_lookup(args), args, raw)
        if self._local_slots:
            self._send_local()

    def handle(
        self, spec: Optional[commands.CommandSpec], args: List[bytes], raw: Optional[bytes]
    ) -> None:
        """Any request: answered here, refused with an error, or forwarded. The one
        admission of every request (a datastore kind's own commands override it)."""
        transaction = self.session.transaction
        if transaction is not None:
            self.in_transaction(transaction, spec, args, raw)
            return
        if spec is None:
            if args[0].lower() in _CROSS_PROTOCOL:
                self._refuse_cross_protocol()
                return
            self.answer(commands.unknown_command_error(args))
            return
        if stats_enabled:  # count_request(), inlined: once per request
            stats = self.stats
            if spec.write:
                stats.client_write_requests += 1
            else:
                stats.client_read_requests += 1
            stats.redis_requests[spec.stat_class] += 1
        self.last_command = spec
        route = spec.route
        arity = spec.arity
        if not (len(args) == arity if arity >= 0 else len(args) >= -arity):
            self.refuse(spec, commands.arity_error(spec))
        elif not self.session.authenticated and spec.name not in node_commands.BEFORE_AUTH:
            self.refuse(spec, node_commands.NOAUTH)
        elif route == _NODE:
            if spec.name == "ping" and not self.node.gate.normal and self.node.gate.refuses_reads:
                # Dynomite's PING reaches the datastore through the node's state: load
                # balancers and clients take a node in STANDBY out on this error
                self.answer(self.node.replies.state_forbids)
                return
            own = self.own_commands.get(spec.name)
            if own is not None:
                own(self, args)
                return
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
        write = spec.write
        node = self.node
        session = self.session
        if stats_enabled and write and slot.started:  # a timed read's write sizes
            self.stats.payload_size.record_many(len(raw), SAMPLE_EVERY)
        if node.single_node and node.gate.normal:
            # the local datastore is the only target: written with this read's others
            connection = self._local_connection
            if (
                connection is None
                or connection.lost
                or connection.replaced
                or self._local_resp3 is not session.resp3
            ):
                if self._local_slots:
                    self._send_local()
                connection = node.datastore(session.resp3).connection(self.lane)
                self._local_connection = connection
                self._local_resp3 = session.resp3
            if connection is not None:
                self._local_slots.append(slot)
                self._local_raws.append(raw)
                if stats_enabled:  # as the gate counts what it sends
                    count_sent(self.stats, slot, raw, write)
                return
        if self._local_slots:
            self._send_local()  # what came before goes first
        command = commands.describe(spec, args)
        if isinstance(command, bytes):
            self.complete(slot, command)
            return
        routed = node.router.plan(command, session.read_consistency, session.write_consistency)
        if isinstance(routed, Plan):
            targets = routed.targets
            if (
                len(targets) == 1
                and targets[0].node.is_local
                and node.gate.normal
                and not node.repairs_on  # writes then carry read repair's timestamps
                and node.datastore(session.resp3).ready
            ):
                # this node's datastore alone answers (a DC_ONE read of a range it
                # owns): no coordination (without a connection up, the path below fails over)
                if not node.gate.send(raw, slot, session.resp3, self.lane, write):
                    slot.deliver(node.replies.datastore_refused)
                return
            if routed.level != DC_ONE:
                self.watch_quorum(slot, write)
            if node.repairs_on and self._forward_timestamped(spec, args, routed, slot):
                return
            if spec.name == "smembers" and routed.level in _SORTED_READS:
                # replicas return set members in their own order: sorted, they compare
                raw = encode_command([b"sort", args[1], b"ALPHA"])
            node.dispatcher.execute(routed, raw, slot, session.resp3, self.lane, write)
        elif isinstance(routed, RackWide):
            self._rack_wide(spec.name, args, raw, routed, slot)
        elif isinstance(routed, Fragmented):
            self.stats.fragments += len(routed.parts)
            if routed.parts[0][1].level != DC_ONE:
                self.watch_quorum(slot, write)
            parts = [
                (plan, encode_command(commands.fragment(spec, args, keys)))
                for keys, plan in routed.parts
            ]

            def merge(replies: List[bytes]) -> bytes:
                return coalesce(spec.name, replies, routed.positions)

            node.dispatcher.execute_parts(parts, slot, merge, session.resp3, self.lane, write)
        else:
            self.complete(slot, commands.spans_nodes_error(spec))

    def _forward_timestamped(
        self, spec: commands.CommandSpec, args: List[bytes], plan: Plan, slot: Slot
    ) -> bool:
        """Read repair (reference 3.6): a write or repairable read of a form Dynomite's
        scheme covers, rewritten as its timestamped script and sent; False if not."""
        node = self.node
        timestamp = int(node.reactor.seconds() * 1000)
        name = spec.name
        resp3 = self.session.resp3
        if spec.write:
            raw = repair.rewrite_write(name, args, timestamp)
            if raw is None:
                return False
            tombstones = repair.cleanup(name, args, timestamp)
            if tombstones:
                node.dispatcher.execute_delete(plan, raw, slot, resp3, self.lane, tombstones)
            else:
                node.dispatcher.execute(plan, raw, slot, resp3, self.lane, True)
            return True
        if not repairable(plan):
            return False
        rewritten = repair.rewrite_read(name, args, timestamp)
        if rewritten is None:
            return False
        raw, read = rewritten
        node.dispatcher.execute_read_repair(plan, raw, slot, resp3, self.lane, read)
        return True

    def _rack_wide(
        self, name: str, args: List[bytes], raw: bytes, routed: RackWide, slot: Slot
    ) -> None:
        """A keyless request about the keys, for every node of the local rack: merged,
        or (SCAN) sent to the node the cursor says."""
        parts = routed.parts
        dispatcher = self.node.dispatcher
        resp3 = self.session.resp3
        if name == "scan":
            found = keyspace.decode_cursor(args[1], len(parts))
            if found is None:
                self.complete(slot, keyspace.INVALID_CURSOR)
                return
            index, cursor = found
            request = encode_command([args[0], b"%d" % cursor, *args[2:]])

            def next_cursor(replies: List[bytes]) -> bytes:
                return keyspace.scan_reply(replies[0], index, len(parts))

            dispatcher.execute_parts(
                ((parts[index], request),), slot, next_cursor, resp3, self.lane, False
            )
            return
        merge = _RACK_MERGES.get(name)
        if merge is None:  # a datastore kind's own command on this route
            self.complete(slot, error_reply("ERR '%s' cannot cover a whole rack" % name))
            return
        dispatcher.execute_parts(
            [(plan, raw) for plan in parts], slot, merge, resp3, self.lane, False
        )

    def buffered(self) -> int:
        return self.parser.buffered

    def send_local_first(self) -> None:
        """Requests read before, for the local datastore, are written now: what is
        dispatched next must not overtake them."""
        if self._local_slots:
            self._send_local()

    def _send_local(self) -> None:
        connection = self._local_connection
        assert connection is not None
        connection.send_many(self._local_slots, self._local_raws)
        self._local_slots = []
        self._local_raws = []


class RedisClientFactory(Factory):
    protocol = RedisClientProtocol
    noisy = False

    def __init__(self, node: ClientPortNode) -> None:
        self.node = node

    def buildProtocol(self, addr: object) -> RedisClientProtocol:
        return self.protocol(self.node)

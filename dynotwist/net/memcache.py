"""Memcached through the node: the client port's protocol and the datastore connection.

Requests are parsed by ``dynotwist.proto.memcache``, routed and replicated as Redis
requests are (same ring, same consistency), and relayed as raw bytes. A get with keys
on several nodes is split by owner and the fragments' VALUE blocks are merged in key
order under one END. ``noreply`` and meta ``q`` requests travel with a fence (``mn``)
so that whatever the datastore answers them can never shift the replies of others.

What the node answers itself: ``version``, ``verbosity``, ``mn``, ``quit`` and
``stats`` (the node's own counters, in memcached's STAT format). ``flush_all`` is
refused: emptying every replica of a cluster is an operator's act, done on each
memcached, not a client's.
"""

from __future__ import annotations

import os
from typing import List

from twisted.internet.protocol import Factory

from dynotwist import __version__
from dynotwist.core.consistency import DC_ONE
from dynotwist.core.router import Fragmented, Plan
from dynotwist.core.slots import Slot
from dynotwist.core.stats import ENABLED as stats_enabled
from dynotwist.errors import Replies
from dynotwist.logs import logger
from dynotwist.net.datastore import DatastoreProtocol
from dynotwist.net.gate import count_sent
from dynotwist.net.ordered import ClientConnection, ClientPortNode
from dynotwist.proto import memcache
from dynotwist.proto.memcache import (
    ClientError,
    MemcacheReplyFramer,
    MemcacheRequest,
    MemcacheRequestParser,
    server_error,
)

log = logger(__name__)

REPLIES = Replies(
    server_error("Storage: Datastore refused connection"),
    server_error("Peer: Peer Node is not connected"),
    server_error("Peer: Peer Node refused connection"),
    server_error("Dynomite: Dynomite's current state does not allow this request"),
    server_error("Dynomite: Failed to achieve Quorum"),
    memcache.is_error_reply,
    b"ERROR Too many open connections\r\n",  # memcached's, at maxconns
)

FLUSH_REFUSED = server_error(
    "flush_all is not available through a Dynomite cluster: flush each memcached"
)
# relayed requests are already checked: the datastore side only needs their shape
_NO_LIMIT = 1 << 62


class MemcacheClientProtocol(ClientConnection):
    """One client connection speaking memcached's text protocol."""

    def __init__(self, node: ClientPortNode) -> None:
        super().__init__(node)
        self.parser = MemcacheRequestParser(node.config.item_size_max)

    def received(self, data: bytes) -> None:
        self.sample_clock()
        items = self.parser.feed(data)
        if self.over_query_limit(self.parser.buffered):
            return
        for item in items:
            if self.closing:
                return
            if isinstance(item, ClientError):
                self.stats.client_err += 1
                if item.reply:
                    self.answer(item.reply)
                if item.close:
                    self.close_when_answered()
            elif item.local:
                self._local(item)
            else:
                self._forward(item)
        self.check_backlog()

    def _local(self, request: MemcacheRequest) -> None:
        command = request.command
        if command == b"quit":
            self.close_when_answered()
            return
        if command == b"version":
            reply = b"VERSION dynotwist-%s\r\n" % __version__.encode()
        elif command == b"verbosity":
            reply = b"OK\r\n"
        elif command == b"mn":
            reply = memcache.FENCE_REPLY
        elif command == b"stats":
            reply = self._stats()
        elif command == b"flush_all":
            reply = FLUSH_REFUSED
        else:  # a gat/gats without keys
            reply = memcache.END
        if not request.noreply:
            self.answer(reply)

    def _stats(self) -> bytes:
        """The node's own counters, as memcached's ``stats`` shows its own."""
        node = self.node
        stats = node.stats
        now = node.reactor.seconds()
        lines = [
            ("pid", os.getpid()),
            ("uptime", int(now - stats.started)),
            ("time", int(now)),
            ("version", "dynotwist-" + __version__),
            ("curr_connections", stats.client_connections),
            ("cmd_get", stats.client_read_requests),
            ("cmd_set", stats.client_write_requests),
            ("client_err", stats.client_err),
        ]
        body = b"".join(b"STAT %s %s\r\n" % (k.encode(), str(v).encode()) for k, v in lines)
        return body + memcache.END

    def _forward(self, request: MemcacheRequest) -> None:
        node = self.node
        session = self.session
        write = request.write
        if stats_enabled:
            self.count_request(write)
        if request.noreply:
            slot = Slot(None)  # memcached answers nothing; neither do we
        else:
            slot = Slot(self)
            slot.started = self.read_started
            self.waiting.append(slot)
        if node.single_node and node.gate.normal:
            # the local datastore is the only target: straight to its connection,
            # with the reply's shape the parser found
            connection = node.datastore(False).connection(self.lane)
            if connection is not None:
                raw = request.raw_with_fence
                if stats_enabled:  # as the gate counts what it sends
                    count_sent(self.stats, slot, raw, write)
                connection.send_expecting(raw, slot, request.expect)
                return
        routed = node.router.plan(
            memcache.describe(request), session.read_consistency, session.write_consistency
        )
        plan = routed.parts[0][1] if isinstance(routed, Fragmented) else routed
        if isinstance(plan, Plan) and plan.level != DC_ONE and slot.owner is not None:
            self.watch_quorum(slot, write)
        if isinstance(routed, Fragmented):  # a get over keys on several nodes
            self.stats.fragments += len(routed.parts)
            keys = request.keys
            parts = [
                (plan, request.with_keys([keys[i] for i in part])) for part, plan in routed.parts
            ]

            def merge(replies: List[bytes]) -> bytes:
                return memcache.merge_get_replies(replies, keys)

            node.dispatcher.execute_parts(parts, slot, merge, False, self.lane, write)
        else:
            assert isinstance(routed, Plan)  # every memcached request has a key or many
            node.dispatcher.execute(routed, request.raw_with_fence, slot, False, self.lane, write)


class MemcacheClientFactory(Factory):
    protocol = MemcacheClientProtocol
    noisy = False

    def __init__(self, node: ClientPortNode) -> None:
        self.node = node

    def buildProtocol(self, addr: object) -> MemcacheClientProtocol:
        return self.protocol(self.node)


class MemcacheDatastoreProtocol(DatastoreProtocol):
    """A pipelined connection to memcached: replies are framed by what was asked."""

    framer: MemcacheReplyFramer
    framer_class = MemcacheReplyFramer
    framer_errors = (memcache.ReplyError,)
    probe_request = b"version\r\n"

    def opening_commands(self) -> List[List[bytes]]:
        return []

    def send_expecting(self, raw: bytes, slot: Slot, expectation: int) -> None:
        """A request whose reply's shape the client's parser found (its ``expect``),
        fenced already if it needs to be."""
        self.framer.expect(expectation)
        DatastoreProtocol.send(self, raw, slot)

    def send(self, raw: bytes, slot: Slot) -> None:
        expectation = memcache.expected_reply(raw)
        if expectation & memcache.EXPECT_FENCED:
            # the quick reading saw noreply or q: the parser decides (a key may be named
            # "noreply"), and a request relayed without a fence (by a Dynomite peer)
            # gets one, so that nothing it answers can shift the connection's replies
            items = MemcacheRequestParser(_NO_LIMIT).feed(raw)
            first = items[0] if items else None
            if isinstance(first, MemcacheRequest):
                expectation = first.expect
                if first.fenced and len(items) < 2:
                    raw += memcache.FENCE
        self.framer.expect(expectation)
        super().send(raw, slot)

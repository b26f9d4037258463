"""The Redis client port's commands that need more than the session: transactions
(MULTI ... EXEC, :mod:`dynotwist.proto.transactions`), INFO and CLIENT LIST/INFO
(:mod:`dynotwist.core.nodeinfo`).

A mixin of :class:`dynotwist.net.client.RedisClientProtocol`: its ``handle`` sends
every request of a transaction to :meth:`NodeCommands.in_transaction`, and the node
commands named in ``own_commands`` to their method here.
"""

from __future__ import annotations

from time import perf_counter
from typing import Any, Callable, Dict, List, Optional, Union

from dynotwist.core import keyspace, nodeinfo
from dynotwist.core import session as node_commands
from dynotwist.core.command import LOCAL_RACK_ALL, NODE, UNSUPPORTED, Command
from dynotwist.core.consistency import DC_ONE
from dynotwist.core.router import Plan, RackWide
from dynotwist.core.session import Transaction
from dynotwist.core.slots import Slot
from dynotwist.core.stats import ENABLED as stats_enabled
from dynotwist.proto import commands
from dynotwist.proto import transactions as tx
from dynotwist.proto.resp import OK, encode_command

_INFO = encode_command([b"INFO"])  # default sections: the server's and the keyspace
_RACK_KEYSPACE = Command(LOCAL_RACK_ALL, False, [])
_REDIS_VERSION = b"redis_version:"
# commands a transaction ends with, or that act on the connection (never queued)
_NOT_QUEUED = frozenset(("exec", "discard", "reset", "quit", "multi", "watch"))


class _ExecAnswer:
    """Owner of a transaction unit's slot: the client gets the EXEC reply."""

    __slots__ = ("slot",)

    def __init__(self, slot: Slot) -> None:
        self.slot = slot

    def complete(self, slot: Slot, reply: bytes) -> None:
        self.slot.deliver(tx.exec_reply(reply))


def _queueable(spec: commands.CommandSpec, args: List[bytes]) -> Union[Command, bytes]:
    """The command as routing sees it, if it may be queued; else the reply refusing it."""
    if spec.route == UNSUPPORTED:
        return commands.unsupported_error(spec, args)
    described = Command(NODE, False, []) if spec.route == NODE else commands.describe(spec, args)
    refusal = tx.queue_refusal(spec.name, described)
    return described if refusal is None else refusal


class NodeCommands:
    """Transactions, INFO and CLIENT LIST/INFO on a RESP client connection."""

    # what the connection (RedisClientProtocol, ClientConnection) provides
    node: Any
    session: Any
    stats: Any
    lane: int
    waiting: Any
    read_started: float
    query_limit: int
    last_command: Any
    answer: Callable[[bytes], None]
    complete: Callable[[Slot, bytes], None]
    watch_quorum: Callable[[Slot, bool], None]
    send_local_first: Callable[[], None]
    over_query_limit: Callable[[int], bool]
    close_when_answered: Callable[[], None]
    client_fields: Callable[[float], List[Any]]

    own_commands: Dict[str, Callable[[Any, List[bytes]], None]] = {}

    def refuse(self, spec: commands.CommandSpec, reply: bytes) -> None:
        """A request refused before it is served; a refused MULTI refuses every command
        up to EXEC or DISCARD."""
        self.answer(reply)
        if spec.name == "multi":
            self.session.transaction = Transaction(multi_refused=True)

    # -- transactions -------------------------------------------------------------------
    def in_transaction(
        self,
        transaction: Transaction,
        spec: Optional[commands.CommandSpec],
        args: List[bytes],
        raw: Optional[bytes],
    ) -> None:
        """A request between MULTI and EXEC: queued (``+QUEUED``) or refused (then EXEC
        answers EXECABORT), or it ends the transaction."""
        if spec is None:
            transaction.refused = True
            self.answer(commands.unknown_command_error(args))
            return
        if stats_enabled:
            self.stats.redis_requests[spec.stat_class] += 1
            if spec.write:
                self.stats.client_write_requests += 1
            else:
                self.stats.client_read_requests += 1
        self.last_command = spec
        name = spec.name
        if not commands.arity_ok(spec, len(args)):
            transaction.refused = True
            self.answer(commands.arity_error(spec))
        elif name in _NOT_QUEUED:
            self._transaction_command(transaction, name, args)
        elif transaction.multi_refused:
            self.answer(tx.AFTER_REFUSED_MULTI)
        elif not self.session.authenticated:
            transaction.refused = True
            self.answer(node_commands.NOAUTH)
        else:
            self._queue(transaction, spec, args, raw if raw is not None else encode_command(args))

    def _transaction_command(self, transaction: Transaction, name: str, args: List[bytes]) -> None:
        session = self.session
        if name == "exec":
            session.transaction = None
            self._exec(transaction)
        elif name == "discard":
            session.transaction = None
            self.answer(OK)
        elif name == "multi":
            self.answer(tx.NESTED_MULTI)
        elif name == "watch":
            self.answer(tx.WATCH_INSIDE_MULTI)
        else:  # reset, quit: the connection's own, the transaction with it
            self.answer(node_commands.answer(session, name, args))
            session.transaction = None
            if session.closing:
                self.close_when_answered()

    def _queue(
        self, transaction: Transaction, spec: commands.CommandSpec, args: List[bytes], raw: bytes
    ) -> None:
        command = _queueable(spec, args)
        owner = None
        if isinstance(command, Command):
            router = self.node.router
            session = self.session
            routed = router.plan(command, session.read_consistency, session.write_consistency)
            owner = router.owner(command.keys[0])
            if not isinstance(routed, Plan) or (
                transaction.size and owner is not transaction.owner
            ):
                command = tx.KEYS_ON_SEVERAL_NODES
        if isinstance(command, bytes):
            transaction.refused = True
            self.answer(command)
            return
        if self.over_query_limit(transaction.size_bytes + len(raw)):
            return  # the queued requests count as the client's query buffer
        transaction.queue(raw, command.write, owner, command.keys[0])
        self.answer(tx.QUEUED)

    def _exec(self, transaction: Transaction) -> None:
        """EXEC: the unit to every replica of its keys the consistency reaches."""
        if transaction.refused:
            self.answer(tx.EXECABORT)
            return
        if not transaction.size:
            self.answer(b"*0\r\n")
            return
        slot = self._answer_slot()
        node = self.node
        session = self.session
        write = transaction.write
        level = session.write_consistency if write else session.read_consistency
        plan = node.router.replicas(node.router.token(transaction.first_key), write, level)
        if plan.level != DC_ONE:
            self.watch_quorum(slot, write)
        node.dispatcher.execute(
            plan, tx.unit(transaction.raws), Slot(_ExecAnswer(slot)), session.resp3, self.lane,
            write,
        )

    def _answer_slot(self) -> Slot:
        """The slot of this request's answer, in order; the requests read before it
        for the local datastore are written first."""
        slot = Slot(self)
        slot.started = self.read_started
        self.waiting.append(slot)
        self.send_local_first()
        return slot

    # -- INFO ---------------------------------------------------------------------------
    def info(self, args: List[bytes]) -> None:
        """INFO [section ...]: the node's sections; the datastore's version and the
        local rack's keyspace are asked of every node of the rack."""
        wanted = nodeinfo.wanted_sections(args[1:])
        if "server" not in wanted and "keyspace" not in wanted:
            self.answer(self._render_info(wanted, []))
            return
        slot = self._answer_slot()
        node = self.node
        routed = node.router.plan(_RACK_KEYSPACE, DC_ONE, DC_ONE)
        plans = routed.parts if isinstance(routed, RackWide) else (routed,)

        def render(replies: List[bytes]) -> bytes:
            return self._render_info(wanted, replies)

        node.dispatcher.execute_parts(
            [(plan, _INFO) for plan in plans], slot, render, self.session.resp3, self.lane,
            False,
        )

    def _render_info(self, wanted: Any, replies: List[bytes]) -> bytes:
        answered = [reply for reply in replies if not reply.startswith(b"-")]
        version = b""
        for reply in answered:
            start = reply.find(_REDIS_VERSION)
            if start >= 0:
                version = reply[start + len(_REDIS_VERSION) : reply.find(b"\r", start)]
                break
        rack = len(self.node.router.rack_members)
        sections = self.node.info_sections(
            version.decode("ascii", "replace"), "%d/%d" % (len(answered), rack)
        )
        sections["keyspace"] = nodeinfo.keyspace_fields(keyspace.merge_keyspace(answered))
        return node_commands.verbatim(nodeinfo.render_info(wanted, sections), self.session.resp3)

    # -- CLIENT LIST, CLIENT INFO -------------------------------------------------------
    def client_list(self, args: List[bytes]) -> None:
        wanted, error = nodeinfo.client_list_filter(args[2:])
        if error is not None:
            self.answer(error)
            return
        now = perf_counter()
        connections = self.node.clients.connections
        ids = sorted(connections) if wanted is None else sorted(wanted & set(connections))
        text = nodeinfo.client_lines(connections[i].client_fields(now) for i in ids)
        self.answer(node_commands.verbatim(text, self.session.resp3))

    def client_info(self, args: List[bytes]) -> None:
        text = nodeinfo.client_lines([self.client_fields(perf_counter())])
        self.answer(node_commands.verbatim(text, self.session.resp3))


NodeCommands.own_commands = {
    "info": NodeCommands.info,
    "client|list": NodeCommands.client_list,
    "client|info": NodeCommands.client_info,
}

"""MULTI ... EXEC through a Dynomite cluster: what may be queued, and the unit it runs as.

A client's transaction is queued by the node it talks to (``+QUEUED`` for each
command) and runs at EXEC where its keys live: the owner's datastore, in every rack
the write consistency reaches, as one unit — exactly ``MULTI``, the queued commands and
``EXEC``, written together on one datastore connection, whose replies (``+OK``, a
``+QUEUED`` per command, the EXEC array) are read back as one reply
(:class:`UnitRequest`); the client gets the EXEC array (:func:`exec_reply`).

Only a transaction whose keys all live on one node can run so: every queued command
needs keys (hash tags put related keys on one node), and is one a client could send
alone. A command that cannot be queued is refused with its error, and the whole
transaction with it: EXEC then answers ``-EXECABORT`` and nothing runs, as Redis does
after a queuing error. A refused MULTI (bad arity, not authenticated) refuses every
command up to EXEC or DISCARD without running it. WATCH is refused: optimistic
locking would need every replica's view of the keys.

A peer relays a unit in one dnode frame; the peer port admits it command by command
with the checks a client's commands get (:func:`admit_unit`): a peer frame can do no
more than a client.

Sans-I/O: no Twisted.
"""

from __future__ import annotations

from typing import Callable, List, Optional, Sequence, Tuple, Union

from dynotwist.core.command import (
    LOCAL_RACK_OWNER,
    MULTI_COLOCATED,
    MULTI_FRAGMENT,
    SINGLE,
    Command,
)
from dynotwist.proto.resp import ReplyError, ReplyFramer, Request, encode_command, error_reply

__all__ = [
    "EXECABORT",
    "QUEUED",
    "UnitRequest",
    "admit_unit",
    "exec_reply",
    "queue_refusal",
    "unit",
]

QUEUED = b"+QUEUED\r\n"
EXECABORT = error_reply("EXECABORT Transaction discarded because of previous errors.")
EXEC_WITHOUT_MULTI = error_reply("ERR EXEC without MULTI")
DISCARD_WITHOUT_MULTI = error_reply("ERR DISCARD without MULTI")
NESTED_MULTI = error_reply("ERR MULTI calls can not be nested")
WATCH_INSIDE_MULTI = error_reply("ERR WATCH inside MULTI is not allowed")
AFTER_REFUSED_MULTI = error_reply(
    "ERR command not run: the MULTI before it was refused (EXEC or DISCARD ends the"
    " transaction)"
)
KEYS_ON_SEVERAL_NODES = error_reply(
    "ERR Dynomite: the keys of a transaction must live on one node; give them one hash tag"
)

MULTI = encode_command([b"MULTI"])
EXEC = encode_command([b"EXEC"])

# the routes of commands that may be queued: keyed, and run where the keys live
_QUEUEABLE = frozenset((SINGLE, MULTI_COLOCATED, MULTI_FRAGMENT, LOCAL_RACK_OWNER))


class UnitRequest(bytes):
    """The bytes of MULTI, the queued commands and EXEC: one request for routing and
    quorum, ``replies`` replies from the datastore, read back as one."""

    replies: int


def unit(requests: Sequence[bytes]) -> UnitRequest:
    """MULTI + ``requests`` (each one whole request's bytes) + EXEC, as one request."""
    made = UnitRequest(b"".join((MULTI, *requests, EXEC)))
    made.replies = len(requests) + 2
    return made


def exec_reply(replies: bytes) -> bytes:
    """The client's answer to EXEC from the unit's replies read back as one: the last
    (the EXEC array, or Redis's EXECABORT); a single error (the node's: the datastore
    or a peer could not be reached, the quorum failed) is itself the answer."""
    try:
        framed = ReplyFramer().feed(replies)
    except ReplyError:
        framed = []
    return framed[-1] if len(framed) > 1 else replies


def queue_refusal(name: str, command: Union[Command, bytes]) -> Optional[bytes]:
    """Why a command described as ``command`` (or refused with that reply) cannot be
    queued in a transaction, or None. ``name`` is its lower-case full name."""
    if isinstance(command, bytes):
        return command
    if command.route not in _QUEUEABLE or not command.keys:
        shown = name.upper().replace("|", " ")
        return error_reply(
            "ERR %s inside MULTI is not supported: a transaction runs where its keys live,"
            " so only commands on keys can be queued" % shown
        )
    return None


Describe = Callable[[Request], Union[Command, bytes]]


def admit_unit(
    requests: List[Request], describe: Describe
) -> Union[Tuple[bytes, bool, List[bytes]], bytes]:
    """A peer frame's requests as a transaction unit: (its bytes, whether it writes, the
    first command's keys), or the error reply refusing it. ``describe`` is the datastore
    kind's check of one request (what a client's request gets)."""
    first, last = requests[0][0], requests[-1][0]
    if not (_is(first, b"multi") and _is(last, b"exec")) or len(requests) < 3:
        return error_reply("ERR Protocol error: a peer frame must carry exactly one request")
    raws: List[bytes] = []
    write = False
    keys: List[bytes] = []
    for request in requests[1:-1]:
        args, raw = request
        command = describe(request)
        refusal = queue_refusal(args[0].decode("latin-1").lower(), command)
        if refusal is not None:
            return refusal
        assert isinstance(command, Command)
        write = write or command.write
        keys = keys or list(command.keys)
        raws.append(raw if raw is not None else encode_command(args))
    return unit(raws), write, keys


def _is(args: List[bytes], name: bytes) -> bool:
    return len(args) == 1 and args[0].lower() == name

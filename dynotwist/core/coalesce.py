"""Merging the replies of a fragmented multi-key request into the one client reply.

MGET, DEL, UNLINK, EXISTS, TOUCH and MSET with keys owned by several nodes are split into
one fragment per owner (Dynomite's ``redis_fragment_argx``); each fragment is an
independent quorum request whose decided reply lands here. The merged reply is built in
the datastore's protocol: RESP2 and RESP3 fragments are relayed element by element, so a
RESP3 nil (``_``) stays a RESP3 nil.

Pure logic: no Twisted, no I/O.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from dynotwist.proto.resp import ReplyError, ReplyFramer, error_reply, is_error_reply

INCONSISTENT_REPLIES = error_reply("ERR dynotwist: inconsistent replies from replicas")
"""A fragment reply that does not have the shape its command gives (Dynomite would
close the client connection instead)."""

# array, set, push: the aggregates whose elements are a flat list
_LIST_AGGREGATES = frozenset(b"*~>")

_SUM_COMMANDS = frozenset(("del", "unlink", "exists", "touch"))

OK = b"+OK\r\n"


def split_array(reply: bytes) -> Optional[List[bytes]]:
    """The elements of an array, set or push reply, each as its raw bytes.

    Elements may be of any RESP2/RESP3 type, aggregates included. Returns None when
    ``reply`` is not one of those aggregates (a map, a null array ``*-1``, a scalar, a
    memcache reply) or is not one whole well-formed reply.
    """
    if not reply or reply[0] not in _LIST_AGGREGATES:
        return None
    nl = reply.find(b"\r\n")
    if nl < 0:
        return None
    try:
        count = int(reply[1:nl])
    except ValueError:
        return None
    if count < 0:
        return None
    body_start = nl + 2
    if count == 0:
        return [] if body_start == len(reply) else None
    try:
        elements = ReplyFramer().feed(reply[body_start:])
    except ReplyError:
        return None
    if len(elements) != count:
        return None
    # nothing pending in the framer: the elements cover the body exactly
    if sum(map(len, elements)) != len(reply) - body_start:
        return None
    return elements


def _integer(reply: bytes) -> Optional[int]:
    if reply[:1] != b":" or not reply.endswith(b"\r\n"):
        return None
    try:
        return int(reply[1:-2])
    except ValueError:
        return None


def coalesce(
    command: str,
    fragment_replies: Sequence[bytes],
    positions: Sequence[Tuple[int, int]],
) -> bytes:
    """The client's reply to a fragmented multi-key request.

    ``command`` is the lower-case command name. ``fragment_replies[f]`` is fragment f's
    reply. ``positions`` (used by ``mget``) gives, for each key in the client's order,
    ``(fragment index, index of the key within that fragment)``.

    The first error reply in fragment order wins, verbatim. A reply of the wrong shape
    gives INCONSISTENT_REPLIES.
    """
    for reply in fragment_replies:
        if is_error_reply(reply):
            return reply
    if command == "mget":
        return _coalesce_mget(fragment_replies, positions)
    if command in _SUM_COMMANDS:
        total = 0
        for reply in fragment_replies:
            value = _integer(reply)
            if value is None:
                return INCONSISTENT_REPLIES
            total += value
        return b":%d\r\n" % total
    if command == "mset":
        for reply in fragment_replies:
            if reply != OK:
                return INCONSISTENT_REPLIES
        return OK
    raise ValueError("not a fragmented command: %r" % (command,))


def _coalesce_mget(
    fragment_replies: Sequence[bytes], positions: Sequence[Tuple[int, int]]
) -> bytes:
    arrays: List[List[bytes]] = []
    for reply in fragment_replies:
        elements = split_array(reply)
        if elements is None:
            return INCONSISTENT_REPLIES
        arrays.append(elements)
    # every element of every fragment is used, and only those exist
    used = [0] * len(arrays)
    seen = set()
    parts = [b"*%d\r\n" % len(positions)]
    for fragment, index in positions:
        if not 0 <= fragment < len(arrays):
            return INCONSISTENT_REPLIES
        elements = arrays[fragment]
        if not 0 <= index < len(elements):
            return INCONSISTENT_REPLIES
        if (fragment, index) not in seen:
            seen.add((fragment, index))
            used[fragment] += 1
        parts.append(elements[index])
    for fragment, elements in enumerate(arrays):
        if used[fragment] != len(elements):
            return INCONSISTENT_REPLIES
    return b"".join(parts)

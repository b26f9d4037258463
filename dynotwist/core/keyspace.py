"""KEYS, SCAN, DBSIZE, RANDOMKEY and INFO's keyspace over every node of the local rack.

A rack is one whole copy of the key space, split between its nodes by token; a
keyless command about "the keys" must ask each of them (``core.command.LOCAL_RACK_ALL``).
The replies are merged here, in the datastore's protocol (RESP2 or RESP3):

- KEYS: every node's keys, one array;
- DBSIZE: the sum;
- RANDOMKEY: a key of one of the nodes that have any, chosen at random;
- INFO keyspace: ``dbN:keys=..,expires=..,avg_ttl=..`` summed (avg_ttl weighted by
  the keys that expire);
- SCAN visits the nodes one after the other: the client's cursor says which node
  (:func:`decode_cursor`) and where in its key space; the node's cursor in the reply is
  turned back into one the client sends next (:func:`scan_reply`), moving to the next
  node when a node is done. A cursor is ``node cursor * nodes + node index``: with one
  node per rack it is the node's own cursor, and the rack's nodes are in the same order
  on each of them, so any node of the rack continues a scan.

The first error among the replies is the answer, verbatim. Pure logic: no Twisted.
"""

from __future__ import annotations

import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from dynotwist.core.coalesce import INCONSISTENT_REPLIES, split_array
from dynotwist.proto.resp import bulk_reply, error_reply, is_error_reply

INVALID_CURSOR = error_reply("ERR invalid cursor")

_MAX_CURSOR = (1 << 64) - 1
_NIL = (b"$-1\r\n", b"_\r\n")


def _first_error(replies: Sequence[bytes]) -> Optional[bytes]:
    for reply in replies:
        if is_error_reply(reply):
            return reply
    return None


def merge_keys(replies: Sequence[bytes]) -> bytes:
    """KEYS: the nodes' arrays as one."""
    error = _first_error(replies)
    if error is not None:
        return error
    keys: List[bytes] = []
    for reply in replies:
        elements = split_array(reply)
        if elements is None:
            return INCONSISTENT_REPLIES
        keys.extend(elements)
    return b"*%d\r\n%s" % (len(keys), b"".join(keys))


def merge_dbsize(replies: Sequence[bytes]) -> bytes:
    """DBSIZE: the sum of the nodes' counts."""
    error = _first_error(replies)
    if error is not None:
        return error
    total = 0
    for reply in replies:
        if reply[:1] != b":" or not reply.endswith(b"\r\n"):
            return INCONSISTENT_REPLIES
        try:
            total += int(reply[1:-2])
        except ValueError:
            return INCONSISTENT_REPLIES
    return b":%d\r\n" % total


def merge_randomkey(replies: Sequence[bytes], choose: Callable[[Sequence[bytes]], bytes]) -> bytes:
    """RANDOMKEY: the key of a node that has keys, chosen by ``choose`` (random.choice);
    the nodes' nil when none has any."""
    error = _first_error(replies)
    if error is not None:
        return error
    keys = [reply for reply in replies if reply not in _NIL]
    return choose(keys) if keys else replies[0]


def decode_cursor(cursor: bytes, nodes: int) -> Optional[Tuple[int, int]]:
    """(index of the node, that node's cursor) from a client's SCAN cursor, or None if
    it is not one (Redis: an unsigned 64-bit decimal integer)."""
    if not cursor.isdigit():
        return None
    value = int(cursor)
    if value > _MAX_CURSOR:
        return None
    return value % nodes, value // nodes


def scan_reply(reply: bytes, index: int, nodes: int) -> bytes:
    """A node's SCAN reply, with its cursor made the rack's: the next call continues on
    this node, or starts on the next one, or (after the last node) the scan is over."""
    if is_error_reply(reply):
        return reply
    elements = split_array(reply)
    if elements is None or len(elements) != 2:
        return INCONSISTENT_REPLIES
    cursor_reply, keys = elements
    cursor = _bulk_value(cursor_reply)
    if cursor is None or not cursor.isdigit():
        return INCONSISTENT_REPLIES
    value = int(cursor)
    if not value:  # this node is done: the next one, from its start, or the end
        value, index = (0, index + 1) if index + 1 < nodes else (0, 0)
    return b"*2\r\n" + bulk_reply(b"%d" % (value * nodes + index)) + keys


def _bulk_value(reply: bytes) -> Optional[bytes]:
    if reply[:1] != b"$":
        return None
    head, _, rest = reply.partition(b"\r\n")
    try:
        size = int(head[1:])
    except ValueError:
        return None
    return rest[:size] if size >= 0 and len(rest) == size + 2 else None


_KEYSPACE_LINE = re.compile(rb"^(db\d+):keys=(\d+),expires=(\d+),avg_ttl=(\d+)", re.M)


def keyspace_of(info: bytes) -> Dict[bytes, Tuple[int, int, int]]:
    """The ``dbN`` lines of an INFO reply (bulk or verbatim string, any sections):
    db -> (keys, expires, avg_ttl)."""
    return {
        match.group(1): (int(match.group(2)), int(match.group(3)), int(match.group(4)))
        for match in _KEYSPACE_LINE.finditer(info)
    }


def merge_keyspace(infos: Sequence[bytes]) -> Dict[bytes, Tuple[int, int, int]]:
    """The keyspace of several nodes' INFO replies, summed per database; avg_ttl is
    the mean of the nodes' weighted by the keys that expire."""
    keys: Dict[bytes, List[int]] = {}
    for info in infos:
        for db, (count, expires, avg_ttl) in keyspace_of(info).items():
            entry = keys.setdefault(db, [0, 0, 0])
            entry[0] += count
            entry[1] += expires
            entry[2] += avg_ttl * expires
    return {
        db: (count, expires, weighted // expires if expires else 0)
        for db, (count, expires, weighted) in sorted(keys.items())
    }

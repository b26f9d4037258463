"""Dynomite's read repair for Redis: requests rewritten as timestamped scripts
(reference 3.6; ``dynotwist.core.readrepair`` decides over the replies).

With read repair on, the client port rewrites:

- writes, into ``EVAL`` of the command's script (``dynotwist.proto.repair_scripts``),
  with Dynomite's arguments: ``<key> ._add-set ._rem-set`` as keys, then ``<COMMAND>
  [<number of options>] <number of fields> <timestamp> [options] [field value]...``
  (:func:`rewrite_write`); a delete swaps the two sets (it records a tombstone), and
  its :func:`cleanup` requests drop the tombstones once every replica acknowledged it;
- repairable reads, into ``EVAL`` of a script answering ``{status, timestamp, value}``
  (:func:`rewrite_read`), whose :class:`RedisRead` parses the replies and builds the
  write that repairs a stale replica.

Commands, as Dynomite supports them: SET key value (no options), DEL of one key, HSET
of one field, HMSET, HDEL, SADD, SREM, ZADD (options NX, XX, CH, INCR, at most three),
ZREM; reads GET, HGET, SISMEMBER, ZSCORE. Any other form is sent as it is, without
metadata. Unlike Dynomite, the whole key is used with ``hash_tag`` (Dynomite writes the
tag's part only), and every field of an HDEL, SREM or ZREM gets its tombstone cleaned.
"""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Sequence, Tuple

from dynotwist.core.coalesce import split_array
from dynotwist.core.readrepair import EXISTS, REMOVED, UNKNOWN, Versioned
from dynotwist.proto import repair_scripts as scripts
from dynotwist.proto.resp import encode_command

__all__ = ["ADD_SET", "REM_SET", "RedisRead", "cleanup", "rewrite_read", "rewrite_write"]

ADD_SET = b"._add-set"
REM_SET = b"._rem-set"
#: the command name Dynomite gives its cleanup scripts (their type is MSG_UNKNOWN)
_CLEANUP_COMMAND = b"UNKNOWN"
_ZADD_OPTIONS = frozenset((b"NX", b"XX", b"CH", b"INCR"))


class _Script(NamedTuple):
    script: bytes
    command: bytes  # the command the script runs, as Dynomite names it
    delete: bool  # records a tombstone: the add and remove sets are given swapped
    options: bool  # ZADD: the count of options comes first


def _request(how: _Script, key: bytes, fields: int, timestamp: int,
             tail: Sequence[bytes] = (), options: Sequence[bytes] = ()) -> bytes:
    add_set, rem_set = (REM_SET, ADD_SET) if how.delete else (ADD_SET, REM_SET)
    args = [b"EVAL", how.script, b"3", key, add_set, rem_set, how.command]
    if how.options:
        args.append(b"%d" % len(options))
    args += [b"%d" % fields, b"%d" % timestamp, *options, *tail]
    return encode_command(args)


_SET = _Script(scripts.SET_SCRIPT, b"SET", False, False)
_DEL = _Script(scripts.DEL_SCRIPT, b"DEL", True, False)
_HSET = _Script(scripts.HSET_SCRIPT, b"HSET", False, False)
_HMSET = _Script(scripts.HSET_SCRIPT, b"HMSET", False, False)
_HDEL = _Script(scripts.HDEL_SCRIPT, b"HDEL", True, False)
_SADD = _Script(scripts.SADD_SCRIPT, b"SADD", False, False)
_SREM = _Script(scripts.HDEL_SCRIPT, b"SREM", True, False)
_ZADD = _Script(scripts.ZADD_SCRIPT, b"ZADD", False, True)
_ZREM = _Script(scripts.HDEL_SCRIPT, b"ZREM", True, False)
_CLEANUP_DEL = _Script(scripts.CLEANUP_DEL_SCRIPT, _CLEANUP_COMMAND, False, False)
_CLEANUP_FIELD = _Script(scripts.CLEANUP_HDEL_SCRIPT, _CLEANUP_COMMAND, False, False)

# the deletes of fields and their cleanup
_FIELD_DELETES = {"hdel": _HDEL, "srem": _SREM, "zrem": _ZREM}
# adds of fields (values follow fields) and plain lists of fields
_FIELD_ADDS = {"sadd": _SADD}


def rewrite_write(name: str, args: Sequence[bytes], timestamp: int) -> Optional[bytes]:
    """The timestamped script of write ``args`` (``name``: the command, lower case),
    or None if Dynomite's scheme does not cover this form."""
    count = len(args)
    if name == "set":
        return _request(_SET, args[1], 0, timestamp, args[2:]) if count == 3 else None
    if name == "del":
        return _request(_DEL, args[1], 0, timestamp) if count == 2 else None
    if name == "hset":
        return _request(_HSET, args[1], 1, timestamp, args[2:]) if count == 4 else None
    if name == "hmset":
        if count < 4 or count % 2:
            return None
        return _request(_HMSET, args[1], (count - 2) // 2, timestamp, args[2:])
    how = _FIELD_DELETES.get(name) or _FIELD_ADDS.get(name)
    if how is not None:
        return _request(how, args[1], count - 2, timestamp, args[2:]) if count >= 3 else None
    if name == "zadd":
        return _zadd(args, timestamp)
    return None


def _zadd(args: Sequence[bytes], timestamp: int) -> Optional[bytes]:
    position = 2
    while position < len(args) and args[position].upper() in _ZADD_OPTIONS:
        position += 1
    options = [args[i] for i in range(2, position)]
    upper = {option.upper() for option in options}
    pairs = args[position:]
    if len(options) > 3 or {b"NX", b"XX"} <= upper or not pairs or len(pairs) % 2:
        return None
    # Dynomite lists member then score (a field, then its value)
    tail: List[bytes] = []
    for score, member in zip(pairs[0::2], pairs[1::2]):
        tail += [member, score]
    return _request(_ZADD, args[1], len(pairs) // 2, timestamp, tail, options)


def cleanup(name: str, args: Sequence[bytes], timestamp: int) -> List[bytes]:
    """The requests that drop the tombstones of a timestamped delete, once every
    replica acknowledged it (none for other commands)."""
    if name == "del" and len(args) == 2:
        return [_request(_CLEANUP_DEL, args[1], 0, timestamp)]
    if name in _FIELD_DELETES and len(args) >= 3:
        return [_request(_CLEANUP_FIELD, args[1], 1, timestamp, [field]) for field in args[2:]]
    return []


# -- reads --------------------------------------------------------------------------------

_GET = _Script(scripts.GET_SCRIPT, b"GET", False, False)
_HGET = _Script(scripts.HGET_SCRIPT, b"HGET", False, False)
_SISMEMBER = _Script(scripts.HGET_SCRIPT, b"SISMEMBER", False, False)
_ZSCORE = _Script(scripts.HGET_SCRIPT, b"ZSCORE", False, False)

# read -> (its script, the repair when the newest exists, the repair when it was removed)
_READS = {
    "get": (_GET, _SET, _DEL),
    "hget": (_HGET, _HSET, _HDEL),
    "sismember": (_SISMEMBER, _SADD, _SREM),
    "zscore": (_ZSCORE, _ZADD, _ZREM),
}


class RedisRead:
    """One repairable Redis read: its replies parsed, its repairs built."""

    def __init__(self, name: str, key: bytes, field: Optional[bytes]) -> None:
        self.name = name
        self.key = key
        self.field = field

    def parse(self, reply: bytes) -> Optional[Versioned]:
        elements = split_array(reply)
        if elements is None or len(elements) != 3:
            return None
        status = _text(elements[0])
        if status not in (EXISTS, REMOVED, UNKNOWN):
            return None
        stamp = _text(elements[1])
        try:
            timestamp = int(float(stamp)) if stamp is not None else -1
        except ValueError:
            return None
        if timestamp < 0:
            return None
        return Versioned(status, timestamp, elements[2])

    def repair(self, winner: Versioned) -> bytes:
        _, add, remove = _READS[self.name]
        field = self.field
        if winner.status == EXISTS:
            value = _text(winner.value) or b""
            if field is None:
                return _request(add, self.key, 0, winner.timestamp, [value])
            return _request(add, self.key, 1, winner.timestamp, [field, value])
        if field is None:
            return _request(remove, self.key, 0, winner.timestamp)
        return _request(remove, self.key, 1, winner.timestamp, [field])


def rewrite_read(name: str, args: Sequence[bytes], timestamp: int
                 ) -> Optional[Tuple[bytes, RedisRead]]:
    """The script of repairable read ``args`` and what parses its replies, or None."""
    shapes = _READS.get(name)
    if shapes is None:
        return None
    how = shapes[0]
    if name == "get":
        if len(args) != 2:
            return None
        return _request(how, args[1], 0, timestamp), RedisRead(name, args[1], None)
    if len(args) != 3:
        return None
    return _request(how, args[1], 1, timestamp, args[2:]), RedisRead(name, args[1], args[2])


def _text(element: bytes) -> Optional[bytes]:
    """The text of a bulk, simple string or integer element; None for nil and others."""
    kind = element[:1]
    if kind == b"$":
        if element.startswith(b"$-1"):
            return None
        return element[element.index(b"\r\n") + 2 : -2]
    if kind in (b"+", b":", b","):
        return element[1:-2]
    return None

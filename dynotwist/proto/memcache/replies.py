"""The reply framer (replies split by what each request expects) and the node's
helpers on replies: errors, value blocks, merging split gets."""

from __future__ import annotations

from collections import deque
from typing import Deque, Dict, List, Optional, Sequence, Tuple

from dynotwist.proto.memcache.wire import (
    CRLF,
    END,
    EXPECT_FENCED,
    EXPECT_LINE,
    EXPECT_META,
    EXPECT_STATS,
    EXPECT_VALUES,
    FENCE_REPLY,
    KIND_MASK,
    ReplyError,
)

# -- the reply framer -----------------------------------------------------------------------
MAX_REPLY_LINE = 64 * 1024
"""A reply line longer than this (memcached's are far shorter) is a broken stream."""

_STATS_LINES = (b"STAT ", b"ITEM ", b"PREFIX ")


class MemcacheReplyFramer:
    """Splits a memcached reply stream into whole replies, one per expectation.

    Call :meth:`expect` with a request's ``expect`` each time one is sent (FIFO); see
    the module docstring.
    """

    def __init__(self) -> None:
        self._expected: Deque[int] = deque()
        self._line: List[bytes] = []  # an incomplete line, in pieces
        self._line_len = 0
        self._parts: List[bytes] = []  # bytes of the reply under way
        self._skip = 0  # bytes of a data block (with its CRLF) still to pass
        self._more = False  # the reply goes on after the current line or block
        self._inner = False  # fenced: the request's own reply is under way

    def expect(self, expectation: int) -> None:
        """Queue what a request just sent expects (``MemcacheRequest.expect``)."""
        if expectation & KIND_MASK not in (EXPECT_LINE, EXPECT_VALUES, EXPECT_META, EXPECT_STATS):
            raise ValueError("unknown reply expectation %r" % expectation)
        self._expected.append(expectation)

    @property
    def pending(self) -> int:
        """Replies expected and not yet complete."""
        return len(self._expected)

    def feed(self, data: bytes) -> List[bytes]:
        """The whole replies that ``data`` completes; raise ReplyError on bad bytes."""
        out: List[bytes] = []
        pos = 0
        n = len(data)
        find = data.find
        while pos < n:
            if self._skip:
                take = min(self._skip, n - pos)
                self._parts.append(data[pos : pos + take])
                self._skip -= take
                pos += take
                if self._skip == 0:
                    self._end_block(out)
                continue
            if not self._expected:
                raise ReplyError("reply bytes with no request waiting: %r" % data[pos : pos + 64])
            if self._expected[0] == EXPECT_VALUES and not self._parts and not self._line:
                end = _values_end(data, pos)
                if end > 0:  # a whole get reply in this read (the usual case): one slice
                    out.append(data[pos:end])
                    self._expected.popleft()
                    pos = end
                    continue
            nl = find(b"\n", pos)
            if nl < 0:
                self._line.append(data[pos:])
                self._line_len += n - pos
                if self._line_len > MAX_REPLY_LINE:
                    raise ReplyError("reply line too long")
                break
            if self._line:
                self._line.append(data[pos : nl + 1])
                line = b"".join(self._line)
                self._line = []
                self._line_len = 0
            else:
                line = data[pos : nl + 1]
            pos = nl + 1
            self._on_line(line, out)
        return out

    def _on_line(self, line: bytes, out: List[bytes]) -> None:
        if line[-2:-1] != b"\r":
            raise ReplyError("reply line without CRLF: %r" % line[:64])
        expectation = self._expected[0]
        base = expectation & KIND_MASK
        if expectation & EXPECT_FENCED and not self._inner:
            if line == FENCE_REPLY:
                out.append(b"".join(self._parts))
                self._parts = []
                self._expected.popleft()
                return
            self._inner = True
        elif base == EXPECT_LINE and not self._parts:  # the common case
            out.append(line)
            self._expected.popleft()
            return
        self._parts.append(line)
        if base == EXPECT_LINE:
            self._end_reply(out)
        elif base == EXPECT_META:
            if line.startswith(b"VA "):
                self._skip = _size_field(line, 1) + 2
            else:
                self._end_reply(out)
        elif base == EXPECT_VALUES:
            if line.startswith(b"VALUE "):
                self._skip = _size_field(line, 3) + 2
                self._more = True
            else:  # END, or an error
                self._end_reply(out)
        elif line == END:
            self._end_reply(out)
        elif self._more or line.startswith(_STATS_LINES):
            self._more = True
        else:  # a one-line stats reply: RESET, OK, an error
            self._end_reply(out)

    def _end_block(self, out: List[bytes]) -> None:
        last = self._parts[-1]
        tail = last[-2:] if len(last) >= 2 else self._parts[-2][-1:] + last
        if tail != CRLF:
            raise ReplyError("data block not followed by CRLF")
        if not self._more:
            self._end_reply(out)

    def _end_reply(self, out: List[bytes]) -> None:
        self._more = False
        if self._expected[0] & EXPECT_FENCED:
            self._inner = False  # the MN follows
            return
        out.append(b"".join(self._parts))
        self._parts = []
        self._expected.popleft()


def _size_field(line: bytes, index: int) -> int:
    fields = line[:-2].split(b" ")
    if len(fields) <= index or not _is_size(fields[index]):
        raise ReplyError("bad size in %r" % line[:64])
    return int(fields[index])


def _is_size(field: bytes) -> bool:
    return field.isdigit() and len(field) < 20  # memcached's sizes are 32-bit


def _values_end(data: bytes, pos: int) -> int:
    """Where the get reply at ``data[pos:]`` ends (``VALUE`` blocks, then ``END``) if
    all of it is there and it is well formed, else -1: the framer then reads it line by
    line, as it reads every other reply (and says what is wrong with a bad one)."""
    find = data.find
    while data.startswith(b"VALUE ", pos):
        nl = find(b"\n", pos)
        if nl < 0 or data[nl - 1] != 0x0D:
            return -1
        fields = data[pos : nl - 1].split(b" ")  # VALUE <key> <flags> <bytes> [<cas>]
        if len(fields) not in (4, 5) or not _is_size(fields[3]):
            return -1
        end = nl + 1 + int(fields[3])
        if data[end : end + 2] != CRLF:
            return -1
        pos = end + 2
    return pos + 5 if data.startswith(END, pos) else -1


# -- helpers for the node ---------------------------------------------------------------------
def is_error_reply(reply: bytes) -> bool:
    """True for ``ERROR``, ``CLIENT_ERROR ...`` and ``SERVER_ERROR ...`` replies."""
    return reply.startswith((b"ERROR", b"CLIENT_ERROR ", b"SERVER_ERROR "))


def server_error(message: str) -> bytes:
    """``SERVER_ERROR <message>\\r\\n`` (the node's own errors, e.g. Dynomite's
    ``Storage: Datastore refused connection``); CR and LF become spaces."""
    data = message.encode("latin-1", "replace").replace(b"\r", b" ").replace(b"\n", b" ")
    return b"SERVER_ERROR " + data + CRLF


def value_blocks(reply: bytes) -> Optional[List[Tuple[bytes, bytes]]]:
    """The ``(key, block)`` pairs of a get-like reply, each block a whole ``VALUE``
    line and its data; None if ``reply`` is not VALUE blocks followed by ``END``."""
    blocks: List[Tuple[bytes, bytes]] = []
    pos = 0
    n = len(reply)
    while True:
        nl = reply.find(b"\r\n", pos)
        if nl < 0:
            return None
        if nl + 2 == n and reply[pos:nl] == b"END":
            return blocks
        if not reply.startswith(b"VALUE ", pos):
            return None
        fields = reply[pos:nl].split(b" ")
        if len(fields) not in (4, 5) or not _is_size(fields[3]):
            return None
        end = nl + 2 + int(fields[3]) + 2
        if end > n or reply[end - 2 : end] != CRLF:
            return None
        blocks.append((fields[1], reply[pos:end]))
        pos = end


def merge_get_replies(replies: Sequence[bytes], keys: Optional[Sequence[bytes]] = None) -> bytes:
    """One get/gets/gat/gats reply from the replies of its fragments.

    The VALUE blocks of every fragment, without their ``END``, then one ``END``. With
    ``keys`` (the original request's keys) the blocks are put in that order, as
    memcached would return them, a key asked twice returning its value twice even if
    the fragment asked it once. The first fragment reply that is not VALUE blocks and
    ``END`` (an error) is returned instead, as is.
    """
    parsed: List[List[Tuple[bytes, bytes]]] = []
    for reply in replies:
        blocks = value_blocks(reply)
        if blocks is None:
            return reply
        parsed.append(blocks)
    if keys is None:
        return b"".join(block for blocks in parsed for _, block in blocks) + END
    by_key: Dict[bytes, Deque[bytes]] = {}
    for blocks in parsed:
        for key, block in blocks:
            by_key.setdefault(key, deque()).append(block)
    out: List[bytes] = []
    for key in keys:
        found = by_key.get(key)
        if found:
            out.append(found.popleft() if len(found) > 1 else found[0])
    out.append(END)
    return b"".join(out)


# -- what a relayed request expects -----------------------------------------------------
_VALUES = frozenset((b"get", b"gets", b"gat", b"gats", b"bget"))
_META_VALUES = frozenset((b"mg", b"ma"))  # may answer VA <size> and a data block
_META_LINES = frozenset((b"ms", b"md"))


def expected_reply(raw: bytes) -> int:
    """What one relayed request expects as its reply, from its first line.

    Relayed requests were accepted by a parser, so the command name is enough to know
    the reply's shape. Fencing is only suspected here (a last token ``noreply``, a meta ``q``
    flag): the sender checks it with the parser, as a key may be named ``noreply``.
    """
    end = raw.find(b"\n")
    tokens = raw[: end if end >= 0 else len(raw)].split()
    command = tokens[0] if tokens else b""
    if command in _VALUES:
        return EXPECT_VALUES
    if command in _META_VALUES or command in _META_LINES:
        base = EXPECT_META if command in _META_VALUES else EXPECT_LINE
        return base | (EXPECT_FENCED if b"q" in tokens[2:] else 0)
    if command == b"stats":
        return EXPECT_STATS
    fenced = tokens[-1] == b"noreply" if tokens else False
    return EXPECT_LINE | (EXPECT_FENCED if fenced else 0)

"""RESP codec, sans-I/O: a request parser and a reply framer.

The request parser turns client bytes into ``(args, raw)`` pairs: ``args`` is the
list of arguments, ``raw`` the request's exact bytes when they arrived in one piece
(so they can be relayed untouched) or ``None`` when the request spanned reads or was
an inline command (the caller re-encodes ``args`` then).

The reply framer finds reply boundaries in a datastore's byte stream without building
Python objects: it returns each complete reply as one ``bytes``. It knows every RESP2
and RESP3 type.

Both keep their state across ``feed`` calls, so a request or reply split anywhere is
never rescanned from its start: the work done is linear in the bytes fed.
"""

from __future__ import annotations

import os
from typing import List, Optional, Tuple

CRLF = b"\r\n"

# Redis's own limits (networking.c): lines longer than this without CRLF are refused.
MAX_INLINE = 64 * 1024
MAX_MULTIBULK = 2**31 - 1
DEFAULT_MAX_BULK = 512 * 1024 * 1024

# A bulk body at least this long is gathered as a list of chunks, joined once.
_BIG_BULK = 64 * 1024

Request = Tuple[List[bytes], Optional[bytes]]


class ProtocolError(Exception):
    """Malformed client input; ``str()`` is Redis's text (``Protocol error: ...``).

    ``requests`` holds the well-formed requests that preceded the bad bytes in the
    same feed: they are to be served before the error is reported.
    """

    def __init__(self, message: str, requests: Optional[List[Request]] = None) -> None:
        super().__init__(message)
        self.requests: List[Request] = requests if requests is not None else []


def encode_command(args: List[bytes]) -> bytes:
    """The multibulk encoding of ``args``."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        parts.append(b"$%d\r\n" % len(arg))
        parts.append(arg)
        parts.append(CRLF)
    return b"".join(parts)


def _split_inline(line: bytes) -> List[bytes]:
    """Split an inline command as Redis's sdssplitargs does (quotes, escapes)."""
    args: List[bytes] = []
    i, n = 0, len(line)
    while True:
        while i < n and line[i] in b" \t\r\n\v\f":
            i += 1
        if i >= n:
            return args
        current = bytearray()
        quote = 0
        while True:
            if i >= n:
                if quote:
                    raise ProtocolError("Protocol error: unbalanced quotes in request")
                break
            c = line[i]
            if quote == 0x22:  # "..." with escapes
                if c == 0x5C and i + 1 < n:  # backslash
                    i += 1
                    c = line[i]
                    if c == 0x78 and i + 2 < n and _is_hex(line[i + 1 : i + 3]):  # \xHH
                        current.append(int(line[i + 1 : i + 3], 16))
                        i += 2
                    else:
                        current.append(_ESCAPES.get(c, c))
                elif c == 0x22:
                    if i + 1 < n and line[i + 1] not in b" \t\r\n\v\f":
                        raise ProtocolError("Protocol error: unbalanced quotes in request")
                    quote = 0
                    i += 1
                    break
                else:
                    current.append(c)
            elif quote == 0x27:  # '...' with only \' escaped
                if c == 0x5C and i + 1 < n and line[i + 1] == 0x27:
                    i += 1
                    current.append(0x27)
                elif c == 0x27:
                    if i + 1 < n and line[i + 1] not in b" \t\r\n\v\f":
                        raise ProtocolError("Protocol error: unbalanced quotes in request")
                    quote = 0
                    i += 1
                    break
                else:
                    current.append(c)
            elif c in b" \t\r\n":  # sdssplitargs ends a token on these only, not \v \f
                break
            elif c in (0x22, 0x27):
                quote = c
            else:
                current.append(c)
            i += 1
        args.append(bytes(current))


_ESCAPES = {0x6E: 0x0A, 0x72: 0x0D, 0x74: 0x09, 0x62: 0x08, 0x61: 0x07}


def _is_hex(pair: bytes) -> bool:
    return len(pair) == 2 and all(c in b"0123456789abcdefABCDEF" for c in pair)


# _parse_length's mark of a malformed field: below any value string2ll can return, as
# every negative count is a valid (ignored) multibulk length.
_BAD_LENGTH = -(2**64)


def _parse_length(line: bytes) -> int:
    """A length field as Redis's string2ll reads it; _BAD_LENGTH marks a malformed one."""
    if not line or len(line) > 20:
        return _BAD_LENGTH
    if line[0] == 0x2D:  # '-'
        digits = line[1:]
        sign = -1
    else:
        digits = line
        sign = 1
    # digits only, no leading zero, and no "-0"
    if not digits.isdigit() or (digits[0] == 0x30 and (len(digits) > 1 or sign < 0)):
        return _BAD_LENGTH
    value = sign * int(digits)
    if len(digits) > 18 and not -(2**63) <= value < 2**63:  # overflows a long long
        return _BAD_LENGTH
    return value


def _expected_dollar(byte: int) -> ProtocolError:
    # Redis maps CR and LF in error texts to spaces (addReplyErrorFormat)
    shown = " " if byte in (0x0D, 0x0A) else chr(byte)
    return ProtocolError(f"Protocol error: expected '$', got '{shown}'")


def request_parser_class() -> type:
    """The fastest request parser available: hiredis's if installed (and not turned
    off with DYNOTWIST_PURE_PYTHON=1), else the pure-Python one."""
    if os.environ.get("DYNOTWIST_PURE_PYTHON") != "1":
        try:
            from dynotwist.proto.resp_hiredis import AcceleratedRequestParser
        except ImportError:
            pass
        else:
            return AcceleratedRequestParser
    return RequestParser


class RequestParser:
    """Incremental parser of client requests (multibulk and inline)."""

    def __init__(self, max_bulk_len: int = DEFAULT_MAX_BULK) -> None:
        self.max_bulk_len = max_bulk_len
        self._buf = b""
        # state of a multibulk request that spans feeds
        self._args: Optional[List[bytes]] = None
        self._remaining = 0
        self._bulk_len = -1  # length of the bulk whose body is awaited, -1: none
        self._chunks: List[bytes] = []  # a big bulk body being gathered
        self._chunks_len = 0
        self._failed: Optional[str] = None

    @property
    def buffered(self) -> int:
        """Bytes held of an incomplete request."""
        args = sum(map(len, self._args)) if self._args is not None else 0
        return len(self._buf) + self._chunks_len + args

    def feed(self, data: bytes) -> List[Request]:
        """Return the requests completed by ``data``; raise ProtocolError on bad input."""
        if self._failed is not None:
            raise ProtocolError(self._failed)
        out: List[Request] = []
        if self._chunks:
            data = self._gather(data)
            if self._args is not None and self._remaining == 0:
                self._finish_spanning(out)
            if not data:
                return out
        buf = self._buf + data if self._buf else data
        self._buf = b""
        try:
            if self._args is not None:
                pos = self._resume(buf, out)
                if pos < 0:
                    return out
            else:
                pos = 0
            self._parse(buf, pos, out)
        except ProtocolError as error:
            self._failed = str(error)
            error.requests = out
            raise
        return out

    # -- whole requests, the common case ------------------------------------------
    def _parse(self, buf: bytes, pos: int, out: List[Request]) -> None:
        n = len(buf)
        find = buf.find
        max_bulk = self.max_bulk_len
        while pos < n:
            start = pos
            if buf[pos] != 0x2A:  # not '*': an inline command
                pos = self._inline(buf, pos, out)
                if pos < 0:
                    return
                continue
            nl = find(CRLF, pos)
            if nl < 0:
                if n - pos > MAX_INLINE:
                    raise ProtocolError("Protocol error: too big mbulk count string")
                self._buf = buf[pos:]
                return
            field = buf[pos + 1 : nl]
            if field.isdigit() and (field[0] != 0x30 or nl == pos + 2):
                count = int(field)  # the common case, without a call
            else:
                count = _parse_length(field)
            if count > MAX_MULTIBULK or count == _BAD_LENGTH:
                raise ProtocolError("Protocol error: invalid multibulk length")
            pos = nl + 2
            if count <= 0:  # Redis ignores empty and negative multibulks
                continue
            args: List[bytes] = []
            while count:
                if pos >= n:
                    break
                if buf[pos] != 0x24:  # '$'
                    raise _expected_dollar(buf[pos])
                nl = find(CRLF, pos)
                if nl < 0:
                    if n - pos > MAX_INLINE:
                        raise ProtocolError("Protocol error: too big bulk count string")
                    break
                field = buf[pos + 1 : nl]
                if field.isdigit() and (field[0] != 0x30 or nl == pos + 2):
                    size = int(field)
                else:
                    size = _parse_length(field)
                if size < 0 or size > max_bulk:
                    raise ProtocolError("Protocol error: invalid bulk length")
                end = nl + 2 + size  # then two bytes skipped unread, as Redis does
                if end + 2 > n:
                    # the body is not all here: keep its header's state, not its bytes
                    self._bulk_len = size
                    pos = nl + 2
                    break
                args.append(buf[nl + 2 : end])
                pos = end + 2
                count -= 1
            if count:
                self._args = args
                self._remaining = count
                self._stash(buf, pos)
                return
            out.append((args, buf[start:pos]))

    def _inline(self, buf: bytes, pos: int, out: List[Request]) -> int:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            if len(buf) - pos > MAX_INLINE:
                raise ProtocolError("Protocol error: too big inline request")
            self._buf = buf[pos:]
            return -1
        args = _split_inline(buf[pos:nl])
        if args:
            out.append((args, None))
        return nl + 1

    # -- a request that spans feeds -----------------------------------------------
    def _stash(self, buf: bytes, pos: int) -> None:
        """Keep what is left of ``buf`` for the next feed, as chunks if a big body."""
        rest = buf[pos:]
        if self._bulk_len >= _BIG_BULK:
            self._chunks = [rest] if rest else []
            self._chunks_len = len(rest)
            self._buf = b""
        else:
            self._buf = rest

    def _gather(self, data: bytes) -> bytes:
        """Add ``data`` to a big bulk body; return the bytes after it once complete."""
        need = self._bulk_len + 2 - self._chunks_len
        if len(data) < need:
            self._chunks.append(data)
            self._chunks_len += len(data)
            return b""
        self._chunks.append(data[:need])
        body = b"".join(self._chunks)
        self._chunks = []
        self._chunks_len = 0
        self._end_bulk(body)
        return data[need:]

    def _end_bulk(self, body_crlf: bytes) -> None:
        # like Redis, the two bytes after a body are skipped unread (meant to be CRLF)
        assert self._args is not None
        self._args.append(body_crlf[:-2])
        self._bulk_len = -1
        self._remaining -= 1

    def _finish_spanning(self, out: List[Request]) -> None:
        assert self._args is not None
        out.append((self._args, None))
        self._args = None

    def _resume(self, buf: bytes, out: List[Request]) -> int:
        """Continue a multibulk begun in an earlier feed; -1 if still incomplete."""
        pos = 0
        n = len(buf)
        while self._remaining:
            if self._bulk_len >= 0:
                end = pos + self._bulk_len + 2
                if end > n:
                    self._stash(buf, pos)
                    return -1
                self._end_bulk(buf[pos:end])
                pos = end
                continue
            if pos >= n:
                self._buf = b""
                return -1
            if buf[pos] != 0x24:
                raise _expected_dollar(buf[pos])
            nl = buf.find(CRLF, pos)
            if nl < 0:
                if n - pos > MAX_INLINE:
                    raise ProtocolError("Protocol error: too big bulk count string")
                self._buf = buf[pos:]
                return -1
            size = _parse_length(buf[pos + 1 : nl])
            if size < 0 or size > self.max_bulk_len:
                raise ProtocolError("Protocol error: invalid bulk length")
            self._bulk_len = size
            pos = nl + 2
        self._finish_spanning(out)
        return pos


# Reply types: single-line, length-prefixed blob, and aggregates (with element factor).
_LINE_TYPES = frozenset(b"+-:_#,(")
_BLOB_TYPES = frozenset(b"$!=")
_AGGREGATE_FACTOR = {0x2A: 1, 0x7E: 1, 0x3E: 1, 0x25: 2}  # * ~ > %
_ATTRIBUTE = 0x7C  # | : an attribute map, then the reply it annotates


class ReplyError(Exception):
    """The datastore sent bytes that are not RESP: its connection cannot be trusted."""


class ReplyFramer:
    """Splits a RESP2/RESP3 reply stream into whole replies, as raw bytes."""

    def __init__(self) -> None:
        self._tail = b""  # unscanned bytes: an incomplete line
        self._parts: List[bytes] = []  # scanned bytes of the reply under way
        self._stack: List[int] = []  # elements still due in each open aggregate
        self._skip = 0  # bytes of a blob body (and its CRLF) still to pass over

    def feed(self, data: bytes) -> List[bytes]:
        out: List[bytes] = []
        if self._skip:
            if len(data) <= self._skip:
                self._parts.append(data)
                self._skip -= len(data)
                if self._skip == 0:
                    self._complete_element(out)
                return out
            self._parts.append(data[: self._skip])
            data = data[self._skip :]
            self._skip = 0
            self._complete_element(out)
        buf = self._tail + data if self._tail else data
        self._tail = b""
        try:
            self._scan(buf, out)
        except ValueError:
            raise ReplyError("malformed length in reply") from None
        return out

    def _scan(self, buf: bytes, out: List[bytes]) -> None:
        n = len(buf)
        find = buf.find
        stack = self._stack
        pos = 0
        start = 0  # where the reply under way begins in buf
        while pos < n:
            kind = buf[pos]
            nl = find(CRLF, pos)
            if nl < 0:
                break
            if kind in _LINE_TYPES:
                pos = nl + 2
            elif kind in _BLOB_TYPES:
                size = int(buf[pos + 1 : nl])
                if size < 0:  # RESP2 null bulk
                    pos = nl + 2
                else:
                    end = nl + 4 + size
                    if end > n:
                        self._skip = end - n
                        self._parts.append(buf[start:])
                        return
                    pos = end
            elif kind in _AGGREGATE_FACTOR:
                count = int(buf[pos + 1 : nl]) * _AGGREGATE_FACTOR[kind]
                pos = nl + 2
                # the common aggregate, a flat run of bulk strings (LRANGE, MGET...):
                # passed over in a tight loop while the bytes are all here
                while count > 0 and pos < n and buf[pos] == 0x24:
                    nl = find(CRLF, pos)
                    if nl < 0:
                        break
                    # one digit: read it as a byte, without a slice and an int()
                    digit = buf[pos + 1] - 0x30
                    size = digit if nl == pos + 2 and 0 <= digit <= 9 else int(buf[pos + 1 : nl])
                    end = nl + 4 + size if size >= 0 else nl + 2
                    if end > n:
                        break
                    pos = end
                    count -= 1
                if count > 0:
                    stack.append(count)
                    continue
            elif kind == _ATTRIBUTE:
                count = int(buf[pos + 1 : nl])
                if count < 0:  # would never close: every later byte swallowed
                    raise ReplyError("negative attribute length")
                stack.append(count * 2 + 1)
                pos = nl + 2
                continue
            else:
                raise ReplyError("unexpected reply type byte %r" % chr(kind))
            # one element complete: close the aggregates it completes
            while stack:
                stack[-1] -= 1
                if stack[-1]:
                    break
                stack.pop()
            if not stack:
                if self._parts:
                    self._parts.append(buf[start:pos])
                    out.append(b"".join(self._parts))
                    self._parts = []
                else:
                    out.append(buf[start:pos])
                start = pos
        if start < pos:
            self._parts.append(buf[start:pos])
        self._tail = buf[pos:]

    def _complete_element(self, out: List[bytes]) -> None:
        stack = self._stack
        while stack:
            stack[-1] -= 1
            if stack[-1]:
                return
            stack.pop()
        out.append(b"".join(self._parts))
        self._parts = []


def is_error_reply(reply: bytes) -> bool:
    """True for RESP simple errors and RESP3 blob errors."""
    return reply[:1] in (b"-", b"!")


def error_reply(message: str) -> bytes:
    """``message`` as an error reply.

    Encoded as latin-1, the inverse of the ``decode("latin-1")`` that puts client bytes
    into messages, so those go back byte for byte as Redis sends them; CR and LF become
    spaces, as in Redis, so that quoted client bytes cannot end the reply early.
    """
    try:
        data = message.encode("latin-1")
    except UnicodeEncodeError:
        data = message.encode()
    return b"-" + data.replace(b"\r", b" ").replace(b"\n", b" ") + CRLF


def bulk_reply(value: Optional[bytes], resp3: bool = False) -> bytes:
    if value is None:
        return b"_\r\n" if resp3 else b"$-1\r\n"
    return b"$%d\r\n%s\r\n" % (len(value), value)


def integer_reply(value: int) -> bytes:
    return b":%d\r\n" % value


def array_header(count: int) -> bytes:
    return b"*%d\r\n" % count


def map_header(count: int, resp3: bool) -> bytes:
    """A map of ``count`` pairs: ``%`` in RESP3, a flat array in RESP2."""
    return b"%%%d\r\n" % count if resp3 else b"*%d\r\n" % (2 * count)


OK = b"+OK\r\n"
PONG = b"+PONG\r\n"

"""RESP codec, sans-I/O: a request parser and a reply framer.

The request parser turns client bytes into ``(args, raw)`` pairs: ``args`` is the
list of arguments, ``raw`` the request's exact bytes when they arrived in one piece
(so they can be relayed untouched) or ``None`` when the request spanned reads or was
an inline command (the caller re-encodes ``args`` then). It applies Redis's own
limits and error texts, those before authentication included.

The reply framer finds reply boundaries in a datastore's byte stream without building
Python objects: it returns each complete reply as one ``bytes``. It knows every RESP2
and RESP3 type.

Both keep their state across ``feed`` calls, so a request or reply split anywhere is
never rescanned from its start: the work done is linear in the bytes fed, however
small the reads.
"""

from __future__ import annotations

import os
from typing import Callable, List, Optional, Tuple, Union

CRLF = b"\r\n"

# Redis's own limits (networking.c): lines longer than this without CRLF are refused.
MAX_INLINE = 64 * 1024
MAX_MULTIBULK = 2**31 - 1
DEFAULT_MAX_BULK = 512 * 1024 * 1024
# Redis 7's limits for a client that has not authenticated (CVE-2021-32675)
UNAUTHENTICATED_MAX_MULTIBULK = 10
UNAUTHENTICATED_MAX_BULK = 16384

# Redis's error texts
TOO_BIG_INLINE = "Protocol error: too big inline request"
TOO_BIG_MBULK_COUNT = "Protocol error: too big mbulk count string"
TOO_BIG_BULK_COUNT = "Protocol error: too big bulk count string"
INVALID_MULTIBULK = "Protocol error: invalid multibulk length"
INVALID_BULK = "Protocol error: invalid bulk length"
UNAUTHENTICATED_MULTIBULK = "Protocol error: unauthenticated multibulk length"
UNAUTHENTICATED_BULK = "Protocol error: unauthenticated bulk length"
UNBALANCED_QUOTES = "Protocol error: unbalanced quotes in request"

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
                    raise ProtocolError(UNBALANCED_QUOTES)
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
                        raise ProtocolError(UNBALANCED_QUOTES)
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
                        raise ProtocolError(UNBALANCED_QUOTES)
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


def one_request_function() -> Callable[[bytes, int], Optional[List[bytes]]]:
    """The fastest :func:`one_request`: the compiled one if it was built (on CPython,
    and not turned off with DYNOTWIST_PURE_PYTHON=1), else the pure-Python one."""
    if os.environ.get("DYNOTWIST_PURE_PYTHON") != "1":
        try:
            from dynotwist.proto.resp_compiled import one_request as compiled
        except ImportError:
            pass
        else:
            return compiled
    return one_request


def reply_framer_class() -> type:
    """The fastest reply framer available: the compiled scanner's if it was built (on
    CPython, and not turned off with DYNOTWIST_PURE_PYTHON=1), else the pure-Python one."""
    if os.environ.get("DYNOTWIST_PURE_PYTHON") != "1":
        try:
            from dynotwist.proto.resp_compiled import CompiledReplyFramer
        except ImportError:
            pass
        else:
            return CompiledReplyFramer
    return ReplyFramer


# What the bytes a RequestParser holds (``_held``) are waiting for.
_NOTHING = 0  # nothing is held
_LINE = 1  # the end of the line they begin (a length line or an inline command)
_BODY = 2  # the rest of a bulk body and the two bytes after it
_RESUME = 3  # the next feed: kept back by a pause, they are parsed with it


def _join_body(held: List[bytes], data: bytes, need: int) -> bytes:
    """The bulk body made of ``held`` and the first ``need`` bytes of ``data``, less
    the two bytes after it: joined once, without a copy of a copy."""
    pieces: List[Union[bytes, memoryview]] = list(held)
    if need >= 2:
        pieces.append(memoryview(data)[: need - 2])
    else:  # the first byte after the body is held already
        pieces[-1] = memoryview(held[-1])[:-1]
    return b"".join(pieces)


def one_request(payload: bytes, max_bulk_len: int = DEFAULT_MAX_BULK) -> Optional[List[bytes]]:
    """The arguments of ``payload`` if it is exactly one multibulk request that
    :class:`RequestParser` reads as the whole of it (same limits, same leniency); None
    for anything else, which the parser is then asked about (and says what is wrong).

    A peer frame carries one request (``DnodeServerProtocol``): this reads it without
    a parser's state, the cost of every relayed copy of a write."""
    if payload[:1] != b"*":
        return None
    find = payload.find
    nl = find(CRLF, 1)
    field = payload[1:nl]
    if not 0 < nl < 20 or not field.isdigit() or (field[0] == 0x30 and nl != 2):
        return None
    count = int(field)
    if not 0 < count <= MAX_MULTIBULK:
        return None
    n = len(payload)
    pos = nl + 2
    args: List[bytes] = []
    append = args.append
    while count:
        if payload[pos : pos + 1] != b"$":
            return None
        nl = find(CRLF, pos)
        field = payload[pos + 1 : nl]
        if not 0 < nl - pos < 20 or not field.isdigit() or (field[0] == 0x30 and nl != pos + 2):
            return None
        end = nl + 2 + int(field)
        if end - nl - 2 > max_bulk_len or end + 2 > n:
            return None
        append(payload[nl + 2 : end])
        pos = end + 2  # the two bytes after a body are skipped unread, as Redis does
        count -= 1
    return args if pos == n else None


class RequestParser:
    """Incremental parser of client requests (multibulk and inline).

    ``unauthenticated`` (set by the caller, at any time) applies Redis's limits before
    AUTH: at most 10 arguments of at most 16384 bytes. A client may pipeline ``AUTH``
    and a bigger request in one write, and Redis runs the AUTH before it reads the
    next request; so a request refused by these limits after other requests of the
    same feed pauses the parser instead: ``feed`` returns those requests, ``paused``
    is True and the rest stays unparsed until the next ``feed`` (``feed(b"")``), made
    once the caller has served them and updated ``unauthenticated``.

    ``buffered`` is the number of bytes of incomplete input held (the client's query
    buffer, for Redis's ``client-query-buffer-limit``).
    """

    def __init__(self, max_bulk_len: int = DEFAULT_MAX_BULK) -> None:
        self.max_bulk_len = max_bulk_len
        self.unauthenticated = False
        self.paused = False
        # unparsed bytes in the pieces received: joined once what they wait for is here
        self._held: List[bytes] = []
        self._held_len = 0
        self._wait = _NOTHING
        self._line_end = CRLF  # with _LINE: what ends the line, and the error if it is
        self._too_big = TOO_BIG_INLINE  # longer than MAX_INLINE
        # a multibulk request that spans feeds
        self._args: Optional[List[bytes]] = None
        self._args_len = 0
        self._remaining = 0
        self._bulk_len = -1  # length of the bulk whose body is awaited, -1: none
        self._failed: Optional[str] = None

    @property
    def buffered(self) -> int:
        """Bytes of incomplete input held: unparsed bytes and a partial request's."""
        return self._held_len + self._args_len

    def feed(self, data: bytes) -> List[Request]:
        """Return the requests completed by ``data``; raise ProtocolError on bad input."""
        if self._failed is not None:
            raise ProtocolError(self._failed)
        out: List[Request] = []
        try:
            if self._wait:
                self.paused = False  # paused, bytes are held
                buf = self._unhold(data)
                if buf is None:
                    return out
            else:
                buf = data
            self._parse(buf, out)
        except ProtocolError as error:
            self._failed = str(error)
            self._held = []
            self._held_len = 0
            self._wait = _NOTHING
            self._args = None
            self._args_len = 0
            error.requests = out
            raise
        return out

    def _parse(self, buf: bytes, out: List[Request]) -> None:
        n = len(buf)
        find = buf.find
        pos = 0
        max_bulk = self.max_bulk_len
        max_count = MAX_MULTIBULK
        if self.unauthenticated:
            max_bulk = min(max_bulk, UNAUTHENTICATED_MAX_BULK)
            max_count = UNAUTHENTICATED_MAX_MULTIBULK
        args = self._args
        count = counted = 0
        start = -1  # where the request under way begins in buf, -1: in an earlier feed
        if args is not None:
            self._args = None
            count = self._remaining
            counted = len(args)
        while True:
            if args is None:
                if pos >= n:
                    return
                start = pos
                if buf[pos] != 0x2A:  # not '*': an inline command
                    pos = self._inline(buf, pos, out)
                    if pos < 0:
                        return
                    continue
                nl = find(CRLF, pos)
                if nl < 0:
                    self._hold_line(buf, pos, CRLF, TOO_BIG_MBULK_COUNT)
                    return
                field = buf[pos + 1 : nl]
                if nl - pos < 20 and field.isdigit() and (field[0] != 0x30 or nl == pos + 2):
                    count = int(field)  # the common case, without a call
                else:
                    count = _parse_length(field)
                if count > max_count or count == _BAD_LENGTH:
                    if count > MAX_MULTIBULK or count == _BAD_LENGTH:
                        raise ProtocolError(INVALID_MULTIBULK)
                    self._refuse(UNAUTHENTICATED_MULTIBULK, buf, start, out)
                    return
                pos = nl + 2
                if count <= 0:  # Redis ignores empty and negative multibulks
                    continue
                args = []
                counted = 0
            while count:
                if pos >= n:
                    break
                if buf[pos] != 0x24:  # '$'
                    raise _expected_dollar(buf[pos])
                nl = find(CRLF, pos)
                if nl < 0:
                    break
                field = buf[pos + 1 : nl]
                if nl - pos < 20 and field.isdigit() and (field[0] != 0x30 or nl == pos + 2):
                    size = int(field)
                else:
                    size = _parse_length(field)
                if size < 0 or size > max_bulk:
                    if size < 0 or size > self.max_bulk_len:
                        raise ProtocolError(INVALID_BULK)
                    self._refuse(UNAUTHENTICATED_BULK, buf, start, out)
                    return
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
                self._suspend(args, counted, count, buf, pos)
                return
            if start >= 0:
                out.append((args, buf[start:pos]))
            else:
                out.append((args, None))
                self._args_len = 0
                if pos < n and self._handoff(buf, pos, out):
                    return
            args = None

    def _handoff(self, buf: bytes, pos: int, out: List[Request]) -> bool:
        """Called, with the parser idle, when a request that spanned feeds is complete
        and ``buf[pos:]`` is left: a subclass may parse the rest and return True."""
        return False

    def _inline(self, buf: bytes, pos: int, out: List[Request]) -> int:
        nl = buf.find(b"\n", pos)
        if nl < 0:
            self._hold_line(buf, pos, b"\n", TOO_BIG_INLINE)
            return -1
        args = _split_inline(buf[pos:nl])
        if args:
            out.append((args, None))
        return nl + 1

    def _refuse(self, message: str, buf: bytes, start: int, out: List[Request]) -> None:
        """A request over the limits before AUTH: pause before it if requests precede it
        in this feed (one may be the AUTH), else refuse it."""
        if start < 0 or not out:
            raise ProtocolError(message)
        self._hold(buf[start:], _RESUME)
        self.paused = True

    # -- bytes held across feeds, each scanned once ------------------------------------
    def _hold(self, rest: bytes, wait: int) -> None:
        self._held = [rest] if rest else []
        self._held_len = len(rest)
        self._wait = wait

    def _hold_line(self, buf: bytes, pos: int, end: bytes, too_big: str) -> None:
        rest = buf[pos:]
        if len(rest) > MAX_INLINE:
            raise ProtocolError(too_big)
        self._hold(rest, _LINE)
        self._line_end = end
        self._too_big = too_big

    def _suspend(self, args: List[bytes], counted: int, count: int, buf: bytes, pos: int) -> None:
        """Keep a partial request: its arguments so far, and the bytes after them."""
        self._args = args
        self._args_len += sum(map(len, args[counted:]))
        self._remaining = count
        if self._bulk_len >= 0:
            self._hold(buf[pos:], _BODY)
        elif pos < len(buf):  # a bulk header without its end
            self._hold_line(buf, pos, CRLF, TOO_BIG_BULK_COUNT)

    def _unhold(self, data: bytes) -> Optional[bytes]:
        """Add ``data`` to the held bytes; once they can be parsed, return the bytes to
        parse next (after completing a held bulk body), else None."""
        held = self._held
        if self._wait == _BODY:
            need = self._bulk_len + 2 - self._held_len
            if len(data) < need:
                if data:
                    held.append(data)
                    self._held_len += len(data)
                return None
            body = _join_body(held, data, need)
            self._hold(b"", _NOTHING)
            assert self._args is not None
            self._args.append(body)
            self._args_len += len(body)
            self._bulk_len = -1
            self._remaining -= 1
            return data[need:]
        if self._wait == _LINE and not self._ends_line(data):
            if data:
                held.append(data)
                self._held_len += len(data)
                if self._held_len > MAX_INLINE:
                    raise ProtocolError(self._too_big)
            return None
        held.append(data)
        buf = b"".join(held)
        self._hold(b"", _NOTHING)
        return buf

    def _ends_line(self, data: bytes) -> bool:
        """Whether ``data`` holds the end of the held line (only new bytes are scanned)."""
        if data.find(self._line_end) >= 0:
            return True
        # a CRLF split between the two: CR held, LF in data
        return self._line_end == CRLF and data[:1] == b"\n" and self._held[-1][-1] == 0x0D


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

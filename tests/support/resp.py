"""RESP replies in assertions: exact bytes of one, or its structure as Python values."""

from __future__ import annotations

from typing import Any, Iterable, List, Optional, Tuple

from dynotwist.proto.resp import ProtocolError, ReplyFramer, Request, RequestParser

CRLF = b"\r\n"


def reference_split(stream: bytes) -> List[bytes]:
    """An independent, recursive RESP2/RESP3 splitter: the oracle for the framer."""

    def skip(pos: int) -> int:
        kind = stream[pos : pos + 1]
        nl = stream.index(CRLF, pos)
        head = stream[pos + 1 : nl]
        pos = nl + 2
        if kind in (b"+", b"-", b":", b"_", b"#", b",", b"("):
            return pos
        if kind in (b"$", b"!", b"="):
            size = int(head)
            if size < 0:
                return pos
            if stream[pos + size : pos + size + 2] != CRLF:
                raise AssertionError("blob not followed by CRLF at %d" % pos)
            return pos + size + 2
        if kind in (b"*", b"~", b">", b"%", b"|"):
            count = int(head) * (2 if kind in (b"%", b"|") else 1)
            for _ in range(count):
                pos = skip(pos)
            return skip(pos) if kind == b"|" else pos
        raise AssertionError("not RESP at %d: %r" % (pos, kind))

    out, pos = [], 0
    while pos < len(stream):
        end = skip(pos)
        out.append(stream[pos:end])
        pos = end
    return out


def feed_replies(framer: ReplyFramer, chunks: Iterable[bytes]) -> List[bytes]:
    out = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    return out


def command_args(text: str) -> List[bytes]:
    """'GET k' -> [b'GET', b'k']."""
    return [w.encode() for w in text.split()]


def bulk(value: bytes) -> bytes:
    """A bulk string reply's bytes."""
    return b"$%d\r\n%s\r\n" % (len(value), value)


class RespError(str):
    """An error reply's text (``-...`` or ``!...``), as a value, never raised."""


class RespStatus(str):
    """A simple string reply (``+OK``)."""


class RespSet(list):
    """A RESP3 set (``~``)."""


class RespMap(list):
    """A RESP3 map (``%``): its pairs (key, value), in order."""


class RespPush(list):
    """A RESP3 push (``>``)."""


def parse_resp(data: bytes, pos: int = 0) -> Tuple[Any, int]:
    """One RESP2/RESP3 value at ``pos`` and the position after it, the aggregate kinds
    kept; ValueError (or IndexError) on any framing error.

    Integers, big numbers -> int; doubles -> float; booleans -> bool; nulls -> None;
    bulks and verbatim strings (format dropped) -> bytes; arrays -> list.
    """
    end = data.index(b"\r\n", pos)
    kind, line = data[pos:pos + 1], data[pos + 1:end]
    pos = end + 2
    if kind == b"+":
        return RespStatus(line.decode("latin-1")), pos
    if kind == b"-":
        return RespError(line.decode("latin-1")), pos
    if kind in (b":", b"("):
        return int(line), pos
    if kind == b",":
        return float(line), pos
    if kind == b"#":
        if line not in (b"t", b"f"):
            raise ValueError("bad boolean")
        return line == b"t", pos
    if kind == b"_":
        if line:
            raise ValueError("bad null")
        return None, pos
    if kind in (b"$", b"!", b"="):
        n = int(line)
        if n == -1 and kind == b"$":
            return None, pos
        if n < 0 or data[pos + n:pos + n + 2] != b"\r\n":
            raise ValueError("bad bulk at %d" % pos)
        body = data[pos:pos + n]
        if kind == b"!":
            return RespError(body.decode("latin-1")), pos + n + 2
        return (body[4:] if kind == b"=" else body), pos + n + 2
    if kind in (b"*", b"~", b"%", b">"):
        n = int(line)
        if n == -1 and kind == b"*":
            return None, pos
        if n < 0:
            raise ValueError("bad aggregate length")
        items = []
        for _ in range(2 * n if kind == b"%" else n):
            item, pos = parse_resp(data, pos)
            items.append(item)
        if kind == b"*":
            return items, pos
        if kind == b"~":
            return RespSet(items), pos
        if kind == b">":
            return RespPush(items), pos
        return RespMap(zip(items[::2], items[1::2])), pos
    raise ValueError("bad RESP type %r at %d" % (kind, pos))


def parse_all(data: bytes) -> Any:
    """Exactly one RESP value: ``parse_resp`` with nothing after it."""
    value, pos = parse_resp(data)
    if pos != len(data):
        raise ValueError("%d trailing bytes" % (len(data) - pos))
    return value


def as_dict(value: Any) -> dict:
    """A RESP3 map or a RESP2 flat array -> dict."""
    if isinstance(value, RespMap):
        return dict(value)
    return dict(zip(value[::2], value[1::2]))


def split_aggregate(reply: bytes) -> Optional[Tuple[bytes, List[bytes]]]:
    """An aggregate reply's header line and its elements' raw bytes; None if not one."""
    if reply[:1] not in (b"*", b"~", b"%", b">"):
        return None
    nl = reply.index(b"\r\n")
    if int(reply[1:nl]) <= 0:
        return reply[: nl + 2], []
    elements = ReplyFramer().feed(reply[nl + 2 :])
    return reply[: nl + 2], elements




def outcome_requests(
    chunks: List[bytes], parser: RequestParser
) -> Tuple[List[List[bytes]], Optional[str]]:
    """The arguments of the requests ``chunks`` give ``parser``, and the error, if any
    (after which the parser must keep refusing with the same error)."""
    got: List[List[bytes]] = []
    for chunk in chunks:
        try:
            got.extend(args for args, _ in parser.feed(chunk))
            assert not parser.paused
        except ProtocolError as error:
            got.extend(args for args, _ in error.requests)
            again = None
            try:
                parser.feed(b"PING\r\n")
            except ProtocolError as error2:
                again = error2
            assert again is not None and str(again) == str(error)
            return got, str(error)
    return got, None


class ServingClient:
    """Feeds a parser as the network layer does: serves what it returns, takes the
    client as authenticated once an AUTH was served, and continues after a pause."""

    def __init__(self, parser: RequestParser) -> None:
        self.parser = parser
        self.parser.unauthenticated = True
        self.served: List[Request] = []
        self.pauses = 0

    def receive(self, data: bytes) -> None:
        requests = self.parser.feed(data)
        while True:
            self.serve(requests)
            if not self.parser.paused:
                return
            self.pauses += 1
            requests = self.parser.feed(b"")

    def serve(self, requests: List[Request]) -> None:
        for args, raw in requests:
            self.served.append((args, raw))
            if args[0] == b"AUTH":
                self.parser.unauthenticated = False

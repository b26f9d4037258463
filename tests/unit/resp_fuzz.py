"""Differential fuzzing of the RESP request parsers: the hiredis accelerator against
the pure-Python parser, which is the reference.

``inputs(seed)`` yields seeded random inputs: RESP2 and RESP3 values of every type
nested at any level, canonical and non-canonical lengths, negative and empty counts,
inline commands with quotes and escapes, garbage bytes, truncations, with valid
requests mixed in; each with the reads it arrives in (whole, and cut at random
points), a ``max_bulk_len`` and whether the client is authenticated. ``difference``
feeds one input to both parsers and describes the first way they differ, if any:
requests and raw bytes of each feed, error texts and the requests before them, and
``paused`` and ``buffered`` after each feed. Used by ``test_resp_fuzz`` and by
``benchmarks/fuzz_request_parsers.py``.
"""

from __future__ import annotations

import random
from typing import Callable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

from dynotwist.proto.resp import DEFAULT_MAX_BULK, ProtocolError, RequestParser, encode_command

CRLF = b"\r\n"

# bytes that mean something in RESP, to make garbage that parsers must look at
_SIGNIFICANT = b"*$+-:_#,(=!%~>|\r\n0123456789 \"'\\x\x00\xff"
_LINE_TYPES = b"+-:_#,("
_BLOB_TYPES = b"$!="
_AGGREGATE_TYPES = b"*~>%|"


class Case(NamedTuple):
    chunks: List[bytes]  # the reads, in order
    max_bulk_len: int
    unauthenticated: bool


def _arg(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.5:
        return rng.choice([b"GET", b"SET", b"PING", b"k", b"", b"v" * rng.randint(0, 20)])
    if roll < 0.8:
        return bytes(rng.choice(_SIGNIFICANT) for _ in range(rng.randint(0, 12)))
    if roll < 0.97:
        return rng.randbytes(rng.randint(0, 40))
    return b"x" * rng.choice([99, 100, 101, 999, 1000, 1001, 16384, 16385])


def _number(rng: random.Random, value: int) -> bytes:
    """``value`` written canonically, or now and then in a way Redis refuses or reads
    otherwise (leading zero, sign, blank, off by one, overflowing)."""
    roll = rng.random()
    if roll < 0.85:
        return b"%d" % value
    return rng.choice(
        [
            b"0%d" % value,
            b"+%d" % value,
            b" %d" % value,
            b"%d " % value,
            b"%d" % (value + 1),
            b"%d" % (value - 1),
            b"-0",
            b"-1",
            b"-%d" % rng.randint(2, 5),
            b"",
            b"9223372036854775808",
            b"%d" % (2**31),
            b"1e2",
            b"0x1",
        ]
    )


def _blob(rng: random.Random, kind: int) -> bytes:
    body = _arg(rng)
    if kind == 0x3D and rng.random() < 0.7:  # '=' verbatim: "txt:" then text
        body = b"txt:" + body
    after = CRLF if rng.random() < 0.9 else bytes(rng.choice(_SIGNIFICANT) for _ in range(2))
    return bytes((kind,)) + _number(rng, len(body)) + CRLF + body + after


def _line(rng: random.Random, kind: int) -> bytes:
    text = {
        0x3A: lambda: _number(rng, rng.randint(-(2**63), 2**63)),  # ':'
        0x2C: lambda: rng.choice([b"1.5", b"-0", b"inf", b"-inf", b"nan", b"1e300", b"x"]),
        0x28: lambda: rng.choice([b"123", b"-3492890328409238509324850943850943825024385", b"x"]),
        0x23: lambda: rng.choice([b"t", b"f", b"x", b""]),
        0x5F: lambda: rng.choice([b"", b"", b"x"]),
    }.get(kind, lambda: _arg(rng).replace(b"\r", b"").replace(b"\n", b""))()
    return bytes((kind,)) + text + CRLF


def value(rng: random.Random, depth: int = 0) -> bytes:
    """Any RESP2 or RESP3 value, nested up to a few levels."""
    roll = rng.random()
    if roll < 0.4:
        return _blob(rng, 0x24 if rng.random() < 0.7 else rng.choice(_BLOB_TYPES))
    if roll < 0.7 or depth >= 4:
        return _line(rng, rng.choice(_LINE_TYPES))
    kind = rng.choice(_AGGREGATE_TYPES)
    count = rng.choice([0, 1, 1, 2, 2, 3, -1, 11])
    header = bytes((kind,)) + _number(rng, count) + CRLF
    elements = max(count, 0) * (2 if kind in b"%|" else 1) + (1 if kind == 0x7C else 0)
    if rng.random() < 0.1:  # fewer or more elements than announced
        elements = max(0, elements + rng.choice([-1, 1]))
    return header + b"".join(value(rng, depth + 1) for _ in range(elements))


def request(rng: random.Random) -> bytes:
    """A well-formed multibulk request, now and then with other bytes where Redis
    skips the two after a bulk."""
    args = [_arg(rng) for _ in range(rng.choice([1, 1, 2, 3, 3, 4, 11, 12]))]
    data = encode_command(args)
    if rng.random() < 0.05:
        end = len(data) - 2
        data = data[:end] + bytes(rng.choice(_SIGNIFICANT) for _ in range(2))
    return data


def odd_request(rng: random.Random) -> bytes:
    """A multibulk request with something else inside: RESP3 elements, non-canonical
    or wrong lengths, other counts."""
    count = rng.choice([0, 1, 2, 3, 4])
    elements = []
    for _ in range(count + rng.choice([0, 0, 0, -1, 1])):
        roll = rng.random()
        if roll < 0.5:
            elements.append(_blob(rng, 0x24))
        else:
            elements.append(value(rng, 1))
    return b"*" + _number(rng, count) + CRLF + b"".join(elements)


_ODD_WORDS = [b'"\\x41\\n\\r\\t\\b\\a\\\\"', b'"\\x4"', b'"a"b', b"'a'b", b'"a', b"'"]


def _text(rng: random.Random) -> bytes:
    return _arg(rng).replace(b"\r", b"").replace(b"\n", b"")


def _disguise(rng: random.Random, arg: bytes) -> bytes:
    """An element hiredis returns as ``bytes`` too, in another encoding than a
    canonical bulk: shorter or longer, so that sizes can balance."""
    return rng.choice(
        [
            lambda: b"+" + _text(rng) + CRLF,
            lambda: b"(" + rng.choice([b"1", b"123", b"-99999999999999999999"]) + CRLF,
            lambda: b"=%d\r\ntxt:%s\r\n" % (len(arg) + 4, arg),
            lambda: b"|1\r\n+a\r\n+b\r\n$%d\r\n%s\r\n" % (len(arg), arg),
            lambda: b"$0%d\r\n%s\r\n" % (len(arg), arg),
            lambda: b"$%d\r\n%s\r\n" % (len(arg), arg),
        ]
    )()


def disguised(rng: random.Random) -> bytes:
    """Something hiredis reads as a list of bytes although it is not a canonical
    multibulk request: another aggregate type, or elements in other encodings."""
    args = [_arg(rng) for _ in range(rng.randint(1, 4))]
    kind = rng.choice([b"*", b"*", b"*", b"~", b">", b"|"])
    elements = [encode_command([a])[4:] for a in args]  # canonical bulks
    for _ in range(rng.randint(0 if kind != b"*" else 1, 2)):
        i = rng.randrange(len(elements))
        elements[i] = _disguise(rng, args[i])
    if kind == b"|":  # an attribute, then the value it annotates
        return b"|1\r\n+k\r\n+v\r\n" + encode_command(args)
    return kind + b"%d\r\n" % len(elements) + b"".join(elements)


def inline(rng: random.Random) -> bytes:
    words = []
    for _ in range(rng.randint(0, 4)):
        roll = rng.random()
        word = _arg(rng).replace(b"\n", b"")
        if roll < 0.2:
            word = b'"' + word.replace(b'"', b'\\"') + b'"'
        elif roll < 0.3:
            word = b"'" + word.replace(b"'", b"\\'") + b"'"
        elif roll < 0.4:
            word = rng.choice(_ODD_WORDS)
        words.append(word)
    sep = rng.choice([b" ", b" ", b"  ", b"\t"])
    return sep.join(words) + rng.choice([CRLF, CRLF, b"\n", b"\r\r\n"])


def garbage(rng: random.Random) -> bytes:
    if rng.random() < 0.7:
        return bytes(rng.choice(_SIGNIFICANT) for _ in range(rng.randint(1, 12)))
    return rng.randbytes(rng.randint(1, 12))


_PARTS: Sequence[Tuple[Callable[[random.Random], bytes], int]] = [
    (request, 40),
    (odd_request, 15),
    (disguised, 15),
    (value, 15),
    (inline, 10),
    (garbage, 5),
    (lambda rng: b"*" + _number(rng, rng.choice([0, -1, -5, 10, 11])) + CRLF, 5),
    (lambda rng: rng.choice([b"*", b"$", b"\r", b"\n", CRLF, b"*1\r\n", b"*1\r\n$"]), 5),
]
_MAKERS = [maker for maker, _ in _PARTS]
_WEIGHTS = [weight for _, weight in _PARTS]


def splits(rng: random.Random, data: bytes) -> List[List[bytes]]:
    """The reads ``data`` is fed in: whole, and cut at a few random points."""
    ways = [[data]]
    if len(data) > 1:
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 4))))
        bounds = [0, *cuts, len(data)]
        ways.append([data[a:b] for a, b in zip(bounds, bounds[1:])])
    if 1 < len(data) <= 40 and rng.random() < 0.2:
        ways.append([data[i : i + 1] for i in range(len(data))])
    return ways


def inputs(seed: int) -> Iterator[Case]:
    """Endless seeded random cases (several per generated input: one per way to cut it)."""
    rng = random.Random(seed)
    while True:
        parts = rng.choices(_MAKERS, _WEIGHTS, k=rng.randint(1, 6))
        data = b"".join(maker(rng) for maker in parts)
        if rng.random() < 0.2:  # truncated anywhere
            data = data[: rng.randint(0, len(data))]
        max_bulk_len = rng.choice([DEFAULT_MAX_BULK, DEFAULT_MAX_BULK, 100, 1000])
        unauthenticated = rng.random() < 0.15
        for chunks in splits(rng, data):
            yield Case(chunks, max_bulk_len, unauthenticated)


Event = Tuple[object, ...]


def trace(parser_class: type, case: Case) -> List[Event]:
    """What ``parser_class`` makes of ``case``: one event per feed. When a feed pauses
    the parser, the client is taken to have authenticated (every other time) before
    the ``feed(b"")`` that continues."""
    parser: RequestParser = parser_class(case.max_bulk_len)
    parser.unauthenticated = case.unauthenticated
    events: List[Event] = []
    pending = list(case.chunks)
    flip = False
    while pending:
        data = pending.pop(0)
        try:
            requests = parser.feed(data)
        except ProtocolError as error:
            events.append(("error", str(error), error.requests, parser.buffered))
            try:
                parser.feed(b"PING\r\n")
            except ProtocolError as again:
                events.append(("again", str(again), again.requests))
            else:
                events.append(("accepted after an error",))
            return events
        except Exception as error:  # anything else is a bug: part of the trace, compared
            events.append(("raised", type(error).__name__, str(error)))
            return events
        events.append(("ok", requests, parser.paused, parser.buffered))
        if parser.paused:
            flip = not flip
            if flip:
                parser.unauthenticated = False
            pending.insert(0, b"")
    return events


def difference(case: Case, accelerated: type, pure: type = RequestParser) -> Optional[str]:
    """How ``accelerated`` differs from ``pure`` on ``case``, or None."""
    fast = trace(accelerated, case)
    reference = trace(pure, case)
    if fast == reference:
        if reference[-1][0] == "raised":
            return "%r: both raised %r" % (case, reference[-1])
        return None
    for i, (got, expected) in enumerate(zip(fast, reference)):
        if got != expected:
            return "%r: at event %d, accelerated %r, pure %r" % (case, i, got, expected)
    return "%r: accelerated %r, pure %r" % (case, fast, reference)

"""Tests for dynotwist.proto.resp: the client request parser and the reply framer.

Every vector is parsed whole, split in two at every offset, and fed one byte at a time.
Request vectors and protocol errors are checked against a real redis-server too: the
arguments Redis sees (read back from MONITOR) and the exact error replies it sends.
"""

from __future__ import annotations

import ast
import contextlib
import hashlib
import os
import socket
from typing import Iterable, List, Optional, Sequence, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from dynotwist.proto import resp
from dynotwist.proto.resp import (
    DEFAULT_MAX_BULK,
    MAX_INLINE,
    ProtocolError,
    ReplyError,
    ReplyFramer,
    RequestParser,
    bulk_reply,
    encode_command,
    error_reply,
    is_error_reply,
)
from tests.servers import ServerProcess

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "vectors")

CRLF = b"\r\n"
KiB = 1024
MiB = 1024 * KiB

# The redis-servers started here refuse bulks above this (the smallest value Redis
# accepts for proto-max-bulk-len), and so do the parsers compared with them.
MAX_BULK = 1 * MiB

HYPOTHESIS = settings(max_examples=150)  # on top of the suite's profile (tests/__init__.py)


# -- helpers ----------------------------------------------------------------------------
Expected = List[Tuple[str, List[bytes]]]  # (kind, args): kind "*" multibulk, "i" inline


def load_request_vectors() -> List[Tuple[str, bytes, Expected]]:
    vectors = []
    with open(os.path.join(VECTORS, "resp-requests.txt"), encoding="ascii") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, request, expected = line.split("\t")
            vectors.append((name, ast.literal_eval(request), ast.literal_eval(expected)))
    return vectors


def generated_request_vectors() -> List[Tuple[str, bytes, Expected]]:
    """Vectors too big to write out: large and many arguments."""
    pattern = bytes(range(256))
    vectors = []
    for name, size in [
        ("mb-20KiB-with-crlfs", 20 * KiB),
        ("mb-64KiB-less-1", 64 * KiB - 1),
        ("mb-64KiB", 64 * KiB),
        ("mb-100KiB", 100 * KiB),
    ]:
        value = (pattern * (size // 256 + 1))[:size]
        args = [b"SET", name.encode(), value]
        vectors.append((name, encode_command(args), [("*", args)]))
    many = [b"RPUSH", b"many"] + [b"%d" % i * (i % 7) for i in range(1000)]
    vectors.append(("mb-1000-args", encode_command(many), [("*", many)]))
    pipeline = b""
    expected: Expected = []
    for i in range(100):
        if i % 3:
            args = [b"ECHO", b"x\r\n" * i]
            pipeline += encode_command(args)
            expected.append(("*", args))
        else:
            pipeline += b"ECHO %d\r\n" % i
            expected.append(("i", [b"ECHO", b"%d" % i]))
    vectors.append(("mix-100-requests", pipeline, expected))
    return vectors


REQUEST_VECTORS = load_request_vectors()
GENERATED_VECTORS = generated_request_vectors()


def pieces(data: bytes, cuts: Iterable[int]) -> List[bytes]:
    """``data`` cut at the given offsets."""
    bounds = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def chunked(data: bytes, size: int) -> List[bytes]:
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def split_offsets(length: int, limit: int = 4096) -> Sequence[int]:
    """Every offset of a short input; for a long one, its ends and a stride between."""
    if length <= limit:
        return range(length + 1)
    edge = limit // 2
    return sorted({*range(edge), *range(length - edge, length + 1), *range(0, length, 997)})


def feed_requests(parser: RequestParser, chunks: Iterable[bytes]) -> List[resp.Request]:
    out = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out


def feed_replies(framer: ReplyFramer, chunks: Iterable[bytes]) -> List[bytes]:
    out = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    return out


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


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def aggregate(kind: bytes, items: Sequence[bytes], pairs: bool = False) -> bytes:
    count = len(items) // 2 if pairs else len(items)
    return kind + b"%d\r\n" % count + b"".join(items)


# -- a real redis-server ----------------------------------------------------------------
class RedisServer(ServerProcess):
    """A redis-server on a free loopback port, stopped (by pid) when the test ends."""

    program = "redis-server"
    probe = b"PING\r\n"
    ready = b"+PONG\r\n"

    def arguments(self, testcase: unittest.TestCase) -> List[str]:
        workdir = os.path.abspath(testcase.mktemp())
        os.makedirs(workdir)
        return [
            *("--port", str(self.port), "--bind", "127.0.0.1"),
            *("--save", "", "--appendonly", "no", "--dir", workdir),
            *("--enable-debug-command", "yes", "--proto-max-bulk-len", str(MAX_BULK)),
        ]

    def exchange(self, data: bytes, until: Optional[bytes] = None) -> bytes:
        """Send ``data`` on a new connection; read to ``until`` or to the close."""
        with self.connect() as conn:
            # closed on us after a protocol error? its reply is still to read
            with contextlib.suppress(OSError):
                conn.sendall(data)
            return read_until(conn, until)


def read_until(conn: socket.socket, until: Optional[bytes]) -> bytes:
    received = bytearray()
    while until is None or not received.endswith(until):
        try:
            data = conn.recv(256 * KiB)
        except ConnectionResetError:
            data = b""
        if not data:
            if until is not None:
                raise AssertionError("connection closed before %r: %r" % (until, received))
            break
        received += data
    return bytes(received)


def monitor_args(line: bytes) -> List[bytes]:
    """The arguments in a MONITOR line (``+<time> [<db> <peer>] "arg" "arg"...``)."""
    text = line[line.index(b"] ") + 2 :]
    escapes = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("a"): 7, ord("b"): 8}
    args, i = [], 0
    while i < len(text):
        assert text[i] == 0x22, text[i:]
        i += 1
        current = bytearray()
        while text[i] != 0x22:
            if text[i] == 0x5C:  # backslash
                escaped = text[i + 1]
                if escaped == ord("x"):
                    current.append(int(text[i + 2 : i + 4], 16))
                    i += 4
                    continue
                current.append(escapes.get(escaped, escaped))
                i += 2
                continue
            current.append(text[i])
            i += 1
        args.append(bytes(current))
        i += 2  # the closing quote and the space after it
    return args


# -- 1. request vectors -----------------------------------------------------------------
class RequestVectorTests(unittest.TestCase):
    def check(self, name: str, data: bytes, expected: Expected, chunks: List[bytes]) -> None:
        """``chunks`` (which make up ``data``) parse to ``expected``."""
        parser = RequestParser()
        got = feed_requests(parser, chunks)
        where = "%s in %d pieces" % (name, len(chunks))
        self.assertEqual([args for args, _ in got], [args for _, args in expected], where)
        # where each piece and each request begins and ends in data
        bounds = [0]
        for chunk in chunks:
            bounds.append(bounds[-1] + len(chunk))
        spans = self.spans(name, data, expected)
        for (args, raw), (kind, _), (start, end) in zip(got, expected, spans):
            if kind == "i":
                self.assertIsNone(raw, where)
                continue
            exact = data[start:end]
            self.assertEqual(exact, encode_command(args), where)
            if any(a <= start and end <= b for a, b in zip(bounds, bounds[1:])):
                self.assertEqual(raw, exact, where)  # it arrived in one piece
                continue
            head_end = data.index(CRLF, start) + 2
            if any(start < cut < head_end for cut in bounds[1:-1]):
                # cut inside its ``*<count>`` line, which the parser keeps and parses
                # again: then it still has (and gives) the exact bytes
                self.assertIn(raw, (None, exact), where)
            else:
                self.assertIsNone(raw, where)

    _spans: dict = {}  # name -> spans, computed once

    def spans(self, name: str, data: bytes, expected: Expected) -> List[Tuple[int, int]]:
        """(start, end) of each request in ``data``, from a byte-at-a-time parse."""
        if name not in self._spans:
            parser = RequestParser()
            result = []
            for i in range(len(data)):
                for args, _raw in parser.feed(data[i : i + 1]):
                    length = len(encode_command(args))
                    result.append((i + 1 - length, i + 1))
            self.assertEqual(len(result), len(expected), name)
            self._spans[name] = result
        return self._spans[name]

    def check_vector(self, name: str, data: bytes, expected: Expected) -> None:
        self.check(name, data, expected, [data])
        got = RequestParser().feed(data)
        for (args, raw), (kind, _) in zip(got, expected):
            self.assertEqual(raw, encode_command(args) if kind == "*" else None, name)
        for offset in split_offsets(len(data)):
            self.check(name, data, expected, pieces(data, [offset]))
        self.check(name, data, expected, chunked(data, 1))
        self.check(name, data, expected, chunked(data, 7))
        self.check(name, data, expected, chunked(data, 16 * KiB))

    def test_vectors(self) -> None:
        self.assertGreater(len(REQUEST_VECTORS), 30)
        for name, data, expected in REQUEST_VECTORS:
            self.check_vector(name, data, expected)

    def test_generated_vectors(self) -> None:
        for name, data, expected in GENERATED_VECTORS:
            self.check_vector(name, data, expected)

    def test_all_vectors_in_one_pipeline(self) -> None:
        data = b"".join(v[1] for v in REQUEST_VECTORS)
        expected = [request for v in REQUEST_VECTORS for request in v[2]]
        self.check_vector("all", data, expected)

    def test_encode_command(self) -> None:
        self.assertEqual(encode_command([b"GET", b"k"]), b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n")
        self.assertEqual(encode_command([b""]), b"*1\r\n$0\r\n\r\n")
        self.assertEqual(encode_command([]), b"*0\r\n")

    def test_many_requests_one_feed(self) -> None:
        data = encode_command([b"PING"]) * 10000
        got = RequestParser().feed(data)
        self.assertEqual(len(got), 10000)
        self.assertEqual(got[-1], ([b"PING"], b"*1\r\n$4\r\nPING\r\n"))

    def test_incomplete_request_waits(self) -> None:
        parser = RequestParser()
        self.assertEqual(parser.feed(b"*2\r\n$3\r\nGET\r\n$1\r\n"), [])
        self.assertEqual(parser.feed(b"k"), [])
        self.assertEqual(parser.feed(b"\r"), [])
        self.assertEqual(parser.feed(b"\n"), [([b"GET", b"k"], None)])
        self.assertEqual(parser.feed(b"PING"), [])
        self.assertEqual(parser.feed(b"\r\n"), [([b"PING"], None)])
        self.assertEqual(parser.feed(b""), [])

    def test_inline_at_limit_waits(self) -> None:
        """An inline line of exactly MAX_INLINE bytes may still get its newline."""
        parser = RequestParser()
        self.assertEqual(parser.feed(b"ECHO " + b"x" * (MAX_INLINE - 5)), [])
        self.assertEqual(parser.feed(b"\n"), [([b"ECHO", b"x" * (MAX_INLINE - 5)], None)])

    def test_vectors_match_redis(self) -> None:
        """Redis sees the same arguments (MONITOR shows every command it runs)."""
        server = RedisServer(self)
        with server.connect() as monitor, server.connect() as client:
            monitor.sendall(b"MONITOR\r\n")
            read_until(monitor, b"+OK\r\n")
            end = encode_command([b"ECHO", b"-end-"])
            for name, data, expected in REQUEST_VECTORS + GENERATED_VECTORS:
                client.sendall(data + end)
                read_until(client, bulk(b"-end-"))
                lines = []
                stream = b""
                while not lines or b'"ECHO" "-end-"' not in lines[-1]:
                    data = monitor.recv(256 * KiB)
                    self.assertTrue(data, "MONITOR connection closed")
                    stream += data
                    *complete, stream = stream.split(b"\r\n")
                    lines.extend(complete)
                seen = [monitor_args(line) for line in lines[:-1]]
                self.assertEqual(seen, [args for _, args in expected], name)


# -- 2. protocol errors -----------------------------------------------------------------
PING_INLINE = b"PING\r\n"
PING_MB = encode_command([b"PING"])

BULK_LEN = "Protocol error: invalid bulk length"
MBULK_LEN = "Protocol error: invalid multibulk length"
QUOTES = "Protocol error: unbalanced quotes in request"


def dollar(got: str) -> str:
    return f"Protocol error: expected '$', got '{got}'"


# (name, bytes, requests before the error, Redis's error text)
BAD_REQUESTS: List[Tuple[str, bytes, List[List[bytes]], str]] = [
    ("expected-dollar", b"*1\r\nx\r\n", [], dollar("x")),
    ("expected-dollar-2nd", b"*2\r\n$4\r\nECHO\r\n:1\r\n", [], dollar(":")),
    ("expected-dollar-cr", b"*1\r\n\r\n", [], dollar(" ")),
    ("expected-dollar-lf", b"*1\r\n\n\r\n", [], dollar(" ")),
    ("expected-dollar-8bit", b"*1\r\n\xff\r\n", [], dollar("\xff")),
    (
        "expected-dollar-after-good",
        PING_INLINE + PING_MB + b"*1\r\n+PING\r\n",
        [[b"PING"], [b"PING"]],
        dollar("+"),
    ),
    ("bulk-negative", b"*1\r\n$-1\r\n", [], BULK_LEN),
    ("bulk-minus-zero", b"*1\r\n$-0\r\n\r\n", [], BULK_LEN),
    ("bulk-leading-zero", b"*1\r\n$04\r\nPING\r\n", [], BULK_LEN),
    ("bulk-non-numeric", b"*1\r\n$abc\r\n", [], BULK_LEN),
    ("bulk-empty", b"*1\r\n$\r\n", [], BULK_LEN),
    ("bulk-space", b"*1\r\n$ 4\r\n", [], BULK_LEN),
    ("bulk-plus", b"*1\r\n$+4\r\n", [], BULK_LEN),
    ("bulk-fraction", b"*1\r\n$4.0\r\n", [], BULK_LEN),
    ("bulk-overflow", b"*1\r\n$99999999999999999999\r\n", [], BULK_LEN),
    ("bulk-21-chars", b"*1\r\n$100000000000000000000\r\n", [], BULK_LEN),
    (
        "bulk-too-big",  # refused on its header: no body is sent
        b"*2\r\n$4\r\nECHO\r\n$%d\r\n" % (MAX_BULK + 1),
        [],
        BULK_LEN,
    ),
    (
        "bulk-too-big-after-good",
        PING_MB + b"*1\r\n$%d\r\n" % (MAX_BULK * 2),
        [[b"PING"]],
        BULK_LEN,
    ),
    ("mbulk-non-numeric", b"*abc\r\n", [], MBULK_LEN),
    ("mbulk-leading-zero", b"*01\r\n", [], MBULK_LEN),
    ("mbulk-minus-zero", b"*-0\r\n", [], MBULK_LEN),
    ("mbulk-plus", b"*+1\r\n", [], MBULK_LEN),
    ("mbulk-empty", b"*\r\n", [], MBULK_LEN),
    ("mbulk-space", b"*1 \r\n", [], MBULK_LEN),
    ("mbulk-over-int-max", b"*2147483648\r\n", [], MBULK_LEN),
    (
        "mbulk-negative-overflow",
        b"*-9999999999999999999\r\n",
        [],
        MBULK_LEN,
    ),
    (
        "mbulk-after-good",
        PING_INLINE + b"*x\r\n",
        [[b"PING"]],
        MBULK_LEN,
    ),
    ("inline-too-big", b"a" * 70000, [], "Protocol error: too big inline request"),
    (
        "inline-too-big-after-good",
        PING_MB + b"ECHO " * 14000,
        [[b"PING"]],
        "Protocol error: too big inline request",
    ),
    ("mbulk-count-too-big", b"*" + b"1" * 70000, [], "Protocol error: too big mbulk count string"),
    (
        "bulk-count-too-big",
        b"*1\r\n$" + b"1" * 70000,
        [],
        "Protocol error: too big bulk count string",
    ),
    (
        "bulk-count-too-big-2nd",
        b"*2\r\n$4\r\nECHO\r\n$" + b"1" * 70000,
        [],
        "Protocol error: too big bulk count string",
    ),
    ("unbalanced-double", b'SET a "b\r\n', [], QUOTES),
    ("unbalanced-single", b"SET a 'b\r\n", [], QUOTES),
    ("closing-double-then-char", b'SET a "b"c\r\n', [], QUOTES),
    ("closing-single-then-char", b"SET a 'b'c\r\n", [], QUOTES),
    ("escaped-closing-quote", b'SET a "b\\"\r\n', [], QUOTES),
    ("backslash-at-end", b'SET a "b\\\r\n', [], QUOTES),
    ("quote-at-end", b'SET a "\n', [], QUOTES),
    (
        "unbalanced-after-good",
        PING_INLINE + PING_MB + b"ECHO 'x\r\nPING\r\n",
        [[b"PING"], [b"PING"]],
        QUOTES,
    ),
]


class RequestErrorTests(unittest.TestCase):
    def parse_bad(self, name: str, chunks: List[bytes], good: List[List[bytes]], text: str) -> None:
        """Feeding ``chunks`` gives the ``good`` requests, then ProtocolError(text)."""
        parser = RequestParser(max_bulk_len=MAX_BULK)
        got = []
        where = "%s in %d pieces" % (name, len(chunks))
        for chunk in chunks:
            try:
                got.extend(args for args, _ in parser.feed(chunk))
            except ProtocolError as error:
                got.extend(args for args, _ in error.requests)
                self.assertEqual(str(error), text, where)
                break
        else:
            self.fail("%s: no ProtocolError" % where)
        self.assertEqual(got, good, where)
        # a parser that failed stays failed, with nothing more to serve
        again = self.assertRaises(ProtocolError, parser.feed, PING_INLINE)
        self.assertEqual(str(again), text)
        self.assertEqual(again.requests, [])

    def test_errors(self) -> None:
        for name, data, good, text in BAD_REQUESTS:
            self.parse_bad(name, [data], good, text)
            if len(data) < 1000:
                for offset in range(len(data) + 1):
                    self.parse_bad(name, pieces(data, [offset]), good, text)
                self.parse_bad(name, chunked(data, 1), good, text)
            else:  # the too-big ones: in network-sized reads
                for size in (1000, 4 * KiB, 16 * KiB, 64 * KiB):
                    self.parse_bad(name, chunked(data, size), good, text)
                for offset in split_offsets(len(data), 64):
                    self.parse_bad(name, pieces(data, [offset]), good, text)

    def test_error_requests_whole_feed(self) -> None:
        """``.requests`` holds the good requests, with their raw bytes."""
        error = self.assertRaises(
            ProtocolError, RequestParser().feed, PING_MB + PING_INLINE + b"*1\r\n?\r\n"
        )
        self.assertEqual(error.requests, [([b"PING"], PING_MB), ([b"PING"], None)])

    def test_errors_match_redis(self) -> None:
        """Redis answers the same bytes with the same text, after as many replies."""
        server = RedisServer(self)
        for name, data, good, text in BAD_REQUESTS:
            replies = reference_split(server.exchange(data))
            self.assertEqual(len(replies), len(good) + 1, name)
            self.assertEqual(replies[-1], error_reply("ERR " + text), name)

    def test_redis_ignores_negative_multibulk_lengths(self) -> None:
        server = RedisServer(self)
        data = b"*-5\r\n*-9223372036854775808\r\n*0\r\n*-1\r\nPING\r\n"
        self.assertEqual(server.exchange(data, b"+PONG\r\n"), b"+PONG\r\n")
        self.assertEqual(RequestParser().feed(data), [([b"PING"], None)])

    def test_big_bulk_refused_on_header(self) -> None:
        """A bulk over max_bulk_len is refused when its header arrives, body unsent."""
        parser = RequestParser(max_bulk_len=100)
        self.assertEqual(parser.feed(b"*2\r\n$3\r\nGET\r\n$10"), [])
        self.assertEqual(parser.feed(b"1\r"), [])
        error = self.assertRaises(ProtocolError, parser.feed, b"\n")
        self.assertEqual(str(error), "Protocol error: invalid bulk length")
        # the limit itself is allowed
        parser = RequestParser(max_bulk_len=100)
        self.assertEqual(parser.feed(b"*1\r\n$100\r\n"), [])
        self.assertEqual(parser.feed(b"x" * 100 + CRLF), [([b"x" * 100], None)])

    def test_default_max_bulk(self) -> None:
        self.assertEqual(DEFAULT_MAX_BULK, 512 * MiB)
        self.assertEqual(RequestParser().feed(b"*1\r\n$%d\r\n" % DEFAULT_MAX_BULK), [])
        self.assertRaises(
            ProtocolError, RequestParser().feed, b"*1\r\n$%d\r\n" % (DEFAULT_MAX_BULK + 1)
        )

    def test_bytes_after_a_body_are_skipped_as_redis_does(self) -> None:
        """Redis skips the two bytes after a bulk body unread; so do we, so that a frame
        relayed raw means the same to the datastore as to us."""
        for data, last in [
            (b"*1\r\n$4\r\nPINGxx", b"PING"),
            (b"*1\r\n$4\r\nPING\r\r", b"PING"),
            (b"*1\r\n$70000\r\n" + b"x" * 70000 + b"\n\n", b"x" * 70000),
        ]:
            for chunks in ([data], chunked(data, 1), chunked(data, 16 * KiB)):
                got = feed_requests(RequestParser(), chunks)
                self.assertEqual([args for args, _ in got], [[last]])

    def test_error_reply_encoding(self) -> None:
        """Error texts go out as Redis sends them: bytes quoted in them unchanged, CR and
        LF as spaces, so a reply always stays one line."""
        self.assertEqual(error_reply("ERR x"), b"-ERR x\r\n")
        self.assertEqual(error_reply("ERR '\xff\xe9'"), b"-ERR '\xff\xe9'\r\n")
        self.assertEqual(error_reply("ERR a\r\n+OK\r\n"), b"-ERR a  +OK  \r\n")
        self.assertEqual(error_reply("ERR \u20ac"), "-ERR \u20ac\r\n".encode())
        self.assertTrue(is_error_reply(error_reply("ERR x")))
        self.assertTrue(is_error_reply(b"!3\r\nERR\r\n"))
        self.assertFalse(is_error_reply(b"+OK\r\n"))
        self.assertFalse(is_error_reply(b"$1\r\n-\r\n"))


# -- 3. linear work ---------------------------------------------------------------------
class ScanCounted(bytes):
    """A read that counts, in ``ScanCounted.scanned``, the bytes its ``find`` looks at:
    the work of a parser that scans only what it is fed."""

    scanned = 0

    def find(self, sub, start=0, end=None):  # type: ignore[no-untyped-def,override]
        stop = len(self) if end is None else min(end, len(self))
        ScanCounted.scanned += max(0, stop - start)
        return bytes.find(self, sub, start, stop)


class LinearWorkTests(unittest.TestCase):
    def feed_bytes(self, parser: RequestParser, data: bytes) -> Tuple[int, Optional[str]]:
        """Feed ``data`` one byte per feed; the bytes fed and the error, if any."""
        for i in range(len(data)):
            piece = ScanCounted(data[i : i + 1])
            try:
                self.assertEqual(parser.feed(piece), [])
            except ProtocolError as error:
                return i + 1, str(error)
            # held as it came, one piece per feed: never joined, never copied
            self.assertEqual(len(parser._held), parser._held_len)
            if len(parser._held) > 1:
                self.assertIs(parser._held[-1], piece)
        return len(data), None

    def test_64KiB_lines_byte_by_byte_scanned_once(self) -> None:
        """A length line or an inline line fed one byte at a time: each byte is scanned
        once (a parser that rescanned from the line's start would scan 2 GiB), until
        Redis's limit refuses the line, in Redis's words."""
        for head, text in [
            (b"*", "Protocol error: too big mbulk count string"),
            (b"*1\r\n$", "Protocol error: too big bulk count string"),
            (b"*2\r\n$4\r\nECHO\r\n$", "Protocol error: too big bulk count string"),
            (b"ECHO ", "Protocol error: too big inline request"),
        ]:
            self.patch(ScanCounted, "scanned", 0)
            parser = RequestParser()
            line_start = head.rfind(b"\n") + 1
            data = head + b"1" * MAX_INLINE
            fed, error = self.feed_bytes(parser, data)
            self.assertEqual(error, text)
            self.assertEqual(fed - line_start, MAX_INLINE + 1)  # refused at the limit
            self.assertLessEqual(ScanCounted.scanned, 2 * fed)

    def test_lines_byte_by_byte_then_ended(self) -> None:
        """The same for lines and bodies that end: held as they came, parsed once."""
        body = b"x" * 60000
        for data, args, held in [
            (b"ECHO " + body + b"\r\n", [b"ECHO", body], len(b"ECHO \r") + len(body)),
            (b"*1\r\n$60000\r\n" + body + b"\r\n", [body], len(body) + 1),
        ]:
            self.patch(ScanCounted, "scanned", 0)
            parser = RequestParser()
            self.assertEqual(self.feed_bytes(parser, data[:-1]), (len(data) - 1, None))
            self.assertEqual(parser.buffered, held)
            self.assertEqual(parser.feed(data[-1:]), [(args, None)])
            self.assertEqual(parser.buffered, 0)
            self.assertLessEqual(ScanCounted.scanned, 2 * len(data))

    def test_64MiB_bulk_gathered_not_concatenated(self) -> None:
        size = 64 * MiB
        chunk = bytes(range(256)) * 64  # 16 KiB, fed over and over
        digest = hashlib.sha256()
        parser = RequestParser()
        self.assertEqual(parser.feed(b"*3\r\n$3\r\nSET\r\n$3\r\nbig\r\n$%d\r\n" % size), [])
        for i in range(size // len(chunk)):
            self.assertEqual(parser.feed(chunk), [])
            digest.update(chunk)
            # the body is kept as the chunks received, never joined to a growing buffer
            self.assertEqual(len(parser._held), i + 1)
            self.assertIs(parser._held[-1], chunk)
            self.assertEqual(parser._held_len, (i + 1) * len(chunk))
            self.assertEqual(parser.buffered, (i + 1) * len(chunk) + 6)
        got = parser.feed(b"\r\n" + PING_MB)
        self.assertEqual(len(got), 2)
        (args, raw), ping = got
        self.assertIsNone(raw)
        self.assertEqual(args[:2], [b"SET", b"big"])
        self.assertEqual(len(args[2]), size)
        self.assertEqual(hashlib.sha256(args[2]).digest(), digest.digest())
        self.assertEqual(ping, ([b"PING"], PING_MB))
        self.assertEqual((parser._held, parser.buffered), ([], 0))

    def test_64MiB_bulk_reply_not_concatenated(self) -> None:
        size = 64 * MiB
        chunk = bytes(range(256)) * 64
        framer = ReplyFramer()
        head = b"*2\r\n:1\r\n$%d\r\n" % size
        self.assertEqual(framer.feed(head), [])
        for i in range(size // len(chunk)):
            self.assertEqual(framer.feed(chunk), [])
            self.assertEqual(framer._tail, b"")
            self.assertEqual(framer._skip, size + 2 - (i + 1) * len(chunk))
            self.assertIs(framer._parts[-1], chunk)
        replies = framer.feed(b"\r\n+OK\r\n")
        self.assertEqual(len(replies), 2)
        self.assertEqual(len(replies[0]), len(head) + size + 2)
        self.assertTrue(replies[0].startswith(head + chunk))
        self.assertEqual(replies[1], b"+OK\r\n")

    def test_bulk_just_below_64KiB(self) -> None:
        size = 64 * KiB - 1
        data = encode_command([b"SET", b"k", b"v" * size])
        for chunk_size in (1000, 16 * KiB):
            got = feed_requests(RequestParser(), chunked(data, chunk_size))
            self.assertEqual(got, [([b"SET", b"k", b"v" * size], None)])


# -- 4. reply framer --------------------------------------------------------------------
REPLIES: List[bytes] = [
    # RESP2
    b"+OK\r\n",
    b"+\r\n",
    b"-ERR unknown command 'x', with args beginning with: \r\n",
    b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n",
    b":0\r\n",
    b":-9223372036854775808\r\n",
    bulk(b"hello"),
    bulk(b""),
    bulk(b"\r\n"),
    bulk(b"*1\r\n$-1\r\n:1\r\n"),
    bulk(bytes(range(256))),
    b"$-1\r\n",
    aggregate(b"*", [bulk(b"a"), b":1\r\n"]),
    b"*-1\r\n",
    b"*0\r\n",
    aggregate(b"*", [aggregate(b"*", [b":1\r\n", b":2\r\n"]), b"*0\r\n", b"*-1\r\n", b"$-1\r\n"]),
    b"*1\r\n" * 50 + b"+deep\r\n",
    aggregate(b"*", [aggregate(b"*", [bulk(b"x%d" % i), b":%d\r\n" % i]) for i in range(20)]),
    # RESP3
    b"_\r\n",
    b"#t\r\n",
    b"#f\r\n",
    b",3.14\r\n",
    b",-inf\r\n",
    b",nan\r\n",
    b",1e+300\r\n",
    b"(3492890328409238509324850943850943825024385\r\n",
    b"(-1\r\n",
    b"!21\r\nSYNTAX invalid syntax\r\n",
    b"!0\r\n\r\n",
    b"=15\r\ntxt:Some string\r\n",
    b"=8\r\nmkd:\r\n\r\n\r\n",
    aggregate(b"%", [b"+first\r\n", b":1\r\n", b"+second\r\n", b":2\r\n"], pairs=True),
    b"%0\r\n",
    aggregate(b"%", [aggregate(b"%", [b"+k\r\n", b"_\r\n"], True), b"~1\r\n*0\r\n"], True),
    aggregate(b"~", [b"+a\r\n", b"+b\r\n", b"+c\r\n"]),
    b"~0\r\n",
    aggregate(b">", [bulk(b"message"), bulk(b"chan"), bulk(b"msg")]),
    aggregate(b">", [bulk(b"invalidate"), b"_\r\n"]),
    # an attribute, then the reply it annotates
    b"|1\r\n+key-popularity\r\n"
    + aggregate(b"%", [bulk(b"a"), b",0.1923\r\n", bulk(b"b"), b",0.0012\r\n"], True)
    + aggregate(b"*", [b":2039123\r\n", b":9543892\r\n"]),
    b"|1\r\n+ttl\r\n:3600\r\n+OK\r\n",
    b"|0\r\n$-1\r\n",
    b"|1\r\n+a\r\n|1\r\n+b\r\n+c\r\n+d\r\n+e\r\n",  # an attribute annotating an attribute
    aggregate(b"*", [b"|1\r\n+ttl\r\n:3600\r\n" + bulk(b"v"), b":2\r\n"]),
    aggregate(b"%", [b"|1\r\n+a\r\n+b\r\n+key\r\n", b"|0\r\n*1\r\n:1\r\n"], True),
]


class ReplyFramerTests(unittest.TestCase):
    def check(self, chunks: List[bytes], expected: List[bytes], where: str = "") -> None:
        framer = ReplyFramer()
        self.assertEqual(feed_replies(framer, chunks), expected, where)
        self.assertEqual((framer._tail, framer._parts, framer._stack, framer._skip),
                         (b"", [], [], 0), where)

    def check_stream(self, stream: bytes, expected: List[bytes], limit: int = 4096) -> None:
        self.check([stream], expected)
        for offset in split_offsets(len(stream), limit):
            self.check(pieces(stream, [offset]), expected, "split at %d" % offset)
        for size in (1, 2, 3, 7, 64, 4 * KiB, 16 * KiB):
            self.check(chunked(stream, size), expected, "chunks of %d" % size)

    def test_reference_splitter(self) -> None:
        for reply in REPLIES:
            self.assertEqual(reference_split(reply), [reply])

    def test_each_reply(self) -> None:
        for reply in REPLIES:
            self.check_stream(reply, [reply])

    def test_many_replies(self) -> None:
        self.check_stream(b"".join(REPLIES), REPLIES)
        self.check_stream(b"".join(REPLIES[::-1]) * 3, REPLIES[::-1] * 3, limit=1000)
        self.check([b"+OK\r\n" * 10000], [b"+OK\r\n"] * 10000)

    def test_large_bulk_replies(self) -> None:
        value = bytes(range(256)) * 4000  # about 1 MB
        replies = [
            bulk(value),
            aggregate(b"*", [b":1\r\n", bulk(value), bulk(b""), bulk(value[:70000])]),
            aggregate(b"%", [bulk(b"k"), b"=%d\r\ntxt:%s\r\n" % (len(value) + 4, value)], True),
            b"+after\r\n",
        ]
        stream = b"".join(replies)
        for size in (1000, 4093, 16 * KiB, 64 * KiB + 1):
            self.check(chunked(stream, size), replies, "chunks of %d" % size)
        self.check([stream], replies)

    def test_not_resp(self) -> None:
        for data in [b"\r\n", b"x\r\n", b"$abc\r\n", b"*x\r\n", b":1\r\n?\r\n", b"|-1\r\n",
                     b"*2\r\n:1\r\n\r\n", b"$\r\n", b"%1\r\n+a\r\n@\r\n"]:
            self.assertRaises(ReplyError, ReplyFramer().feed, data)
            framer = ReplyFramer()
            with self.assertRaises(ReplyError):
                feed_replies(framer, chunked(data, 1))

    def test_encoders(self) -> None:
        self.assertEqual(bulk_reply(b"ab"), b"$2\r\nab\r\n")
        self.assertEqual(bulk_reply(None), b"$-1\r\n")
        self.assertEqual(bulk_reply(None, resp3=True), b"_\r\n")
        self.assertEqual(resp.integer_reply(-3), b":-3\r\n")
        self.assertEqual(resp.array_header(2), b"*2\r\n")
        self.assertEqual(resp.map_header(2, True), b"%2\r\n")
        self.assertEqual(resp.map_header(2, False), b"*4\r\n")
        for reply in (resp.OK, resp.PONG, bulk_reply(b"x"), error_reply("ERR x")):
            self.assertEqual(ReplyFramer().feed(reply), [reply])


# Commands sent to a real Redis, with how many replies each gets.
_BIG = 200 * KiB
REAL_COMMANDS: List[Tuple[List[bytes], int]] = [
    ([b"FLUSHALL"], 1),
    ([b"PING"], 1),
    ([b"ECHO", b"a\r\nb\r\n"], 1),
    ([b"SET", b"s", b"v"], 1),
    ([b"GET", b"s"], 1),
    ([b"GET", b"missing"], 1),
    ([b"INCR", b"n"], 1),
    ([b"INCRBYFLOAT", b"f", b"1.5"], 1),
    ([b"RPUSH", b"l", b"a", b"", b"c\r\n"], 1),
    ([b"LRANGE", b"l", b"0", b"-1"], 1),
    ([b"LRANGE", b"empty", b"0", b"-1"], 1),
    ([b"LPOS", b"l", b"zz"], 1),
    ([b"BLPOP", b"empty", b"0.01"], 1),
    ([b"HSET", b"h", b"f1", b"v1", b"f2", b"v2"], 1),
    ([b"HGETALL", b"h"], 1),
    ([b"HGETALL", b"missing"], 1),
    ([b"SADD", b"set", b"x", b"y"], 1),
    ([b"SMEMBERS", b"set"], 1),
    ([b"ZADD", b"z", b"1", b"a", b"2.5", b"b"], 1),
    ([b"ZRANGE", b"z", b"0", b"-1", b"WITHSCORES"], 1),
    ([b"ZSCORE", b"z", b"b"], 1),
    ([b"ZSCORE", b"z", b"nope"], 1),
    ([b"MGET", b"s", b"missing", b"n"], 1),
    ([b"EXISTS", b"s", b"n"], 1),
    ([b"NOSUCHCOMMAND", b"x"], 1),
    ([b"INCR", b"l"], 1),
    ([b"SETRANGE", b"big", b"%d" % (_BIG - 1), b"x"], 1),
    ([b"GET", b"big"], 1),
    ([b"XADD", b"st", b"1-1", b"f", b"v", b"g", b"w"], 1),
    ([b"XRANGE", b"st", b"-", b"+"], 1),
    ([b"MULTI"], 1),
    ([b"SET", b"m", b"1"], 1),
    ([b"INCR", b"m"], 1),
    ([b"HGETALL", b"h"], 1),
    ([b"EXEC"], 1),
    ([b"EXEC"], 1),
    ([b"CONFIG", b"GET", b"maxmemory"], 1),
    ([b"COMMAND", b"INFO", b"get", b"nosuchcommand"], 1),
    ([b"INFO", b"server"], 1),
    ([b"CLIENT", b"INFO"], 1),
    ([b"OBJECT", b"ENCODING", b"s"], 1),
    ([b"DEBUG", b"PROTOCOL", b"attrib"], 1),
]
# RESP3 types that only Redis's DEBUG PROTOCOL sends (a push, then the real reply)
DEBUG_TYPES = [b"string", b"integer", b"double", b"bignum", b"null", b"array", b"set",
               b"map", b"attrib", b"verbatim", b"true", b"false"]
RESP3_COMMANDS: List[Tuple[List[bytes], int]] = (
    [([b"HELLO", b"3"], 1)]
    + REAL_COMMANDS
    + [([b"DEBUG", b"PROTOCOL", t], 1) for t in DEBUG_TYPES]
    + [([b"DEBUG", b"PROTOCOL", b"push"], 2)]
    + [([b"SUBSCRIBE", b"ch"], 1), ([b"PING"], 1), ([b"UNSUBSCRIBE", b"ch"], 1)]
)
END = [b"ECHO", b"-end-of-pipeline-"]


class RealReplyTests(unittest.TestCase):
    def capture(self, commands: List[Tuple[List[bytes], int]]) -> Tuple[bytes, List[bytes]]:
        """The raw bytes Redis answers ``commands`` with, and the oracle's split."""
        server = RedisServer(self)
        pipeline = b"".join(encode_command(args) for args, _ in [*commands, (END, 1)])
        stream = server.exchange(pipeline, bulk(END[1]))
        replies = reference_split(stream)
        self.assertEqual(len(replies), sum(n for _, n in commands) + 1)
        self.assertEqual(replies[-1], bulk(END[1]))
        return stream, replies

    def check_real(self, stream: bytes, replies: List[bytes]) -> None:
        def check(chunks: List[bytes]) -> None:
            framer = ReplyFramer()
            self.assertEqual(feed_replies(framer, chunks), replies)

        check([stream])
        for offset in split_offsets(len(stream), 8192):
            check(pieces(stream, [offset]))
        for size in (1, 2, 3, 5, 64, 1000, 4 * KiB, 16 * KiB, 64 * KiB):
            check(chunked(stream, size))

        @HYPOTHESIS
        @given(st.lists(st.integers(0, len(stream)), max_size=40))
        def random_chunks(cuts: List[int]) -> None:
            check(pieces(stream, cuts))

        random_chunks()

    def test_resp2(self) -> None:
        stream, replies = self.capture(REAL_COMMANDS)
        by_command: dict = {}  # the first reply to each command
        for args, reply in zip((args for args, _ in REAL_COMMANDS), replies):
            by_command.setdefault(b" ".join(args), reply)
        self.assertEqual(by_command[b"GET missing"], b"$-1\r\n")
        self.assertEqual(by_command[b"HGETALL h"][:4], b"*4\r\n")
        self.assertTrue(by_command[b"GET big"].startswith(b"$%d\r\n" % _BIG))
        self.assertEqual(by_command[b"INFO server"][:1], b"$")
        self.assertTrue(is_error_reply(by_command[b"NOSUCHCOMMAND x"]))
        self.check_real(stream, replies)

    def test_resp3(self) -> None:
        stream, replies = self.capture(RESP3_COMMANDS)
        kinds = {}
        expanded = [args for args, n in RESP3_COMMANDS for _ in range(n)]
        for args, reply in zip(expanded, replies):
            kinds.setdefault(b" ".join(args), reply[:1])
        self.assertEqual(kinds[b"HELLO 3"], b"%")
        self.assertEqual(kinds[b"GET missing"], b"_")
        self.assertEqual(kinds[b"HGETALL h"], b"%")
        self.assertEqual(kinds[b"SMEMBERS set"], b"~")
        self.assertEqual(kinds[b"ZSCORE z b"], b",")
        self.assertEqual(kinds[b"INFO server"], b"=")
        self.assertEqual(kinds[b"DEBUG PROTOCOL attrib"], b"|")
        self.assertEqual(kinds[b"DEBUG PROTOCOL bignum"], b"(")
        self.assertEqual(kinds[b"DEBUG PROTOCOL true"], b"#")
        self.assertEqual(kinds[b"DEBUG PROTOCOL push"], b">")
        self.assertEqual(kinds[b"SUBSCRIBE ch"], b">")
        self.check_real(stream, replies)


# -- 5. properties ----------------------------------------------------------------------
_args = st.lists(st.binary(max_size=40) | st.binary(min_size=200, max_size=400), min_size=1,
                 max_size=6)

_REQUEST_TOKENS = st.binary(max_size=6) | st.sampled_from(
    [b"*", b"$", b"\r\n", b"\r", b"\n", b"0", b"1", b"2", b"3", b"-1", b"-", b"-0", b"01",
     b'"', b"'", b"\\", b"\\x4", b"\\xfF", b" ", b"\t", b"\x0b", b"PING", b"*1\r\n",
     b"*2\r\n", b"$1\r\n", b"$0\r\n\r\n", b"*2\r\n$1\r\na\r\n$0\r\n\r\n", b"$-1\r\n", b"\x00",
     b"\xff", b"*0\r\n", b"*-3\r\n", b"ECHO 'a' \"b\"\r\n", b"x" * 300]
)

_REPLY_TOKENS = st.binary(max_size=6) | st.sampled_from(
    [b"+", b"-", b":", b"$", b"*", b"%", b"~", b">", b"|", b"_", b"#", b",", b"(", b"!", b"=",
     b"\r\n", b"\r", b"0", b"1", b"2", b"-1", b"x", b"OK", b"3\r\nabc", b"*1\r\n", b"$1\r\n",
     b"|1\r\n", b"%1\r\n", b":1\r\n", b"+OK\r\n", b"$-1\r\n", b"*0\r\n"]
)


def _line(prefix: bytes) -> st.SearchStrategy[bytes]:
    text = st.binary(max_size=20).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))
    return text.map(lambda t: prefix + t + CRLF)


def _blob(prefix: bytes, extra: bytes = b"") -> st.SearchStrategy[bytes]:
    def encode(body: bytes) -> bytes:
        return prefix + b"%d\r\n" % (len(extra) + len(body)) + extra + body + CRLF

    return st.binary(max_size=60).map(encode)


_reply_leaves = st.one_of(
    _line(b"+"), _line(b"-"), _blob(b"$"), _blob(b"!"), _blob(b"=", b"txt:"),
    st.integers().map(lambda i: b":%d\r\n" % i),
    st.integers().map(lambda i: b"(%d\r\n" % i),
    st.floats().map(lambda f: b",%s\r\n" % repr(f).encode()),
    st.sampled_from([b"$-1\r\n", b"*-1\r\n", b"_\r\n", b"#t\r\n", b"#f\r\n"]),
)


def _reply_aggregates(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    items = st.lists(children, max_size=5)
    pairs = st.lists(st.tuples(children, children), max_size=3).map(
        lambda ps: [x for pair in ps for x in pair]
    )
    return st.one_of(
        items.map(lambda xs: aggregate(b"*", xs)),
        items.map(lambda xs: aggregate(b"~", xs)),
        items.map(lambda xs: aggregate(b">", xs)),
        pairs.map(lambda xs: aggregate(b"%", xs, True)),
        st.tuples(pairs, children).map(lambda ar: aggregate(b"|", ar[0], True) + ar[1]),
    )


_replies = st.recursive(_reply_leaves, _reply_aggregates, max_leaves=25)


def outcome_requests(
    chunks: List[bytes], parser: Optional[RequestParser] = None
) -> Tuple[List[List[bytes]], Optional[str]]:
    """The arguments of the requests ``chunks`` give, and the error, if any."""
    parser = RequestParser(max_bulk_len=200) if parser is None else parser
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


def _outcome_replies(chunks: List[bytes]) -> Tuple[List[bytes], bool]:
    framer = ReplyFramer()
    got: List[bytes] = []
    for chunk in chunks:
        try:
            got.extend(framer.feed(chunk))
        except ReplyError:
            return got, True
    return got, False


class PropertyTests(unittest.TestCase):
    @HYPOTHESIS
    @given(st.lists(_args, min_size=1, max_size=6), st.lists(st.integers(0, 3000), max_size=12))
    def test_encode_parse_round_trip(self, requests: List[List[bytes]], cuts: List[int]) -> None:
        data = b"".join(encode_command(args) for args in requests)
        got = feed_requests(RequestParser(), pieces(data, [c for c in cuts if c <= len(data)]))
        self.assertEqual([args for args, _ in got], requests)
        for args, raw in got:
            self.assertIn(raw, (None, encode_command(args)))

    @HYPOTHESIS
    @given(st.lists(_REQUEST_TOKENS, max_size=30).map(b"".join), st.data())
    def test_request_garbage(self, data: bytes, draw: st.DataObject) -> None:
        """Only ProtocolError, and the same requests and error however the bytes arrive."""
        cuts = draw.draw(st.lists(st.integers(0, len(data)), max_size=10))
        whole = outcome_requests([data])
        self.assertEqual(outcome_requests(pieces(data, cuts)), whole)
        self.assertEqual(outcome_requests(chunked(data, 1)), whole)

    @HYPOTHESIS
    @given(st.binary(max_size=300), st.data())
    def test_request_random_bytes(self, data: bytes, draw: st.DataObject) -> None:
        cuts = draw.draw(st.lists(st.integers(0, len(data)), max_size=10))
        self.assertEqual(outcome_requests(pieces(data, cuts)), outcome_requests([data]))

    @HYPOTHESIS
    @given(st.lists(_REPLY_TOKENS, max_size=30).map(b"".join), st.data())
    def test_reply_garbage(self, data: bytes, draw: st.DataObject) -> None:
        """Only ReplyError; whole replies are prefixes of the input, however it arrives."""
        cuts = draw.draw(st.lists(st.integers(0, len(data)), max_size=10))
        whole, failed = _outcome_replies([data])
        got, failed_chunked = _outcome_replies(pieces(data, cuts))
        self.assertEqual(failed_chunked, failed)
        self.assertTrue(data.startswith(b"".join(got)))
        if not failed:
            self.assertEqual(got, whole)

    @HYPOTHESIS
    @given(st.binary(max_size=300), st.lists(st.integers(0, 300), max_size=10))
    def test_reply_random_bytes(self, data: bytes, cuts: List[int]) -> None:
        got, _ = _outcome_replies(pieces(data, [c for c in cuts if c <= len(data)]))
        self.assertTrue(data.startswith(b"".join(got)))

    @HYPOTHESIS
    @given(st.lists(_replies, min_size=1, max_size=6), st.data())
    def test_generated_replies(self, replies: List[bytes], draw: st.DataObject) -> None:
        stream = b"".join(replies)
        self.assertEqual(reference_split(stream), replies)
        cuts = draw.draw(st.lists(st.integers(0, len(stream)), max_size=20))
        self.assertEqual(feed_replies(ReplyFramer(), pieces(stream, cuts)), replies)

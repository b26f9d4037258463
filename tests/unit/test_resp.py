"""Tests for dynotwist.proto.resp: the client request parser and the reply framer.

Every vector is parsed whole, split in two at every offset, and fed one byte at a time.
Request vectors and protocol errors are checked against a real redis-server too: the
arguments Redis sees (read back from MONITOR) and the exact error replies it sends.
"""

from __future__ import annotations

import hashlib
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
    one_request,
)
from tests.support.chunks import ScanCounted, chunked, pieces, split_offsets
from tests.support.resp import bulk, feed_replies, outcome_requests, reference_split
from tests.support.vectors import (
    BAD_REQUESTS,
    GENERATED_VECTORS,
    MAX_BULK,
    NEGATIVE_MULTIBULKS,
    PING_INLINE,
    PING_MB,
    REQUEST_VECTORS,
    Expected,
)

CRLF = b"\r\n"
KiB = 1024
MiB = 1024 * KiB

HYPOTHESIS = settings(max_examples=150)  # on top of the suite's profile (tests/__init__.py)


# -- helpers ----------------------------------------------------------------------------
def feed_requests(parser: RequestParser, chunks: Iterable[bytes]) -> List[resp.Request]:
    out = []
    for chunk in chunks:
        out.extend(parser.feed(chunk))
    return out


def aggregate(kind: bytes, items: Sequence[bytes], pairs: bool = False) -> bytes:
    count = len(items) // 2 if pairs else len(items)
    return kind + b"%d\r\n" % count + b"".join(items)


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

# -- 2. protocol errors -----------------------------------------------------------------
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

    def test_negative_multibulk_lengths_are_ignored(self) -> None:
        """As Redis ignores them (tests/integration/test_resp_redis.py)."""
        self.assertEqual(RequestParser().feed(NEGATIVE_MULTIBULKS), [([b"PING"], None)])

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

    def test_length_fields_of_thousands_of_digits(self) -> None:
        """Refused as Redis refuses them, not by Python's limit on converting long
        digit strings (which raised ValueError and dropped the connection unanswered)."""
        digits = b"9" * 5000
        for data, text in [
            (b"*" + digits + CRLF, "Protocol error: invalid multibulk length"),
            (b"*1\r\n$" + digits + CRLF, "Protocol error: invalid bulk length"),
            (b"*0" + digits + CRLF, "Protocol error: invalid multibulk length"),
        ]:
            self.parse_bad(repr(data[:8]), [data], [], text)
            self.assertIsNone(one_request(data))

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


def outcome(chunks: List[bytes]) -> Tuple[List[List[bytes]], Optional[str]]:
    # RequestParser as this module sees it: the accelerated one under test_resp_hiredis
    return outcome_requests(chunks, RequestParser(max_bulk_len=200))


def _outcome_replies(chunks: List[bytes]) -> Tuple[List[bytes], bool]:
    framer = ReplyFramer()
    got: List[bytes] = []
    for chunk in chunks:
        try:
            got.extend(framer.feed(chunk))
        except ReplyError:
            return got, True
    return got, False


def _as_one_request(payload: bytes, max_bulk_len: int = 200) -> Optional[List[bytes]]:
    """What the parser makes of ``payload`` as a peer frame's request: its arguments if
    it is exactly one request, whole, else None."""
    parser = resp.RequestParser(max_bulk_len)  # the pure parser: the reference
    try:
        requests = parser.feed(payload)
    except ProtocolError:
        return None
    if len(requests) != 1 or parser.buffered or requests[0][1] != payload:
        return None
    return requests[0][0]


class OneRequestTests(unittest.TestCase):
    """``one_request``, the parser-less read of a peer frame's request, agrees with the
    parser wherever it answers, and answers for every request the node encodes."""

    def test_vectors_each_alone(self) -> None:
        alone = 0
        for name, data, expected in REQUEST_VECTORS + GENERATED_VECTORS:
            got = one_request(data, MAX_BULK)
            self.assertEqual(got, _as_one_request(data, MAX_BULK), name)
            if got is not None:
                self.assertEqual([("*", got)], expected, name)
                alone += 1
        self.assertGreater(alone, 10)

    def test_refused_shapes(self) -> None:
        ping = encode_command([b"PING"])
        for payload in [
            b"", b"*", b"*1\r\n", ping + ping, b"PING\r\n", b"*0\r\n", b"*-1\r\n" + ping,
            b"*01\r\n$4\r\nPING\r\n", b"*1\r\n$04\r\nPING\r\n", b"*1\r\n+PING\r\n",
            b"*1\r\n$4\r\nPING", b"*1\r\n$4\r\nPING\r\nx", b"*1\r\n$201\r\n" + b"x" * 201 + CRLF,
            b"*+1\r\n$4\r\nPING\r\n", b"*1 \r\n$4\r\nPING\r\n", b"*1_0\r\n$4\r\nPING\r\n",
        ]:
            self.assertIsNone(one_request(payload, 200), payload)

    def test_as_redis_reads_it(self) -> None:
        """The two bytes after a body are Redis's to skip, and the bulk limit is the
        parser's (inclusive)."""
        self.assertEqual(one_request(b"*1\r\n$4\r\nPINGxx"), [b"PING"])
        self.assertEqual(one_request(b"*1\r\n$3\r\nabc\r\n", 3), [b"abc"])
        self.assertIsNone(one_request(b"*1\r\n$3\r\nabc\r\n", 2))

    @HYPOTHESIS
    @given(_args)
    def test_every_encoded_request(self, args: List[bytes]) -> None:
        self.assertEqual(one_request(encode_command(args)), args)

    @HYPOTHESIS
    @given(st.lists(_REQUEST_TOKENS, max_size=30).map(b"".join))
    def test_garbage(self, payload: bytes) -> None:
        got = one_request(payload, 200)
        if got is not None:
            self.assertEqual(got, _as_one_request(payload))

    @HYPOTHESIS
    @given(_args, st.data())
    def test_mutated_requests(self, args: List[bytes], draw: st.DataObject) -> None:
        """A request with bytes changed, dropped or added: where one_request reads it,
        the parser reads the same, as the whole of one request."""
        payload = bytearray(encode_command(args))
        for _ in range(draw.draw(st.integers(1, 3))):
            at = draw.draw(st.integers(0, len(payload)))
            action = draw.draw(st.sampled_from(["set", "drop", "insert"]))
            byte = draw.draw(st.sampled_from(b"*$0123456789\r\n-+ x"))
            if action == "insert" or at == len(payload):
                payload.insert(at, byte)
            elif action == "drop":
                del payload[at]
            else:
                payload[at] = byte
        got = one_request(bytes(payload), 400)
        if got is not None:
            self.assertEqual(got, _as_one_request(bytes(payload), 400))


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
        whole = outcome([data])
        self.assertEqual(outcome(pieces(data, cuts)), whole)
        self.assertEqual(outcome(chunked(data, 1)), whole)

    @HYPOTHESIS
    @given(st.binary(max_size=300), st.data())
    def test_request_random_bytes(self, data: bytes, draw: st.DataObject) -> None:
        cuts = draw.draw(st.lists(st.integers(0, len(data)), max_size=10))
        self.assertEqual(outcome(pieces(data, cuts)), outcome([data]))

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

"""Tests for dynotwist.proto.memcache: the memcached request parser and reply framer.

Every vector is parsed whole, split in two at every offset, and fed one byte at a time.
``tests/vectors/memcache-requests.txt`` holds requests with the bytes memcached 1.6.18
answered to them; tests/integration/test_memcache_codec.py sends each to a real
memcached, directly and through a node, and both must give exactly the recorded bytes.
"""

from __future__ import annotations

import base64
from typing import List, Sequence, Tuple

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from dynotwist.proto import memcache
from dynotwist.proto.memcache import (
    BAD_FORMAT,
    END,
    ERROR,
    EXPECT_FENCED,
    EXPECT_LINE,
    EXPECT_META,
    EXPECT_STATS,
    EXPECT_VALUES,
    MAX_LINE,
    TOO_LARGE,
    ClientError,
    Item,
    MemcacheReplyFramer,
    MemcacheRequest,
    MemcacheRequestParser,
    ReplyError,
    b64_decode_key,
    is_error_reply,
    merge_get_replies,
    server_error,
    value_blocks,
)
from tests.support.chunks import ScanCounted, pieces, splits
from tests.support.memcache import TAIL, parse, requests_only
from tests.support.vectors import load_memcache_vectors

KiB = 1024
MiB = 1024 * KiB

HYPOTHESIS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# -- helpers -------------------------------------------------------------------------------
def frame(kinds: Sequence[int], chunks: Sequence[bytes]) -> List[bytes]:
    framer = MemcacheReplyFramer()
    for kind in kinds:
        framer.expect(kind)
    replies: List[bytes] = []
    for chunk in chunks:
        replies.extend(framer.feed(chunk))
    return replies


# -- 1. recorded vectors: parser alone, then against real memcached ------------------------
class RecordedVectorTests(unittest.TestCase):
    def test_vectors_split_anywhere(self) -> None:
        """Any chunking of a vector gives the same items as feeding it whole."""
        for name, request, _ in load_memcache_vectors():
            data = request + TAIL
            whole = parse([data])
            self.assertTrue(whole, name)
            for chunks in splits(data):
                self.assertEqual(parse(chunks), whole, "%s in %d pieces" % (name, len(chunks)))

    def test_raw_is_the_exact_bytes(self) -> None:
        """Each request's raw bytes are where it is in the input, in order."""
        for name, request, _ in load_memcache_vectors():
            data = request + TAIL
            pos = 0
            for item in parse([data]):
                if isinstance(item, MemcacheRequest):
                    found = data.find(item.raw, pos)
                    self.assertGreaterEqual(found, pos, name)
                    pos = found + len(item.raw)
                    # and it parses alone to the same request
                    self.assertEqual(parse([item.raw]), [item], name)

# -- 2. what the parser makes of requests --------------------------------------------------
def req(
    command: bytes,
    keys: Sequence[bytes],
    raw: bytes,
    write: bool = False,
    noreply: bool = False,
    quiet: bool = False,
    local: bool = False,
    expect: int = EXPECT_LINE,
    prefix: bytes = b"",
) -> MemcacheRequest:
    return MemcacheRequest(command, list(keys), raw, write, noreply, quiet, local, expect, prefix)


F = EXPECT_FENCED
PARSED: List[Tuple[bytes, List[Item]]] = [
    (b"get a\r\n", [req(b"get", [b"a"], b"get a\r\n", expect=EXPECT_VALUES, prefix=b"get")]),
    (
        b"  gets a  b c\n",
        [
            req(
                b"gets",
                [b"a", b"b", b"c"],
                b"  gets a  b c\n",
                expect=EXPECT_VALUES,
                prefix=b"gets",
            )
        ],
    ),
    (
        b"gat 100 a b\r\n",
        [
            req(
                b"gat",
                [b"a", b"b"],
                b"gat 100 a b\r\n",
                True,
                expect=EXPECT_VALUES,
                prefix=b"gat 100",
            )
        ],
    ),
    (
        b"gats 0\r\n",
        [req(b"gats", [], b"gats 0\r\n", True, local=True, expect=EXPECT_VALUES, prefix=b"gats 0")],
    ),
    (b"bget a\r\n", [req(b"bget", [b"a"], b"bget a\r\n", expect=EXPECT_VALUES, prefix=b"bget")]),
    (b"set k 1 2 3\r\nabc\r\n", [req(b"set", [b"k"], b"set k 1 2 3\r\nabc\r\n", True)]),
    (
        b"cas k 1 2 3 99 noreply\r\nabc\r\n",
        [
            req(
                b"cas",
                [b"k"],
                b"cas k 1 2 3 99 noreply\r\nabc\r\n",
                True,
                True,
                expect=EXPECT_LINE | F,
            )
        ],
    ),
    (b"append k 0 0 0\r\n\r\n", [req(b"append", [b"k"], b"append k 0 0 0\r\n\r\n", True)]),
    (b"delete k\r\n", [req(b"delete", [b"k"], b"delete k\r\n", True)]),
    (
        b"delete k 0 noreply\r\n",
        [req(b"delete", [b"k"], b"delete k 0 noreply\r\n", True, True, expect=EXPECT_LINE | F)],
    ),
    (b"incr k 5\r\n", [req(b"incr", [b"k"], b"incr k 5\r\n", True)]),
    (
        b"decr k 5 noreply\r\n",
        [req(b"decr", [b"k"], b"decr k 5 noreply\r\n", True, True, expect=EXPECT_LINE | F)],
    ),
    (b"touch k 10\r\n", [req(b"touch", [b"k"], b"touch k 10\r\n", True)]),
    (b"version\r\n", [req(b"version", [], b"version\r\n", local=True)]),
    (b"verbosity 1\r\n", [req(b"verbosity", [], b"verbosity 1\r\n", local=True)]),
    (
        b"flush_all 0 noreply\r\n",
        [
            req(
                b"flush_all",
                [],
                b"flush_all 0 noreply\r\n",
                True,
                True,
                local=True,
                expect=EXPECT_LINE | F,
            )
        ],
    ),
    (b"stats items\r\n", [req(b"stats", [], b"stats items\r\n", local=True, expect=EXPECT_STATS)]),
    (b"mn\r\n", [req(b"mn", [], b"mn\r\n", local=True)]),
    (b"quit\r\nget a\r\n", [req(b"quit", [], b"quit\r\n", local=True)]),
    (b"mg k v f t\r\n", [req(b"mg", [b"k"], b"mg k v f t\r\n", expect=EXPECT_META)]),
    (
        b"mg k v q k O1\r\n",
        [req(b"mg", [b"k"], b"mg k v q k O1\r\n", quiet=True, expect=EXPECT_META | F)],
    ),
    (b"mg k T30 v\r\n", [req(b"mg", [b"k"], b"mg k T30 v\r\n", True, expect=EXPECT_META)]),
    (b"mg k N30 v\r\n", [req(b"mg", [b"k"], b"mg k N30 v\r\n", True, expect=EXPECT_META)]),
    (b"mg aGk= b v\r\n", [req(b"mg", [b"hi"], b"mg aGk= b v\r\n", expect=EXPECT_META)]),
    (
        b"ms k 2 T0 F5 I q\r\nhi\r\n",
        [
            req(
                b"ms",
                [b"k"],
                b"ms k 2 T0 F5 I q\r\nhi\r\n",
                True,
                quiet=True,
                expect=EXPECT_LINE | F,
            )
        ],
    ),
    (b"ms aGk= 1 b MA\r\nx\r\n", [req(b"ms", [b"hi"], b"ms aGk= 1 b MA\r\nx\r\n", True)]),
    (b"md k q\r\n", [req(b"md", [b"k"], b"md k q\r\n", True, quiet=True, expect=EXPECT_LINE | F)]),
    (
        b"ma k N0 J1 D2 MD v\r\n",
        [req(b"ma", [b"k"], b"ma k N0 J1 D2 MD v\r\n", True, expect=EXPECT_META)],
    ),
    (b"me k\r\n", [req(b"me", [b"k"], b"me k\r\n")]),
    (b"me aGk= b\r\n", [req(b"me", [b"hi"], b"me aGk= b\r\n")]),
    # errors: in sequence with the requests, the connection kept
    (
        b"bogus\r\nget a\r\n",
        [ClientError(ERROR), req(b"get", [b"a"], b"get a\r\n", expect=2, prefix=b"get")],
    ),
    (b"set k 0 0 x noreply\r\n", [ClientError(b"")]),
    (b"set k 0 0 1\r\nxyz\r\n", [ClientError(memcache.BAD_DATA_CHUNK), ClientError(ERROR)]),
    (b"GET / HTTP/1.1\r\nget a\r\n", [ClientError(b"", True)]),
    (b"\x80\x01\x00\x00", [ClientError(b"", True)]),
    (b"shutdown\r\nslabs reassign 1 2\r\nlru_crawler crawl all\r\n", [ClientError(ERROR)] * 3),
]


class ParsedRequestTests(unittest.TestCase):
    def test_parsed(self) -> None:
        for data, expected in PARSED:
            for chunks in splits(data):
                self.assertEqual(parse(chunks), expected, "%r in %d pieces" % (data, len(chunks)))

    def test_fence(self) -> None:
        quiet = requests_only(parse([b"mg k v q\r\n"]))[0]
        self.assertTrue(quiet.fenced)
        self.assertEqual(quiet.raw_with_fence, b"mg k v q\r\nmn\r\n")
        loud = requests_only(parse([b"mg k v\r\n"]))[0]
        self.assertFalse(loud.fenced)
        self.assertEqual(loud.raw_with_fence, b"mg k v\r\n")

    def test_with_keys(self) -> None:
        get = requests_only(parse([b"  get a b   c\r\n"]))[0]
        self.assertEqual(get.with_keys([b"c", b"a"]), b"get c a\r\n")
        gats = requests_only(parse([b"gats +10 a b\n"]))[0]
        self.assertEqual(gats.with_keys([b"b"]), b"gats +10 b\r\n")
        set_ = requests_only(parse([b"set a 0 0 1\r\nx\r\n"]))[0]
        self.assertRaises(ValueError, set_.with_keys, [b"a"])

    def test_many_keys(self) -> None:
        """A get of 20000 keys (a line far over 2048 bytes) in small pieces."""
        keys = [b"key:%d" % i for i in range(20000)]
        data = b"get " + b" ".join(keys) + b"\r\n"
        chunks = [data[i : i + 7] for i in range(0, len(data), 7)]
        (got,) = requests_only(parse(chunks))
        self.assertEqual(got.keys, keys)
        self.assertEqual(got.raw, data)
        self.assertEqual(got.with_keys(keys), data)

    def test_value_split_anywhere(self) -> None:
        value = bytes(range(256)) * 4 + b"\r\n\r\nEND\r\n"
        data = b"set k 0 0 %d\r\n%s\r\nget k\r\n" % (len(value), value)
        expected = parse([data])
        self.assertEqual(len(requests_only(expected)), 2)
        self.assertEqual(expected[0].raw, data[: -len(b"get k\r\n")])
        for chunks in splits(data):
            self.assertEqual(parse(chunks), expected)

    def test_noreply_errors_are_silent(self) -> None:
        for data in [
            b"set k 0 0 -1 noreply\r\n",
            b"set " + b"k" * 251 + b" 0 0 1 noreply\r\n",
            b"incr k x noreply\r\n",
            b"touch k x noreply\r\n",
            b"delete k 1 noreply\r\n",
            b"verbosity x noreply\r\n",
            b"flush_all x noreply\r\n",
        ]:
            self.assertEqual(parse([data]), [ClientError(b"")], data)
        # the arity is checked before noreply is looked at
        self.assertEqual(parse([b"incr k 1 2 noreply\r\n"]), [ClientError(ERROR)])

    def test_numbers_as_memcached_reads_them(self) -> None:
        for size, value in [
            (b"4294967301", b"hello"),  # a long truncated to 32 bits: 5
            (b"+1", b"x"),
            (b"\t1", b"x"),
            (b"1\x0b", b"x"),  # a blank after the digits ends the number
            (b"01", b"x"),
        ]:
            data = b"set k 0 0 " + size + b"\r\n" + value + b"\r\n"
            self.assertEqual(len(requests_only(parse([data]))), 1, data)
        for size in [b"-1", b"x", b"1x", b"+", b"2147483646", b"4294967295", b"9" * 20]:
            data = b"set k 0 0 " + size + b"\r\n"
            self.assertEqual(parse([data])[:1], [ClientError(BAD_FORMAT)], data)
        for flags in [b"4294967296", b"-0", b"-18446744073709551615"]:
            data = b"set k " + flags + b" 0 1\r\nx\r\n"
            self.assertEqual(len(requests_only(parse([data]))), 1, data)
        for flags in [b"-1", b"18446744073709551616", b"-9223372036854775808"]:
            data = b"set k " + flags + b" 0 1\r\n"
            self.assertEqual(parse([data]), [ClientError(BAD_FORMAT)], data)


# -- 3. sizes, line lengths, linear time ---------------------------------------------------
class SizeTests(unittest.TestCase):
    def test_too_large_is_skipped_without_buffering(self) -> None:
        size = 5 * MiB
        parser = MemcacheRequestParser()
        out: List[Item] = parser.feed(b"set big 0 0 %d\r\n" % size)
        self.assertEqual(out, [ClientError(TOO_LARGE)])  # at once, as memcached does
        chunk = b"x" * (64 * KiB)
        for _ in range(size // len(chunk)):
            self.assertEqual(parser.feed(chunk), [])
            self.assertEqual(parser.buffered, 0)
        out = parser.feed(b"\r\nget big\r\n")
        self.assertEqual([i.command for i in requests_only(out)], [b"get"])

    def test_item_size_max_is_configurable(self) -> None:
        ok = b"set k 0 0 100\r\n" + b"x" * 100 + b"\r\n"
        self.assertEqual(len(requests_only(parse([ok], item_size_max=100))), 1)
        big = b"set k 0 0 101 noreply\r\n" + b"x" * 101 + b"\r\nmn\r\n"
        items = parse([big], item_size_max=100)
        self.assertEqual(items[0], ClientError(b""))  # noreply: silent
        self.assertEqual([i.command for i in requests_only(items[1:])], [b"mn"])
        ms = b"ms k 101 q\r\n" + b"x" * 101 + b"\r\n"  # meta: always shown
        self.assertEqual(parse([ms], item_size_max=100), [ClientError(TOO_LARGE)])
        for chunks in splits(big):
            self.assertEqual(parse(chunks, item_size_max=100), items)

    def test_long_lines_close(self) -> None:
        """More than 2048 bytes without a newline close the connection silently, except
        for get and gets (after at most 100 spaces)."""
        closing = [
            b"x" * (MAX_LINE + 1),
            b"gat 1 " + b"k " * MAX_LINE,
            b" " * 101 + b"get " + b"k " * MAX_LINE,
            b"set " + b"k" * 3000 + b" 0 0 1",
        ]
        for line in closing:
            self.assertEqual(parse([line]), [ClientError(b"", True)])
            self.assertEqual(parse([line + b"\r\nmn\r\n"]), [ClientError(b"", True)])
        self.assertEqual(parse([b"x" * MAX_LINE]), [])
        self.assertEqual(parse([b"x" * MAX_LINE + b"\n"]), [ClientError(ERROR)])
        self.assertEqual(parse([b"x" * (MAX_LINE - 1) + b"\r\n"]), [ClientError(ERROR)])
        for line in [b" " * 100 + b"get " + b"k " * MAX_LINE, b"gets " + b"k " * MAX_LINE]:
            self.assertEqual(len(requests_only(parse([line, b"\r\n"]))), 1)
        parser = MemcacheRequestParser()
        self.assertEqual(parser.feed(b"quit\r\n")[0].command, b"quit")
        self.assertTrue(parser.closed)
        self.assertEqual(parser.feed(b"get a\r\n"), [])

    def test_linear_in_the_input(self) -> None:
        """Big values and lines in small pieces: each piece scanned once (the bytes the
        parser's and the framer's ``find`` look at are counted), nothing rescanned from
        the start of a line or a value."""
        self.patch(ScanCounted, "scanned", 0)
        value = b"0123456789abcdef" * (512 * KiB)  # 8 MiB
        data = b"set k 0 0 %d\r\n%s\r\n" % (len(value), value)
        parser = MemcacheRequestParser(item_size_max=16 * MiB)
        items: List[Item] = []
        for i in range(0, len(data), KiB):
            items.extend(parser.feed(ScanCounted(data[i : i + KiB])))
            self.assertEqual(parser.buffered, min(i + KiB, len(data)) % len(data))
        self.assertEqual(items, [req(b"set", [b"k"], data, True)])
        reply = b"VALUE k 0 %d\r\n%s\r\nEND\r\n" % (len(value), value)
        pieces = [ScanCounted(reply[i : i + KiB]) for i in range(0, len(reply), KiB)]
        self.assertEqual(frame([EXPECT_VALUES], pieces), [reply])
        line = b"get " + b"k " * (256 * KiB) + b"\r\n"
        pieces = [ScanCounted(line[i : i + 3]) for i in range(0, len(line), 3)]
        (got,) = requests_only(parse(pieces))
        self.assertEqual(len(got.keys), 256 * KiB)
        self.assertLessEqual(ScanCounted.scanned, 2 * (len(data) + len(reply) + len(line)))

    def test_64KiB_line_byte_by_byte(self) -> None:
        """A get line of 64 KiB fed one byte per feed: each byte scanned once, held as
        a piece of its own until the newline; a line that is not a get is refused once
        past memcached's 2048 bytes, by closing, as memcached does."""
        self.patch(ScanCounted, "scanned", 0)
        line = b"get " + b"k " * (32 * KiB)
        parser = MemcacheRequestParser()
        for i in range(len(line)):
            self.assertEqual(parser.feed(ScanCounted(line[i : i + 1])), [])
            self.assertEqual((len(parser._line), parser.buffered), (i + 1, i + 1))
        (got,) = requests_only(parser.feed(ScanCounted(b"\r\n")))
        self.assertEqual(len(got.keys), 32 * KiB)
        self.assertEqual(parser.buffered, 0)
        self.assertLessEqual(ScanCounted.scanned, len(line) + 2)
        parser = MemcacheRequestParser()
        line = b"set " + b"k" * (64 * KiB)
        for i in range(MAX_LINE):
            self.assertEqual(parser.feed(line[i : i + 1]), [])
        self.assertEqual(parser.feed(line[MAX_LINE : MAX_LINE + 1]), [ClientError(b"", True)])
        self.assertEqual(parser.buffered, 0)
        self.assertEqual(parser.feed(line[MAX_LINE + 1 :]), [])

    def test_buffered(self) -> None:
        """What the parser holds: a partial line, or a storage line and its value so
        far; a refused value is not held."""
        parser = MemcacheRequestParser(item_size_max=100)
        for data, held in [
            (b"get a", 5),
            (b" b\r\nset k 0 0 10\r", len(b"set k 0 0 10\r")),
            (b"\n01234", len(b"set k 0 0 10\r\n01234")),
            (b"56789\r\n", 0),
            (b"set k 0 0 101\r\n" + b"x" * 50, 0),
            (b"x" * 51 + b"\r\nmn", 2),
        ]:
            parser.feed(data)
            self.assertEqual(parser.buffered, held, data)


# -- 4. the reply framer -------------------------------------------------------------------
V, L, M, S = EXPECT_VALUES, EXPECT_LINE, EXPECT_META, EXPECT_STATS
FRAMED: List[Tuple[List[int], List[bytes]]] = [
    ([L], [b"STORED\r\n"]),
    ([L, L, L, L], [b"NOT_STORED\r\n", b"42\r\n", b"DELETED\r\n", b"ERROR\r\n"]),
    ([V], [b"END\r\n"]),
    ([V], [b"VALUE a 0 1\r\nx\r\nEND\r\n"]),
    ([V], [b"VALUE a 5 12 77\r\nEND\r\nVALUE x\r\nVALUE b 1 0\r\n\r\nEND\r\n"]),
    ([V], [b"CLIENT_ERROR bad command line format\r\n"]),
    ([V, L], [b"VALUE a\tb 0 2\r\n\r\n\r\nEND\r\n", b"STORED\r\n"]),
    ([M], [b"VA 2 f7 t-1 s2 ka c20\r\nhi\r\n"]),
    ([M, M, M], [b"HD\r\n", b"EN kzz O1\r\n", b"VA 0\r\n\r\n"]),
    ([M], [b"VA 6\r\nMN\r\nEN\r\n"]),
    ([L, L, L], [b"HD c22 ka O9\r\n", b"NF\r\n", b"MN\r\n"]),
    ([L], [b"ME a exp=-1 la=2 cas=20 fetch=yes cls=1 size=66\r\n"]),
    ([S], [b"STAT pid 1\r\nSTAT uptime 2\r\nEND\r\n"]),
    ([S, S, S], [b"RESET\r\n", b"END\r\n", b"ERROR\r\n"]),
    ([S], [b"ITEM a [1 b; 0 s]\r\nEND\r\n"]),
    # fenced: what precedes MN, or nothing, MN dropped
    ([L | F, L], [b"", b"STORED\r\n"]),
    ([M | F], [b"VA 2 q\r\nhi\r\n"]),
    ([M | F, M | F, L | F], [b"", b"EN\r\n", b"CLIENT_ERROR bad data chunk\r\n"]),
    ([L | F], [b"ERROR\r\nERROR\r\n"]),  # whatever precedes the MN belongs to the request
    ([V | F], [b"VALUE a 0 4\r\nMN\r\n\r\nEND\r\n"]),
]


def fenced_stream(kinds: Sequence[int], replies: Sequence[bytes]) -> bytes:
    return b"".join(
        reply + (memcache.FENCE_REPLY if kind & EXPECT_FENCED else b"")
        for kind, reply in zip(kinds, replies)
    )


class FramerTests(unittest.TestCase):
    def test_framed(self) -> None:
        for kinds, replies in FRAMED:
            stream = fenced_stream(kinds, replies)
            for chunks in splits(stream):
                self.assertEqual(frame(kinds, chunks), replies, "%r" % stream)

    def test_incomplete(self) -> None:
        framer = MemcacheReplyFramer()
        framer.expect(V)
        self.assertEqual(framer.feed(b"VALUE a 0 3\r\nab"), [])
        self.assertEqual(framer.feed(b"c\r\nEN"), [])
        self.assertEqual(framer.pending, 1)
        self.assertEqual(framer.feed(b"D\r\n"), [b"VALUE a 0 3\r\nabc\r\nEND\r\n"])
        self.assertEqual(framer.pending, 0)

    def test_whole_get_replies_are_cut_in_one_step(self) -> None:
        """A get reply all in one read is one slice of it (not read line by line)."""
        self.patch(MemcacheReplyFramer, "_on_line", lambda *args: self.fail("line by line"))
        replies = [b"END\r\n", b"VALUE a 0 3\r\nabc\r\nEND\r\n",
                   b"VALUE a 1 1 7\r\n\n\r\nVALUE bb 2 0\r\n\r\nEND\r\n"]
        framer = MemcacheReplyFramer()
        for _ in replies:
            framer.expect(V)
        self.assertEqual(framer.feed(b"".join(replies)), replies)

    @HYPOTHESIS
    @given(st.lists(st.sampled_from(
        [b"VALUE a 0 3\r\nabc\r\n", b"VALUE b 0 0\r\n\r\n", b"END\r\n", b"VALUE", b" ",
         b"\r\n", b"\n", b"3", b"x", b"0", b"99999999999999999999", b"SERVER_ERROR x\r\n"]),
        max_size=12).map(b"".join))
    def test_whole_and_byte_by_byte_agree(self, stream: bytes) -> None:
        def outcome(chunks: List[bytes]) -> Tuple[List[bytes], bool]:
            framer = MemcacheReplyFramer()
            for _ in range(4):
                framer.expect(V)
            got: List[bytes] = []
            try:
                for chunk in chunks:
                    got += framer.feed(chunk)
            except ReplyError:
                return got, True
            return got, False

        whole, failed = outcome([stream])
        byte_by_byte, failed_too = outcome(pieces(stream, list(range(len(stream)))))
        self.assertEqual(failed, failed_too)
        if not failed:  # (a feed that fails returns nothing: the stream is broken)
            self.assertEqual(whole, byte_by_byte)

    def test_broken_streams(self) -> None:
        for kinds, stream in [
            ([], b"STORED\r\n"),  # nothing expected
            ([L], b"STORED\r\nSTORED\r\n"),
            ([L], b"STORED\n"),
            ([V], b"VALUE a 0 x\r\n"),
            ([V], b"VALUE a 0\r\n"),
            ([V], b"VALUE a 0 1\r\nxyz"),  # block not followed by CRLF
            ([V], b"VALUE a 0 1\r\nx..END\r\n"),  # ... though whole
            ([V], b"VALUE a 0 1\nx\r\nEND\r\n"),  # a line without CR
            ([M], b"VA -1\r\n"),
            ([L], b"x" * (memcache.MAX_REPLY_LINE + 1)),
        ]:
            framer = MemcacheReplyFramer()
            for kind in kinds:
                framer.expect(kind)
            self.assertRaises(ReplyError, framer.feed, stream)
        self.assertRaises(ValueError, MemcacheReplyFramer().expect, 0)

# -- 5. coalescing fragments ---------------------------------------------------------------
class MergeTests(unittest.TestCase):
    def test_merge(self) -> None:
        a = b"VALUE a 0 1\r\n1\r\n"
        b = b"VALUE b 0 1\r\n2\r\n"
        c = b"VALUE c 3 2 99\r\n\r\n\r\n"
        self.assertEqual(merge_get_replies([a + c + END, b + END]), a + c + b + END)
        keys = [b"c", b"b", b"x", b"a", b"c"]
        self.assertEqual(merge_get_replies([a + c + c + END, b + END], keys), c + b + a + c + END)
        # a key asked twice and fetched once (a fragment without duplicates)
        self.assertEqual(merge_get_replies([a + c + END, END], keys), c + a + c + END)
        self.assertEqual(merge_get_replies([END, END]), END)
        error = b"SERVER_ERROR Storage: Datastore refused connection\r\n"
        self.assertEqual(merge_get_replies([a + END, error, ERROR], keys), error)
        self.assertEqual(value_blocks(a + c + END), [(b"a", a), (b"c", c)])
        for bad in [b"", b"END", a, a + b"END\r\nx", b"VALUE a 0 5\r\n1\r\nEND\r\n", ERROR]:
            self.assertIsNone(value_blocks(bad), bad)

# -- 6. deliberate differences from memcached ----------------------------------------------
class DifferenceTests(unittest.TestCase):
    def test_binary_protocol_closes(self) -> None:
        self.assertEqual(parse([b"\x80\x00\x00\x05"]), [ClientError(b"", True)])
        # only as the first byte of a connection
        self.assertEqual(parse([b"mn\r\n\x80\r\n"])[1:], [ClientError(ERROR)])

    def test_admin_commands_are_unknown(self) -> None:
        for line in [
            b"shutdown",
            b"cache_memlimit 100",
            b"lru mode flat",
            b"watch",
            b"slabs automove 1",
        ]:
            self.assertEqual(parse([line + b"\r\n"]), [ClientError(ERROR)], line)


# -- 7. properties -------------------------------------------------------------------------
KEYS = st.sampled_from([b"a", b"b", b"key:1", b"x\ty", b"k" * 250])
VALUES = st.binary(max_size=64).map(lambda v: v + b"\r\n" if len(v) % 3 == 0 else v)
NUMBER = st.integers(0, 2**32 - 1).map(b"%d".__mod__)


def storage_request(command: bytes, key: bytes, value: bytes, noreply: bool) -> bytes:
    cas = b" 5" if command == b"cas" else b""
    tail = b" noreply" if noreply else b""
    return b"%s %s 0 0 %d%s%s\r\n%s\r\n" % (command, key, len(value), cas, tail, value)


VALID_REQUESTS = st.one_of(
    st.builds(
        storage_request,
        st.sampled_from([b"set", b"add", b"replace", b"append", b"prepend", b"cas"]),
        KEYS,
        VALUES,
        st.booleans(),
    ),
    st.builds(  # get and gets lines have no length limit
        lambda c, ks: c + b" " + b" ".join(ks) + b"\r\n",
        st.sampled_from([b"get", b"gets"]),
        st.lists(KEYS, min_size=1, max_size=30),
    ),
    st.builds(  # gat and gats lines must stay within 2048 bytes
        lambda c, ks: c + b" " + b" ".join(ks) + b"\r\n",
        st.sampled_from([b"gat 0", b"gats 10"]),
        st.lists(KEYS, min_size=1, max_size=7),
    ),
    st.builds(
        lambda c, k, n, q: b"%s %s %s%s\r\n" % (c, k, n, b" noreply" if q else b""),
        st.sampled_from([b"incr", b"decr", b"touch"]),
        KEYS,
        NUMBER,
        st.booleans(),
    ),
    st.builds(
        lambda k, f: b"mg %s %s\r\n" % (k, b" ".join(sorted(set(f)))),
        KEYS,
        st.lists(st.sampled_from([b"v", b"f", b"t", b"k", b"s", b"c", b"q", b"h", b"O12", b"T9"])),
    ),
    st.builds(
        lambda k, v, f: b"ms %s %d %s\r\n%s\r\n" % (k, len(v), b" ".join(sorted(set(f))), v),
        KEYS,
        VALUES,
        st.lists(st.sampled_from([b"T0", b"F3", b"I", b"q", b"k", b"c", b"MA", b"O1", b"C0"])),
    ),
    st.builds(
        lambda c, k, f: b"%s %s %s\r\n" % (c, k, b" ".join(sorted(set(f)))),
        st.sampled_from([b"md", b"ma"]),
        KEYS,
        st.lists(st.sampled_from([b"q", b"k", b"O5", b"N0", b"J3", b"D2", b"v"])),
    ),
    st.sampled_from([b"mn\r\n", b"version\r\n", b"verbosity 1 noreply\r\n", b"delete a\r\n"]),
)

GARBAGE_TOKENS = st.sampled_from(
    [
        b"get", b"gets", b"gat", b"set", b"cas", b"ms", b"mg", b"md", b"ma", b"mn", b"me",
        b"delete", b"incr", b"touch", b"noreply", b"quit", b"flush_all", b"verbosity",
        b"0", b"1", b"5", b"-1", b"x", b"q", b"v", b"b", b"T", b"MX", b"HTTP/1.1", b"k" * 251,
        b"O" + b"1" * 40, b"\r\n", b"\n", b"\r", b" ", b"  ", b"\x00", b"\t", b"hello",
    ]
)  # fmt: skip


class PropertyTests(unittest.TestCase):
    @HYPOTHESIS
    @given(st.lists(VALID_REQUESTS, min_size=1, max_size=20), st.lists(st.integers(0, 10**6)))
    def test_valid_pipelines_any_chunking(self, requests: List[bytes], points: List[int]) -> None:
        data = b"".join(requests)
        whole = requests_only(parse([data]))
        self.assertEqual([r.raw for r in whole], requests)
        self.assertEqual(parse(pieces(data, points)), whole)
        for request in whole:
            self.assertEqual(request.fenced, request.noreply or request.quiet)

    @HYPOTHESIS
    @given(st.binary(max_size=3000), st.lists(st.integers(0, 10**6)))
    def test_garbage_bytes(self, data: bytes, points: List[int]) -> None:
        whole = parse([data], item_size_max=100)
        for item in whole:
            self.assertIsInstance(item, (MemcacheRequest, ClientError))
        self.assertEqual(parse(pieces(data, points), item_size_max=100), whole)

    @HYPOTHESIS
    @given(st.lists(GARBAGE_TOKENS, max_size=80), st.lists(st.integers(0, 10**6)))
    def test_garbage_tokens(self, tokens: List[bytes], points: List[int]) -> None:
        data = b" ".join(tokens)
        whole = parse([data], item_size_max=100)
        for item in whole:
            self.assertIsInstance(item, (MemcacheRequest, ClientError))
            if isinstance(item, MemcacheRequest):
                self.assertEqual(parse([item.raw], item_size_max=100), [item])
        self.assertEqual(parse(pieces(data, points), item_size_max=100), whole)

    @HYPOTHESIS
    @given(
        st.lists(st.sampled_from([L, V, M, S, L | F, M | F]), max_size=5),
        st.binary(max_size=500),
        st.lists(st.integers(0, 10**6)),
    )
    def test_framer_garbage(self, kinds: List[int], data: bytes, points: List[int]) -> None:
        framer = MemcacheReplyFramer()
        for kind in kinds:
            framer.expect(kind)
        try:
            for chunk in pieces(data, points):
                for reply in framer.feed(chunk):
                    self.assertIsInstance(reply, bytes)
        except ReplyError:
            pass

    @HYPOTHESIS
    @given(
        st.lists(st.sampled_from(FRAMED), min_size=1, max_size=8), st.lists(st.integers(0, 10**6))
    )
    def test_framer_any_chunking(
        self, cases: List[Tuple[List[int], List[bytes]]], points: List[int]
    ) -> None:
        kinds = [k for case_kinds, _ in cases for k in case_kinds]
        replies = [r for _, case_replies in cases for r in case_replies]
        stream = fenced_stream(kinds, replies)
        self.assertEqual(frame(kinds, pieces(stream, points)), replies)

    @HYPOTHESIS
    @given(st.binary(min_size=1, max_size=200))
    def test_base64_keys(self, key: bytes) -> None:
        self.assertEqual(b64_decode_key(base64.b64encode(key)), key)


# -- 9. small helpers ----------------------------------------------------------------------
class HelperTests(unittest.TestCase):
    def test_is_error_reply(self) -> None:
        for reply in [ERROR, BAD_FORMAT, TOO_LARGE, b"ERROR: shutdown not enabled\r\n"]:
            self.assertTrue(is_error_reply(reply), reply)
        for reply in [b"", b"END\r\n", b"STORED\r\n", b"VALUE ERROR 0 0\r\n\r\nEND\r\n", b"EN\r\n"]:
            self.assertFalse(is_error_reply(reply), reply)

    def test_server_error(self) -> None:
        self.assertEqual(
            server_error("Storage: Datastore refused connection"),
            b"SERVER_ERROR Storage: Datastore refused connection\r\n",
        )
        self.assertEqual(server_error("a\r\nb"), b"SERVER_ERROR a  b\r\n")

    def test_base64_as_memcached(self) -> None:
        for token, key in [
            (b"aGk=", b"hi"),
            (b"aA==", b"h"),
            (b"aGk", None),
            (b"!!!!", None),
            (b"a!G!k!=", b"hi"),  # bytes outside the alphabet are skipped
            (b"====", None),
            (b"a===", None),
            (b"YWJj", b"abc"),
        ]:
            self.assertEqual(b64_decode_key(token), key, token)

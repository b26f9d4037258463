"""The compiled RESP scanner behind the same tests as the pure-Python framer and
``one_request``, and differential tests between them: the same replies and the same
errors, however the bytes are cut; the same reading of a peer frame's request."""

from __future__ import annotations

import os
from typing import List, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from dynotwist.proto import resp
from dynotwist.proto.resp import (
    ReplyError,
    ReplyFramer,
    encode_command,
    one_request_function,
    reply_framer_class,
)
from tests.support.accelerator import (
    SKIP_WITHOUT_COMPILED,
    CompiledReplyFramer,
    compiled_one_request,
)
from tests.support.chunks import chunked, pieces
from tests.unit import test_resp

DIFFERENTIAL = settings(max_examples=300)


class _Compiled:
    """Runs a test_resp class with the compiled framer in ReplyFramer's place."""

    skip = SKIP_WITHOUT_COMPILED

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self.patch(test_resp, "ReplyFramer", CompiledReplyFramer)  # type: ignore[attr-defined]


class CompiledReplyFramerTests(_Compiled, test_resp.ReplyFramerTests):
    pass


class CompiledOneRequestTests(test_resp.OneRequestTests):
    skip = SKIP_WITHOUT_COMPILED

    def setUp(self) -> None:
        super().setUp()
        self.patch(test_resp, "one_request", compiled_one_request)


class OneRequestDifferentialTests(unittest.TestCase):
    """The compiled one_request and the pure one, on the same payloads."""

    skip = SKIP_WITHOUT_COMPILED

    def same(self, payload: bytes, max_bulk_len: int = 400) -> None:
        self.assertEqual(
            compiled_one_request(payload, max_bulk_len),
            resp.one_request(payload, max_bulk_len),
            payload[:80],
        )

    @DIFFERENTIAL
    @given(st.lists(test_resp._REQUEST_TOKENS, max_size=30).map(b"".join))
    def test_garbage(self, payload: bytes) -> None:
        self.same(payload)

    @DIFFERENTIAL
    @given(test_resp._args, st.data())
    def test_requests_cut_or_extended(self, args: List[bytes], draw: st.DataObject) -> None:
        payload = encode_command(args)
        cut = draw.draw(st.integers(0, len(payload)))
        tail = draw.draw(test_resp._REQUEST_TOKENS)
        for variant in (payload, payload[:cut], payload + tail, payload[:cut] + tail):
            self.same(variant)
            self.same(variant, 0)

    def test_a_count_the_payload_cannot_hold(self) -> None:
        """Refused before a list of that size is asked for (``*<N>`` then junk: the
        pure function reads it as nothing, the compiled one must not need N slots)."""
        for count in (7, 1000, 10**9, 2**31 - 1):
            payload = b"*%d\r\n" % count + b"$0\r\n\r\n" * 6 + b"x" * 5
            self.same(payload)
            self.assertIsNone(compiled_one_request(payload))
        self.same(b"*2\r\n$0\r\n\r\n$0\r\n\r\n")  # exactly two: read
        # a count just under the payload's size: no list of 5 million slots (40 MB)
        import tracemalloc  # CPython's (the compiled scanner's only interpreter)

        payload = b"*5000000\r\n" + b"x" * 6_000_000
        tracemalloc.start()
        self.addCleanup(tracemalloc.stop)
        self.assertIsNone(compiled_one_request(payload))
        self.assertLess(tracemalloc.get_traced_memory()[1], 1_000_000)

    def test_keywords_as_the_pure_one_takes_them(self) -> None:
        payload = b"*1\r\n$3\r\nabc\r\n"
        self.assertEqual(compiled_one_request(payload=payload, max_bulk_len=3), [b"abc"])
        self.assertIsNone(compiled_one_request(payload, max_bulk_len=2))

    def test_lengths_at_their_limits(self) -> None:
        for field in (b"1" * 18, b"1" * 19, b"9" * 5000, b"2147483647", b"2147483648"):
            self.same(b"*" + field + b"\r\n$1\r\na\r\n")
            self.same(b"*1\r\n$" + field + b"\r\nabc\r\n")
        self.same(b"*1\r\n$3\r\nabc\r\n", 3)
        self.same(b"*1\r\n$3\r\nabc\r\n", 2)

    def test_it_is_the_default_and_can_be_turned_off(self) -> None:
        self.assertIs(one_request_function(), compiled_one_request)
        os.environ["DYNOTWIST_PURE_PYTHON"] = "1"
        self.addCleanup(os.environ.pop, "DYNOTWIST_PURE_PYTHON")
        self.assertIs(one_request_function(), resp.one_request)


class CompiledLinearWorkTests(_Compiled, unittest.TestCase):
    test_64MiB_bulk_reply_not_concatenated = (
        test_resp.LinearWorkTests.test_64MiB_bulk_reply_not_concatenated
    )


def _outcome(framer_class: type, chunks: List[bytes]) -> Tuple[List[bytes], bool, tuple]:
    """The replies, whether it failed, and the state left."""
    framer = framer_class()
    got: List[bytes] = []
    for chunk in chunks:
        try:
            got.extend(framer.feed(chunk))
        except ReplyError:
            return got, True, ()
    return got, False, (framer._tail, b"".join(framer._parts), framer._stack, framer._skip)


# lengths as the pure framer reads them (int()) but not in their canonical form: the
# compiled scan gives these bytes to the pure loop
_ODD_LENGTHS = [b"+3", b" 3", b"3 ", b"0_3", b"003", b"-0", b"--1", b"", b"1" * 19, b"\xff"]


def _odd(reply: bytes, draw: st.DataObject) -> bytes:
    """``reply`` with its first length written in a non-canonical form."""
    head, sep, rest = reply.partition(b"\r\n")
    if not sep or head[:1] not in (b"$", b"*", b"%", b"~", b">", b"|", b"!", b"="):
        return reply
    return head[:1] + draw.draw(st.sampled_from(_ODD_LENGTHS)) + sep + rest


class DifferentialTests(unittest.TestCase):
    skip = SKIP_WITHOUT_COMPILED

    def same(self, chunks: List[bytes]) -> None:
        self.assertEqual(
            _outcome(CompiledReplyFramer, chunks), _outcome(ReplyFramer, chunks), chunks
        )

    @DIFFERENTIAL
    @given(st.lists(test_resp._replies, min_size=1, max_size=8), st.data())
    def test_replies_of_every_type_cut_anywhere(
        self, replies: List[bytes], draw: st.DataObject
    ) -> None:
        stream = b"".join(replies)
        cuts = draw.draw(st.lists(st.integers(0, len(stream)), max_size=20))
        self.same(pieces(stream, cuts))
        self.same([stream])

    @DIFFERENTIAL
    @given(st.lists(test_resp._replies, min_size=1, max_size=4), st.data())
    def test_non_canonical_lengths(self, replies: List[bytes], draw: st.DataObject) -> None:
        stream = b"".join(_odd(reply, draw) for reply in replies)
        cuts = draw.draw(st.lists(st.integers(0, len(stream)), max_size=8))
        self.same(pieces(stream, cuts))

    @DIFFERENTIAL
    @given(st.lists(test_resp._REPLY_TOKENS, max_size=30).map(b"".join), st.data())
    def test_garbage(self, data: bytes, draw: st.DataObject) -> None:
        cuts = draw.draw(st.lists(st.integers(0, len(data)), max_size=10))
        self.same(pieces(data, cuts))
        self.same(chunked(data, 1))

    def test_nesting_deeper_than_the_compiled_stack(self) -> None:
        for depth in (63, 64, 65, 200):
            reply = b"*1\r\n" * depth + b"+deep\r\n"
            for size in (1, 5, len(reply)):
                self.same(chunked(reply + b":1\r\n", size))

    def test_large_counts_and_sizes(self) -> None:
        self.same([b"*999999999999999999\r\n:1\r\n"])
        self.same([b"$999999999999999999\r\nabc"])
        self.same([b"*2\r\n$-1\r\n$-7\r\n%1\r\n$1\r\na\r\n$2\r\nbc\r\n"])

    def test_canonical_replies_never_reach_the_pure_loop(self) -> None:
        def pure_scan(framer: ReplyFramer, buf: bytes, out: List[bytes]) -> None:
            raise AssertionError("the pure loop scanned %r" % buf)

        self.patch(ReplyFramer, "_scan", pure_scan)
        stream = b"".join(test_resp.REPLIES)
        for size in (1, 3, 64, len(stream)):
            framer = CompiledReplyFramer()
            got = [reply for chunk in chunked(stream, size) for reply in framer.feed(chunk)]
            self.assertEqual(got, test_resp.REPLIES)

    def test_a_reply_in_one_read_is_not_copied(self) -> None:
        reply = b"*600\r\n" + b"$8\r\nxxxxxxxx\r\n" * 600
        [got] = CompiledReplyFramer().feed(reply)
        self.assertIs(got, reply)

    def test_it_is_the_default_and_can_be_turned_off(self) -> None:
        self.assertIs(reply_framer_class(), CompiledReplyFramer)
        os.environ["DYNOTWIST_PURE_PYTHON"] = "1"
        self.addCleanup(os.environ.pop, "DYNOTWIST_PURE_PYTHON")
        self.assertIs(reply_framer_class(), ReplyFramer)

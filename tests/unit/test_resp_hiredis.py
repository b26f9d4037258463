"""The hiredis accelerator behind the same tests as the pure-Python request parser."""

from __future__ import annotations

import os
from typing import Any, List, Tuple

from twisted.trial import unittest

from dynotwist.proto.resp import RequestParser, encode_command, request_parser_class
from tests.support.accelerator import SKIP_WITHOUT_HIREDIS, AcceleratedRequestParser, hiredis
from tests.support.chunks import pieces
from tests.unit import test_resp, test_resp_limits


class _Accelerated:
    """Runs a test_resp class with the accelerated parser in RequestParser's place."""

    skip = SKIP_WITHOUT_HIREDIS

    def setUp(self) -> None:
        super().setUp()  # type: ignore[misc]
        self.patch(test_resp, "RequestParser", AcceleratedRequestParser)  # type: ignore[attr-defined]


class AcceleratedVectorTests(_Accelerated, test_resp.RequestVectorTests):
    pass


class AcceleratedErrorTests(_Accelerated, test_resp.RequestErrorTests):
    pass


class AcceleratedLinearWorkTests(_Accelerated, test_resp.LinearWorkTests):
    pass


class AcceleratedPropertyTests(_Accelerated, test_resp.PropertyTests):
    pass


class FastPathTests(unittest.TestCase):
    skip = SKIP_WITHOUT_HIREDIS

    def test_it_is_the_default_and_can_be_turned_off(self) -> None:
        self.assertIs(request_parser_class(), AcceleratedRequestParser)
        os.environ["DYNOTWIST_PURE_PYTHON"] = "1"
        self.addCleanup(os.environ.pop, "DYNOTWIST_PURE_PYTHON")
        self.assertIs(request_parser_class(), RequestParser)

    def test_whole_chunks_are_read_by_hiredis_with_raw_frames(self) -> None:
        parser = AcceleratedRequestParser()
        frames = [encode_command([b"SET", b"k%d" % i, b"v" * i]) for i in range(0, 12000, 997)]
        calls = []
        self.patch(RequestParser, "feed", lambda self, data: calls.append(data) or [])
        got = parser.feed(b"".join(frames))
        self.assertEqual(calls, [])
        self.assertEqual([raw for _, raw in got], frames)

    def test_anything_unusual_goes_to_the_pure_parser(self) -> None:
        for data in [
            b"*1\r\n$4\r\nPING\r\nPING\r\n",  # inline after multibulk
            b"*2\r\n$3\r\nGET\r\n*1\r\n$1\r\na\r\n",  # nested array
            b"*2\r\n$3\r\nGET\r\n:1\r\n",  # integer argument
            b"*2\r\n$3\r\nGET\r\n$1\r\na",  # cut short
            b"*1\r\n$03\r\nabc\r\n",  # non-canonical length
        ]:
            fast = AcceleratedRequestParser()
            pure = RequestParser()
            try:
                expected = pure.feed(data)
            except test_resp.ProtocolError as error:
                with self.assertRaises(test_resp.ProtocolError) as caught:
                    fast.feed(data)
                self.assertEqual(str(caught.exception), str(error))
                self.assertEqual(caught.exception.requests, error.requests)
            else:
                self.assertEqual(fast.feed(data), expected)


class AcceleratedLimitTests(test_resp_limits.LimitTests):
    skip = SKIP_WITHOUT_HIREDIS
    parser_class = AcceleratedRequestParser


class AcceleratedPauseTests(test_resp_limits.PauseTests):
    skip = SKIP_WITHOUT_HIREDIS
    parser_class = AcceleratedRequestParser


class AcceleratedBufferedTests(test_resp_limits.BufferedTests):
    skip = SKIP_WITHOUT_HIREDIS
    parser_class = AcceleratedRequestParser


# -- what hiredis reads that is not a canonical multibulk request -----------------------
def hiredis_reads(data: bytes) -> List[Any]:
    reader = hiredis.Reader()
    reader.feed(data)
    replies = []
    reply = reader.gets()
    while reply is not False:
        replies.append(reply)
        reply = reader.gets()
    return replies


def outcome(parser: RequestParser, chunks: List[bytes]) -> List[Tuple[Any, Any, int]]:
    """Each feed's requests (or error and the requests before it), and the state after."""
    events: List[Tuple[Any, Any, int]] = []
    for chunk in chunks:
        try:
            events.append((parser.feed(chunk), parser.paused, parser.buffered))
        except test_resp.ProtocolError as error:
            events.append((str(error), error.requests, parser.buffered))
            break
    return events


PING = encode_command([b"PING"])
HIDDEN = b"$39\r\nCONFIG SET maxmemory-policy allkeys-lru\r\n"
# chunks that hiredis reads as lists of bytes, of the very size their canonical
# encodings would have, although Redis reads other requests from them
DISGUISED = [
    PING + b"~2\r\n$3\r\nGET\r\n" + HIDDEN,  # a set, read by Redis as inline commands
    PING + b">2\r\n$3\r\nGET\r\n" + HIDDEN,  # a push
    b"*2\r\n+0123456789\r\n=7\r\ntxt:abc\r\n",  # shorter and longer elements
    b"*2\r\n(1234567890\r\n=6\r\ntxt:ab\r\n",  # a big number
    PING
    + b"|1\r\n+a\r\n+b\r\n"  # an attribute
    + b"*3\r\n=10\r\ntxt:abcdef\r\n=10\r\ntxt:ghijkl\r\n(1234567890\r\n",
]
# chunks whose requests hiredis turns into other Python types
OTHER_TYPES = [
    PING + b"%1\r\n$1\r\na\r\n$1\r\nb\r\n",  # a dict
    b"*2\r\n$3\r\nGET\r\n%1\r\n$1\r\na\r\n$1\r\nb\r\n",
    b"*2\r\n$3\r\nGET\r\n:1\r\n",  # an int
    b"*2\r\n$3\r\nGET\r\n,1.5\r\n",  # a float
    b"*2\r\n$3\r\nGET\r\n_\r\n",  # None
    b"*2\r\n$3\r\nGET\r\n$-1\r\n",
    b"*2\r\n$3\r\nGET\r\n#t\r\n",  # a bool
    b"*2\r\n$3\r\nGET\r\n~1\r\n$1\r\na\r\n",  # a set
    b"*2\r\n$3\r\nGET\r\n-ERR x\r\n",  # an error object
    b"*2\r\n$3\r\nGET\r\n*1\r\n*1\r\n$1\r\nk\r\n",  # nested lists
    b"*1\r\n" * 9 + b"$1\r\nk\r\n",  # deeper than hiredis goes
    b"*-1\r\n" + PING,  # None for the request itself
    b"*0\r\n" + PING + b"*0\r\n",  # empty requests, which Redis ignores
    b"*2\r\n$3\r\nGET\r\n!3\r\nerr\r\n",
    b"*2\r\n$3\r\nGET\r\n|1\r\n+a\r\n+b\r\n$1\r\nk\r\n",  # an attribute
]


class RecordingReader:
    """A hiredis reader that records what it is fed."""

    fed: List[int] = []
    reader_class = hiredis.Reader if hiredis is not None else None

    def __init__(self) -> None:
        self._reader = self.reader_class()

    def feed(self, data: bytes, offset: int = 0, length: int = -1) -> None:
        length = len(data) - offset if length < 0 else length
        RecordingReader.fed.append(length)
        self._reader.feed(data, offset, length)

    def gets(self) -> object:
        return self._reader.gets()


class SoundnessTests(unittest.TestCase):
    skip = SKIP_WITHOUT_HIREDIS

    def assertSameAsPure(
        self, chunks: List[bytes], **attributes: object
    ) -> List[Tuple[Any, Any, int]]:
        fast = AcceleratedRequestParser()
        pure = RequestParser()
        for name, value in attributes.items():
            setattr(fast, name, value)
            setattr(pure, name, value)
        expected = outcome(pure, chunks)
        self.assertEqual(outcome(fast, chunks), expected, chunks)
        return expected

    def test_disguised_requests_read_as_redis_reads_them(self) -> None:
        for data in DISGUISED:
            # a check of sizes only would take them (what the checks are for)
            canonical = sum(len(encode_command(r)) for r in hiredis_reads(data))
            self.assertEqual(canonical, len(data), data)
            self.assertSameAsPure([data])
            for cut in range(1, len(data)):
                self.assertSameAsPure(pieces(data, [cut]))

    def test_hidden_command_is_an_inline_command(self) -> None:
        """PING relayed alone, then what Redis makes of the set: inline commands, never
        raw bytes that the datastore would read otherwise."""
        ((requests, _, _),) = self.assertSameAsPure([DISGUISED[0]])
        self.assertEqual(requests[0], ([b"PING"], PING))
        self.assertEqual([raw for _, raw in requests[1:]], [None] * 5)
        self.assertEqual(requests[-1][0], [b"CONFIG", b"SET", b"maxmemory-policy", b"allkeys-lru"])

    def test_other_types_never_escape(self) -> None:
        """Whatever hiredis returns, feed gives the pure parser's requests or its
        ProtocolError, nothing else."""
        for data in OTHER_TYPES:
            self.assertSameAsPure([data])
            self.assertSameAsPure([data, PING])
            self.assertSameAsPure([PING + data])

    def test_bytes_after_a_body_as_redis_reads_them(self) -> None:
        """Redis skips the two bytes after a body unread; hiredis does too, and the
        raw bytes are what Redis reads as that request."""
        data = b"*1\r\n$4\r\nPINGxx*1\r\n$4\r\nPING\r\r"
        ((requests, _, _),) = self.assertSameAsPure([data])
        self.assertEqual(requests, [([b"PING"], data[:14]), ([b"PING"], data[14:])])

    def test_announced_huge_arrays_never_reach_hiredis(self) -> None:
        """hiredis allocates an array's announced size on reading its header (and takes
        seconds to free a billion slots): such chunks go to the pure parser."""
        self.patch(hiredis, "Reader", RecordingReader)
        self.patch(RecordingReader, "fed", [])
        self.assertSameAsPure([PING])
        self.assertEqual(RecordingReader.fed, [len(PING)])  # the recording works
        for kind in b"*~>|":
            for header in (b"%c2147483647\r\n" % kind, b"%c100000\r\n" % kind):
                for data in (PING + header, b"*1\r\n" + header, PING + b"*2\r\n" + header + PING):
                    RecordingReader.fed = []
                    self.assertSameAsPure([data])
                    self.assertEqual(RecordingReader.fed, [], data)
        RecordingReader.fed = []
        self.assertSameAsPure([PING + b"*99999\r\n"])  # below: read by hiredis
        self.assertEqual(RecordingReader.fed, [len(PING + b"*99999\r\n")])

    def test_hiredis_fed_16KiB_at_a_time(self) -> None:
        """hiredis moves its unread bytes after each 1 KiB it reads: fed a big chunk at
        once, it would move it over and over."""
        self.patch(hiredis, "Reader", RecordingReader)
        self.patch(RecordingReader, "fed", [])
        data = b"".join(encode_command([b"SET", b"key:%d" % i, b"v" * 20]) for i in range(15000))
        ((requests, _, _),) = self.assertSameAsPure([data])
        self.assertEqual(len(requests), 15000)
        self.assertEqual(sum(RecordingReader.fed), len(data))
        self.assertLessEqual(max(RecordingReader.fed), 16384)

    def test_rest_of_a_chunk_after_a_spanning_request(self) -> None:
        """A request cut by the end of a chunk is the pure parser's; the requests after
        it in the next chunk are hiredis's again."""
        self.patch(hiredis, "Reader", RecordingReader)
        self.patch(RecordingReader, "fed", [])
        stream = b"".join(encode_command([b"SET", b"k%d" % i, b"v" * i]) for i in range(200))
        chunks = test_resp.chunked(stream, 1000)
        events = self.assertSameAsPure(chunks)
        self.assertEqual(sum(len(e[0]) for e in events), 200)
        # all the bytes after the first cut request of each chunk reach hiredis
        self.assertGreater(sum(RecordingReader.fed), len(stream) * 0.9)

    def test_deferred_to_the_pure_parser(self) -> None:
        """Before authentication, and for a chunk that begins with a big request."""
        self.patch(hiredis, "Reader", RecordingReader)
        self.patch(RecordingReader, "fed", [])
        self.assertSameAsPure([PING, PING], unauthenticated=True)
        big = encode_command([b"SET", b"k", b"v" * 5000])
        self.assertSameAsPure([big + PING])
        self.assertEqual(RecordingReader.fed, [])

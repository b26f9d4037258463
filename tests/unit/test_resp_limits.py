"""The request parser's limits before authentication, its pause, and ``buffered``.

Redis 7 refuses, from a client that has not authenticated, a multibulk of more than 10
arguments and a bulk of more than 16384 bytes (processMultibulkBuffer); it runs an
AUTH before it reads the request after it, so ``AUTH`` and a big request pipelined in
one write both succeed. The parser pauses before a refused request that follows other
requests of the same feed, for its caller to serve them first. A real redis-server
with a password answers alike (tests/integration/test_resp_redis.py).
"""

from __future__ import annotations

from typing import List, Optional, Tuple

from twisted.trial import unittest

from dynotwist.proto.resp import (
    INVALID_BULK,
    INVALID_MULTIBULK,
    UNAUTHENTICATED_BULK,
    UNAUTHENTICATED_MULTIBULK,
    ProtocolError,
    RequestParser,
    encode_command,
)
from tests.support.chunks import pieces, split_offsets
from tests.support.resp import ServingClient, outcome_requests
from tests.support.vectors import AUTH, BIG_SET, BIG_VALUE, MANY_ARGS, PING


class LimitTests(unittest.TestCase):
    parser_class = RequestParser

    def parser(self, unauthenticated: bool = True, max_bulk_len: int = 1 << 20) -> RequestParser:
        parser = self.parser_class(max_bulk_len)
        parser.unauthenticated = unauthenticated
        return parser

    def outcome(
        self, chunks: List[bytes], parser: Optional[RequestParser] = None
    ) -> Tuple[List[List[bytes]], Optional[str]]:
        return outcome_requests(chunks, parser or self.parser())

    def check(self, data: bytes, expected: Tuple[List[List[bytes]], Optional[str]]) -> None:
        """``data`` gives ``expected`` whole and cut anywhere (nothing precedes the
        refused request in its feed, so there is no pause)."""
        self.assertEqual(self.outcome([data]), expected, data[:40])
        for offset in split_offsets(len(data), 256):
            self.assertEqual(self.outcome(pieces(data, [offset])), expected, offset)

    def test_the_limits(self) -> None:
        ten = [b"k"] * 10
        self.check(encode_command(ten), ([ten], None))
        self.check(MANY_ARGS, ([], UNAUTHENTICATED_MULTIBULK))
        self.check(b"*11\r\n", ([], UNAUTHENTICATED_MULTIBULK))
        at_limit = [b"SET", b"k", b"v" * 16384]
        self.check(encode_command(at_limit), ([at_limit], None))
        self.check(BIG_SET, ([], UNAUTHENTICATED_BULK))
        self.check(b"*1\r\n$16385\r\n", ([], UNAUTHENTICATED_BULK))

    def test_other_errors_come_first(self) -> None:
        """Redis checks the count and the length themselves before the limits."""
        self.check(b"*2147483648\r\n", ([], INVALID_MULTIBULK))
        self.check(b"*011\r\n", ([], INVALID_MULTIBULK))
        self.check(b"*1\r\n$-1\r\n", ([], INVALID_BULK))
        self.check(b"*1\r\n$016385\r\n", ([], INVALID_BULK))
        parser = self.parser(max_bulk_len=100)
        self.assertEqual(self.outcome([b"*1\r\n$101\r\n"], parser), ([], INVALID_BULK))

    def test_what_the_limits_leave_alone(self) -> None:
        """Negative and empty counts, inline commands (Redis limits their line only)."""
        self.check(b"*-1\r\n*0\r\n*-100\r\n" + PING, ([[b"PING"]], None))
        inline = b"ECHO " + b"x" * 20000 + b"\r\n"
        self.check(inline, ([[b"ECHO", b"x" * 20000]], None))
        words = [b"DEL"] + [b"k%d" % i for i in range(20)]
        self.check(b" ".join(words) + b"\r\n", ([words], None))

    def test_lifted_once_authenticated(self) -> None:
        parser = self.parser()
        self.assertEqual(parser.feed(AUTH), [([b"AUTH", b"secret"], AUTH)])
        parser.unauthenticated = False
        self.assertEqual(parser.feed(BIG_SET), [([b"SET", b"k", BIG_VALUE], BIG_SET)])
        self.assertEqual(len(parser.feed(MANY_ARGS)), 1)

    def test_set_again_applies_again(self) -> None:
        """The caller may set it at any time (after a RESET, an ACL change)."""
        parser = self.parser(unauthenticated=False)
        self.assertEqual(len(parser.feed(BIG_SET)), 1)
        parser.unauthenticated = True
        error = self.assertRaises(ProtocolError, parser.feed, BIG_SET)
        self.assertEqual(str(error), UNAUTHENTICATED_BULK)


class PauseTests(unittest.TestCase):
    parser_class = RequestParser

    def parser(self) -> RequestParser:
        parser = self.parser_class()
        parser.unauthenticated = True
        return parser

    def test_auth_then_a_big_request_in_one_feed(self) -> None:
        for refused in (BIG_SET, MANY_ARGS):
            parser = self.parser()
            self.assertEqual(parser.feed(AUTH + refused), [([b"AUTH", b"secret"], AUTH)])
            self.assertTrue(parser.paused)
            self.assertEqual(parser.buffered, len(refused))
            parser.unauthenticated = False
            (request,) = parser.feed(b"")
            self.assertEqual(request[1], refused)  # still in one piece
            self.assertFalse(parser.paused)
            self.assertEqual(parser.buffered, 0)

    def test_refused_inside_a_request(self) -> None:
        """A bulk refused after the first arguments: the whole request is kept."""
        parser = self.parser()
        head = b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$20000\r\n"
        self.assertEqual(parser.feed(PING + head), [([b"PING"], PING)])
        self.assertTrue(parser.paused)
        self.assertEqual(parser.buffered, len(head))
        parser.unauthenticated = False
        self.assertEqual(parser.feed(b""), [])
        self.assertFalse(parser.paused)
        self.assertEqual(parser.feed(BIG_VALUE + b"\r\n"), [([b"SET", b"k", BIG_VALUE], None)])

    def test_what_follows_is_kept_too(self) -> None:
        parser = self.parser()
        rest = BIG_SET + PING + b"PING\r\n*1\r\n$4\r\nPI"
        self.assertEqual(len(parser.feed(AUTH + rest)), 1)
        self.assertTrue(parser.paused)
        self.assertEqual(parser.buffered, len(rest))
        parser.unauthenticated = False
        got = parser.feed(b"")
        expected = [([b"SET", b"k", BIG_VALUE], BIG_SET), ([b"PING"], PING), ([b"PING"], None)]
        self.assertEqual(got, expected)
        self.assertEqual(parser.buffered, len(b"PI"))  # the body under way
        self.assertEqual(parser.feed(b"NG\r\n"), [([b"PING"], None)])

    def test_continued_by_the_next_data_too(self) -> None:
        parser = self.parser()
        self.assertEqual(len(parser.feed(AUTH + BIG_SET[:10000])), 1)
        self.assertTrue(parser.paused)
        parser.unauthenticated = False
        # held and new bytes parsed together: the request still has its raw bytes
        self.assertEqual(parser.feed(BIG_SET[10000:]), [([b"SET", b"k", BIG_VALUE], BIG_SET)])

    def test_no_pause_before_the_limit_shows(self) -> None:
        parser = self.parser()
        self.assertEqual(len(parser.feed(AUTH + BIG_SET[:20])), 1)  # before the bulk header
        self.assertFalse(parser.paused)
        parser.unauthenticated = False  # the AUTH was served
        self.assertEqual(parser.feed(BIG_SET[20:]), [([b"SET", b"k", BIG_VALUE], None)])

    def test_refused_once_nothing_precedes_it(self) -> None:
        parser = self.parser()
        self.assertEqual(len(parser.feed(PING + BIG_SET)), 1)
        self.assertTrue(parser.paused)
        error = self.assertRaises(ProtocolError, parser.feed, b"")  # still unauthenticated
        self.assertEqual((str(error), error.requests), (UNAUTHENTICATED_BULK, []))
        self.assertFalse(parser.paused)
        self.assertEqual(parser.buffered, 0)
        again = self.assertRaises(ProtocolError, parser.feed, PING)
        self.assertEqual(str(again), UNAUTHENTICATED_BULK)

    def test_no_pause_for_a_request_begun_earlier(self) -> None:
        """The pause is for requests served in the same feed; a request begun in an
        earlier feed is refused when its limit shows."""
        parser = self.parser()
        self.assertEqual(len(parser.feed(AUTH + b"*3\r\n$3\r\nSET\r\n")), 1)
        error = self.assertRaises(ProtocolError, parser.feed, b"$1\r\nk\r\n$20000\r\n")
        self.assertEqual(error.requests, [])
        parser = self.parser()
        self.assertEqual(len(parser.feed(AUTH)), 1)
        error = self.assertRaises(ProtocolError, parser.feed, BIG_SET)
        self.assertEqual((str(error), error.requests), (UNAUTHENTICATED_BULK, []))

    def test_auth_and_big_request_cut_anywhere(self) -> None:
        """Served as the network layer serves them, AUTH then the big request always
        succeed, however the bytes arrive."""
        # where the limit shows: the end of the big bulk's header, of the count line
        for refused, shows in ((BIG_SET, 28), (MANY_ARGS, 5)):
            data = AUTH + refused + PING
            ((refused_args, _),) = RequestParser().feed(refused)
            expected = [[b"AUTH", b"secret"], refused_args, [b"PING"]]
            for offset in [*range(len(AUTH) + shows + 2), len(data) - 5, len(data)]:
                client = ServingClient(self.parser_class())
                for chunk in pieces(data, [offset]):
                    client.receive(chunk)
                self.assertEqual([args for args, _ in client.served], expected, offset)
                # a pause when the AUTH and the limit show in the same feed
                same_feed = offset < len(AUTH) or offset >= len(AUTH) + shows
                self.assertEqual(client.pauses, 1 if same_feed else 0, offset)


class BufferedTests(unittest.TestCase):
    parser_class = RequestParser

    def test_bytes_held(self) -> None:
        parser = self.parser_class()
        steps = [
            (b"*3\r", 3),  # a count line
            (b"\n$3\r\nSET\r\n$", 1 + 3),  # an argument and a bulk header
            (b"1\r\nk\r\n$100\r\n", 3 + 1),
            (b"v" * 60, 3 + 1 + 60),  # a body under way
            (b"v" * 40 + b"\r\n", 0),
            (b"PING", 4),  # an inline line
            (b"\r\n" + PING[:-1], len(b"PING\r")),
            (PING[-1:], 0),
        ]
        for data, held in steps:
            parser.feed(data)
            self.assertEqual(parser.buffered, held, data)

    def test_nothing_after_an_error(self) -> None:
        parser = self.parser_class()
        parser.feed(b"*2\r\n$3\r\nGET\r\n")
        self.assertEqual(parser.buffered, 3)
        self.assertRaises(ProtocolError, parser.feed, b"+x\r\n")
        self.assertEqual(parser.buffered, 0)

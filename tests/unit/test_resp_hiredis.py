"""The hiredis accelerator behind the same tests as the pure-Python request parser."""

from __future__ import annotations

import os

from twisted.trial import unittest

from dynotwist.proto.resp import RequestParser, encode_command, request_parser_class
from dynotwist.proto.resp_hiredis import AcceleratedRequestParser
from tests.unit import test_resp


class _Accelerated:
    """Runs a test_resp class with the accelerated parser in RequestParser's place."""

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

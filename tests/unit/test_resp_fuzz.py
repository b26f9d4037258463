"""Differential fuzzing: the hiredis accelerator makes of every input exactly what the
pure-Python parser makes of it (``tests/unit/resp_fuzz.py`` says what is generated and
compared). A longer run: ``benchmarks/fuzz_request_parsers.py --count 1000000``."""

from __future__ import annotations

import itertools
from typing import List

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from dynotwist.proto.resp import RequestParser
from tests.support.accelerator import SKIP_WITHOUT_HIREDIS, AcceleratedRequestParser
from tests.support.chunks import pieces
from tests.unit import resp_fuzz
from tests.unit.resp_fuzz import Case, difference, inputs

SEED = 20240611
COUNT = 50000

_TOKENS = st.sampled_from(
    [b"*", b"$", b"+", b"-", b":", b"_", b"#", b",", b"(", b"=", b"!", b"%", b"~", b">", b"|",
     b"\r\n", b"\r", b"\n", b"0", b"1", b"2", b"3", b"4", b"-1", b"01", b"txt:", b"PING", b"x",
     b"*1\r\n", b"*2\r\n", b"$1\r\n", b"$4\r\nPING\r\n", b"*1\r\n$4\r\nPING\r\n", b"~1\r\n",
     b"|1\r\n+a\r\n+b\r\n", b"%1\r\n", b"xx", b" ", b'"', b"\x00"]
) | st.binary(max_size=4)  # fmt: skip


class DifferentialTests(unittest.TestCase):
    skip = SKIP_WITHOUT_HIREDIS

    def test_seeded_inputs(self) -> None:
        found: List[str] = []
        for case in itertools.islice(inputs(SEED), COUNT):
            described = difference(case, AcceleratedRequestParser)
            if described is not None:
                found.append(described)
        self.assertEqual(found[:3], [])

    def test_the_generator_makes_what_it_says(self) -> None:
        """Every RESP type byte, whole inputs and cut ones, requests the fast path
        reads, and errors."""
        cases = list(itertools.islice(inputs(SEED), 3000))
        data = b"".join(b"".join(case.chunks) for case in cases)
        for kind in b"*$+-:_#,(=!%~>|":
            self.assertIn(bytes((kind,)), data)
        self.assertTrue(any(len(case.chunks) > 2 for case in cases))
        self.assertTrue(any(case.unauthenticated for case in cases))
        events = [event for case in cases for event in resp_fuzz.trace(RequestParser, case)]
        self.assertTrue(any(event[0] == "error" for event in events))
        self.assertTrue(any(event[0] == "ok" and event[1] for event in events))
        self.assertTrue(any(event[0] == "ok" and event[2] for event in events))  # paused

    def test_a_difference_is_reported(self) -> None:
        class Broken(AcceleratedRequestParser):
            def feed(self, data: bytes):  # type: ignore[no-untyped-def]
                return super().feed(data)[1:]

        case = Case([b"*1\r\n$4\r\nPING\r\n"], 1 << 20, False)
        self.assertIsNone(difference(case, AcceleratedRequestParser))
        self.assertIn("at event 0", difference(case, Broken) or "")

    @settings(max_examples=300)
    @given(
        st.lists(_TOKENS, max_size=40).map(b"".join),
        st.lists(st.integers(0, 200), max_size=4),
        st.booleans(),
    )
    def test_hypothesis_inputs(self, data: bytes, cuts: List[int], unauthenticated: bool) -> None:
        chunks = pieces(data, [cut for cut in cuts if cut <= len(data)])
        case = Case(chunks, 1 << 20, unauthenticated)
        self.assertIsNone(difference(case, AcceleratedRequestParser))

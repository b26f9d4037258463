"""Tests for dynotwist.core.consistency: levels and the quorum collector.

Each table row is (level, group sizes, replies in arrival order as (group, reply),
index of the reply that decides, the client's reply). Every row is fed whole: the
collector must answer exactly once, at that index, and None for every other reply.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from dynotwist import errors
from dynotwist.core import consistency
from dynotwist.core.consistency import (
    DC_EACH_SAFE_QUORUM,
    DC_ONE,
    DC_QUORUM,
    DC_SAFE_QUORUM,
    LEVELS,
    QuorumCollector,
    parse_level,
    quorum_of,
)
from tests.support.resp import bulk

ONE, Q, SQ, ESQ = DC_ONE, DC_QUORUM, DC_SAFE_QUORUM, DC_EACH_SAFE_QUORUM


def arr(*values: bytes, kind: bytes = b"*") -> bytes:
    return kind + b"%d\r\n" % len(values) + b"".join(bulk(v) for v in values)


A = bulk(b"value-a")
A_UP = bulk(b"VALUE-A")  # equal to A for Dynomite: checksums of lower-cased bytes
A_MIX = bulk(b"Value-A")
B = bulk(b"value-b")
C = bulk(b"value-c")
D = bulk(b"value-d")
NIL = b"$-1\r\n"  # nil is a good reply
NIL3 = b"_\r\n"
E1 = errors.PEER_NOT_CONNECTED
E2 = errors.DATASTORE_REFUSED
E3 = errors.PEER_REFUSED
WRONG = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
BLOB_ERR = b"!21\r\nSYNTAX invalid syntax\r\n"
QF = errors.QUORUM_FAILED

Feed = Sequence[Tuple[int, bytes]]
Row = Tuple[str, Sequence[int], Feed, int, bytes]


def g0(*replies: bytes) -> List[Tuple[int, bytes]]:
    """Replies all from group 0."""
    return [(0, reply) for reply in replies]


# -- one DC: DC_ONE, DC_QUORUM, DC_SAFE_QUORUM (and EACH_SAFE with one DC) ----------------
ONE_RACK: List[Row] = [
    (ONE, [1], g0(A), 0, A),
    (ONE, [1], g0(E1), 0, E1),
    (Q, [1], g0(A), 0, A),
    (Q, [1], g0(NIL), 0, NIL),
    (Q, [1], g0(E1), 0, E1),
    (Q, [1], g0(WRONG), 0, WRONG),
    (SQ, [1], g0(A), 0, A),
    (SQ, [1], g0(E2), 0, E2),
    (SQ, [1], g0(BLOB_ERR), 0, BLOB_ERR),
    (ESQ, [1], g0(A), 0, A),
    (ESQ, [1], g0(E1), 0, E1),
]

TWO_RACKS: List[Row] = [  # quorum 2
    (Q, [2], g0(A, A), 1, A),
    (Q, [2], g0(A, A_UP), 1, A),
    (Q, [2], g0(A_UP, A), 1, A_UP),
    (SQ, [2], g0(A_UP, A), 1, A_UP),
    (SQ, [2], g0(NIL, NIL), 1, NIL),
    (Q, [2], g0(A, B), 1, A),  # mismatch: first good
    (Q, [2], g0(B, A), 1, B),
    (SQ, [2], g0(A, B), 1, QF),
    (ESQ, [2], g0(A, B), 1, QF),
    (Q, [2], g0(NIL, A), 1, NIL),
    (Q, [2], g0(E1, A), 0, E1),  # impossible at once
    (SQ, [2], g0(E1, A), 0, E1),
    (Q, [2], g0(A, E1), 1, E1),
    (SQ, [2], g0(A, WRONG), 1, WRONG),
    (SQ, [2], g0(E1, E2), 0, E1),
    (ONE, [2], g0(E1, A), 1, A),  # DC_ONE over several replies: the first good one
    (ONE, [2], g0(A, E1), 0, A),
    (ONE, [2], g0(A, B), 0, A),
    (ONE, [2], g0(E1, E2), 1, E1),
]

THREE_RACKS: List[Row] = [  # quorum 2
    (Q, [3], g0(A, A, A), 1, A),
    (Q, [3], g0(A, A, B), 1, A),
    (Q, [3], g0(A, B, A), 2, A),
    (Q, [3], g0(A, B, B), 2, B),
    (Q, [3], g0(A, B, A_UP), 2, A),
    (Q, [3], g0(A_UP, B, A), 2, A_UP),
    (Q, [3], g0(A, B, C), 2, A),
    (Q, [3], g0(NIL, B, C), 2, NIL),
    (SQ, [3], g0(A, A, B), 1, A),
    (SQ, [3], g0(A, B, B), 2, B),
    (SQ, [3], g0(A, B, bulk(b"VALUE-B")), 2, B),
    (SQ, [3], g0(A, B, C), 2, QF),
    (ESQ, [3], g0(A, B, C), 2, QF),
    (Q, [3], g0(E1, A, A), 2, A),  # error before quorum
    (SQ, [3], g0(E1, A_UP, A), 2, A_UP),
    (Q, [3], g0(A, A, E1), 1, A),  # error after quorum
    (SQ, [3], g0(A, E1, A), 2, A),
    (Q, [3], g0(E1, E2, A), 1, E1),  # impossible
    (SQ, [3], g0(WRONG, E1, A), 1, WRONG),
    (Q, [3], g0(A, E1, E2), 2, E1),
    (SQ, [3], g0(A, BLOB_ERR, E2), 2, BLOB_ERR),
    (Q, [3], g0(A, E1, B), 2, A),  # two good, mismatch
    (SQ, [3], g0(A, E1, B), 2, QF),
    (ONE, [3], g0(E1, E2, B), 2, B),
]

FOUR_RACKS: List[Row] = [  # quorum 3
    (Q, [4], g0(A, A, A, B), 2, A),
    (Q, [4], g0(A, A_MIX, A_UP, A), 2, A),
    (SQ, [4], g0(A, A, A, A), 2, A),
    (Q, [4], g0(A, B, A, A), 3, A),
    (SQ, [4], g0(B, A, A, A_UP), 3, A),
    (Q, [4], g0(A, B, C, A), 2, A),  # no checksum can reach 3 any more
    (SQ, [4], g0(A, B, C, A), 2, QF),
    (Q, [4], g0(A, A, B, B), 3, A),  # two pairs
    (SQ, [4], g0(A, A, B, B), 3, QF),
    (Q, [4], g0(B, A, A, B), 3, B),
    (Q, [4], g0(A, E1, E2, A), 2, E1),  # 1 good + 1 pending < 3
    (SQ, [4], g0(E2, E1, A, A), 1, E2),
    (Q, [4], g0(E1, A, A, A), 3, A),
    (Q, [4], g0(A, A, E1, B), 3, A),
    (SQ, [4], g0(A, A, E1, B), 3, QF),
    (SQ, [4], g0(A, A, E1, A), 3, A),
    (Q, [4], g0(A, A, A, E1), 2, A),
    (ESQ, [4], g0(A, B, C, D), 2, QF),
]

FIVE_RACKS: List[Row] = [  # quorum 3
    (Q, [5], g0(A, A, A, A, A), 2, A),
    (SQ, [5], g0(A, A, A, B, B), 2, A),
    (Q, [5], g0(A, B, A, C, A), 4, A),
    (Q, [5], g0(A, B, A_UP, C, bulk(b"vAlUe-A")), 4, A),
    (Q, [5], g0(B, A, C, A, A), 4, A),
    (Q, [5], g0(A, B, C, D, A), 3, A),  # 4 distinct: decided before the last
    (SQ, [5], g0(A, B, C, D, A), 3, QF),
    (Q, [5], g0(A, B, A, B, C), 4, A),
    (SQ, [5], g0(A, B, A, B, C), 4, QF),
    (SQ, [5], g0(A, B, A, B, B), 4, B),
    (Q, [5], g0(E1, E2, E3, A, A), 2, E1),
    (SQ, [5], g0(A, E3, E2, E1, A), 3, E3),
    (Q, [5], g0(A, E1, A, E2, A), 4, A),
    (SQ, [5], g0(E1, A, E2, A, A), 4, A),
    (Q, [5], g0(A, E1, B, E2, C), 4, A),
    (SQ, [5], g0(A, E1, B, E2, C), 4, QF),
    (SQ, [5], g0(A, E1, E2, B, C), 4, QF),
    (Q, [5], g0(A, A, A, E1, E2), 2, A),
    (ESQ, [5], g0(A, A, E1, A, B), 3, A),
    (ONE, [5], g0(E1, E2, E3, WRONG, BLOB_ERR), 4, E1),
]

# -- DC_EACH_SAFE_QUORUM over several DCs ----------------------------------------------
EACH_SAFE: List[Row] = [
    # all agreeing: the local DC's reply
    (ESQ, [3, 3], [(0, A), (1, A), (0, A), (1, A), (0, A), (1, A)], 3, A),
    (ESQ, [3, 3], [(0, A_UP), (1, A), (1, A), (0, A), (0, A), (1, A)], 3, A_UP),
    # values are not compared across DCs
    (ESQ, [3, 3], [(0, A), (0, A), (1, B), (1, B), (0, A), (1, B)], 3, A),
    (ESQ, [3, 3], [(1, B), (1, B), (0, A), (0, A), (1, B), (0, A)], 3, A),
    (ESQ, [1, 1], [(0, A), (1, A_UP)], 1, A),
    (ESQ, [1, 1], [(1, B), (0, A)], 1, A),
    # a remote DC failing: its error
    (ESQ, [3, 3], [(0, A), (0, A), (1, E1), (1, E1), (1, A), (0, A)], 3, E1),
    (ESQ, [3, 3], [(1, E1), (1, E2), (0, A), (0, A), (0, A), (1, A)], 3, E1),
    (ESQ, [3, 3], [(0, A), (0, A), (1, A), (1, B), (1, C), (0, A)], 4, QF),
    (ESQ, [2, 2], [(0, A), (1, A), (0, A), (1, B)], 3, QF),
    # the local DC failing: decided at once, the remote DC is not waited for
    (ESQ, [3, 3], [(0, E2), (0, E2), (1, A), (1, A), (0, A), (1, A)], 1, E2),
    (ESQ, [3, 3], [(0, A), (0, B), (0, C), (1, A), (1, A), (1, A)], 2, QF),
    # both failing: the local DC's error, whichever came first
    (ESQ, [3, 3], [(1, E1), (1, E1), (0, E2), (0, E2), (0, A), (1, A)], 3, E2),
    # a DC that is unreachable: one error reply per replica, fed by the caller
    (ESQ, [2, 2], [(0, A), (1, E1), (0, A), (1, E1)], 2, E1),
    (ESQ, [3, 3], [(1, E1), (1, E1), (1, E1), (0, A), (0, A), (0, A)], 4, E1),
    (ESQ, [3, 2], [(1, E3), (0, A), (1, E1), (0, A), (0, A)], 3, E3),
    # three DCs
    (ESQ, [3, 2, 1], [(0, A), (1, A), (2, A), (0, A), (1, A), (0, B)], 4, A),
    (ESQ, [3, 2, 1], [(2, C), (1, B), (1, B), (0, A), (0, A), (0, A)], 4, A),
    (ESQ, [3, 2, 1], [(0, A), (0, A), (1, A), (1, B), (2, A), (0, A)], 3, QF),
    (ESQ, [3, 2, 1], [(0, A), (2, E1), (0, A), (1, A), (1, A), (0, A)], 4, E1),
    # group 1 failing once group 0 is decided: group 2 is not waited for
    (ESQ, [3, 2, 2], [(0, A), (0, A), (1, E1), (2, A), (0, A), (2, A), (1, A)], 2, E1),
    # two DCs failing: the first in DC order, not in time
    (ESQ, [3, 2, 1], [(2, E2), (1, E1), (1, E1), (0, A), (0, A), (0, A)], 4, E1),
    (ESQ, [3, 3, 3], [(2, E2)] * 3 + [(1, A), (1, B), (1, C)] + [(0, A)] * 3, 7, QF),
    (ESQ, [3, 3, 3], [(0, A)] * 3 + [(1, E1)] * 3 + [(2, E2)] * 3, 4, E1),
]

# -- multi-key fragments: element-wise votes --------------------------------------------
MULTI_KEY: List[Row] = [
    # every element has a quorum though no whole reply has one
    (
        Q,
        [3],
        g0(arr(b"z", b"b", b"c"), arr(b"a", b"x", b"c"), arr(b"a", b"b", b"y")),
        2,
        arr(b"a", b"b", b"c"),
    ),
    (
        SQ,
        [3],
        g0(arr(b"z", b"b", b"c"), arr(b"a", b"x", b"c"), arr(b"a", b"b", b"y")),
        2,
        arr(b"a", b"b", b"c"),
    ),
    # an element without agreement: DC_QUORUM takes the first reply's, SAFE fails
    (
        Q,
        [3],
        g0(arr(b"z", b"b", b"c"), arr(b"a", b"x", b"c"), arr(b"a", b"y", b"q")),
        2,
        arr(b"a", b"b", b"c"),
    ),
    (SQ, [3], g0(arr(b"z", b"b", b"c"), arr(b"a", b"x", b"c"), arr(b"a", b"y", b"q")), 2, QF),
    (ESQ, [3], g0(arr(b"z", b"b"), arr(b"a", b"x"), arr(b"a", b"y")), 2, QF),
    # elements compared without case; the first agreeing element is taken
    (Q, [3], g0(arr(b"K", b"b"), arr(b"k", b"x"), arr(b"z", b"B")), 2, arr(b"K", b"b")),
    # whole-reply quorum first: decided early, as without multi_key
    (SQ, [3], g0(arr(b"a", b"b"), arr(b"a", b"b"), arr(b"x", b"y")), 1, arr(b"a", b"b")),
    (Q, [3], g0(arr(b"a", b"b"), arr(b"x", b"y"), arr(b"A", b"B")), 2, arr(b"a", b"b")),
    # RESP2 and RESP3 nil elements
    (
        SQ,
        [3],
        g0(
            b"*2\r\n$-1\r\n$1\r\nb\r\n",
            b"*2\r\n$-1\r\n$1\r\nx\r\n",
            b"*2\r\n$1\r\na\r\n$1\r\nb\r\n",
        ),
        2,
        b"*2\r\n$-1\r\n$1\r\nb\r\n",
    ),
    (
        Q,
        [3],
        g0(b"*2\r\n_\r\n$1\r\nb\r\n", b"*2\r\n_\r\n$1\r\nx\r\n", b"*2\r\n$1\r\na\r\n$1\r\ny\r\n"),
        2,
        b"*2\r\n_\r\n$1\r\nb\r\n",
    ),
    # two racks: both elements must agree
    (Q, [2], g0(arr(b"a", b"b"), arr(b"a", b"x")), 1, arr(b"a", b"b")),
    (SQ, [2], g0(arr(b"a", b"b"), arr(b"a", b"x")), 1, QF),
    (SQ, [2], g0(arr(b"a", b"b", kind=b"~"), arr(b"a", b"b")), 1, arr(b"a", b"b", kind=b"~")),
    # with an error among the replies: the good ones vote (2 of 2 needed)
    (Q, [3], g0(arr(b"z", b"b"), E1, arr(b"a", b"b")), 2, arr(b"z", b"b")),
    (SQ, [3], g0(arr(b"z", b"b"), E1, arr(b"a", b"b")), 2, QF),
    (SQ, [3], g0(E1, arr(b"a", b"b"), arr(b"A", b"b")), 2, arr(b"a", b"b")),
    (SQ, [3], g0(E1, arr(b"a", b"b"), E2), 2, E1),
    # five racks: 3 equal elements of 5
    (
        SQ,
        [5],
        g0(arr(b"a", b"1"), arr(b"b", b"1"), arr(b"a", b"2"), arr(b"c", b"1"), arr(b"a", b"3")),
        4,
        arr(b"a", b"1"),
    ),
    (
        SQ,
        [5],
        g0(arr(b"a", b"1"), arr(b"b", b"1"), arr(b"a", b"2"), arr(b"b", b"2"), arr(b"c", b"3")),
        4,
        QF,
    ),
    (
        Q,
        [5],
        g0(arr(b"a", b"1"), arr(b"b", b"1"), arr(b"a", b"2"), arr(b"b", b"2"), arr(b"c", b"3")),
        4,
        arr(b"a", b"1"),
    ),
    # four racks: 3 of 4
    (
        Q,
        [4],
        g0(arr(b"x", b"1"), arr(b"a", b"1"), arr(b"a", b"2"), arr(b"a", b"3")),
        3,
        arr(b"a", b"1"),
    ),
    # differing element counts: the whole-reply rule
    (Q, [3], g0(arr(b"a", b"b"), arr(b"a", b"b", b"c"), arr(b"a")), 2, arr(b"a", b"b")),
    (SQ, [3], g0(arr(b"a", b"b"), arr(b"a", b"b", b"c"), arr(b"a")), 2, QF),
    (SQ, [3], g0(arr(b"a", b"b"), arr(b"a", b"x"), arr(b"a")), 2, QF),
    (Q, [3], g0(arr(b"a", b"b"), b":2\r\n", arr(b"a", b"b", b"c")), 2, arr(b"a", b"b")),
    # integer and simple replies (DEL, EXISTS, MSET fragments): the whole-reply rule
    (Q, [3], g0(b":1\r\n", b":2\r\n", b":3\r\n"), 2, b":1\r\n"),
    (SQ, [3], g0(b":1\r\n", b":2\r\n", b":3\r\n"), 2, QF),
    (SQ, [3], g0(b":1\r\n", b":2\r\n", b":1\r\n"), 2, b":1\r\n"),
    (SQ, [3], g0(b"+OK\r\n", b"+ok\r\n", E1), 1, b"+OK\r\n"),
    # no early mismatch in multi-key mode: every reply may still vote
    (Q, [5], g0(b":1\r\n", b":2\r\n", b":3\r\n", b":4\r\n", b":5\r\n"), 4, b":1\r\n"),
    # EACH_SAFE: each DC reconciled on its own, the local one's reply
    (
        ESQ,
        [3, 3],
        [
            (0, arr(b"z", b"b")),
            (1, arr(b"a", b"b")),
            (0, arr(b"a", b"x")),
            (1, arr(b"a", b"b")),
            (0, arr(b"a", b"b")),
            (1, arr(b"q", b"q")),
        ],
        4,
        arr(b"a", b"b"),
    ),
    (
        ESQ,
        [2, 2],
        [(0, arr(b"a", b"b")), (0, arr(b"a", b"b")), (1, arr(b"a", b"b")), (1, arr(b"a", b"x"))],
        3,
        QF,
    ),
]

# Without multi_key, DC_QUORUM never looks inside arrays; and decides a sure mismatch early.
WHOLE_REPLY: List[Row] = [
    (
        Q,
        [3],
        g0(arr(b"z", b"b", b"c"), arr(b"a", b"x", b"c"), arr(b"a", b"b", b"y")),
        2,
        arr(b"z", b"b", b"c"),
    ),
    (SQ, [3], g0(arr(b"z", b"b", b"c"), arr(b"a", b"x", b"c"), arr(b"a", b"b", b"y")), 2, QF),
    (Q, [5], g0(b":1\r\n", b":2\r\n", b":3\r\n", b":4\r\n", b":5\r\n"), 3, b":1\r\n"),
]


class CollectorTableTests(unittest.TestCase):
    def check_rows(self, rows: Sequence[Row], multi_key: bool = False) -> None:
        for row_number, (level, sizes, feed, index, expected) in enumerate(rows):
            self.assertEqual(sum(sizes), len(feed), "row %d covers every reply" % row_number)
            collector = QuorumCollector(level, sizes, multi_key=multi_key)
            answers: List[Tuple[int, bytes]] = []
            for position, (group, reply) in enumerate(feed):
                self.assertEqual(collector.outstanding, len(feed) - position)
                result = collector.add(group, reply)
                if result is not None:
                    answers.append((position, result))
                self.assertEqual(collector.decided, position >= index, (row_number, position))
            self.assertEqual(
                answers, [(index, expected)], "row %d: %r" % (row_number, rows[row_number])
            )
            self.assertEqual(collector.reply, expected)
            self.assertEqual(collector.outstanding, 0)

    def test_one_rack(self) -> None:
        self.check_rows(ONE_RACK)

    def test_two_racks(self) -> None:
        self.check_rows(TWO_RACKS)

    def test_three_racks(self) -> None:
        self.check_rows(THREE_RACKS)

    def test_four_racks(self) -> None:
        self.check_rows(FOUR_RACKS)

    def test_five_racks(self) -> None:
        self.check_rows(FIVE_RACKS)

    def test_each_safe_quorum(self) -> None:
        self.check_rows(EACH_SAFE)

    def test_multi_key(self) -> None:
        self.check_rows(MULTI_KEY, multi_key=True)

    def test_whole_reply_without_multi_key(self) -> None:
        self.check_rows(WHOLE_REPLY)

    def test_single_dc_rows_unchanged_by_multi_key(self) -> None:
        """Bulk replies are not arrays: multi_key changes nothing for them, except that
        a sure mismatch waits for the last reply."""
        early = [
            (Q, [4], g0(A, B, C, A), 3, A),
            (SQ, [4], g0(A, B, C, A), 3, QF),
            (ESQ, [4], g0(A, B, C, D), 3, QF),
        ]
        rows = ONE_RACK + TWO_RACKS + THREE_RACKS + FOUR_RACKS + EACH_SAFE
        keys = [row[0:3] for row in early]
        self.check_rows([row for row in rows if row[0:3] not in keys], multi_key=True)
        self.check_rows(early, multi_key=True)

    def test_all_agree_every_level_and_rack_count(self) -> None:
        rows: List[Row] = []
        for level in LEVELS:
            for racks in range(1, 6):
                needed = 1 if level == DC_ONE else quorum_of(racks)
                rows.append((level, [racks], g0(*[A] * racks), needed - 1, A))
                # case-only differences agree; the first reply is relayed
                replies = [A_UP] + [A, A_MIX] * racks
                rows.append((level, [racks], g0(*replies[:racks]), needed - 1, A_UP))
                # every reply an error: the first one, once quorum is impossible
                errs = [E1, E2, E3, WRONG, BLOB_ERR][:racks]
                rows.append((level, [racks], g0(*errs), racks - needed, E1))
        self.check_rows(rows)

    def test_all_differ_every_level_and_rack_count(self) -> None:
        rows: List[Row] = []
        for level in LEVELS:
            for racks in range(2, 6):
                replies = [bulk(b"v%d" % i) for i in range(racks)]
                if level == DC_ONE:
                    rows.append((level, [racks], g0(*replies), 0, replies[0]))
                    continue
                quorum = quorum_of(racks)
                # decided once the votes left cannot make a quorum: 1 + pending < quorum
                index = racks - quorum + 1
                expected = QF if level in (DC_SAFE_QUORUM, DC_EACH_SAFE_QUORUM) else replies[0]
                rows.append((level, [racks], g0(*replies), index, expected))
        self.check_rows(rows)

    def test_quorum_sizes(self) -> None:
        self.assertEqual([quorum_of(n) for n in range(1, 8)], [1, 2, 2, 3, 3, 4, 4])


class CollectorOptionsTests(unittest.TestCase):
    MEMCACHE_QF = b"SERVER_ERROR Dynomite: Failed to achieve Quorum\r\n"

    @staticmethod
    def memcache_error(reply: bytes) -> bool:
        return reply.startswith((b"ERROR", b"CLIENT_ERROR", b"SERVER_ERROR"))

    def test_memcache_errors_and_quorum_failure(self) -> None:
        value = b"VALUE k 0 1\r\na\r\nEND\r\n"
        other = b"VALUE k 0 1\r\nb\r\nEND\r\n"
        err = b"SERVER_ERROR Storage: Datastore refused connection\r\n"
        collector = QuorumCollector(
            SQ, [3], is_error=self.memcache_error, quorum_failed=self.MEMCACHE_QF
        )
        self.assertIsNone(collector.add(0, value))
        self.assertIsNone(collector.add(0, err))
        self.assertEqual(collector.add(0, other), self.MEMCACHE_QF)

        collector = QuorumCollector(Q, [3], is_error=self.memcache_error)
        self.assertIsNone(collector.add(0, err))
        self.assertIsNone(collector.add(0, value))
        self.assertEqual(collector.add(0, other), value)

        collector = QuorumCollector(Q, [3], is_error=self.memcache_error)
        self.assertIsNone(collector.add(0, b"ERROR\r\n"))
        self.assertEqual(collector.add(0, err), b"ERROR\r\n")

    def test_multi_key_ignores_non_resp(self) -> None:
        collector = QuorumCollector(Q, [2], multi_key=True, is_error=self.memcache_error)
        self.assertIsNone(collector.add(0, b"STORED\r\n"))
        self.assertEqual(collector.add(0, b"NOT_STORED\r\n"), b"STORED\r\n")

    def test_outstanding_and_decided(self) -> None:
        collector = QuorumCollector(ESQ, [3, 2])
        self.assertEqual(collector.outstanding, 5)
        self.assertFalse(collector.decided)
        self.assertIsNone(collector.reply)
        self.assertIsNone(collector.add(1, A))
        self.assertIsNone(collector.add(0, A))
        self.assertIsNone(collector.add(1, A))
        self.assertFalse(collector.decided)
        self.assertEqual(collector.add(0, A), A)
        self.assertTrue(collector.decided)
        self.assertEqual(collector.outstanding, 1)
        self.assertIsNone(collector.add(0, B))
        self.assertEqual(collector.outstanding, 0)
        self.assertEqual(collector.reply, A)

    def test_more_replies_than_expected(self) -> None:
        collector = QuorumCollector(Q, [1, 2])
        collector.add(0, A)
        self.assertRaises(ValueError, collector.add, 0, A)
        self.assertRaises(IndexError, collector.add, 2, A)

    def test_bad_arguments(self) -> None:
        self.assertRaises(ValueError, QuorumCollector, "DC_TWO", [1])
        self.assertRaises(ValueError, QuorumCollector, "dc_quorum", [1])
        self.assertRaises(ValueError, QuorumCollector, Q, [])
        self.assertRaises(ValueError, QuorumCollector, Q, [3, 0])

    def test_default_quorum_failed_text(self) -> None:
        self.assertEqual(QF, b"-ERR Dynomite: Failed to achieve Quorum\r\n")


class ParseLevelTests(unittest.TestCase):
    def test_levels(self) -> None:
        self.assertEqual(LEVELS, (ONE, Q, SQ, ESQ))
        for name in LEVELS:
            self.assertEqual(parse_level(name.encode()), name)
            self.assertEqual(parse_level(name.lower().encode()), name)
        self.assertEqual(parse_level(b"Dc_Safe_Quorum"), SQ)
        self.assertIsNone(parse_level(b"dc_two"))
        self.assertIsNone(parse_level(b""))

    def test_no_twisted(self) -> None:
        """The core is plain Python: nothing of Twisted in the module's imports."""
        import dynotwist.core.coalesce as coalesce_module

        for module in (consistency, coalesce_module):
            with open(module.__file__ or "") as f:
                self.assertNotIn("twisted", f.read())


# -- property: always exactly one decision once every expected reply is in --------------
GOOD_POOL = [
    A,
    A_UP,
    B,
    C,
    NIL,
    NIL3,
    b":1\r\n",
    b":2\r\n",
    b"+OK\r\n",
    arr(b"a", b"b"),
    arr(b"a", b"x"),
    arr(b"z", b"b"),
    arr(b"a"),
    b"*0\r\n",
]
ERROR_POOL = [E1, E2, E3, WRONG, BLOB_ERR]


@st.composite
def feeds(draw: st.DrawFn) -> Tuple[str, List[int], List[Tuple[int, bytes]], bool]:
    level = draw(st.sampled_from(LEVELS))
    groups = draw(st.integers(1, 4)) if level == ESQ else draw(st.integers(1, 2))
    sizes = draw(st.lists(st.integers(1, 6), min_size=groups, max_size=groups))
    slots = [g for g, size in enumerate(sizes) for _ in range(size)]
    order = draw(st.permutations(slots))
    pool = st.sampled_from(GOOD_POOL + ERROR_POOL) | st.sampled_from(ERROR_POOL)
    feed = [(g, draw(pool)) for g in order]
    return level, sizes, feed, draw(st.booleans())


class CollectorPropertyTests(unittest.TestCase):
    @given(feeds())
    @settings(max_examples=1500, deadline=None)
    def test_decides_exactly_once(
        self, case: Tuple[str, List[int], List[Tuple[int, bytes]], bool]
    ) -> None:
        level, sizes, feed, multi_key = case
        collector = QuorumCollector(level, sizes, multi_key=multi_key)
        answers: List[Optional[bytes]] = [collector.add(g, reply) for g, reply in feed]
        decisions = [answer for answer in answers if answer is not None]
        self.assertEqual(len(decisions), 1)
        self.assertTrue(collector.decided)
        self.assertEqual(collector.outstanding, 0)
        self.assertEqual(collector.reply, decisions[0])
        fed = {reply for _, reply in feed}
        if not multi_key:
            self.assertTrue(decisions[0] in fed or decisions[0] == QF)
        if all(g != 0 or reply in ERROR_POOL for g, reply in feed):
            # every local reply an error: an error, and one that was received
            self.assertIn(decisions[0], ERROR_POOL)

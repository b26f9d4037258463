"""Tests for dynotwist.core.coalesce: fragment replies -> the client's one reply."""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from dynotwist import errors
from dynotwist.core.coalesce import INCONSISTENT_REPLIES, coalesce, split_array
from tests.support.resp import bulk


def arr(*elements: bytes, kind: bytes = b"*") -> bytes:
    return kind + b"%d\r\n" % len(elements) + b"".join(elements)


NIL2 = b"$-1\r\n"
NIL3 = b"_\r\n"
E1 = errors.PEER_NOT_CONNECTED
E2 = errors.DATASTORE_REFUSED
WRONG = b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n"
BLOB_ERR = b"!21\r\nSYNTAX invalid syntax\r\n"

NESTED = arr(arr(b":1\r\n", arr()), b"%1\r\n+k\r\n*1\r\n$1\r\nv\r\n")
ATTRIBUTED = b"|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n"  # an attribute and the reply it annotates

# (reply, elements) for aggregates; elements None for what is not an array/set/push
SPLIT_TABLE: List[Tuple[bytes, Optional[List[bytes]]]] = [
    (b"*0\r\n", []),
    (b"~0\r\n", []),
    (arr(bulk(b"a"), NIL2), [bulk(b"a"), NIL2]),
    (arr(bulk(b"a\r\nb"), bulk(b"")), [bulk(b"a\r\nb"), bulk(b"")]),  # CRLF inside a bulk
    (
        arr(NIL3, b",1.5\r\n", b"#t\r\n", b"(12345678901234567890\r\n", b"=7\r\ntxt:abc\r\n"),
        [NIL3, b",1.5\r\n", b"#t\r\n", b"(12345678901234567890\r\n", b"=7\r\ntxt:abc\r\n"],
    ),
    (arr(b"+OK\r\n", b":-3\r\n", WRONG, BLOB_ERR), [b"+OK\r\n", b":-3\r\n", WRONG, BLOB_ERR]),
    (arr(bulk(b"x"), bulk(b"y"), kind=b"~"), [bulk(b"x"), bulk(b"y")]),
    (arr(bulk(b"message"), bulk(b"chan"), kind=b">"), [bulk(b"message"), bulk(b"chan")]),
    (arr(NESTED, bulk(b"z")), [NESTED, bulk(b"z")]),
    (arr(ATTRIBUTED, NIL3), [ATTRIBUTED, NIL3]),
    (arr(arr(), arr(NIL2)), [arr(), arr(NIL2)]),
    (arr(b"*-1\r\n"), [b"*-1\r\n"]),
    # not aggregates of a list of elements
    (b"", None),
    (bulk(b"a"), None),
    (NIL2, None),
    (NIL3, None),
    (b":1\r\n", None),
    (b"+OK\r\n", None),
    (WRONG, None),
    (b"*-1\r\n", None),  # null array
    (b"%1\r\n+a\r\n+b\r\n", None),  # map
    (b"VALUE k 0 1\r\na\r\nEND\r\n", None),  # memcache
    # not one whole, well-formed reply
    (b"*1", None),
    (b"*x\r\n", None),
    (b"*\r\n", None),
    (arr(bulk(b"a"))[:-2], None),  # truncated
    (b"*2\r\n$1\r\na\r\n", None),  # an element missing
    (b"*1\r\n:1\r\n:2\r\n", None),  # an element too many
    (b"*0\r\n:1\r\n", None),
    (b"*1\r\n?x\r\n", None),  # not RESP
    (b"*1\r\n$x\r\nab\r\n", None),
]


class SplitArrayTests(unittest.TestCase):
    def test_table(self) -> None:
        for reply, expected in SPLIT_TABLE:
            self.assertEqual(split_array(reply), expected, reply)

    @given(
        st.lists(
            st.sampled_from(
                [
                    bulk(b"v"),
                    NIL2,
                    NIL3,
                    b":7\r\n",
                    NESTED,
                    ATTRIBUTED,
                    BLOB_ERR,
                    bulk(b"\r\n*2\r\n"),
                ]
            ),
            max_size=12,
        ),
        st.sampled_from([b"*", b"~", b">"]),
    )
    @settings(max_examples=300, deadline=None)
    def test_round_trip(self, elements: List[bytes], kind: bytes) -> None:
        self.assertEqual(split_array(arr(*elements, kind=kind)), elements)


# (command, fragment replies, positions, expected)
CoalesceRow = Tuple[str, Sequence[bytes], Sequence[Tuple[int, int]], bytes]

MGET_ROWS: List[CoalesceRow] = [
    # keys k0 k1 k2 k3: k0, k2 on fragment 0; k1, k3 on fragment 1
    (
        "mget",
        [arr(bulk(b"v0"), bulk(b"v2")), arr(bulk(b"v1"), NIL2)],
        [(0, 0), (1, 0), (0, 1), (1, 1)],
        arr(bulk(b"v0"), bulk(b"v1"), bulk(b"v2"), NIL2),
    ),
    # RESP3 datastore: nil is _, relayed as it is
    (
        "mget",
        [arr(NIL3, bulk(b"v2")), arr(bulk(b"v1"))],
        [(0, 0), (1, 0), (0, 1)],
        arr(NIL3, bulk(b"v1"), bulk(b"v2")),
    ),
    # one fragment, one key
    ("mget", [arr(bulk(b"only"))], [(0, 0)], arr(bulk(b"only"))),
    # fragments in any order; three fragments
    (
        "mget",
        [arr(bulk(b"c")), arr(bulk(b"a")), arr(bulk(b"b"), bulk(b"d"))],
        [(1, 0), (2, 0), (0, 0), (2, 1)],
        arr(bulk(b"a"), bulk(b"b"), bulk(b"c"), bulk(b"d")),
    ),
    # any element type, nested ones too
    (
        "mget",
        [arr(NESTED, ATTRIBUTED), arr(b"=7\r\ntxt:abc\r\n")],
        [(1, 0), (0, 1), (0, 0)],
        arr(b"=7\r\ntxt:abc\r\n", ATTRIBUTED, NESTED),
    ),
    # a set reply from a fragment (RESP3) still gives the client an array
    (
        "mget",
        [arr(bulk(b"a"), kind=b"~"), arr(bulk(b"b"))],
        [(0, 0), (1, 0)],
        arr(bulk(b"a"), bulk(b"b")),
    ),
    # a key asked twice, answered once by its fragment
    (
        "mget",
        [arr(bulk(b"a")), arr(bulk(b"b"))],
        [(0, 0), (1, 0), (0, 0)],
        arr(bulk(b"a"), bulk(b"b"), bulk(b"a")),
    ),
    ("mget", [], [], b"*0\r\n"),
]

SUM_ROWS: List[CoalesceRow] = [
    ("del", [b":1\r\n", b":0\r\n", b":2\r\n"], [(0, 0), (1, 0), (2, 0), (2, 1)], b":3\r\n"),
    ("unlink", [b":1\r\n", b":0\r\n", b":2\r\n"], [], b":3\r\n"),
    ("exists", [b":1\r\n", b":1\r\n", b":2\r\n"], [(0, 0), (1, 0), (2, 0), (2, 1)], b":4\r\n"),
    ("touch", [b":0\r\n", b":2\r\n"], [(0, 0), (1, 0), (1, 1)], b":2\r\n"),
    ("del", [b":0\r\n"], [(0, 0)], b":0\r\n"),
    ("exists", [b":12\r\n", b":30\r\n"], [], b":42\r\n"),
    ("del", [], [], b":0\r\n"),
]

MSET_ROWS: List[CoalesceRow] = [
    ("mset", [b"+OK\r\n", b"+OK\r\n"], [(0, 0), (1, 0)], b"+OK\r\n"),
    ("mset", [b"+OK\r\n"], [(0, 0)], b"+OK\r\n"),
]

ERROR_ROWS: List[CoalesceRow] = [
    # the first error in fragment order, verbatim
    ("mget", [arr(bulk(b"a")), E1, WRONG], [(0, 0), (1, 0), (2, 0)], E1),
    ("mget", [WRONG, E1], [(0, 0), (1, 0)], WRONG),
    ("mget", [arr(bulk(b"a")), BLOB_ERR], [(0, 0), (1, 0)], BLOB_ERR),
    ("mget", [b":1\r\n", E2], [(0, 0), (1, 0)], E2),  # an error beats a wrong shape
    ("del", [b":1\r\n", E2, E1], [], E2),
    ("unlink", [errors.QUORUM_FAILED, b":1\r\n"], [], errors.QUORUM_FAILED),
    ("exists", [b":1\r\n", WRONG], [], WRONG),
    ("touch", [E1], [], E1),
    ("mset", [b"+OK\r\n", errors.PEER_REFUSED], [], errors.PEER_REFUSED),
    ("mset", [E2, E1], [], E2),
]

WRONG_SHAPE_ROWS: List[CoalesceRow] = [
    ("mget", [arr(bulk(b"a")), b":1\r\n"], [(0, 0), (1, 0)], INCONSISTENT_REPLIES),
    ("mget", [arr(bulk(b"a")), bulk(b"b")], [(0, 0), (1, 0)], INCONSISTENT_REPLIES),
    ("mget", [arr(bulk(b"a")), b"*-1\r\n"], [(0, 0), (1, 0)], INCONSISTENT_REPLIES),
    ("mget", [b"%1\r\n+a\r\n+b\r\n"], [(0, 0)], INCONSISTENT_REPLIES),
    # fewer elements than keys asked of the fragment
    ("mget", [arr(bulk(b"a")), arr(bulk(b"b"))], [(0, 0), (1, 0), (0, 1)], INCONSISTENT_REPLIES),
    # more elements than keys asked of the fragment
    (
        "mget",
        [arr(bulk(b"a"), bulk(b"x")), arr(bulk(b"b"))],
        [(0, 0), (1, 0)],
        INCONSISTENT_REPLIES,
    ),
    ("mget", [arr(bulk(b"a"))], [(0, 0), (1, 0)], INCONSISTENT_REPLIES),  # no fragment 1
    ("mget", [arr(bulk(b"a"))], [(0, -1)], INCONSISTENT_REPLIES),
    (
        "mget",
        [arr(bulk(b"a")), b"*2\r\n$1\r\nb\r\n"],
        [(0, 0), (1, 0), (1, 1)],
        INCONSISTENT_REPLIES,
    ),  # truncated
    ("del", [b":1\r\n", bulk(b"1")], [], INCONSISTENT_REPLIES),
    ("del", [b":1\r\n", b":x\r\n"], [], INCONSISTENT_REPLIES),
    ("exists", [b":1\r\n", b":1"], [], INCONSISTENT_REPLIES),
    ("touch", [b"+OK\r\n"], [], INCONSISTENT_REPLIES),
    ("unlink", [arr(b":1\r\n")], [], INCONSISTENT_REPLIES),
    ("mset", [b"+OK\r\n", b"+QUEUED\r\n"], [], INCONSISTENT_REPLIES),
    ("mset", [b"+OK\r\n", bulk(b"OK")], [], INCONSISTENT_REPLIES),
    ("mset", [b":1\r\n"], [], INCONSISTENT_REPLIES),
]


class CoalesceTests(unittest.TestCase):
    def check_rows(self, rows: Sequence[CoalesceRow]) -> None:
        for command, replies, positions, expected in rows:
            self.assertEqual(
                coalesce(command, replies, positions), expected, (command, replies, positions)
            )

    def test_mget(self) -> None:
        self.check_rows(MGET_ROWS)

    def test_sums(self) -> None:
        self.check_rows(SUM_ROWS)

    def test_mset(self) -> None:
        self.check_rows(MSET_ROWS)

    def test_errors(self) -> None:
        self.check_rows(ERROR_ROWS)

    def test_wrong_shapes(self) -> None:
        self.check_rows(WRONG_SHAPE_ROWS)

    def test_inconsistent_text(self) -> None:
        self.assertEqual(
            INCONSISTENT_REPLIES, b"-ERR dynotwist: inconsistent replies from replicas\r\n"
        )

    def test_unknown_command(self) -> None:
        self.assertRaises(ValueError, coalesce, "get", [bulk(b"a")], [(0, 0)])
        self.assertRaises(ValueError, coalesce, "MGET", [arr(bulk(b"a"))], [(0, 0)])

    @given(st.lists(st.integers(0, 3), min_size=1, max_size=30), st.booleans())
    @settings(max_examples=300, deadline=None)
    def test_mget_any_split(self, owners: List[int], resp3: bool) -> None:
        """Keys split among fragments in any way come back in the client's order."""
        values = [NIL3 if resp3 and i % 3 == 0 else bulk(b"v%d" % i) for i in range(len(owners))]
        fragments: List[List[bytes]] = [[] for _ in range(4)]
        positions = []
        for i, owner in enumerate(owners):
            positions.append((owner, len(fragments[owner])))
            fragments[owner].append(values[i])
        replies = [arr(*elements) for elements in fragments]
        self.assertEqual(coalesce("mget", replies, positions), arr(*values))

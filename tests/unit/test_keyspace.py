"""KEYS, SCAN, DBSIZE, RANDOMKEY and INFO's keyspace merged over the local rack."""

from __future__ import annotations

from twisted.trial import unittest

from dynotwist.core import keyspace
from dynotwist.core.coalesce import INCONSISTENT_REPLIES

ERROR = b"-ERR Peer: Peer Node is not connected\r\n"


def scan(cursor: bytes, *keys: bytes) -> bytes:
    return b"*2\r\n$%d\r\n%s\r\n*%d\r\n%s" % (
        len(cursor), cursor, len(keys), b"".join(b"$%d\r\n%s\r\n" % (len(k), k) for k in keys)
    )


class MergeTests(unittest.TestCase):
    def test_keys(self) -> None:
        merged = keyspace.merge_keys(
            [b"*1\r\n$1\r\na\r\n", b"*0\r\n", b"*2\r\n$1\r\nb\r\n$1\r\nc\r\n"]
        )
        self.assertEqual(merged, b"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n")
        self.assertEqual(keyspace.merge_keys([b"*0\r\n", ERROR]), ERROR)
        self.assertEqual(keyspace.merge_keys([b"+OK\r\n"]), INCONSISTENT_REPLIES)

    def test_dbsize(self) -> None:
        self.assertEqual(keyspace.merge_dbsize([b":3\r\n", b":0\r\n", b":4\r\n"]), b":7\r\n")
        self.assertEqual(keyspace.merge_dbsize([b":3\r\n", ERROR]), ERROR)
        self.assertEqual(keyspace.merge_dbsize([b"$1\r\n3\r\n"]), INCONSISTENT_REPLIES)

    def test_randomkey(self) -> None:
        def first(keys):
            return keys[0]

        self.assertEqual(
            keyspace.merge_randomkey([b"$-1\r\n", b"$1\r\nk\r\n"], first), b"$1\r\nk\r\n"
        )
        self.assertEqual(keyspace.merge_randomkey([b"_\r\n", b"_\r\n"], first), b"_\r\n")
        self.assertEqual(keyspace.merge_randomkey([b"$-1\r\n", ERROR], first), ERROR)

    def test_keyspace_of_info(self) -> None:
        a = (
            b"$60\r\n# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=100\r\n"
            b"db1:keys=1,expires=0,avg_ttl=0\r\n"
        )
        b = b"# Keyspace\r\ndb0:keys=5,expires=3,avg_ttl=300,subexpiry=0\r\n"
        self.assertEqual(
            keyspace.merge_keyspace([a, b]), {b"db0": (8, 4, 250), b"db1": (1, 0, 0)}
        )
        self.assertEqual(keyspace.merge_keyspace([b"# Keyspace\r\n"]), {})


class ScanCursorTests(unittest.TestCase):
    def test_cursor_names_the_node_and_its_cursor(self) -> None:
        self.assertEqual(keyspace.decode_cursor(b"0", 3), (0, 0))
        self.assertEqual(keyspace.decode_cursor(b"2", 3), (2, 0))
        self.assertEqual(keyspace.decode_cursor(b"22", 3), (1, 7))
        self.assertEqual(keyspace.decode_cursor(b"22", 1), (0, 22))  # one node: unchanged
        for bad in (b"x", b"-1", b"1.5", b"", b"18446744073709551616"):
            self.assertIsNone(keyspace.decode_cursor(bad, 3), bad)

    def test_a_scan_visits_every_node_in_turn(self) -> None:
        # node 0 answers cursor 7 then 0; node 1 answers 0; node 2 answers 0: the end
        reply = keyspace.scan_reply(scan(b"7", b"a"), 0, 3)
        self.assertEqual(reply, scan(b"21", b"a"))
        self.assertEqual(keyspace.decode_cursor(b"21", 3), (0, 7))
        self.assertEqual(keyspace.scan_reply(scan(b"0", b"b"), 0, 3), scan(b"1", b"b"))
        self.assertEqual(keyspace.scan_reply(scan(b"0"), 1, 3), scan(b"2"))
        self.assertEqual(keyspace.scan_reply(scan(b"0", b"c"), 2, 3), scan(b"0", b"c"))
        self.assertEqual(keyspace.scan_reply(scan(b"5"), 0, 1), scan(b"5"))
        self.assertEqual(keyspace.scan_reply(ERROR, 0, 3), ERROR)
        self.assertEqual(keyspace.scan_reply(b"*1\r\n:1\r\n", 0, 3), INCONSISTENT_REPLIES)

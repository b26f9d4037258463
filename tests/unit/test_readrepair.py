"""Read repair: Dynomite's scripts byte for byte, the requests rewritten around them,
and the decisions as tables (replies with timestamps in, the client's answer and the
repair writes out)."""

from __future__ import annotations

import ast
import os
from typing import Dict, List, Optional, Sequence, Tuple

from twisted.trial import unittest

from dynotwist import errors
from dynotwist.core import consistency as levels
from dynotwist.core.command import SINGLE, Command
from dynotwist.core.coordinator import Send
from dynotwist.core.readrepair import (
    EXISTS,
    REMOVED,
    UNKNOWN,
    CleanupAfterDelete,
    RepairDecision,
    RepairingRead,
    Versioned,
    decide,
    repairable,
)
from dynotwist.core.router import Plan
from dynotwist.core.slots import Slot
from dynotwist.proto import repair, repair_scripts
from dynotwist.proto.resp import RequestParser
from tests.unit.test_coordinator import router

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "vectors",
                       "dynomite-repair-scripts.txt")
TS = 1700000000123


def dynomite_scripts() -> Dict[str, bytes]:
    """NAME -> the bytes Dynomite sends for it ('$4\\r\\nEVAL\\r\\n$<len>\\r\\n...\\r\\n')."""
    with open(VECTORS, encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if not line.startswith("#")]
    return {lines[i]: ast.literal_eval(lines[i + 1]) for i in range(0, len(lines), 2)}


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def script_reply(status: bytes, ts: Optional[int], value: bytes) -> bytes:
    """A read script's reply: {status, ts, value} (ts None: the integer 0 of 'X')."""
    stamp = b":0\r\n" if ts is None else bulk(b"%d" % ts)
    return b"*3\r\n" + bulk(status) + stamp + value


class ScriptTests(unittest.TestCase):
    def test_scripts_are_dynomites_bytes(self) -> None:
        vectors = dynomite_scripts()
        self.assertEqual(sorted(vectors), sorted(repair_scripts.__all__))
        for name, sent in vectors.items():
            script = getattr(repair_scripts, name)
            self.assertEqual(b"$4\r\nEVAL\r\n$%d\r\n%s\r\n" % (len(script), script), sent, name)

    def test_set_request_byte_for_byte(self) -> None:
        """As Dynomite's create_redis_prtcl_script writes it."""
        sent = dynomite_scripts()["SET_SCRIPT"]
        expected = (b"*10\r\n" + sent + b"$1\r\n3\r\n$1\r\nk\r\n$9\r\n._add-set\r\n"
                    b"$9\r\n._rem-set\r\n$3\r\nSET\r\n$1\r\n0\r\n$13\r\n1700000000123\r\n"
                    b"$1\r\nv\r\n")
        self.assertEqual(repair.rewrite_write("set", [b"SET", b"k", b"v"], TS), expected)

    def test_get_request_byte_for_byte(self) -> None:
        sent = dynomite_scripts()["GET_SCRIPT"]
        expected = (b"*9\r\n" + sent + b"$1\r\n3\r\n$1\r\nk\r\n$9\r\n._add-set\r\n"
                    b"$9\r\n._rem-set\r\n$3\r\nGET\r\n$1\r\n0\r\n$13\r\n1700000000123\r\n")
        rewritten = repair.rewrite_read("get", [b"GET", b"k"], TS)
        assert rewritten is not None
        self.assertEqual(rewritten[0], expected)


def args_of(script: bytes, request: bytes) -> List[bytes]:
    """The arguments after the script, as Redis will read them."""
    ((args, _),) = RequestParser().feed(request)
    assert args[:2] == [b"EVAL", script], args[:2]
    return args[2:]


# command args -> (script, arguments after it); "ts" stands for the timestamp
WRITES: List[Tuple[List[bytes], bytes, List[bytes]]] = [
    ([b"SET", b"k", b"v"], repair_scripts.SET_SCRIPT,
     [b"3", b"k", b"._add-set", b"._rem-set", b"SET", b"0", b"ts", b"v"]),
    ([b"del", b"k"], repair_scripts.DEL_SCRIPT,  # a delete swaps the sets
     [b"3", b"k", b"._rem-set", b"._add-set", b"DEL", b"0", b"ts"]),
    ([b"HSET", b"h", b"f", b"v"], repair_scripts.HSET_SCRIPT,
     [b"3", b"h", b"._add-set", b"._rem-set", b"HSET", b"1", b"ts", b"f", b"v"]),
    ([b"HMSET", b"h", b"f1", b"v1", b"f2", b"v2"], repair_scripts.HSET_SCRIPT,
     [b"3", b"h", b"._add-set", b"._rem-set", b"HMSET", b"2", b"ts", b"f1", b"v1", b"f2",
      b"v2"]),
    ([b"HDEL", b"h", b"f1", b"f2"], repair_scripts.HDEL_SCRIPT,
     [b"3", b"h", b"._rem-set", b"._add-set", b"HDEL", b"2", b"ts", b"f1", b"f2"]),
    ([b"SADD", b"s", b"a", b"b"], repair_scripts.SADD_SCRIPT,
     [b"3", b"s", b"._add-set", b"._rem-set", b"SADD", b"2", b"ts", b"a", b"b"]),
    ([b"SREM", b"s", b"a"], repair_scripts.HDEL_SCRIPT,
     [b"3", b"s", b"._rem-set", b"._add-set", b"SREM", b"1", b"ts", b"a"]),
    ([b"ZADD", b"z", b"1", b"a", b"2.5", b"b"], repair_scripts.ZADD_SCRIPT,  # member, score
     [b"3", b"z", b"._add-set", b"._rem-set", b"ZADD", b"0", b"2", b"ts", b"a", b"1", b"b",
      b"2.5"]),
    ([b"zadd", b"z", b"nx", b"CH", b"1", b"a"], repair_scripts.ZADD_SCRIPT,
     [b"3", b"z", b"._add-set", b"._rem-set", b"ZADD", b"2", b"1", b"ts", b"nx", b"CH", b"a",
      b"1"]),
    ([b"ZREM", b"z", b"a"], repair_scripts.HDEL_SCRIPT,
     [b"3", b"z", b"._rem-set", b"._add-set", b"ZREM", b"1", b"ts", b"a"]),
    ([b"SET", b"{user}:1", b"v"], repair_scripts.SET_SCRIPT,  # the whole key, tag or not
     [b"3", b"{user}:1", b"._add-set", b"._rem-set", b"SET", b"0", b"ts", b"v"]),
]

# forms Dynomite's scheme does not cover: sent as they are
NOT_REWRITTEN = [
    [b"SET", b"k", b"v", b"EX", b"10"],
    [b"DEL", b"a", b"b"],
    [b"HSET", b"h", b"f1", b"v1", b"f2", b"v2"],
    [b"HMSET", b"h", b"f1"],
    [b"ZADD", b"z", b"NX", b"XX", b"1", b"a"],
    [b"ZADD", b"z", b"GT", b"1", b"a"],
    [b"ZADD", b"z", b"1"],
    [b"INCR", b"k"],
    [b"MSET", b"a", b"1"],
]


def stamped(arguments: Sequence[bytes]) -> List[bytes]:
    return [b"%d" % TS if a == b"ts" else a for a in arguments]


class RewriteTests(unittest.TestCase):
    def test_writes(self) -> None:
        for args, script, expected in WRITES:
            request = repair.rewrite_write(args[0].decode().lower(), args, TS)
            assert request is not None, args
            self.assertEqual(args_of(script, request), stamped(expected), args)

    def test_forms_not_covered(self) -> None:
        for args in NOT_REWRITTEN:
            self.assertIsNone(repair.rewrite_write(args[0].decode().lower(), args, TS), args)

    def test_reads(self) -> None:
        table = [
            ([b"GET", b"k"], repair_scripts.GET_SCRIPT, [b"GET", b"0"]),
            ([b"HGET", b"h", b"f"], repair_scripts.HGET_SCRIPT, [b"HGET", b"1", b"ts", b"f"]),
            ([b"SISMEMBER", b"s", b"m"], repair_scripts.HGET_SCRIPT,
             [b"SISMEMBER", b"1", b"ts", b"m"]),
            ([b"ZSCORE", b"z", b"m"], repair_scripts.HGET_SCRIPT,
             [b"ZSCORE", b"1", b"ts", b"m"]),
        ]
        for args, script, tail in table:
            rewritten = repair.rewrite_read(args[0].decode().lower(), args, TS)
            assert rewritten is not None
            got = args_of(script, rewritten[0])
            self.assertEqual(got[:4], [b"3", args[1], b"._add-set", b"._rem-set"])
            expected_tail = stamped(tail) if b"ts" in tail else [*tail, b"%d" % TS]
            self.assertEqual(got[4:], expected_tail, args)
        for args in ([b"GET", b"a", b"b"], [b"HGETALL", b"h"], [b"MGET", b"a"]):
            self.assertIsNone(repair.rewrite_read(args[0].decode().lower(), args, TS), args)

    def test_cleanup_after_deletes(self) -> None:
        (one,) = repair.cleanup("del", [b"DEL", b"k"], TS)
        self.assertEqual(args_of(repair_scripts.CLEANUP_DEL_SCRIPT, one),
                         [b"3", b"k", b"._add-set", b"._rem-set", b"UNKNOWN", b"0", b"%d" % TS])
        fields = repair.cleanup("hdel", [b"HDEL", b"h", b"f1", b"f2"], TS)
        self.assertEqual([args_of(repair_scripts.CLEANUP_HDEL_SCRIPT, r)[-1] for r in fields],
                         [b"f1", b"f2"])
        self.assertEqual(repair.cleanup("set", [b"SET", b"k", b"v"], TS), [])


class ParseTests(unittest.TestCase):
    def setUp(self) -> None:
        rewritten = repair.rewrite_read("get", [b"GET", b"k"], TS)
        assert rewritten is not None
        self.read = rewritten[1]

    def test_replies(self) -> None:
        table = [
            (script_reply(b"E", TS, bulk(b"v")), Versioned(EXISTS, TS, bulk(b"v"))),
            (script_reply(b"R", TS, b"$-1\r\n"), Versioned(REMOVED, TS, b"$-1\r\n")),
            (script_reply(b"X", None, bulk(b"v")), Versioned(UNKNOWN, 0, bulk(b"v"))),
            (script_reply(b"X", None, b"_\r\n"), Versioned(UNKNOWN, 0, b"_\r\n")),  # RESP3 nil
            (b"*3\r\n$1\r\nE\r\n$15\r\n1.7000000001e12\r\n:1\r\n",
             Versioned(EXISTS, 1700000000100, b":1\r\n")),
            (b"-ERR Error running script\r\n", None),
            (b"$1\r\nv\r\n", None),  # not a script's reply
            (b"*3\r\n$1\r\nQ\r\n:0\r\n:0\r\n", None),
            (b"*2\r\n$1\r\nE\r\n:0\r\n", None),
        ]
        for reply, version in table:
            self.assertEqual(self.read.parse(reply), version, reply)

    def test_repairs(self) -> None:
        def repaired(name: str, args: List[bytes], winner: Versioned) -> Tuple[bytes, List[bytes]]:
            rewritten = repair.rewrite_read(name, args, TS)
            assert rewritten is not None
            request = rewritten[1].repair(winner)
            ((sent, _),) = RequestParser().feed(request)
            return sent[1], sent[2:]

        newer = TS + 5
        table = [
            ("get", [b"GET", b"k"], Versioned(EXISTS, newer, bulk(b"new")),
             repair_scripts.SET_SCRIPT, [b"SET", b"0", b"%d" % newer, b"new"]),
            ("get", [b"GET", b"k"], Versioned(REMOVED, newer, b"$-1\r\n"),
             repair_scripts.DEL_SCRIPT, [b"DEL", b"0", b"%d" % newer]),
            ("hget", [b"HGET", b"h", b"f"], Versioned(EXISTS, newer, bulk(b"x")),
             repair_scripts.HSET_SCRIPT, [b"HSET", b"1", b"%d" % newer, b"f", b"x"]),
            ("hget", [b"HGET", b"h", b"f"], Versioned(REMOVED, newer, b"$-1\r\n"),
             repair_scripts.HDEL_SCRIPT, [b"HDEL", b"1", b"%d" % newer, b"f"]),
            ("sismember", [b"SISMEMBER", b"s", b"m"], Versioned(EXISTS, newer, b":1\r\n"),
             repair_scripts.SADD_SCRIPT, [b"SADD", b"1", b"%d" % newer, b"m", b"1"]),
            ("zscore", [b"ZSCORE", b"z", b"m"], Versioned(EXISTS, newer, bulk(b"2.5")),
             repair_scripts.ZADD_SCRIPT, [b"ZADD", b"0", b"1", b"%d" % newer, b"m", b"2.5"]),
            ("zscore", [b"ZSCORE", b"z", b"m"], Versioned(REMOVED, newer, b"$-1\r\n"),
             repair_scripts.HDEL_SCRIPT, [b"ZREM", b"1", b"%d" % newer, b"m"]),
        ]
        for name, args, winner, script, tail in table:
            sent_script, rest = repaired(name, args, winner)
            self.assertEqual(sent_script, script, (name, winner))
            self.assertEqual(rest[1], args[1])
            self.assertEqual(rest[4:], tail, (name, winner))


def v(status: bytes, ts: int = 0, value: bytes = b"$1\r\nv\r\n") -> Versioned:
    return Versioned(status, ts, value)


class DecisionTests(unittest.TestCase):
    def test_table(self) -> None:
        E, R, X = EXISTS, REMOVED, UNKNOWN
        table: List[Tuple[List[Optional[Versioned]], RepairDecision]] = [
            ([v(E, 5), v(E, 5), v(E, 5)], RepairDecision(0, ())),
            ([v(E, 5), v(E, 3), v(E, 5)], RepairDecision(0, (1,))),
            ([v(E, 3), v(E, 9), v(E, 5)], RepairDecision(1, (0, 2))),
            ([v(E, 3), v(R, 9), v(E, 5)], RepairDecision(1, (0, 2))),  # a newer delete wins
            ([v(R, 3), v(E, 9)], RepairDecision(1, (0,))),  # a newer write wins over it
            ([v(E, 5), v(X), v(E, 5)], RepairDecision(0, (1,))),  # missed the write altogether
            ([v(X), v(X)], RepairDecision(None, ())),  # nothing timestamped: nothing to say
            ([None, v(E, 5), v(E, 4)], RepairDecision(1, (2,))),  # an error: left alone
            ([v(E, 5), v(E, 7), v(E, 7)], RepairDecision(1, (0,))),  # a tie: the first
            ([], RepairDecision(None, ())),
        ]
        for versions, decision in table:
            self.assertEqual(decide(versions), decision, versions)

    def test_repairable_plans(self) -> None:
        route = router([3, 2])
        read = Command(SINGLE, False, [b"k"])
        self.assertTrue(repairable(route.plan(read, levels.DC_QUORUM, levels.DC_QUORUM)))
        self.assertTrue(repairable(route.plan(read, levels.DC_SAFE_QUORUM, levels.DC_ONE)))
        self.assertFalse(repairable(route.plan(read, levels.DC_ONE, levels.DC_QUORUM)))
        self.assertFalse(repairable(route.plan(read, levels.DC_EACH_SAFE_QUORUM,
                                               levels.DC_QUORUM)))


class ReadPlaybook:
    """A RepairingRead over racks ``dc1/rack1..n``: replies in, answer and repairs out."""

    def __init__(self, testcase: unittest.TestCase, racks: int, level: str) -> None:
        self.testcase = testcase
        route = router([racks])
        plan = route.plan(Command(SINGLE, False, [b"k"]), level, level)
        assert isinstance(plan, Plan)
        rewritten = repair.rewrite_read("get", [b"GET", b"k"], TS)
        assert rewritten is not None
        self.raw, self.read = rewritten
        self.repairs: List[Send] = []
        self.coordination = RepairingRead(plan, self.raw, Slot(None), self.read,
                                          self.repairs.extend)
        self.copies = {s.node.name.split("/")[1]: s.copy for s in self.coordination.start()}

    def play(self, steps: Sequence[Tuple[str, bytes, Optional[bytes]]],
             repaired: Dict[str, Optional[bytes]]) -> None:
        """Each step: (rack, its reply, the answer expected then); then the repair
        write each rack gets (its SET's value; None: a delete)."""
        for rack, reply, answer in steps:
            got = self.coordination.on_reply(self.copies[rack], reply)
            self.testcase.assertEqual(got, answer, (rack, reply))
        got_repairs: Dict[str, Optional[bytes]] = {}
        for send in self.repairs:
            ((args, _),) = RequestParser().feed(send.raw)
            got_repairs[send.node.name.split("/")[1]] = args[-1] if args[6] == b"SET" else None
        self.testcase.assertEqual(got_repairs, repaired)


def e(ts: int, value: bytes) -> bytes:
    return script_reply(b"E", ts, bulk(value))


class RepairingReadTests(unittest.TestCase):
    NEW, OLD = TS + 100, TS

    def test_agreeing_quorum_answers_then_the_stale_third_is_repaired(self) -> None:
        ReadPlaybook(self, 3, levels.DC_QUORUM).play([
            ("rack1", e(self.NEW, b"new"), None),
            ("rack2", e(self.NEW, b"new"), bulk(b"new")),  # metadata stripped
            ("rack3", e(self.OLD, b"old"), None),
        ], {"rack3": b"new"})

    def test_mismatch_waits_for_all_and_answers_the_newest(self) -> None:
        for level in (levels.DC_QUORUM, levels.DC_SAFE_QUORUM):
            ReadPlaybook(self, 3, level).play([
                ("rack1", e(self.OLD, b"old"), None),
                ("rack2", e(self.NEW, b"new"), None),
                ("rack3", script_reply(b"X", None, b"$-1\r\n"), bulk(b"new")),
            ], {"rack1": b"new", "rack3": b"new"})

    def test_newer_delete_wins(self) -> None:
        ReadPlaybook(self, 2, levels.DC_QUORUM).play([
            ("rack1", e(self.OLD, b"old"), None),
            ("rack2", script_reply(b"R", self.NEW, b"$-1\r\n"), b"$-1\r\n"),
        ], {"rack1": None})

    def test_no_timestamps_falls_back_to_quorum_rules(self) -> None:
        ReadPlaybook(self, 2, levels.DC_QUORUM).play([
            ("rack1", script_reply(b"X", None, bulk(b"a")), None),
            ("rack2", script_reply(b"X", None, bulk(b"b")), bulk(b"a")),
        ], {})
        ReadPlaybook(self, 2, levels.DC_SAFE_QUORUM).play([
            ("rack1", script_reply(b"X", None, bulk(b"a")), None),
            ("rack2", script_reply(b"X", None, bulk(b"b")), errors.QUORUM_FAILED),
        ], {})

    def test_errors_count_against_the_quorum(self) -> None:
        ReadPlaybook(self, 3, levels.DC_QUORUM).play([
            ("rack1", errors.PEER_REFUSED, None),
            ("rack2", e(self.OLD, b"old"), None),
            ("rack3", e(self.NEW, b"new"), bulk(b"new")),
        ], {"rack2": b"new"})
        ReadPlaybook(self, 3, levels.DC_QUORUM).play([
            ("rack1", errors.PEER_REFUSED, None),
            ("rack2", errors.DATASTORE_REFUSED, errors.PEER_REFUSED),  # the first error
            ("rack3", e(self.OLD, b"old"), None),
        ], {})

    def test_a_late_duplicate_counts_once(self) -> None:
        playbook = ReadPlaybook(self, 2, levels.DC_QUORUM)
        playbook.play([
            ("rack1", e(self.NEW, b"new"), None),
            ("rack1", e(self.NEW, b"new"), None),
            ("rack2", e(self.NEW, b"new"), bulk(b"new")),
        ], {})


class CleanupTests(unittest.TestCase):
    def run_delete(self, replies: Sequence[bytes]) -> List[Send]:
        route = router([3])
        plan = route.plan(Command(SINGLE, True, [b"k"]), levels.DC_QUORUM, levels.DC_QUORUM)
        assert isinstance(plan, Plan)
        sent: List[Send] = []
        cleanup = repair.cleanup("del", [b"DEL", b"k"], TS)
        raw = repair.rewrite_write("del", [b"DEL", b"k"], TS)
        assert raw is not None
        coordination = CleanupAfterDelete(plan, raw, Slot(None), cleanup, sent.extend)
        for send, reply in zip(coordination.start(), replies):
            coordination.on_reply(send.copy, reply)
        return sent

    def test_every_replica_acknowledged(self) -> None:
        sent = self.run_delete([b":1\r\n", b":1\r\n", b":0\r\n"])
        self.assertEqual([s.node.name for s in sent], ["dc1/rack1", "dc1/rack2", "dc1/rack3"])
        self.assertEqual({s.raw for s in sent}, set(repair.cleanup("del", [b"DEL", b"k"], TS)))

    def test_a_failed_replica_keeps_the_tombstones(self) -> None:
        self.assertEqual(self.run_delete([b":1\r\n", errors.PEER_REFUSED, b":1\r\n"]), [])
        self.assertEqual(self.run_delete([b":1\r\n", b":1\r\n"]), [], "one not answered yet")


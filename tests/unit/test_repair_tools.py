"""The pure parts of warm-up and anti-entropy: token ranges, which rack a warm-up
copies from, which copy anti-entropy keeps, the throttle and the progress line."""

from __future__ import annotations

from twisted.internet import task
from twisted.trial import unittest

from dynotwist.core.hashkit import get_hash
from dynotwist.core.ranges import (
    WHOLE_RING,
    contains,
    intersect,
    owned_ranges,
    parse_range,
    span,
)
from dynotwist.core.ring import MAX_TOKEN, Member, Topology
from dynotwist.proto.resp import encode_command
from dynotwist.repair.antientropy import Choice, Holding, choose
from dynotwist.repair.keys import KeyFilter, Progress, Throttle
from dynotwist.repair.warmup import rack_sources, source_racks
from tests.support.nodes import InMemoryNode


def member(name: str, dc: str, rack: str, *tokens: int, local: bool = False) -> Member:
    return Member(name, "127.0.0.1", 8101, dc, rack, tokens, local)


def topology() -> Topology:
    """dc1: rack1 (a: 100, b: 200, the local node), rack2 (c: 150 and d: 300), rack3 (e:
    0); dc2: rack1 (f: 1000)."""
    local = member("b", "dc1", "rack1", 200, local=True)
    return Topology(local, [
        member("a", "dc1", "rack1", 100),
        member("c", "dc1", "rack2", 150),
        member("d", "dc1", "rack2", 300),
        member("e", "dc1", "rack3", 0),
        member("f", "dc2", "rack1", 1000),
    ])


class RangeTests(unittest.TestCase):
    def test_owned(self) -> None:
        ring = topology().rack_ring("dc1", "rack1")
        a, b = ring.nodes[1], ring.nodes[0]
        self.assertEqual(owned_ranges(ring, b), [(101, 200)])
        self.assertEqual(owned_ranges(ring, a), [(0, 100), (201, MAX_TOKEN)])  # the wrap
        alone = topology().rack_ring("dc1", "rack3")
        self.assertEqual(owned_ranges(alone, alone.nodes[0]), WHOLE_RING)

    def test_several_tokens(self) -> None:
        local = member("x", "dc1", "r", 10, 30, local=True)
        ring = Topology(local, [member("y", "dc1", "r", 20)]).rack_ring("dc1", "r")
        # x's lowest token also owns what is above the highest one, its own 30
        self.assertEqual(owned_ranges(ring, local), [(0, 10), (21, MAX_TOKEN)])
        self.assertEqual(owned_ranges(ring, ring.nodes[1]), [(11, 20)])

    def test_operations(self) -> None:
        self.assertTrue(contains([(5, 9)], 5))
        self.assertFalse(contains([(5, 9)], 10))
        self.assertEqual(intersect([(0, 100), (201, 300)], [(50, 250)]), [(50, 100), (201, 250)])
        self.assertEqual(intersect([(0, 10)], [(11, 20)]), [])
        self.assertEqual(span([(0, 9), (20, 20)]), 11)
        self.assertEqual(span(WHOLE_RING), 2**32)

    def test_parse(self) -> None:
        self.assertEqual(parse_range("10:20"), [(10, 20)])
        self.assertEqual(parse_range("4294967290:5"), [(0, 5), (4294967290, MAX_TOKEN)])
        for bad in ("10", "a:b", "1:4294967296", "-1:5"):
            self.assertRaises(ValueError, parse_range, bad)


class WarmUpSourceTests(unittest.TestCase):
    def test_racks_tried_in_order(self) -> None:
        self.assertEqual(source_racks(topology()),
                         [("dc1", "rack2"), ("dc1", "rack3"), ("dc2", "rack1")])

    def test_the_nodes_owning_our_range(self) -> None:
        top = topology()
        wanted = owned_ranges(top.rack_ring("dc1", "rack1"), top.local)  # 101..200
        found = [(m.name, share) for m, share, _ in rack_sources(top, "dc1", "rack2", wanted)]
        self.assertEqual(found, [("c", [(101, 150)]), ("d", [(151, 200)])])
        found = [(m.name, share) for m, share, _ in rack_sources(top, "dc1", "rack3", wanted)]
        self.assertEqual(found, [("e", [(101, 200)])])


def holding(payload: object = None, written: object = None, removed: object = None
            ) -> Holding:
    return Holding(payload, 0, written, removed)  # type: ignore[arg-type]


class ChooseTests(unittest.TestCase):
    def test_table(self) -> None:
        table = [
            # the newest timestamp, whatever most racks hold
            ({"r1": holding(b"old", 1), "r2": holding(b"new", 2), "r3": holding(b"old", 1)},
             None, Choice("r2", "timestamp")),
            # a newer tombstone: the key is deleted
            ({"r1": holding(b"x", 1), "r2": holding(None, None, 5)}, None,
             Choice("r2", "timestamp")),
            # one value, some racks without it: never taken for a delete
            ({"r1": holding(b"v"), "r2": holding(), "r3": holding()}, None,
             Choice("r1", "only value")),
            ({"r1": holding(b"a"), "r2": holding(b"b"), "r3": holding(b"b")}, None,
             Choice("r2", "majority")),
            # no majority: the named rack, else nothing
            ({"r1": holding(b"a"), "r2": holding(b"b")}, "r2", Choice("r2", "source rack")),
            ({"r1": holding(b"a"), "r2": holding(b"b")}, None, None),
            ({"r1": holding(b"a"), "r2": holding(b"b"), "r3": holding()}, "r3",
             Choice("r3", "source rack")),  # even an empty one: the operator said so
        ]
        for holdings, source, expected in table:
            self.assertEqual(choose(holdings, source), expected, holdings)

    def test_deleted(self) -> None:
        self.assertTrue(holding(None, 1, 2).deleted)
        self.assertFalse(holding(b"v", 3, 2).deleted)
        self.assertEqual(holding(b"v").newest, -1)


class ThrottleTests(unittest.TestCase):
    def test_rate(self) -> None:
        clock = task.Clock()
        throttle = Throttle(clock, 100)  # 100 a second
        self.assertFalse(throttle.take(50).called)  # due at 0.5 s
        clock.advance(0.5)
        waited = throttle.take(150)  # due at 2 s
        self.assertFalse(waited.called)
        clock.advance(1.4)
        self.assertFalse(waited.called)
        clock.advance(0.2)
        self.assertTrue(waited.called)

    def test_no_limit(self) -> None:
        self.assertTrue(Throttle(task.Clock(), 0).take(10**9).called)


class ProgressTests(unittest.TestCase):
    def test_line(self) -> None:
        clock = task.Clock()
        progress = Progress(clock, expected=1000)
        clock.advance(2)
        progress.keys = 500
        progress.bytes = 2_500_000
        self.assertEqual(progress.rate(), 250)
        self.assertEqual(progress.seconds_left(), 2.0)
        line = progress.line(width=10)
        self.assertEqual(line, "[#####.....]  50% 500 keys 2.5 MB 250 keys/s ETA 2 s")
        progress.finished = clock.seconds()
        self.assertEqual(progress.fraction(), 1.0)
        self.assertIn("?", Progress(clock).line())


class KeyFilterTests(unittest.TestCase):
    def test_range_and_metadata(self) -> None:
        murmur = get_hash("murmur")
        everything = KeyFilter(murmur, None, WHOLE_RING)
        self.assertTrue(everything.wanted(b"user:1"))
        self.assertFalse(everything.wanted(b"._add-set"))
        self.assertFalse(everything.wanted(b"._rem-set_user:1"))
        token = everything.token(b"user:1")
        self.assertTrue(KeyFilter(murmur, None, [(token, token)]).wanted(b"user:1"))
        self.assertFalse(KeyFilter(murmur, None, [(token + 1, MAX_TOKEN)]).wanted(b"user:1"))
        tagged = KeyFilter(murmur, b"{}", WHOLE_RING)
        self.assertEqual(tagged.token(b"{user}:1"), tagged.token(b"{user}:2"))



class NodeWarmUpTests(unittest.TestCase):
    """The node's side, without a datastore: refusals, and what live writes mark."""

    def test_refusals(self) -> None:
        alone = InMemoryNode().node
        self.assertEqual(alone.start_warm_up(), "refused: no other rack to copy from")
        node = InMemoryNode(dyn_seeds=["127.0.0.2:8101:rack2:dc1:0"]).node
        self.assertEqual(node.start_warm_up("nowhere"),
                         "refused: the source is host:port, not 'nowhere'")
        self.assertEqual(node.warm_up_status()["state"], "idle")
        self.assertEqual(node.state, "NORMAL")
        memcache = InMemoryNode(data_store=1, dyn_seeds=["127.0.0.2:8101:rack2:dc1:0"]).node
        self.assertEqual(memcache.start_warm_up(),
                         "refused: warm-up copies Redis datastores only")

    def test_live_writes_are_marked(self) -> None:
        node = InMemoryNode(dyn_seeds=["127.0.0.2:8101:rack2:dc1:0"]).node
        warm_up = node.warm_up
        warm_up.observe(encode_command([b"SET", b"k1", b"v"]))
        warm_up.observe(encode_command([b"DEL", b"k2", b"k3"]))
        warm_up.observe(b"garbage")
        self.assertEqual(warm_up.touched, {b"k1", b"k2", b"k3"})

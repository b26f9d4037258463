"""The router: Dynomite's coordinator algorithm as plans, checked against topologies."""

from __future__ import annotations

from typing import List

from twisted.trial import unittest

from dynotwist.core import consistency as levels
from dynotwist.core.hashkit import get_hash
from dynotwist.core.ring import Member, Topology
from dynotwist.core.router import SPANS_NODES, Fragmented, Plan, RackWide, Router
from dynotwist.proto import commands
from dynotwist.proto.dnode import DMSG_REQ, DMSG_REQ_FORWARD

ONE, QUORUM, SAFE, EACH = (
    levels.DC_ONE,
    levels.DC_QUORUM,
    levels.DC_SAFE_QUORUM,
    levels.DC_EACH_SAFE_QUORUM,
)
HALF = 2147483647


def node(name: str, dc: str, rack: str, tokens=(0,), local: bool = False) -> Member:
    return Member(name, "127.0.0.1", 8101, dc, rack, tuple(tokens), is_local=local)


def three_racks() -> Router:
    """1 DC x 3 racks, two nodes per rack (tokens 0 and HALF); we are a/rack1 token 0."""
    nodes = [
        node("%s%d" % (rack, i), "dc1", rack, (token,), local=(rack, i) == ("rack1", 0))
        for rack in ("rack1", "rack2", "rack3")
        for i, token in enumerate((0, HALF))
    ]
    local = next(n for n in nodes if n.is_local)
    return Router(Topology(local, [n for n in nodes if not n.is_local]), get_hash("murmur"))


def two_dcs() -> Router:
    """2 DCs x 2 racks, one node per rack; we are dc1/rack1."""
    nodes = [
        node("%s-%s" % (dc, rack), dc, rack, local=(dc, rack) == ("dc1", "rack1"))
        for dc in ("dc1", "dc2")
        for rack in ("rack1", "rack2")
    ]
    local = next(n for n in nodes if n.is_local)
    return Router(Topology(local, [n for n in nodes if not n.is_local]), get_hash("murmur"))


def plan(router: Router, *args: bytes, read: str = ONE, write: str = ONE):
    """The Redis client port's routing: the request described, then planned (or the
    error reply refusing it)."""
    argv = list(args)
    spec = commands.lookup(argv)
    assert spec is not None
    command = commands.describe(spec, argv)
    if isinstance(command, bytes):
        return command
    routed = router.plan(command, read, write)
    return commands.spans_nodes_error(spec) if routed is SPANS_NODES else routed


def fragments(args: List[bytes], routed: Fragmented) -> List[List[bytes]]:
    spec = commands.lookup(args)
    assert spec is not None
    return [commands.fragment(spec, args, keys) for keys, _ in routed.parts]


def names(p: Plan) -> List[str]:
    return [t.node.name for t in p.targets]


def key_owned_by(router: Router, owner_suffix: str, prefix: bytes = b"k") -> bytes:
    for i in range(10000):
        key = prefix + b"%d" % i
        if router.owner(key).name.endswith(owner_suffix):
            return key
    raise AssertionError("no key found")


class SingleKeyTests(unittest.TestCase):
    def setUp(self) -> None:
        self.router = three_racks()
        self.key = key_owned_by(self.router, "1")  # owned by the token-HALF nodes

    def test_dc_one_read_goes_to_the_local_rack_owner_only(self) -> None:
        p = plan(self.router, b"GET", self.key)
        self.assertEqual(names(p), ["rack11"])
        self.assertEqual(p.level, ONE)

    def test_dc_one_read_fails_over_to_the_next_racks(self) -> None:
        p = plan(self.router, b"GET", self.key)
        self.assertEqual([n.name for n in p.targets[0].alternates], ["rack21", "rack31"])

    def test_dc_one_write_goes_to_every_rack_local_rack_first(self) -> None:
        p = plan(self.router, b"SET", self.key, b"v")
        self.assertEqual(names(p), ["rack11", "rack21", "rack31"])
        self.assertEqual(p.level, ONE)
        self.assertEqual([t.msg_type for t in p.targets], [DMSG_REQ] * 3)

    def test_quorum_reads_and_writes_count_every_local_rack(self) -> None:
        for level in (QUORUM, SAFE):
            p = plan(self.router, b"GET", self.key, read=level)
            self.assertEqual(names(p), ["rack11", "rack21", "rack31"])
            self.assertEqual((p.level, p.group_sizes), (level, (3,)))
            self.assertEqual([t.group for t in p.targets], [0, 0, 0])
            w = plan(self.router, b"SET", self.key, b"v", write=level)
            self.assertEqual(w.group_sizes, (3,))

    def test_key_owned_locally(self) -> None:
        key = key_owned_by(self.router, "0")
        p = plan(self.router, b"GET", key)
        self.assertTrue(p.targets[0].node.is_local)

    def test_local_datastore_and_all_nodes_routes(self) -> None:
        self.assertEqual(names(plan(self.router, b"TIME")), ["rack10"])
        p = plan(self.router, b"SCRIPT", b"FLUSH")
        self.assertEqual(len(p.targets), 6)
        self.assertTrue(p.targets[0].node.is_local)
        self.assertEqual({t.group for t in p.targets[1:]}, {-1})

    def test_keyspace_commands_cover_the_local_rack(self) -> None:
        for args in ((b"DBSIZE",), (b"KEYS", b"*"), (b"SCAN", b"0"), (b"RANDOMKEY",)):
            routed = plan(self.router, *args, read=SAFE)
            self.assertIsInstance(routed, RackWide, args)
            # one DC_ONE part per node of the local rack, by their lowest token
            self.assertEqual([names(p) for p in routed.parts], [["rack10"], ["rack11"]])
            self.assertEqual({p.level for p in routed.parts}, {ONE})
        self.assertEqual([n.name for n in self.router.rack_members], ["rack10", "rack11"])

    def test_keyspace_commands_with_one_node_per_rack_are_local(self) -> None:
        router = two_dcs()
        self.assertEqual(names(plan(router, b"KEYS", b"*")), ["dc1-rack1"])

    def test_local_rack_owner_route_ignores_consistency(self) -> None:
        p = plan(self.router, b"HGETALL", self.key, read=SAFE)
        self.assertEqual((names(p), p.level), (["rack11"], ONE))

    def test_any_number_of_racks(self) -> None:
        nodes = [node("r%d" % i, "dc1", "rack%d" % i, local=i == 0) for i in range(5)]
        router = Router(Topology(nodes[0], nodes[1:]), get_hash("murmur"))
        p = plan(router, b"GET", b"x", read=QUORUM)
        self.assertEqual((len(p.targets), p.group_sizes), (5, (5,)))


class DatacenterTests(unittest.TestCase):
    def setUp(self) -> None:
        self.router = two_dcs()

    def test_write_goes_to_local_racks_and_one_preselected_remote_rack(self) -> None:
        p = plan(self.router, b"SET", b"k", b"v")
        self.assertEqual(names(p), ["dc1-rack1", "dc1-rack2", "dc2-rack1"])
        remote = p.targets[2]
        self.assertEqual((remote.msg_type, remote.group), (DMSG_REQ_FORWARD, -1))
        self.assertEqual([n.name for n in remote.alternates], ["dc2-rack2"])

    def test_read_fails_over_to_this_dc_then_the_preselected_remote_rack(self) -> None:
        p = plan(self.router, b"GET", b"k")
        self.assertEqual(names(p), ["dc1-rack1"])
        self.assertEqual(
            [n.name for n in p.targets[0].alternates], ["dc1-rack2", "dc2-rack1", "dc2-rack2"]
        )

    def test_reads_never_leave_the_dc_below_each_safe_quorum(self) -> None:
        for level in (ONE, QUORUM, SAFE):
            p = plan(self.router, b"GET", b"k", read=level)
            self.assertTrue(all(t.node.dc == "dc1" for t in p.targets))

    def test_each_safe_quorum_counts_every_rack_of_every_dc_by_dc(self) -> None:
        p = plan(self.router, b"GET", b"k", read=EACH)
        self.assertEqual(names(p), ["dc1-rack1", "dc1-rack2", "dc2-rack1", "dc2-rack2"])
        self.assertEqual([t.group for t in p.targets], [0, 0, 1, 1])
        self.assertEqual(p.group_sizes, (2, 2))
        self.assertEqual({t.msg_type for t in p.targets}, {DMSG_REQ})

    def test_forwarded_write_fans_out_in_this_dc_only(self) -> None:
        p = self.router.local_dc_fanout(self.router.token(b"k"))
        self.assertEqual(names(p), ["dc1-rack1", "dc1-rack2"])
        self.assertEqual(p.level, ONE)


class MultiKeyTests(unittest.TestCase):
    def setUp(self) -> None:
        self.router = three_racks()
        self.k0 = key_owned_by(self.router, "0", b"a")
        self.k1 = key_owned_by(self.router, "1", b"b")
        self.k0b = key_owned_by(self.router, "0", b"c")

    def test_mget_is_split_by_owner_in_key_order(self) -> None:
        args = [b"MGET", self.k1, self.k0, self.k0b]
        p = plan(self.router, *args)
        self.assertIsInstance(p, Fragmented)
        self.assertEqual([keys for keys, _ in p.parts], [(0,), (1, 2)])
        self.assertEqual(fragments(args, p), [[b"mget", self.k1], [b"mget", self.k0, self.k0b]])
        self.assertEqual(p.positions, ((0, 0), (1, 0), (1, 1)))
        self.assertEqual(names(p.parts[0][1]), ["rack11"])

    def test_mset_keeps_values_with_their_keys(self) -> None:
        args = [b"MSET", self.k0, b"1", self.k1, b"2"]
        p = plan(self.router, *args)
        self.assertEqual(fragments(args, p), [[b"mset", self.k0, b"1"], [b"mset", self.k1, b"2"]])
        self.assertEqual(len(p.parts[0][1].targets), 3)  # writes: every rack

    def test_keys_on_one_owner_are_not_split(self) -> None:
        p = plan(self.router, b"DEL", self.k0, self.k0b)
        self.assertIsInstance(p, Plan)

    def test_colocated_commands_need_one_owner(self) -> None:
        reply = plan(self.router, b"SINTERSTORE", self.k0, self.k1)
        self.assertIsInstance(reply, bytes)
        self.assertIn(b"sinterstore", reply)
        self.assertIsInstance(plan(self.router, b"RENAME", self.k0, self.k0b), Plan)

    def test_hash_tags_colocate(self) -> None:
        router = Router(three_racks().topology, get_hash("murmur"), b"{}")
        p = plan(router, b"SINTERSTORE", b"{u1}:a", b"{u1}:b")
        self.assertIsInstance(p, Plan)

    def test_eval_rules(self) -> None:
        self.assertEqual(plan(self.router, b"EVAL", b"return 1", b"0"), commands.EVAL_NEEDS_A_KEY)
        spans = plan(self.router, b"EVAL", b"return 1", b"2", self.k0, self.k1)
        self.assertEqual(spans, commands.SCRIPT_SPANS_NODES)
        p = plan(self.router, b"EVAL", b"return 1", b"1", self.k1)
        self.assertEqual(names(p), ["rack11", "rack21", "rack31"])

    def test_bad_numkeys_is_the_commands_error(self) -> None:
        reply = plan(self.router, b"EVAL", b"return 1", b"x")
        self.assertTrue(reply.startswith(b"-ERR"))


class PlanCacheTests(unittest.TestCase):
    def test_cached_plans_equal_fresh_ones_even_with_unequal_rack_layouts(self) -> None:
        import random

        rng = random.Random(7)
        nodes = [node("l", "dc1", "rack1", (100, 3000000000), local=True)]
        for rack, tokens in (("rack2", (5, 2000000000, 4000000000)), ("rack3", (1234567,))):
            nodes.extend(node("%s-%d" % (rack, t), "dc1", rack, (t,)) for t in tokens)
        nodes.append(node("r", "dc2", "rack1", (77,)))
        router = Router(Topology(nodes[0], nodes[1:]), get_hash("murmur"))
        edges = [0, 4, 5, 6, 99, 100, 101, 1234567, 3000000000, 4000000000, 4294967295]
        for token in edges + [rng.randrange(2**32) for _ in range(300)]:
            for write in (False, True):
                for level in (ONE, QUORUM, EACH):
                    self.assertEqual(
                        router.replicas(token, write, level),
                        router._replicas(token, write, level),
                        (token, write, level),
                    )

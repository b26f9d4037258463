"""Tests for dynotwist.core.ring: token ownership as Dynomite places keys."""

from __future__ import annotations

import os

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from dynotwist.core.hashkit import NO_TOKEN, get_hash, hash_key
from dynotwist.core.ring import MAX_TOKEN, Member, RackRing, Topology, preselect_rack

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "vectors")

PLACEMENT_COLUMNS = [
    "layout",
    "tokens_sorted",
    "hash",
    "hash_tag",
    "coordinator_index",
    "key_hex",
    "hashed_part_hex",
    "hash_uint32",
    "owner_index",
    "owner_token",
    "verified",
]


def load_placement_rows() -> list[dict[str, str]]:
    with open(os.path.join(VECTORS, "placement-vectors.tsv")) as f:
        lines = f.read().splitlines()
    assert lines[0].split("\t") == PLACEMENT_COLUMNS, lines[0]
    return [dict(zip(PLACEMENT_COLUMNS, line.split("\t"))) for line in lines[1:]]


def node(
    name: str,
    tokens: tuple[int, ...],
    dc: str = "dc1",
    rack: str = "rack1",
    is_local: bool = False,
    port: int = 8101,
) -> Member:
    return Member(name, "127.0.0.1", port, dc, rack, tokens, is_local)


def layout_topology(tokens: list[int], coordinator: int) -> tuple[Topology, list[Member]]:
    """One rack dc1/rack1, node i owning tokens[i], node *coordinator* local."""
    nodes = [
        node(f"n{i}", (token,), is_local=(i == coordinator), port=8101 + i)
        for i, token in enumerate(tokens)
    ]
    local = nodes[coordinator]
    return Topology(local, [n for n in nodes if n is not local]), nodes


def brute_force_owner(pairs: list[tuple[int, str]], token: int) -> str:
    """Smallest token >= token, else the lowest token: by definition."""
    above = [p for p in pairs if p[0] >= token]
    return min(above)[1] if above else min(pairs)[1]


class PlacementVectorsTests(unittest.TestCase):
    """Every row of placement-vectors.tsv (700 of them verified on live clusters)."""

    rows = load_placement_rows()

    def test_vector_file(self) -> None:
        self.assertEqual(len(self.rows), 909)
        layouts = {row["layout"] for row in self.rows}
        self.assertEqual(len(layouts), 9)

    def test_every_layout(self) -> None:
        checked = {"token": 0, "coordinator": 0, "rejected": 0, "murmur3": 0}
        for row in self.rows:
            tokens = [int(t) for t in row["tokens_sorted"].split(",")]
            self.assertEqual(tokens, sorted(tokens))
            coordinator = int(row["coordinator_index"])
            topology, nodes = layout_topology(tokens, coordinator)
            key = bytes.fromhex(row["key_hex"])
            tag = row["hash_tag"].encode() or None
            token = hash_key(key, get_hash(row["hash"]), tag)
            owner = topology.owner("dc1", "rack1", token)
            where = row["owner_index"]
            if where == "rejected":
                # the empty key: Dynomite closes the connection (router's job)
                self.assertEqual(key, b"")
                self.assertEqual(token, NO_TOKEN)
                checked["rejected"] += 1
            elif where == "coordinator":
                # empty tagged part: stored by the node that received the request
                self.assertEqual(token, NO_TOKEN)
                self.assertIs(owner, nodes[coordinator])
                self.assertTrue(owner.is_local)
                checked["coordinator"] += 1
            elif row["hash"] == "murmur3":
                # Dynomite's murmur3 never writes the token: everything lands on
                # the lowest token.  dynotwist hashes for real (deliberate).
                self.assertEqual((where, row["owner_token"]), ("0", str(tokens[0])))
                self.assertEqual(row["hash_uint32"], "-")
                expected = brute_force_owner([(t, f"n{i}") for i, t in enumerate(tokens)], token)
                self.assertEqual(owner.name, expected)
                checked["murmur3"] += 1
            else:
                self.assertEqual(token, int(row["hash_uint32"]), row)
                self.assertIs(owner, nodes[int(where)], row)
                ring_ = topology.rack_ring("dc1", "rack1")
                self.assertEqual(ring_.owner_token(token), int(row["owner_token"]), row)
                self.assertEqual(ring_.index(token), int(where), row)
                checked["token"] += 1
        self.assertEqual(checked, {"token": 796, "coordinator": 4, "rejected": 9, "murmur3": 100})

    def test_murmur3_spreads(self) -> None:
        """The deliberate difference: real murmur3 does not pile keys on one node."""
        tokens = [0, 1073741823, 2147483647, 3221225471]
        topology, _ = layout_topology(tokens, 1)
        owners = {
            topology.owner("dc1", "rack1", hash_key(f"key:{i}".encode(), get_hash("murmur3")))
            for i in range(100)
        }
        self.assertEqual(len(owners), 4)

    def test_vnodes_same_placement(self) -> None:
        """Each layout again with every node given its token as a one-element
        vnode list, and with extra tokens that split no range differently."""
        for row in self.rows[::5]:
            if row["owner_index"] in ("rejected", "coordinator") or row["hash"] == "murmur3":
                continue
            tokens = [int(t) for t in row["tokens_sorted"].split(",")]
            token = int(row["hash_uint32"])
            # a second token just below each token, owned by the same node
            doubled = [
                node(f"n{i}", tuple(sorted({t, max(t - 1, 0)})), port=8101 + i)
                for i, t in enumerate(tokens)
            ]
            local = Member(
                doubled[0].name, "127.0.0.1", 8101, "dc1", "rack1", doubled[0].tokens, True
            )
            topology = Topology(local, doubled[1:])
            self.assertEqual(topology.owner("dc1", "rack1", token).name, f"n{row['owner_index']}")


class RingTests(unittest.TestCase):
    def setUp(self) -> None:
        self.a = node("a", (0,), is_local=True)
        self.b = node("b", (1073741823,))
        self.c = node("c", (2147483647,))
        self.d = node("d", (3221225471,))
        self.topology = Topology(self.a, [self.b, self.c, self.d])

    def owner(self, token: int) -> str:
        return self.topology.owner("dc1", "rack1", token).name

    def test_boundaries(self) -> None:
        self.assertEqual(self.owner(0), "a")  # equal to a token: that token's node
        self.assertEqual(self.owner(1), "b")
        self.assertEqual(self.owner(1073741823), "b")
        self.assertEqual(self.owner(1073741824), "c")
        self.assertEqual(self.owner(2147483647), "c")
        self.assertEqual(self.owner(3221225471), "d")
        self.assertEqual(self.owner(3221225472), "a")  # above every token: wrap
        self.assertEqual(self.owner(MAX_TOKEN), "a")

    def test_lowest_token_not_zero(self) -> None:
        ring_ = RackRing("dc1", "rack1", [node("x", (100,)), node("y", (200,))])
        self.assertEqual(ring_.owner(0).name, "x")  # token <= t0 -> t0
        self.assertEqual(ring_.owner(100).name, "x")
        self.assertEqual(ring_.owner(101).name, "y")
        self.assertEqual(ring_.owner(201).name, "x")
        self.assertEqual(ring_.owner_token(201), 100)

    def test_single_node(self) -> None:
        topology = Topology(node("solo", (1383429731,), is_local=True))
        for token in (0, 1383429731, 1383429732, MAX_TOKEN):
            self.assertEqual(topology.owner("dc1", "rack1", token).name, "solo")

    def test_no_token_is_local(self) -> None:
        self.assertIs(self.topology.owner("dc1", "rack1", NO_TOKEN), self.a)

    def test_nodes_order(self) -> None:
        self.assertEqual(self.topology.nodes, (self.a, self.b, self.c, self.d))
        self.assertEqual(self.topology.peers, (self.b, self.c, self.d))
        self.assertIs(self.topology.local, self.a)

    def test_ring_contents(self) -> None:
        ring_ = self.topology.rack_ring("dc1", "rack1")
        self.assertEqual(ring_.tokens, [0, 1073741823, 2147483647, 3221225471])
        self.assertEqual([n.name for n in ring_.owners], ["a", "b", "c", "d"])
        self.assertEqual(set(ring_.nodes), {self.a, self.b, self.c, self.d})
        self.assertIn("dc1/rack1", repr(ring_))

    def test_vnodes(self) -> None:
        x = node("x", (10, 300, 700), is_local=True)
        y = node("y", (200, 500))
        topology = Topology(x, [y])
        got = [(t, topology.owner("dc1", "rack1", t).name) for t in (0, 10, 11, 200, 201, 300)]
        self.assertEqual(got, [(0, "x"), (10, "x"), (11, "y"), (200, "y"), (201, "x"), (300, "x")])
        names = [topology.owner("dc1", "rack1", t).name for t in (301, 500, 501, 700, 701)]
        self.assertEqual(names, ["y", "y", "x", "x", "x"])

    @given(
        st.lists(
            st.lists(st.integers(0, MAX_TOKEN), min_size=1, max_size=6),
            min_size=1,
            max_size=6,
        ),
        st.lists(st.integers(0, MAX_TOKEN), min_size=1, max_size=30),
    )
    @settings(max_examples=200, deadline=None)
    def test_owner_is_smallest_token_at_or_above(
        self, token_lists: list[list[int]], keys: list[int]
    ) -> None:
        seen: set[int] = set()
        nodes: list[Member] = []
        for i, tokens in enumerate(token_lists):
            mine = tuple(sorted(set(tokens) - seen))
            if not mine:
                continue
            seen.update(mine)
            nodes.append(node(f"n{i}", mine, is_local=not nodes, port=9000 + i))
        topology = Topology(nodes[0], nodes[1:])
        pairs = [(t, n.name) for n in nodes for t in n.tokens]
        # probe around every token too
        probes = keys + [t + d for t in seen for d in (-1, 0, 1) if 0 <= t + d <= MAX_TOKEN]
        for key in probes:
            self.assertEqual(
                topology.owner("dc1", "rack1", key).name, brute_force_owner(pairs, key)
            )

    @given(st.lists(st.integers(0, MAX_TOKEN), min_size=1, max_size=12, unique=True))
    @settings(max_examples=100, deadline=None)
    def test_one_token_per_node_equals_vnode_grouping(self, tokens: list[int]) -> None:
        """Grouping tokens into multi-token nodes only renames owners."""
        single = [node(f"t{t}", (t,), is_local=(i == 0)) for i, t in enumerate(tokens)]
        one = Topology(single[0], single[1:])
        groups: dict[int, list[int]] = {}
        for i, t in enumerate(tokens):
            groups.setdefault(i % 3, []).append(t)
        grouped = [node(f"g{g}", tuple(ts), is_local=(g == 0)) for g, ts in sorted(groups.items())]
        many = Topology(grouped[0], grouped[1:])
        group_of = {t: f"g{i % 3}" for i, t in enumerate(tokens)}
        for t in tokens:
            for probe in (t - 1, t, t + 1):
                if 0 <= probe <= MAX_TOKEN:
                    owner_token = one.rack_ring("dc1", "rack1").owner_token(probe)
                    self.assertEqual(many.owner("dc1", "rack1", probe).name, group_of[owner_token])


class TopologyTests(unittest.TestCase):
    def setUp(self) -> None:
        self.local = node("a1", (0,), "us-east", "rack-b", is_local=True)
        self.peers = [
            node("a2", (0,), "us-east", "rack-a"),
            node("a3", (0,), "us-east", "rack-c"),
            node("b1", (0,), "eu-west", "r2"),
            node("b2", (0,), "eu-west", "r1"),
            node("b3", (2147483647,), "eu-west", "r1"),
            node("c1", (0,), "ap-south", "only"),
        ]
        self.topology = Topology(self.local, self.peers)

    def test_datacenters_sorted(self) -> None:
        self.assertEqual(self.topology.datacenters(), ["ap-south", "eu-west", "us-east"])

    def test_racks_of_sorted(self) -> None:
        self.assertEqual(self.topology.racks_of("us-east"), ["rack-a", "rack-b", "rack-c"])
        self.assertEqual(self.topology.racks_of("eu-west"), ["r1", "r2"])
        self.assertEqual(self.topology.racks_of("nowhere"), [])

    def test_rack_ring(self) -> None:
        ring_ = self.topology.rack_ring("eu-west", "r1")
        self.assertEqual(ring_.tokens, [0, 2147483647])
        self.assertEqual(self.topology.rack_nodes("eu-west", "r1"), (self.peers[3], self.peers[4]))
        self.assertRaises(KeyError, self.topology.rack_ring, "eu-west", "r9")

    def test_same_token_in_other_racks(self) -> None:
        """Tokens need only be unique within a rack."""
        self.assertEqual(self.topology.owner("us-east", "rack-a", 5).name, "a2")
        self.assertEqual(self.topology.owner("us-east", "rack-b", 5).name, "a1")
        self.assertEqual([n.name for n in self.topology.owners("us-east", 5)], ["a2", "a1", "a3"])
        self.assertEqual([n.name for n in self.topology.owners("eu-west", 5)], ["b3", "b1"])

    def test_local(self) -> None:
        self.assertEqual(self.topology.local_dc, "us-east")
        self.assertEqual(self.topology.local_rack, "rack-b")
        self.assertIn("us-east:[rack-a,rack-b,rack-c]", repr(self.topology))

    def test_preselected_rack(self) -> None:
        # local rack-b is index 1 of the sorted local racks
        self.assertEqual(self.topology.preselected_rack("eu-west"), "r2")
        self.assertEqual(self.topology.preselected_rack("ap-south"), "only")
        self.assertEqual(self.topology.preselected_rack("us-east"), "rack-b")
        self.assertIsNone(self.topology.preselected_rack("nowhere"))

    def test_preselect_rack_function(self) -> None:
        local = ["rack1", "rack2", "rack3"]
        self.assertEqual(preselect_rack(local, "rack1", ["z", "y", "x"]), "x")
        self.assertEqual(preselect_rack(local, "rack2", ["z", "y", "x"]), "y")
        self.assertEqual(preselect_rack(local, "rack3", ["z", "y", "x"]), "z")
        self.assertEqual(preselect_rack(local, "rack3", ["b", "a"]), "a")  # 2 % 2
        self.assertEqual(preselect_rack(local, "rack2", ["b", "a"]), "b")
        self.assertEqual(preselect_rack(["rack1"], "rack1", ["r2", "r1"]), "r1")
        self.assertIsNone(preselect_rack(local, "rack1", []))

    def test_dnode_capture_topology(self) -> None:
        """T5 of dnode-frames.txt: A (dc1/rack1) forwards writes to C (dc2/rack1)."""
        a = Member("A", "127.0.0.61", 30720, "dc1", "rack1", (0,), True)
        c = Member("C", "127.0.0.61", 30722, "dc2", "rack1", (0,))
        d = Member("D", "127.0.0.61", 30723, "dc2", "rack2", (0,))
        topology = Topology(a, [c, d])
        rack = topology.preselected_rack("dc2")
        self.assertEqual(rack, "rack1")
        assert rack is not None
        self.assertIs(topology.owner("dc2", rack, 12345), c)


class ValidationTests(unittest.TestCase):
    def test_duplicate_token_in_rack(self) -> None:
        e = self.assertRaises(
            ValueError, Topology, node("a", (5,), is_local=True), [node("b", (5, 9))]
        )
        self.assertIn("5", str(e))

    def test_node_tokens(self) -> None:
        self.assertRaises(ValueError, node, "a", ())
        self.assertRaises(ValueError, node, "a", (MAX_TOKEN + 1,))
        self.assertRaises(ValueError, node, "a", (-1,))
        self.assertRaises(ValueError, node, "a", (3, 3))
        self.assertRaises(TypeError, node, "a", ("3",))
        n = Member("a", "h", 1, "dc", "r", [3, 1], False)  # type: ignore[arg-type]
        self.assertEqual(n.tokens, (3, 1))
        self.assertEqual(hash(n), hash(Member("a", "h", 1, "dc", "r", (3, 1), False)))

    def test_local_flags(self) -> None:
        self.assertRaises(ValueError, Topology, node("a", (1,)))
        self.assertRaises(
            ValueError, Topology, node("a", (1,), is_local=True), [node("b", (2,), is_local=True)]
        )

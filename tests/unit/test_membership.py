"""Membership (core.membership): seed lists, the peer table's changes, readiness."""

from __future__ import annotations

from twisted.trial import unittest

from dynotwist.core.membership import (
    Membership,
    SeedListError,
    member_of,
    parse_seed_list,
)
from dynotwist.core.ring import Member

HALF = 2147483647


def node(host: str, rack: str, token: int = 0, dc: str = "dc1", local: bool = False) -> Member:
    return Member(host + ":8101", host, 8101, dc, rack, (token,), local)


LOCAL = node("10.0.0.1", "rack1", local=True)


def seeds(text: str) -> list:
    return [member_of(seed) for seed in parse_seed_list(text)]


class SeedListTests(unittest.TestCase):
    def test_florida_list(self) -> None:
        text = "10.0.0.2:8101:rack2:dc1:0|dyno-1.dyno.svc:8101:rack1:dc1:2147483647,12"
        self.assertEqual(
            [(m.name, m.dc, m.rack, m.tokens) for m in seeds(text)],
            [("10.0.0.2:8101", "dc1", "rack2", (0,)),
             ("dyno-1.dyno.svc:8101", "dc1", "rack1", (2147483647, 12))],
        )

    def test_lines_blanks_and_a_trailing_separator_are_tolerated(self) -> None:
        text = "10.0.0.2:8101:rack2:dc1:0|\r\n 10.0.0.3:8101:rack3:dc1:0 |\n"
        self.assertEqual([m.host for m in seeds(text)], ["10.0.0.2", "10.0.0.3"])

    def test_bad_entries_and_empty_lists_are_refused_with_the_reason(self) -> None:
        for text in ("", "| |", "10.0.0.2:8101:rack2:dc1", "10.0.0.2:x:rack2:dc1:0",
                     "10.0.0.2:8101:rack2:dc1:4294967296", "<html>Not found</html>"):
            with self.assertRaises(SeedListError, msg=text) as caught:
                parse_seed_list(text)
            self.assertTrue(str(caught.exception), text)


class MembershipTests(unittest.TestCase):
    def test_the_local_node_in_a_providers_list_is_skipped(self) -> None:
        members = Membership(LOCAL, [node("10.0.0.1", "rack1"), node("10.0.0.2", "rack2")])
        self.assertEqual([m.name for m in members.peers], ["10.0.0.2:8101"])
        # its position at another address (a stale entry) is the local node too
        changes = members.set_seeds([node("10.9.9.9", "rack1"), node("10.0.0.2", "rack2")])
        self.assertFalse(changes)

    def test_a_new_list_adds_replaces_and_removes(self) -> None:
        members = Membership(LOCAL, [node("10.0.0.2", "rack2"), node("10.0.0.3", "rack3")])
        changes = members.set_seeds([
            node("10.0.0.2", "rack2"),  # unchanged
            node("10.0.0.33", "rack3"),  # rack3's node moved to a new address
            node("10.0.0.4", "rack4"),  # a new rack
            node("10.0.0.5", "rack1", HALF),  # a second node in the local rack
        ])
        self.assertEqual([m.name for m in changes.added], ["10.0.0.4:8101", "10.0.0.5:8101"])
        self.assertEqual([(o.name, n.name) for o, n in changes.replaced],
                         [("10.0.0.3:8101", "10.0.0.33:8101")])
        self.assertEqual(changes.removed, ())
        changes = members.set_seeds([node("10.0.0.2", "rack2")])
        self.assertEqual(sorted(m.name for m in changes.removed),
                         ["10.0.0.33:8101", "10.0.0.4:8101", "10.0.0.5:8101"])
        self.assertEqual(members.topology().racks_of("dc1"), ["rack1", "rack2"])

    def test_an_address_whose_tokens_changed_is_replaced_in_place(self) -> None:
        members = Membership(LOCAL, [node("10.0.0.2", "rack2", 0)])
        changes = members.set_seeds([node("10.0.0.2", "rack2", HALF)])
        (pair,) = changes.replaced
        self.assertEqual((pair[0].tokens, pair[1].tokens), ((0,), (HALF,)))

    def test_a_list_that_is_no_ring_is_refused_and_nothing_changes(self) -> None:
        members = Membership(LOCAL, [node("10.0.0.2", "rack2")])
        with self.assertRaises(ValueError):
            members.set_seeds([node("10.0.0.2", "rack2"), node("10.0.0.3", "rack2")])
        self.assertEqual([m.name for m in members.peers], ["10.0.0.2:8101"])

    def test_gossip_adds_new_positions_and_replaces_known_ones(self) -> None:
        members = Membership(LOCAL, [node("10.0.0.2", "rack2")])
        changes = members.learn(node("10.0.0.3", "rack3"))
        self.assertEqual([m.name for m in changes.added], ["10.0.0.3:8101"])
        self.assertEqual(members.source("10.0.0.3:8101"), "gossip")
        self.assertFalse(members.learn(node("10.0.0.3", "rack3")))
        changes = members.learn(node("10.0.0.22", "rack2"))
        self.assertEqual([(o.name, n.name) for o, n in changes.replaced],
                         [("10.0.0.2:8101", "10.0.0.22:8101")])
        self.assertFalse(members.learn(node("10.0.0.1", "rack1")))  # the local node

    def test_a_new_seed_list_keeps_gossiped_nodes_unless_it_places_another_there(self) -> None:
        members = Membership(LOCAL, [node("10.0.0.2", "rack2")])
        members.learn(node("10.0.0.3", "rack3"))
        self.assertFalse(members.set_seeds([node("10.0.0.2", "rack2")]))
        changes = members.set_seeds([node("10.0.0.2", "rack2"), node("10.0.0.9", "rack3")])
        self.assertEqual([(o.name, n.name) for o, n in changes.replaced],
                         [("10.0.0.3:8101", "10.0.0.9:8101")])

    def test_forget_by_name_or_host(self) -> None:
        members = Membership(LOCAL, [node("10.0.0.2", "rack2"), node("10.0.0.3", "rack3")])
        self.assertEqual([m.name for m in members.forget("10.0.0.3").removed],
                         ["10.0.0.3:8101"])
        self.assertFalse(members.forget("10.0.0.99:8101"))
        self.assertEqual([m.name for m in members.peers], ["10.0.0.2:8101"])

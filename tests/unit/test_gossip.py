"""Gossip: the payload codec against frames captured between C Dynomite nodes, the
rules of the view (core.gossip), and the loop (net.gossip) over peer pools on
in-memory transports with a fake clock."""

from __future__ import annotations

import ast
import itertools
import os
from typing import Any, Dict, List, Tuple

from twisted.internet.testing import MemoryReactorClock
from twisted.trial import unittest

from dynotwist import errors
from dynotwist.core import states
from dynotwist.core.gossip import AGED_TS, GossipView, broadcast_address
from dynotwist.core.membership import Membership
from dynotwist.core.ring import Member
from dynotwist.core.stats import detached_stats
from dynotwist.net.batch import WriteBatch
from dynotwist.net.datastore import PoolShared
from dynotwist.net.gossip import Gossiper
from dynotwist.net.peer import PeerPool
from dynotwist.proto.dnode import GOSSIP_SYN, DnodeParser, Frame
from dynotwist.proto.gossip import (
    STATE_CODES,
    GossipEntry,
    GossipError,
    decode_ports,
    encode_entries,
    encode_ports,
    parse_entries,
)
from tests.support.transports import BatchedTransport

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "vectors")
NORMAL, JOINING, DOWN = STATE_CODES["NORMAL"], STATE_CODES["JOINING"], STATE_CODES["DOWN"]
TOKEN = 2147483648
T = 1796438000  # unix seconds in the captured run


def captured() -> List[Tuple[str, bytes]]:
    """gossip-frames.txt: (description, frame) pairs."""
    with open(os.path.join(VECTORS, "gossip-frames.txt"), encoding="utf-8") as f:
        lines = [line for line in f.read().splitlines() if line and not line.startswith("#")]
    return [(lines[i], ast.literal_eval(lines[i + 1])) for i in range(0, len(lines), 2)]


def frame_of(raw: bytes) -> Frame:
    frames = DnodeParser().feed(raw)
    assert len(frames) == 1
    return frames[0]


def rack(n: int, local: bool = False) -> Member:
    host = "127.0.0.%d" % (144 + n)
    return Member(host + ":8101", host, 8101, "dc1", "rack%d" % n, (TOKEN,), local)


class CapturedFrameTests(unittest.TestCase):
    def test_every_captured_frame_parses_and_encodes_back_byte_for_byte(self) -> None:
        frames = captured()
        self.assertEqual(len(frames), 5)
        for description, raw in frames:
            frame = frame_of(raw)
            self.assertEqual((frame.msg_type, frame.flags, frame.version, frame.same_dc),
                             (GOSSIP_SYN, 0, 1, 1), description)
            self.assertEqual(frame.data, b"a", description)
            entries = parse_entries(frame.payload)
            self.assertEqual(encode_entries(entries), frame.payload, description)
            self.assertIsNone(decode_ports(frame.data, len(entries)))

    def test_the_announce_and_the_table(self) -> None:
        (_, announce), (_, table) = captured()[:2]
        self.assertEqual(
            parse_entries(frame_of(announce).payload),
            [GossipEntry("dc1", "rack2", TOKEN, 1796438021, JOINING, "127.0.0.146")],
        )
        entries = parse_entries(frame_of(table).payload)
        self.assertEqual([(e.rack, e.state_name) for e in entries],
                         [("rack1", "NORMAL"), ("rack2", "JOINING"), ("rack3", "DOWN")])
        self.assertEqual(entries[2].ts, AGED_TS)  # not heard from yet
        self.assertTrue(GossipView.is_announce(parse_entries(frame_of(announce).payload)))
        self.assertFalse(GossipView.is_announce(entries))

    def test_a_view_takes_a_c_nodes_table(self) -> None:
        # rack3's view before hearing anything: rack1 and rack2 aged and DOWN
        view = GossipView(rack(3, local=True), "127.0.0.147", states.JOINING, 1.0, 1796438030)
        view.follow([rack(1), rack(2)])
        _, table = captured()[4]
        learned = view.receive(parse_entries(frame_of(table).payload), None, lambda a: None)
        self.assertEqual(learned, [])  # every position known, at the same address
        states_now = {n.rack: (n.state, n.ts) for n in view.nodes()}
        self.assertEqual(states_now["rack1"], (NORMAL, 1796438033))
        self.assertEqual(states_now["rack2"], (JOINING, 1796438032))
        self.assertEqual(states_now["rack3"], (JOINING, 1796438030))  # itself: unchanged


class PayloadTests(unittest.TestCase):
    def test_entries_parse_right_to_left_as_dynomite_does(self) -> None:
        # a DC name with '$' and an address with ':' still split where Dynomite splits
        self.assertEqual(
            parse_entries(b"us$east$rack-a$7,10,4,fe80::1"),
            [GossipEntry("us$east", "rack-a", 7, 10, NORMAL, "fe80::1")],
        )

    def test_garbage_is_refused_with_a_reason(self) -> None:
        for payload in (b"", b"dc$rack$1,2,3", b"dc$rack$x,2,4,a", b"rack$1,2,4,a",
                        b"dc$r$4294967296,1,4,a", b"\xff$r$1,1,4,a", b"dc$r$1,1,4,"):
            self.assertRaises(GossipError, parse_entries, payload)

    def test_ports_ride_in_the_data_field(self) -> None:
        self.assertEqual(encode_ports([8101, 22001]), b"a:8101,22001")
        self.assertEqual(decode_ports(b"a:8101,22001", 2), [8101, 22001])
        for data, count in ((b"a", 1), (b"a:8101", 2), (b"a:0", 1), (b"d", 1), (b"a:x", 1)):
            self.assertIsNone(decode_ports(data, count), data)

    def test_broadcast_address(self) -> None:
        self.assertEqual(broadcast_address("10.0.0.1", "aws", {}), "10.0.0.1")
        self.assertEqual(
            broadcast_address("10.0.0.1", "aws", {"EC2_PUBLIC_HOSTNAME": "a.example"}),
            "a.example",
        )
        self.assertEqual(
            broadcast_address("10.0.0.1", "network", {"PUBLIC_HOSTNAME": "b.example"}),
            "b.example",
        )


class ViewTests(unittest.TestCase):
    def setUp(self) -> None:
        self.view = GossipView(rack(1, local=True), "127.0.0.145", states.NORMAL, 1.0, T)
        self.view.follow([rack(2)])

    def receive(self, *entries: GossipEntry, ports: Any = None) -> List[Member]:
        return self.view.receive(list(entries), ports, lambda address: None)

    def test_the_table_reports_silent_peers_down_after_forty_intervals(self) -> None:
        self.receive(GossipEntry("dc1", "rack2", TOKEN, T, NORMAL, "127.0.0.146"))
        entries, ports = self.view.table(T + 40)
        self.assertEqual([(e.rack, e.ts, e.state) for e in entries],
                         [("rack1", T + 40, NORMAL), ("rack2", T, NORMAL)])
        self.assertEqual(ports, [8101, 8101])
        entries, _ = self.view.table(T + 41)
        self.assertEqual(entries[1].state, DOWN)

    def test_announce_is_the_local_entry(self) -> None:
        self.view.set_state(states.JOINING)
        entries, ports = self.view.announce(T + 0.5)
        self.assertEqual(entries,
                         [GossipEntry("dc1", "rack1", TOKEN, T, JOINING, "127.0.0.145")])
        self.assertEqual(ports, [8101])

    def test_an_unknown_position_is_learned_with_its_port(self) -> None:
        learned = self.receive(GossipEntry("dc1", "rack3", TOKEN, T + 1, JOINING, "127.0.0.147"),
                               ports=[22001])
        self.assertEqual([(m.name, m.rack, m.tokens) for m in learned],
                         [("127.0.0.147:22001", "rack3", (TOKEN,))])

    def test_without_ports_a_known_address_gives_its_port_else_ours(self) -> None:
        view = GossipView(rack(1, local=True), "127.0.0.145", states.NORMAL, 1.0, T)
        learned = view.receive(
            [GossipEntry("dc1", "rack2", 0, T, NORMAL, "10.0.0.2"),
             GossipEntry("dc1", "rack3", 0, T, NORMAL, "10.0.0.3")],
            None,
            lambda address: 9999 if address == "10.0.0.2" else None,
        )
        self.assertEqual([m.port for m in learned], [9999, 8101])

    def test_a_known_position_at_a_new_address_replaces_only_if_newer(self) -> None:
        self.receive(GossipEntry("dc1", "rack2", TOKEN, T + 20, NORMAL, "127.0.0.146"))
        stale = self.receive(GossipEntry("dc1", "rack2", TOKEN, T + 15, NORMAL, "10.9.9.9"))
        self.assertEqual(stale, [])
        moved = self.receive(GossipEntry("dc1", "rack2", TOKEN, T + 21, NORMAL, "10.9.9.9"))
        self.assertEqual([m.name for m in moved], ["10.9.9.9:8101"])

    def test_entries_about_the_local_node_change_nothing(self) -> None:
        learned = self.receive(GossipEntry("dc1", "rack1", TOKEN, T + 99, DOWN, "10.0.0.9"))
        self.assertEqual(learned, [])
        self.assertEqual(self.view.local.state, NORMAL)


# -- the loop over peer pools -------------------------------------------------------------


class FakeGossipNode:
    def __init__(self, reactor: MemoryReactorClock, peers: List[Member], state: str) -> None:
        self.state = state
        self.membership = Membership(rack(1, local=True), peers)
        shared = PoolShared(reactor, WriteBatch(reactor), detached_stats(), errors.RESP)
        ids = itertools.count(1)
        self.peers: Dict[str, PeerPool] = {
            p.name: PeerPool(shared, p, 1, 1000, True, ids) for p in peers
        }
        self.learned: List[Member] = []

    def learn_peer(self, member: Member) -> None:
        self.learned.append(member)


class LoopTests(unittest.TestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.reactor.advance(1796438000)
        self.node = FakeGossipNode(self.reactor, [rack(2), rack(3)], states.JOINING)
        self.links: Dict[str, Any] = {}
        for pool in self.node.peers.values():
            pool.start()
            wrapper = self.reactor.tcpClients[-1][2].buildProtocol(None)
            wrapper.makeConnection(BatchedTransport(self.reactor))
            self.links[pool.name] = wrapper._wrappedProtocol
        view = GossipView(rack(1, local=True), "127.0.0.145", states.JOINING, 1.0,
                          self.reactor.seconds())
        view.follow(self.node.membership.peers)
        self.gossiper = Gossiper(self.node, view, self.reactor, choose=lambda names: names[-1])

    def sent(self, name: str) -> List[Frame]:
        return DnodeParser().feed(self.links[name].transport.take())

    def test_a_joining_node_announces_to_every_peer(self) -> None:
        self.gossiper.tick()
        for name in ("127.0.0.146:8101", "127.0.0.147:8101"):
            (frame,) = self.sent(name)
            self.assertEqual((frame.msg_type, frame.flags, frame.data),
                             (GOSSIP_SYN, 0, b"a:8101"))
            self.assertEqual(frame.payload, b"dc1$rack1$2147483648,1796438000,7,127.0.0.145")
        # no reply expected: nothing pending on the links
        self.assertEqual([len(link.pending) for link in self.links.values()], [0, 0])
        # every peer was told: the node joined, whether they answer or not (C nodes may not)
        self.assertEqual(self.node.state, states.NORMAL)

    def test_a_joiner_with_a_peer_not_up_yet_waits_for_it_or_for_gossip(self) -> None:
        self.node.peers["127.0.0.147:8101"].reset()  # down, a new attempt under way
        self.gossiper.tick()
        self.assertEqual(self.node.state, states.JOINING)
        self.assertEqual(len(self.sent("127.0.0.146:8101")), 1)
        wrapper = self.reactor.tcpClients[-1][2].buildProtocol(None)
        wrapper.makeConnection(BatchedTransport(self.reactor))
        self.links["127.0.0.147:8101"] = wrapper._wrappedProtocol
        self.gossiper.greet("127.0.0.147:8101")  # the node calls it when a link comes up
        (frame,) = self.sent("127.0.0.147:8101")
        self.assertEqual(len(parse_entries(frame.payload)), 1)  # its announce
        self.assertEqual(self.node.state, states.NORMAL)

    def test_the_first_gossip_received_makes_it_normal_and_then_it_forwards_its_table(
        self,
    ) -> None:
        _, table = captured()[4]
        self.gossiper.received(frame_of(table), "127.0.0.145:40000")
        self.assertEqual(self.node.state, states.NORMAL)
        self.reactor.advance(5)
        self.gossiper.tick()
        self.assertEqual(self.sent("127.0.0.146:8101"), [])
        (frame,) = self.sent("127.0.0.147:8101")  # one peer, the chosen one
        self.assertEqual([e.rack for e in parse_entries(frame.payload)],
                         ["rack1", "rack2", "rack3"])

    def test_an_announce_is_answered_with_the_table_at_once(self) -> None:
        self.node.state = states.NORMAL
        _, announce = captured()[0]  # rack2's
        self.gossiper.received(frame_of(announce), "127.0.0.146:40000")
        (frame,) = self.sent("127.0.0.146:8101")
        self.assertEqual(len(parse_entries(frame.payload)), 3)
        self.assertEqual(self.sent("127.0.0.147:8101"), [])

    def test_a_node_learned_from_gossip_goes_to_the_node(self) -> None:
        entry = GossipEntry("dc1", "rack4", TOKEN, 1796438001, JOINING, "127.0.0.148")
        frame = Frame(0, GOSSIP_SYN, 0, 1, 1, encode_entries([entry]), encode_ports([22001]))
        self.gossiper.received(frame, "127.0.0.148:40000")
        self.assertEqual([m.name for m in self.node.learned], ["127.0.0.148:22001"])

    def test_standby_is_silent_and_garbage_is_refused(self) -> None:
        self.node.state = states.STANDBY
        self.gossiper.tick()
        self.assertEqual(self.sent("127.0.0.146:8101"), [])
        self.gossiper.received(Frame(0, GOSSIP_SYN, 0, 1, 1, b"nonsense", b"a"), "x:1")
        self.assertEqual(self.gossiper.received_count, 0)

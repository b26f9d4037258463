"""A whole node whose peers change while it serves, and whose requests fail over, on
in-memory transports: peers added, replaced and removed (requests in flight finish),
DC_ONE reads and writes answered by another rack when the owner is ejected or not
connected, readiness."""

from __future__ import annotations

from typing import Any, Dict, List

from twisted.trial import unittest

from dynotwist.core import consistency as levels
from dynotwist.core.membership import member_of, parse_seed_list
from dynotwist.proto.dnode import DMSG_REQ, DnodeParser, Frame, encode_frame
from dynotwist.proto.resp import encode_command
from tests.support.nodes import InMemoryNode
from tests.support.transports import BatchedTransport

HALF = 2147483647
# we are dc1/rack1 token 0; rack1 has a second node (token HALF), rack2 two nodes
SEEDS = [
    "127.0.0.2:8101:rack1:dc1:%d" % HALF,
    "127.0.0.3:8101:rack2:dc1:0",
    "127.0.0.4:8101:rack2:dc1:%d" % HALF,
]


def cmd(*args: bytes) -> bytes:
    return encode_command(list(args))


def members(*seeds: str) -> List[Any]:
    return [member_of(s) for s in parse_seed_list("|".join(seeds))]


class Harness:
    def __init__(self, seeds: List[str] = SEEDS, **fields: object) -> None:
        if seeds:
            fields["dyn_seeds"] = seeds
        self.h = InMemoryNode(rack="rack1", datacenter="dc1", **fields)
        self.node = self.h.node
        self.reactor = self.h.reactor
        self.links: Dict[str, Any] = {}

    def start(self) -> None:
        self.node.start()
        self.store = self.connect("127.0.0.1", 22122)  # the datastore (servers:)

    def connect(self, host: str, port: int) -> Any:
        """Complete the latest connection attempt to ``host:port``; its protocol."""
        for host_, port_, factory, _, _ in reversed(self.reactor.tcpClients):
            if (host_, port_) == (host, port):
                wrapper = factory.buildProtocol(None)
                wrapper.makeConnection(BatchedTransport(self.reactor))
                return wrapper._wrappedProtocol
        raise LookupError((host, port))

    def connect_peer(self, host: str) -> Any:
        self.links[host] = protocol = self.connect(host, 8101)
        return protocol

    def sent(self, host: str) -> List[Frame]:
        return DnodeParser().feed(self.links[host].transport.take())

    def key_owned_by(self, host: str) -> bytes:
        for i in range(100000):
            key = b"k%d" % i
            if self.node.router.owner(key).host == host:
                return key
        raise LookupError(host)


class FailoverTests(unittest.TestCase):
    def setUp(self) -> None:
        self.n = Harness()
        self.n.start()
        self.client, self.out = self.n.h.client()
        self.key = self.n.key_owned_by("127.0.0.2")  # the local rack's other node

    def test_a_read_whose_owner_is_not_connected_goes_to_the_next_rack(self) -> None:
        n = self.n
        rack2 = n.connect_peer("127.0.0.4")
        n.reactor.tcpClients[:] = [c for c in n.reactor.tcpClients if c[0] != "127.0.0.2"]
        # 127.0.0.2's connection attempt fails: it is known down, requests go elsewhere
        n.node.peers["127.0.0.2:8101"]._failed(_refused(), 0)
        self.client.dataReceived(cmd(b"GET", self.key))
        (frame,) = n.sent("127.0.0.4")
        self.assertEqual((frame.msg_type, frame.payload), (DMSG_REQ, cmd(b"GET", self.key)))
        rack2.dataReceived(encode_frame(frame.msg_id, 5, 0, 1, b"$2\r\nv2\r\n"))
        self.assertEqual(self.out.flush().value(), b"$2\r\nv2\r\n")
        self.assertEqual(n.node.stats.peer_failover_requests, 1)

    def test_a_write_takes_the_answer_of_the_other_racks_copy(self) -> None:
        n = self.n
        rack2 = n.connect_peer("127.0.0.4")
        n.node.peers["127.0.0.2:8101"]._failed(_refused(), 0)
        self.client.dataReceived(cmd(b"SET", self.key, b"v"))
        (frame,) = n.sent("127.0.0.4")  # one copy: no duplicate was sent
        rack2.dataReceived(encode_frame(frame.msg_id, 5, 0, 1, b"+OK\r\n"))
        self.assertEqual(self.out.flush().value(), b"+OK\r\n")

    def test_requests_wait_for_the_first_connection_to_the_owner(self) -> None:
        n = self.n
        self.client.dataReceived(cmd(b"GET", self.key))
        self.assertEqual(self.out.flush().value(), b"")
        owner = n.connect_peer("127.0.0.2")
        (frame,) = n.sent("127.0.0.2")
        owner.dataReceived(encode_frame(frame.msg_id, 5, 0, 1, b"$1\r\na\r\n"))
        self.assertEqual(self.out.flush().value(), b"$1\r\na\r\n")
        self.assertEqual(n.node.stats.peer_failover_requests, 0)

    def test_a_read_whose_local_datastore_is_ejected_goes_to_the_next_rack(self) -> None:
        n = Harness(server_failure_limit=1)
        n.start()
        client, out = n.h.client()
        rack2 = n.connect_peer("127.0.0.3")
        n.store.transport.loseConnection()
        n.store.connectionLost(_refused())  # the local datastore: ejected at once
        key = n.key_owned_by("127.0.0.1")
        client.dataReceived(cmd(b"GET", key))
        (frame,) = n.sent("127.0.0.3")
        rack2.dataReceived(encode_frame(frame.msg_id, 5, 0, 1, b"$-1\r\n"))
        self.assertEqual(out.flush().value(), b"$-1\r\n")
        self.assertEqual(n.node.stats.server_ejects, 1)

    def test_readiness(self) -> None:
        n = self.n
        # no peer connected yet: the ranges of the local rack's other node have no
        # reachable replica in the DC
        self.assertFalse(n.node.links_up())
        self.assertIn("DC_ONE: 0 of the 2 racks of dc1 reachable", n.node.not_ready())
        n.connect_peer("127.0.0.2")
        self.assertIsNone(n.node.not_ready())
        n.node.read_consistency = levels.DC_QUORUM  # rack2's owners are needed too
        self.assertIn("DC_QUORUM: 1 of the 2 racks of dc1 reachable", n.node.not_ready())
        n.connect_peer("127.0.0.3")
        n.connect_peer("127.0.0.4")
        self.assertTrue(n.node.links_up())
        n.node.read_consistency = levels.DC_EACH_SAFE_QUORUM
        self.assertIsNone(n.node.not_ready())


def _refused() -> Any:
    from twisted.internet.error import ConnectionRefusedError
    from twisted.python.failure import Failure

    return Failure(ConnectionRefusedError())


class LiveChangeTests(unittest.TestCase):
    def setUp(self) -> None:
        self.n = Harness(seeds=["127.0.0.3:8101:rack2:dc1:0"])
        self.n.start()
        self.rack2 = self.n.connect_peer("127.0.0.3")
        self.client, self.out = self.n.h.client()

    def test_a_new_rack_gets_writes_at_once(self) -> None:
        n = self.n
        n.node.set_seeds(members("127.0.0.3:8101:rack2:dc1:0", "127.0.0.5:8101:rack3:dc1:0"),
                         "test")
        self.assertEqual(sorted(n.node.peers), ["127.0.0.3:8101", "127.0.0.5:8101"])
        rack3 = n.connect_peer("127.0.0.5")
        self.client.dataReceived(cmd(b"SET", b"k", b"v"))
        self.assertEqual([f.payload for f in n.sent("127.0.0.5")], [cmd(b"SET", b"k", b"v")])
        self.assertEqual([f.payload for f in n.sent("127.0.0.3")], [cmd(b"SET", b"k", b"v")])
        self.assertEqual(rack3.transport.disconnecting, False)

    def test_a_replaced_address_finishes_its_requests_then_closes(self) -> None:
        n = self.n
        node = n.node
        key = b"k"
        # a quorum read: rack2's copy is in flight when rack2 moves to a new address
        self.client.dataReceived(
            cmd(b"DYNO_CONFIG:CONN_CONSISTENCY", b"DC_QUORUM") + cmd(b"GET", key))
        self.assertEqual(self.out.flush().value(), b"+OK\r\n")
        (frame,) = n.sent("127.0.0.3")
        node.set_seeds(members("127.0.0.33:8101:rack2:dc1:0"), "test")
        self.assertEqual(list(node.peers), ["127.0.0.33:8101"])
        self.assertFalse(self.rack2.transport.disconnecting)  # a request in flight
        self.rack2.dataReceived(encode_frame(frame.msg_id, 5, 0, 1, b"$1\r\nv\r\n"))
        n.store.dataReceived(b"$1\r\nv\r\n")
        self.assertEqual(self.out.flush().value(), b"+OK\r\n$1\r\nv\r\n")
        n.reactor.advance(0.1)  # the retired pool's next tick closes the idle link
        self.assertTrue(self.rack2.transport.disconnecting)
        moved = n.connect_peer("127.0.0.33")
        self.client.dataReceived(cmd(b"SET", key, b"w"))
        self.assertEqual([f.payload for f in n.sent("127.0.0.33")], [cmd(b"SET", key, b"w")])
        self.assertFalse(moved.transport.disconnecting)

    def test_removed_and_forgotten_peers_leave_the_ring(self) -> None:
        n = self.n
        n.node.set_seeds(members("127.0.0.3:8101:rack2:dc1:0", "127.0.0.5:8101:rack3:dc1:0"),
                         "test")
        self.assertTrue(n.node.forget_peer("127.0.0.5"))
        self.assertEqual(list(n.node.peers), ["127.0.0.3:8101"])
        self.assertEqual(n.node.topology.racks_of("dc1"), ["rack1", "rack2"])
        self.assertFalse(n.node.forget_peer("127.0.0.5"))
        self.assertEqual([p.name for p in n.node.stats.peers], ["127.0.0.3:8101"])

    def test_a_list_that_is_no_ring_changes_nothing(self) -> None:
        n = self.n
        refused = n.node.set_seeds(
            members("127.0.0.3:8101:rack2:dc1:0", "127.0.0.6:8101:rack2:dc1:0"), "test")
        self.assertIsNone(refused)
        self.assertEqual(list(n.node.peers), ["127.0.0.3:8101"])

    def test_a_single_node_that_gets_peers_stops_serving_alone(self) -> None:
        h = Harness(seeds=[])
        h.start()
        client, _ = h.h.client()
        self.assertTrue(h.node.single_node)
        h.node.set_seeds(members("127.0.0.3:8101:rack2:dc1:0"), "test")
        self.assertFalse(h.node.single_node)
        h.connect_peer("127.0.0.3")
        client.dataReceived(cmd(b"SET", b"k", b"v"))
        self.assertEqual([f.payload for f in h.sent("127.0.0.3")], [cmd(b"SET", b"k", b"v")])


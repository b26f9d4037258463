"""The copies of a replicated write, as the peers receive them: the frame is made once
per kind of peer and is right for each (its payload, type, same_dc digit and id), and
each peer's reply is matched on its own connection."""

from __future__ import annotations

from typing import Any, Dict, List, Tuple

from twisted.trial import unittest

from dynotwist.proto.dnode import DMSG_REQ, DMSG_REQ_FORWARD, DnodeParser, Frame, response_frame
from dynotwist.proto.resp import encode_command
from tests.support.nodes import InMemoryNode
from tests.support.transports import BatchedTransport

SET = encode_command([b"SET", b"foo", b"bar"])
# this node is dc1/rack1; two more racks in its DC, one rack in another DC
SEEDS = [
    "127.0.0.2:8101:rack2:dc1:0",
    "127.0.0.3:8101:rack3:dc1:0",
    "127.0.0.4:8101:rack1:dc2:0",
]


class Cluster:
    """A node of the cluster above, its datastore and peer connections made."""

    def __init__(self, consistency: str, hints_dir: str) -> None:
        self.h = InMemoryNode(
            hints_dir=hints_dir,  # its own: no hints left by other tests
            dyn_seeds=SEEDS,
            rack="rack1",
            datacenter="dc1",
            read_consistency=consistency,
            write_consistency=consistency,
        )
        self.h.node.start()
        reactor = self.h.reactor
        # every connection to each peer (a pool may have several)
        self.peers: Dict[str, List[Tuple[Any, BatchedTransport]]] = {}
        for host, _port, factory, _timeout, _bind in reactor.tcpClients:
            protocol = factory.buildProtocol(None)
            transport = BatchedTransport(reactor)
            protocol.makeConnection(transport)
            if host == "127.0.0.1":
                self.datastore = transport
            else:
                self.peers.setdefault(host, []).append((protocol, transport))
        self.client, self.client_transport = self.h.client()

    def frames(self) -> Dict[str, List[Frame]]:
        """What each peer's connections hold, parsed (written and not taken since)."""
        sent: Dict[str, List[Frame]] = {}
        for host, connections in self.peers.items():
            sent[host] = []
            for _protocol, transport in connections:
                sent[host] += DnodeParser().feed(transport.flush().value())
        return sent

    def answer(self, host: str, frame: Frame, reply: bytes) -> None:
        """``reply`` on the connection that carried ``frame`` (and nothing since)."""
        for protocol, transport in self.peers[host]:
            if transport.value():
                transport.clear()
                protocol.dataReceived(response_frame(frame.msg_id, 0, frame.same_dc, reply))


class ReplicatedFrameTests(unittest.TestCase):
    def test_one_frame_per_kind_of_peer(self) -> None:
        c = Cluster("DC_ONE", self.mktemp())
        c.client.dataReceived(SET)
        sent = c.frames()
        rack2, rack3, dc2 = (sent["127.0.0.%d" % n] for n in (2, 3, 4))
        self.assertEqual([len(rack2), len(rack3), len(dc2)], [1, 1, 1])
        # the two racks of this DC get the same frame: one id, same_dc 1, the request
        self.assertEqual(rack2, rack3)
        self.assertEqual(
            (rack2[0].msg_type, rack2[0].same_dc, rack2[0].payload), (DMSG_REQ, 1, SET)
        )
        # the other DC's frame: forwarded to its racks, same_dc 0, a newer id
        self.assertEqual((dc2[0].msg_type, dc2[0].same_dc, dc2[0].payload),
                         (DMSG_REQ_FORWARD, 0, SET))
        self.assertGreater(dc2[0].msg_id, rack2[0].msg_id)
        # the next write's frames have a newer id again, each connection's ids increase
        for connections in c.peers.values():
            for _protocol, transport in connections:
                transport.clear()
        c.client.dataReceived(SET)
        again = c.frames()
        self.assertEqual(again["127.0.0.2"], again["127.0.0.3"])
        self.assertGreater(again["127.0.0.2"][0].msg_id, dc2[0].msg_id)

    def test_quorum_counts_each_peer_reply_on_its_connection(self) -> None:
        c = Cluster("DC_QUORUM", self.mktemp())
        c.client.dataReceived(SET)
        sent = c.frames()
        self.assertEqual(c.datastore.flush().value(), SET)
        frame = sent["127.0.0.2"][0]
        self.assertEqual(sent["127.0.0.3"], [frame])
        c.answer("127.0.0.2", frame, b"+OK\r\n")
        self.assertEqual(c.client_transport.flush().value(), b"")  # one of three
        c.answer("127.0.0.3", frame, b"+OK\r\n")
        self.assertEqual(c.client_transport.flush().value(), b"+OK\r\n")
        # each reply was taken as its own connection's: only the other DC's copy waits
        waiting = {
            pool.peer.rack + "/" + pool.peer.dc: sum(len(p.pending) for p in pool.ready)
            for pool in c.h.node.dispatcher.peers.values()
        }
        self.assertEqual(waiting, {"rack2/dc1": 0, "rack3/dc1": 0, "rack1/dc2": 1})

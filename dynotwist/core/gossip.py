"""Dynomite's gossip rules (reference 5.1-5.3), as a view of the cluster fed gossip
entries and asked for the messages to send. Pure logic; ``dynotwist.net.gossip`` runs
the loop and moves the frames.

- Each node is known by its ring position (dc, rack, first token), with an address,
  a peer port, a state and the unix time (``ts``) it last spoke for itself. Peers
  start DOWN with ``ts`` 1010101 ("very aged"), the local node with its own state.
- A JOINING node announces itself (one entry) to every peer; a NORMAL node sends its
  whole table to one random peer, reporting DOWN any peer not heard of for
  40 gossip intervals (Dynomite's failure detector) and its own ``ts`` as now.
- Receiving an entry: an unknown position is a node to add; a known position at
  another address a node to replace; otherwise state and ``ts`` are taken if newer.
  An entry about the local node's position changes nothing.

Where dynotwist differs: a replacement needs a newer ``ts`` than the known node's (a
stale table from a third node does not move a node back to its old address); an
entry's peer port comes from the frame (``proto.gossip.decode_ports``), or from a
known node at that address, or else is this node's own (Dynomite assumes 8101 or
8103); and a node that hears an announce answers it with its table at once, so that
the joiner, which turns NORMAL on the first gossip it receives, does so within one
round trip instead of waiting for a random forward.
"""

from __future__ import annotations

from typing import Callable, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from dynotwist.core.ring import Member
from dynotwist.proto.gossip import STATE_CODES, GossipEntry

__all__ = ["AGED_TS", "DETECTOR_INTERVALS", "GossipNode", "GossipView", "broadcast_address"]

#: the ts a peer starts with: older than any real one
AGED_TS = 1010101
#: a peer silent for this many gossip intervals is reported DOWN
DETECTOR_INTERVALS = 40

_DOWN = STATE_CODES["DOWN"]
_JOINING = STATE_CODES["JOINING"]

Position = Tuple[str, str, int]


class GossipNode:
    """One node of the view."""

    __slots__ = ("address", "dc", "port", "rack", "state", "token", "ts")

    def __init__(
        self, dc: str, rack: str, token: int, address: str, port: int, state: int, ts: int
    ) -> None:
        self.dc = dc
        self.rack = rack
        self.token = token
        self.address = address
        self.port = port
        self.state = state
        self.ts = ts

    @property
    def position(self) -> Position:
        return (self.dc, self.rack, self.token)

    def entry(self, state: int, ts: int) -> GossipEntry:
        return GossipEntry(self.dc, self.rack, self.token, ts, state, self.address)

    def member(self) -> Member:
        """The node as a ring member (one token: entries carry the first only)."""
        return Member.at(self.address, self.port, self.dc, self.rack, (self.token,))


class GossipView:
    """This node's view of the cluster for gossip.

    ``address`` is the local node's broadcast address (what its entries say), ``port``
    its peer port; ``interval`` the gossip interval in seconds.
    """

    def __init__(
        self, local: Member, address: str, state: str, interval: float, now: float
    ) -> None:
        self.interval = interval
        self.local = GossipNode(
            local.dc, local.rack, local.tokens[0], address, local.port, STATE_CODES[state],
            int(now),
        )
        self._nodes: Dict[Position, GossipNode] = {}

    # -- the peers, as membership has them ---------------------------------------------
    def follow(self, peers: Iterable[Member]) -> None:
        """Keep one node per peer: new ones start aged and DOWN, gone ones are dropped."""
        nodes: Dict[Position, GossipNode] = {}
        for peer in peers:
            position = (peer.dc, peer.rack, peer.tokens[0])
            known = self._nodes.get(position)
            if known is None or known.address != peer.host or known.port != peer.port:
                known = GossipNode(
                    peer.dc, peer.rack, peer.tokens[0], peer.host, peer.port, _DOWN, AGED_TS
                )
            nodes[position] = known
        self._nodes = nodes

    def set_state(self, state: str) -> None:
        self.local.state = STATE_CODES[state]

    def nodes(self) -> List[GossipNode]:
        return [self.local, *self._nodes.values()]

    # -- what to send ------------------------------------------------------------------
    def announce(self, now: float) -> Tuple[List[GossipEntry], List[int]]:
        """A joining node's message: its own entry (and its port)."""
        local = self.local
        return [local.entry(local.state, int(now))], [local.port]

    def table(self, now: float) -> Tuple[List[GossipEntry], List[int]]:
        """A normal node's message: every node, the silent ones reported DOWN."""
        oldest = int(now) - int(self.interval * DETECTOR_INTERVALS)
        local = self.local
        entries = [local.entry(local.state, int(now))]
        ports = [local.port]
        for node in self._nodes.values():
            if node.ts < oldest:
                node.state = _DOWN
            entries.append(node.entry(node.state, node.ts))
            ports.append(node.port)
        return entries, ports

    # -- what was received -------------------------------------------------------------
    def receive(
        self,
        entries: Sequence[GossipEntry],
        ports: Optional[Sequence[int]],
        port_of: Callable[[str], Optional[int]],
    ) -> List[Member]:
        """Take a message in; the nodes to add or move (as ring members) for membership
        to learn. ``port_of(address)`` is the peer port of a known node at that address
        (used when the sender did not give the ports)."""
        learned: List[Member] = []
        for index, entry in enumerate(entries):
            position = (entry.dc, entry.rack, entry.token)
            if position == self.local.position:
                continue
            given = ports[index] if ports is not None else port_of(entry.address)
            port = given or self.local.port
            known = self._nodes.get(position)
            if known is None:
                node = GossipNode(
                    entry.dc, entry.rack, entry.token, entry.address, port, entry.state, entry.ts
                )
                self._nodes[position] = node
                learned.append(node.member())
            elif known.address != entry.address or (ports is not None and known.port != port):
                if entry.ts > known.ts:
                    known.address, known.port = entry.address, port
                    known.state, known.ts = entry.state, entry.ts
                    learned.append(known.member())
            elif entry.ts > known.ts:
                known.state, known.ts = entry.state, entry.ts
        return learned

    @staticmethod
    def is_announce(entries: Sequence[GossipEntry]) -> bool:
        """A joining node's announce: one entry, JOINING."""
        return len(entries) == 1 and entries[0].state == _JOINING


def broadcast_address(listen_host: str, env: str, environ: Mapping[str, str]) -> str:
    """What this node's gossip entries give as its address (reference 5.5): the public
    host name from the environment (``EC2_PUBLIC_HOSTNAME`` under ``env: aws``, else
    ``PUBLIC_HOSTNAME``), or the ``dyn_listen`` host."""
    name = "EC2_PUBLIC_HOSTNAME" if env == "aws" else "PUBLIC_HOSTNAME"
    return environ.get(name) or listen_host

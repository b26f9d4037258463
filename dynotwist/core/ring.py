"""Cluster topology and token ownership (sans-I/O, no Twisted).

The model is Dynomite's: datacenters hold racks, racks hold nodes, and every
rack is one complete replica of the key space with its own ring of tokens.
A node owns ``(previous token, own token]`` on its rack's ring: the owner of a
key token is the node with the smallest token ``>=`` the key token, wrapping to
the lowest token when the key token is above every token.

Unlike Dynomite, a node may hold several tokens (virtual nodes); with one token
per node placement is exactly Dynomite's.

Everything here is immutable: membership changes build a new :class:`Topology`.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from typing import Dict, Iterable, List, Sequence, Tuple

from dynotwist.core.hashkit import NO_TOKEN

__all__ = [
    "MAX_TOKEN",
    "Member",
    "RackRing",
    "Topology",
    "preselect_rack",
]

#: Tokens are unsigned 32-bit integers.
MAX_TOKEN = 0xFFFFFFFF


@dataclass(frozen=True)
class Member:
    """One dynotwist/Dynomite node: where it listens for peers and what it owns."""

    name: str
    host: str
    port: int
    dc: str
    rack: str
    tokens: Tuple[int, ...]
    is_local: bool = False

    def __post_init__(self) -> None:
        tokens = tuple(self.tokens)
        if not tokens:
            raise ValueError(f"node {self.name} has no token")
        for token in tokens:
            if not isinstance(token, int) or isinstance(token, bool):
                raise TypeError(f"node {self.name}: token {token!r} is not an int")
            if not 0 <= token <= MAX_TOKEN:
                raise ValueError(f"node {self.name}: token {token} out of range 0..{MAX_TOKEN}")
        if len(set(tokens)) != len(tokens):
            raise ValueError(f"node {self.name} lists a token twice: {tokens!r}")
        object.__setattr__(self, "tokens", tokens)

    @classmethod
    def at(
        cls, host: str, port: int, dc: str, rack: str, tokens: Tuple[int, ...],
        is_local: bool = False,
    ) -> Member:
        """The node whose peer port is ``host:port``, named after it."""
        return cls("%s:%d" % (host, port), host, port, dc, rack, tuple(tokens), is_local)


class RackRing:
    """The sorted continuum of one rack: tokens ascending and their nodes."""

    __slots__ = ("dc", "nodes", "owners", "rack", "tokens")

    def __init__(self, dc: str, rack: str, nodes: Iterable[Member]) -> None:
        self.dc = dc
        self.rack = rack
        self.nodes: Tuple[Member, ...] = tuple(nodes)
        pairs: List[Tuple[int, Member]] = []
        seen: Dict[int, Member] = {}
        for node in self.nodes:
            for token in node.tokens:
                other = seen.get(token)
                if other is not None:
                    raise ValueError(
                        f"token {token} claimed by both {other.name} and {node.name} in {dc}/{rack}"
                    )
                seen[token] = node
                pairs.append((token, node))
        if not pairs:
            raise ValueError(f"rack {dc}/{rack} has no node")
        pairs.sort(key=lambda pair: pair[0])
        self.tokens: List[int] = [token for token, _ in pairs]
        self.owners: List[Member] = [node for _, node in pairs]

    def index(self, token: int) -> int:
        """Index in :attr:`tokens` of the token owning *token*."""
        i = bisect_left(self.tokens, token)
        return 0 if i == len(self.tokens) else i

    def owner(self, token: int) -> Member:
        """The node owning *token*: smallest token >= it, else the lowest."""
        i = bisect_left(self.tokens, token)
        return self.owners[0 if i == len(self.tokens) else i]

    def owner_token(self, token: int) -> int:
        """The ring token that owns *token*."""
        return self.tokens[self.index(token)]

    def __repr__(self) -> str:
        return (
            f"<RackRing {self.dc}/{self.rack} {len(self.tokens)} tokens, {len(self.nodes)} nodes>"
        )


def preselect_rack(
    local_dc_racks: Sequence[str], local_rack: str, remote_dc_racks: Sequence[str]
) -> str | None:
    """Dynomite's preselected remote rack for replication to one remote DC.

    Racks of both DCs are sorted by name; with ``i`` the index of the local
    rack among the local DC's racks, the remote DC's rack ``i % count`` is
    chosen (rack i of DC1 replicates to rack i of DC2).  ``None`` when the
    remote DC has no rack.
    """
    remote = sorted(remote_dc_racks)
    if not remote:
        return None
    local = sorted(local_dc_racks)
    my_index = local.index(local_rack) if local_rack in local else 0
    return remote[my_index % len(remote)]


class Topology:
    """The cluster as one node sees it: itself plus its peers.

    ``nodes[0]`` is the local node, then the peers in the order given (as in
    Dynomite's peers array, index 0 = self, then ``dyn_seeds`` in file order).
    """

    __slots__ = ("_dc_racks", "_preselected", "_rings", "local", "nodes", "peers")

    def __init__(self, local: Member, peers: Iterable[Member] = ()) -> None:
        if not local.is_local:
            raise ValueError(f"local node {local.name} is not marked is_local")
        self.local = local
        self.peers: Tuple[Member, ...] = tuple(peers)
        for peer in self.peers:
            if peer.is_local:
                raise ValueError(f"peer {peer.name} is marked is_local")
        self.nodes: Tuple[Member, ...] = (local, *self.peers)

        members: Dict[Tuple[str, str], List[Member]] = {}
        for node in self.nodes:
            members.setdefault((node.dc, node.rack), []).append(node)
        self._rings: Dict[Tuple[str, str], RackRing] = {
            key: RackRing(key[0], key[1], nodes) for key, nodes in members.items()
        }
        dc_racks: Dict[str, List[str]] = {}
        for dc, rack in members:
            dc_racks.setdefault(dc, []).append(rack)
        self._dc_racks: Dict[str, Tuple[str, ...]] = {
            dc: tuple(sorted(racks)) for dc, racks in dc_racks.items()
        }
        local_racks = self._dc_racks[local.dc]
        self._preselected: Dict[str, str] = {}
        for dc, racks in self._dc_racks.items():
            chosen = preselect_rack(local_racks, local.rack, racks)
            if chosen is not None:
                self._preselected[dc] = chosen

    # -- shape

    @property
    def local_dc(self) -> str:
        return self.local.dc

    @property
    def local_rack(self) -> str:
        return self.local.rack

    def datacenters(self) -> List[str]:
        """Datacenter names, sorted."""
        return sorted(self._dc_racks)

    def racks_of(self, dc: str) -> List[str]:
        """Rack names of *dc*, sorted (empty for an unknown DC)."""
        return list(self._dc_racks.get(dc, ()))

    def rack_ring(self, dc: str, rack: str) -> RackRing:
        """The ring of *rack* in *dc* (``KeyError`` if there is none)."""
        return self._rings[(dc, rack)]

    def rack_nodes(self, dc: str, rack: str) -> Tuple[Member, ...]:
        return self._rings[(dc, rack)].nodes

    # -- placement

    def owner(self, dc: str, rack: str, token: int) -> Member:
        """The node of *dc*/*rack* owning *token*.

        :data:`~dynotwist.core.hashkit.NO_TOKEN` (nothing to hash) gives the
        local node, as Dynomite sends such requests to peer index 0.
        """
        if token == NO_TOKEN:
            return self.local
        return self._rings[(dc, rack)].owner(token)

    def owners(self, dc: str, token: int) -> List[Member]:
        """The owner of *token* in every rack of *dc*, racks in name order."""
        return [self.owner(dc, rack, token) for rack in self._dc_racks.get(dc, ())]

    def preselected_rack(self, dc: str) -> str | None:
        """The rack of *dc* that receives this node's cross-DC replication.

        For the local DC this is the local rack.  ``None`` for an unknown DC.
        """
        return self._preselected.get(dc)

    def __repr__(self) -> str:
        shape = ", ".join(f"{dc}:[{','.join(self._dc_racks[dc])}]" for dc in self.datacenters())
        return f"<Topology local={self.local.name} {len(self.nodes)} nodes, {shape}>"

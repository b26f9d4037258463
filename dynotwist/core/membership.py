"""Who a node's peers are, and what a change of them means (pure logic).

Peers come from three sources: the seed provider (``dyn_seeds``, a florida server, a
DNS TXT record; :func:`parse_seed_list` reads the providers' text), gossip (a node
announcing itself or named in another node's table), and the operator
(``/peer/forget/<name>``). :class:`Membership` keeps the peer table and turns each
event into :class:`Changes` — peers added, removed, replaced — that the node applies
to its ring and its connection pools while it serves.

A node is identified by its ring position, (dc, rack, tokens), as in Dynomite: a
known position at a new address is a replacement (the old address's connections are
dropped), an address whose position changed is a replacement too (its tokens moved).
An entry at the local node's own position is the local node (providers list every
node of the cluster) and is skipped.

Beyond Dynomite, whose peers are never removed: a node missing from a provider's new
list is removed (a provider's list is the whole cluster), as is one an operator
forgets; a node learned from gossip stays until then.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, NamedTuple, Optional, Tuple

from dynotwist.config import Config, Seed, parse_seed
from dynotwist.core.ring import Member, Topology

__all__ = [
    "GOSSIP",
    "SEEDS",
    "Changes",
    "Membership",
    "SeedListError",
    "local_member",
    "member_of",
    "parse_seed_list",
]

#: where a peer came from
SEEDS = "seeds"
GOSSIP = "gossip"

Position = Tuple[str, str, Tuple[int, ...]]


class SeedListError(ValueError):
    """A seed provider's answer that is not a seed list."""


def parse_seed_list(text: str) -> List[Seed]:
    """``host:port:rack:dc:tokens`` entries joined with ``|`` (florida's body, a DNS TXT
    record's text); blank entries and surrounding white space are ignored."""
    seeds = []
    for item in text.replace("\r", "").replace("\n", "|").split("|"):
        item = item.strip()
        if not item:
            continue
        try:
            seeds.append(parse_seed(item))
        except ValueError as error:
            raise SeedListError(str(error)) from None
    if not seeds:
        raise SeedListError("the seed list is empty")
    return seeds


def member_of(seed: Seed) -> Member:
    """A seed as a ring member, named ``host:port``."""
    return Member.at(seed.host, seed.port, seed.dc, seed.rack, seed.tokens)


def local_member(config: Config) -> Member:
    """This node, named after its ``dyn_listen``."""
    listen = config.dyn_listen
    return Member.at(
        listen.host, listen.port, config.datacenter, config.rack, config.tokens, is_local=True
    )


def _position(member: Member) -> Position:
    return (member.dc, member.rack, member.tokens)


class Changes(NamedTuple):
    """What one membership event did. ``replaced`` pairs (old, new): the same position
    at another address, or the same address at another position."""

    added: Tuple[Member, ...] = ()
    removed: Tuple[Member, ...] = ()
    replaced: Tuple[Tuple[Member, Member], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.added or self.removed or self.replaced)

    def describe(self) -> str:
        parts = ["added %s" % m.name for m in self.added]
        parts += ["removed %s" % m.name for m in self.removed]
        parts += ["replaced %s by %s" % (old.name, new.name) for old, new in self.replaced]
        return ", ".join(parts) or "no change"


class Membership:
    """The peer table: each peer with its source (:data:`SEEDS` or :data:`GOSSIP`).

    Every method that changes it returns the :class:`Changes`, or raises ValueError
    (nothing changed) when the result would not be a valid ring, e.g. two nodes
    claiming one token of a rack.
    """

    def __init__(self, local: Member, seeds: Iterable[Member] = ()) -> None:
        self.local = local
        self._peers: Dict[str, Member] = {}
        self._sources: Dict[str, str] = {}
        self.set_seeds(seeds)

    @property
    def peers(self) -> Tuple[Member, ...]:
        return tuple(self._peers.values())

    def source(self, name: str) -> Optional[str]:
        return self._sources.get(name)

    def topology(self) -> Topology:
        return Topology(self.local, self._peers.values())

    def _is_local(self, member: Member) -> bool:
        return member.name == self.local.name or _position(member) == _position(self.local)

    # -- events -------------------------------------------------------------------------
    def set_seeds(self, members: Iterable[Member]) -> Changes:
        """The seed provider's list, the whole cluster: seeds not in it are removed,
        gossip-learned peers kept unless the list puts another node at their position."""
        wanted: Dict[str, Member] = {}
        for member in members:
            if not self._is_local(member):
                wanted[member.name] = member
        table: Dict[str, Member] = {}
        sources: Dict[str, str] = {}
        taken = {_position(m) for m in wanted.values()}
        for name, member in self._peers.items():
            learned = self._sources[name] == GOSSIP and name not in wanted
            if learned and _position(member) not in taken:
                table[name] = member
                sources[name] = GOSSIP
        for name, member in wanted.items():
            table[name] = member
            sources[name] = SEEDS
        return self._install(table, sources)

    def learn(self, member: Member) -> Changes:
        """A node gossip told of (Dynomite's rules): a new position is added, a known
        position at another address replaces the node there; a known address is left
        as it is."""
        if self._is_local(member):
            return Changes()
        position = _position(member)
        table = dict(self._peers)
        sources = dict(self._sources)
        for name, known in self._peers.items():
            if _position(known) == position:
                if name == member.name:
                    return Changes()
                del table[name]
                del sources[name]
        if member.name in table:
            return Changes()  # an address already placed elsewhere: its seed rules
        table[member.name] = member
        sources[member.name] = GOSSIP
        return self._install(table, sources)

    def forget(self, name: str) -> Changes:
        """Remove a peer (by ``host:port`` or host); an unknown one changes nothing."""
        table = {
            key: member
            for key, member in self._peers.items()
            if name not in (key, member.host)
        }
        sources = {key: self._sources[key] for key in table}
        return self._install(table, sources)

    def _install(self, table: Dict[str, Member], sources: Dict[str, str]) -> Changes:
        Topology(self.local, table.values())  # raises before anything changes
        old = self._peers
        by_position = {_position(m): m for m in old.values()}
        added: List[Member] = []
        replaced: List[Tuple[Member, Member]] = []
        kept = set()
        for name, member in table.items():
            before = old.get(name)
            if before is None:
                previous = by_position.get(_position(member))
                if previous is not None and previous.name not in table:
                    replaced.append((previous, member))
                    kept.add(previous.name)
                else:
                    added.append(member)
            elif before != member:
                replaced.append((before, member))
        removed = [m for n, m in old.items() if n not in table and n not in kept]
        self._peers = table
        self._sources = sources
        return Changes(tuple(added), tuple(removed), tuple(replaced))

"""Where a request goes: Dynomite's coordinator algorithm as pure planning.

``Router.plan`` turns a request, as a datastore-neutral
:class:`~dynotwist.core.command.Command`, and the client's consistency levels into a
``Plan`` (the nodes to send it to and how their replies become the client's reply), a
``Fragmented`` plan (a multi-key command split by owner), a ``RackWide`` plan (one part
per node of the local rack), or :data:`SPANS_NODES` (keys that must live together but
do not). Nothing here sends anything:
``dynotwist.core.coordinator`` and ``dynotwist.net.dispatch`` carry plans out.
"""

from __future__ import annotations

from bisect import bisect_left
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from dynotwist.core import consistency as levels
from dynotwist.core.command import (
    ALL_NODES,
    LOCAL_DATASTORE,
    LOCAL_RACK_ALL,
    LOCAL_RACK_OWNER,
    MULTI_FRAGMENT,
    Command,
)
from dynotwist.core.hashkit import NO_TOKEN, HashFunction, hash_key
from dynotwist.core.ring import Member, Topology
from dynotwist.proto.dnode import DMSG_REQ, DMSG_REQ_FORWARD


class Target(NamedTuple):
    """One copy of a request: to ``node`` (the local node = its datastore)."""

    node: Member
    msg_type: int  # DMSG_REQ in the same DC, DMSG_REQ_FORWARD to a remote DC's rack
    group: int  # the collector group its reply counts in; -1 = reply not used
    alternates: Tuple[Member, ...] = ()  # tried in order if ``node`` has no connection


class Plan(NamedTuple):
    """How one request is served.

    ``level`` DC_ONE: the reply of ``targets[0]`` is the client's, the others are
    fire-and-forget. Otherwise a quorum collector over ``group_sizes`` decides, fed
    the replies of the targets whose group is not -1.
    """

    targets: Tuple[Target, ...]
    level: str
    group_sizes: Tuple[int, ...] = ()


class Fragmented(NamedTuple):
    """A multi-key command whose keys live on several nodes: one part per owner.

    ``parts[p]`` is the indexes (into the command's keys) of part p's keys, in order,
    and its plan; ``positions[k]`` is where key k went: (part, index among the part's
    keys). The datastore kind builds each part's request and merges their replies.
    """

    parts: Tuple[Tuple[Tuple[int, ...], Plan], ...]
    positions: Tuple[Tuple[int, int], ...]


class RackWide(NamedTuple):
    """A keyless request for every node of the local rack: one plan per node, in
    :attr:`Router.rack_members` order. The datastore kind merges the parts' replies, or
    sends the request to one of them (a cursor that visits the nodes in turn)."""

    parts: Tuple[Plan, ...]


class SpansNodes:
    """Keys that must live on one node, and do not (give them one hash tag)."""

    def __repr__(self) -> str:
        return "SPANS_NODES"


SPANS_NODES = SpansNodes()

Routed = Union[Plan, Fragmented, RackWide, SpansNodes]

_QUORUM_LEVELS = frozenset((levels.DC_QUORUM, levels.DC_SAFE_QUORUM, levels.DC_EACH_SAFE_QUORUM))


class Router:
    """Plans requests over a topology (one ring per rack, racks per DC)."""

    def __init__(
        self, topology: Topology, hash_fn: HashFunction, hash_tag: Optional[bytes] = None
    ) -> None:
        self.topology = topology
        self.hash_fn = hash_fn
        self.hash_tag = hash_tag or None
        local = topology.local
        self.local = local
        self.local_dc = local.dc
        self.local_rack = local.rack
        self.local_racks = tuple(topology.racks_of(local.dc))
        self.remote_dcs = tuple(dc for dc in topology.datacenters() if dc != local.dc)
        self._local_only = Plan((Target(local, DMSG_REQ, 0),), levels.DC_ONE)
        self._bounds = sorted({token for node in topology.nodes for token in node.tokens})
        self._plans: Dict[Tuple[int, bool, str], Plan] = {}
        # the local rack's nodes by their lowest token (then name): the same order on
        # every node of the rack, so that a cursor is understood by any of them
        self.rack_members: Tuple[Member, ...] = tuple(
            sorted(topology.rack_nodes(local.dc, local.rack), key=lambda n: (min(n.tokens), n.name))
        )
        self._rack_wide: Routed = self._local_only
        if len(self.rack_members) > 1:
            self._rack_wide = RackWide(
                tuple(Plan((Target(n, DMSG_REQ, 0),), levels.DC_ONE) for n in self.rack_members)
            )

    @property
    def single_node(self) -> bool:
        return len(self.topology.nodes) == 1

    def token(self, key: bytes) -> int:
        return hash_key(key, self.hash_fn, self.hash_tag)

    def owner(self, key: bytes) -> Member:
        """The key's owner in the local rack."""
        return self.topology.owner(self.local_dc, self.local_rack, self.token(key))

    # -- planning -------------------------------------------------------------------
    def plan(self, command: Command, read_level: str, write_level: str) -> Routed:
        route = command.route
        if route == LOCAL_DATASTORE:
            return self._local_only
        if route == LOCAL_RACK_ALL:
            return self._rack_wide
        if route == ALL_NODES:
            return self._all_nodes()
        keys = command.keys
        if not keys:
            return self._local_only
        level = write_level if command.write else read_level
        if route == LOCAL_RACK_OWNER:
            return Plan((Target(self.owner(keys[0]), DMSG_REQ, 0),), levels.DC_ONE)
        if len(keys) > 1:
            owners = [self.owner(key) for key in keys]
            first = owners[0]
            if any(owner is not first for owner in owners):
                if route == MULTI_FRAGMENT:
                    return self._fragment(command, owners, level)
                return SPANS_NODES
        return self.replicas(self.token(keys[0]), command.write, level)

    def replicas(self, token: int, write: bool, level: str) -> Plan:
        """The copies of a request for ``token`` at ``level`` (reference 2.3).

        Between two consecutive tokens of the whole cluster every rack's owner is the
        same, so plans are computed once per such interval and reused.
        """
        if token == NO_TOKEN:
            return self._local_only
        interval = bisect_left(self._bounds, token)
        if interval == len(self._bounds):
            interval = 0  # past the highest token: every ring wraps to its first
        key = (interval, write, level)
        plan = self._plans.get(key)
        if plan is None:
            plan = self._plans[key] = self._replicas(token, write, level)
        return plan

    def _replicas(self, token: int, write: bool, level: str) -> Plan:
        topology = self.topology
        local_dc = self.local_dc
        if not write and level == levels.DC_ONE:
            owner = topology.owner(local_dc, self.local_rack, token)
            return Plan((Target(owner, DMSG_REQ, 0, self._read_alternates(token)),), level)
        counted = level in _QUORUM_LEVELS
        # the local rack first: under DC_ONE its reply is the client's
        targets = [Target(topology.owner(local_dc, self.local_rack, token), DMSG_REQ, 0)]
        for rack in self.local_racks:
            if rack != self.local_rack:
                owner = topology.owner(local_dc, rack, token)
                targets.append(Target(owner, DMSG_REQ, 0 if counted else -1))
        group_sizes = [len(targets)]
        each = level == levels.DC_EACH_SAFE_QUORUM
        for dc in self.remote_dcs:
            racks = topology.racks_of(dc)
            if each:
                group = len(group_sizes)
                group_sizes.append(len(racks))
                for rack in racks:
                    targets.append(Target(topology.owner(dc, rack, token), DMSG_REQ, group))
            elif write:
                chosen = topology.preselected_rack(dc) or racks[0]
                others = tuple(topology.owner(dc, r, token) for r in racks if r != chosen)
                owner = topology.owner(dc, chosen, token)
                targets.append(Target(owner, DMSG_REQ_FORWARD, -1, others))
        if not counted:
            return Plan(tuple(targets), levels.DC_ONE)
        return Plan(tuple(targets), level, tuple(group_sizes))

    def _read_alternates(self, token: int) -> Tuple[Member, ...]:
        """Where a DC_ONE read goes when its owner is ejected or not connected: the
        owners in the other racks of this DC (the next rack by name first, so that each
        rack's failover lands on a different one), then in the other DCs (the rack this
        node replicates to first)."""
        topology = self.topology
        racks = self.local_racks
        mine = racks.index(self.local_rack)
        owners = [
            topology.owner(self.local_dc, racks[(mine + i) % len(racks)], token)
            for i in range(1, len(racks))
        ]
        for dc in self.remote_dcs:
            racks_of_dc = topology.racks_of(dc)
            chosen = topology.preselected_rack(dc) or racks_of_dc[0]
            owners.append(topology.owner(dc, chosen, token))
            owners.extend(topology.owner(dc, r, token) for r in racks_of_dc if r != chosen)
        return tuple(owners)

    def local_dc_fanout(self, token: int) -> Plan:
        """A write forwarded from another DC: every rack of this DC, DC_ONE (2.5)."""
        plan = self.replicas(token, True, levels.DC_ONE)
        return plan._replace(targets=tuple(t for t in plan.targets if t.msg_type == DMSG_REQ))

    def _all_nodes(self) -> Plan:
        targets = [Target(self.local, DMSG_REQ, 0)]
        targets.extend(Target(peer, DMSG_REQ, -1) for peer in self.topology.peers)
        return Plan(tuple(targets), levels.DC_ONE)

    def _fragment(self, command: Command, owners: Sequence[Member], level: str) -> Fragmented:
        groups: Dict[str, int] = {}
        members: List[List[int]] = []
        positions: List[Tuple[int, int]] = []
        for index, owner in enumerate(owners):
            part = groups.get(owner.name)
            if part is None:
                part = groups[owner.name] = len(members)
                members.append([])
            positions.append((part, len(members[part])))
            members[part].append(index)
        keys = command.keys
        parts = tuple(
            (tuple(indexes), self.replicas(self.token(keys[indexes[0]]), command.write, level))
            for indexes in members
        )
        return Fragmented(parts, tuple(positions))

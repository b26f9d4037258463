"""Whether a node can serve its clients now, at its consistency levels (``/ready``).

Pure logic over what the node knows: its state, whether its datastore is connected,
which peers are reachable. ``/ping`` stays Dynomite's liveness answer (the process
answers); readiness says whether requests would succeed:

- the node's state is NORMAL (the others refuse reads, and some writes);
- its datastore is connected;
- for each of the read and write consistency levels, the replicas that decide a
  reply are reachable: under DC_ONE every node of the local rack (each owns a share
  of the keys whose replies come from it); under DC_QUORUM and DC_SAFE_QUORUM a
  quorum of the local DC's racks; under DC_EACH_SAFE_QUORUM a quorum of the racks of
  every DC. A rack counts when every one of its nodes is reachable (the local node:
  when its datastore is connected).
"""

from __future__ import annotations

from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from dynotwist.core import consistency
from dynotwist.core.states import NORMAL

__all__ = ["NodeHealth", "Reachable", "not_ready"]


class Reachable(NamedTuple):
    """One node of the cluster as the local node sees it."""

    name: str
    dc: str
    rack: str
    up: bool  # the local node: its datastore is connected; a peer: a connection is up


class NodeHealth(NamedTuple):
    state: str
    datastore: str  # its address, for the reason
    datastore_up: bool
    local_dc: str
    local_rack: str
    nodes: Sequence[Reachable]  # every node, the local one included
    levels: Sequence[str]  # the read and write consistency levels


def _racks(nodes: Iterable[Reachable]) -> Dict[Tuple[str, str], List[Reachable]]:
    racks: Dict[Tuple[str, str], List[Reachable]] = {}
    for node in nodes:
        racks.setdefault((node.dc, node.rack), []).append(node)
    return racks


def _down(members: Iterable[Reachable]) -> List[str]:
    return [node.name for node in members if not node.up]


def _quorum_missing(dc: str, racks: Dict[Tuple[str, str], List[Reachable]]) -> Optional[str]:
    """Why a quorum of ``dc``'s racks is not reachable, or None."""
    in_dc = sorted((rack, members) for (d, rack), members in racks.items() if d == dc)
    reachable = [rack for rack, members in in_dc if not _down(members)]
    needed = consistency.quorum_of(len(in_dc))
    if len(reachable) >= needed:
        return None
    down = [name for _, members in in_dc for name in _down(members)]
    return "%d of the %d racks of %s reachable, %d needed (down: %s)" % (
        len(reachable), len(in_dc), dc, needed, ", ".join(down)
    )


def not_ready(health: NodeHealth) -> Optional[str]:
    """Why the node cannot serve its clients at its consistency, or None if it can."""
    if health.state != NORMAL:
        return "state is %s, not NORMAL" % health.state
    if not health.datastore_up:
        return "datastore %s not connected" % health.datastore
    racks = _racks(health.nodes)
    reasons: List[str] = []
    for level in dict.fromkeys(health.levels):  # each level once, in order
        if level == consistency.DC_ONE:
            down = _down(racks.get((health.local_dc, health.local_rack), ()))
            if down:
                reasons.append("DC_ONE needs every node of rack %s (down: %s)"
                               % (health.local_rack, ", ".join(down)))
            continue
        dcs = [health.local_dc]
        if level == consistency.DC_EACH_SAFE_QUORUM:
            dcs = sorted({dc for dc, _ in racks})
        for dc in dcs:
            missing = _quorum_missing(dc, racks)
            if missing:
                reasons.append("%s: %s" % (level, missing))
    return "; ".join(reasons) or None

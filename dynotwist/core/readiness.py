"""Whether a node can serve its clients now, at its consistency levels (``/ready``).

Pure logic over what the node knows: its state, whether its datastore is connected,
which peers are reachable. ``/ping`` stays Dynomite's liveness answer (the process
answers); readiness says whether requests would succeed:

- the node's state is NORMAL (the others refuse reads, and some writes);
- its datastore is connected;
- for each of the read and write consistency levels, every token range has enough
  reachable replicas (the local node's: its datastore): under DC_ONE one in the local
  DC (a range whose owner in the local rack is down is served by another rack's:
  failover), under DC_QUORUM and DC_SAFE_QUORUM a quorum of the local DC's racks,
  under DC_EACH_SAFE_QUORUM a quorum of every DC's racks.
"""

from __future__ import annotations

from typing import Callable, List, NamedTuple, Optional, Sequence

from dynotwist.core import consistency
from dynotwist.core.ring import Member, Topology
from dynotwist.core.states import NORMAL

__all__ = ["NodeHealth", "not_ready"]


class NodeHealth(NamedTuple):
    state: str
    datastore: str  # its address, for the reason
    datastore_up: bool
    topology: Topology
    reachable: Callable[[Member], bool]  # a peer can be sent requests now
    levels: Sequence[str]  # the read and write consistency levels


def _short_of(health: NodeHealth, level: str) -> Optional[str]:
    """Why some token range lacks the replicas ``level`` needs, or None."""
    topology = health.topology

    def up(member: Member) -> bool:
        return health.datastore_up if member.is_local else health.reachable(member)

    dcs = topology.datacenters() if level == consistency.DC_EACH_SAFE_QUORUM else [
        topology.local_dc
    ]
    tokens = sorted({token for node in topology.nodes for token in node.tokens})
    for dc in dcs:
        for token in tokens:
            owners = topology.owners(dc, token)
            reachable = sum(1 for owner in owners if up(owner))
            needed = 1 if level == consistency.DC_ONE else consistency.quorum_of(len(owners))
            if reachable < needed:
                down = ", ".join(owner.name for owner in owners if not up(owner))
                return "%s: %d of the %d racks of %s reachable, %d needed (down: %s)" % (
                    level, reachable, len(owners), dc, needed, down
                )
    return None


def not_ready(health: NodeHealth) -> Optional[str]:
    """Why the node cannot serve its clients at its consistency, or None if it can."""
    if health.state != NORMAL:
        return "state is %s, not NORMAL" % health.state
    if not health.datastore_up:
        return "datastore %s not connected" % health.datastore
    reasons: List[str] = []
    for level in dict.fromkeys(health.levels):  # each level once, in order
        reason = _short_of(health, level)
        if reason is not None:
            reasons.append(reason)
    return "; ".join(reasons) or None

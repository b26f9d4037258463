"""What the admin port may read and change on a running node (``admin.NodeView``).

A mixin of the node: its state, the consistency new connections start with, the
timeout factor, log verbosity, histograms and the peer links.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Dict, Optional

from dynotwist.core.readiness import NodeHealth, Reachable, not_ready
from dynotwist.core.ring import Topology
from dynotwist.core.stats import Snapshot, Stats
from dynotwist.logs import verbosity
from dynotwist.net.gate import LocalGate

if TYPE_CHECKING:
    from dynotwist.net.datastore import DatastorePool
    from dynotwist.net.peer import PeerPool


class NodeControls:
    reactor: Any
    config: Any  # dynotwist.config.Config
    topology: Topology
    read_consistency: str
    write_consistency: str
    stats: Stats
    gate: LocalGate
    peers: Dict[str, PeerPool]
    _pools: Dict[bool, DatastorePool]
    read_repairs: bool
    _timeout_factor = 1

    @property
    def state(self) -> str:
        return self.gate.state

    @state.setter
    def state(self, state: str) -> None:
        self.gate.set_state(state)

    @property
    def timeout_factor(self) -> int:
        return self._timeout_factor

    @timeout_factor.setter
    def timeout_factor(self, factor: int) -> None:
        """Scales every request timeout, datastore and peers, at once."""
        self._timeout_factor = factor
        for pool in self._pools.values():
            pool.timeout_factor = factor
        for peer in self.peers.values():
            peer.timeout_factor = factor

    @property
    def verbosity(self) -> int:
        return verbosity.verbosity

    def set_verbosity(self, level: int) -> int:
        return verbosity.set(level)

    @property
    def datastore_up(self) -> bool:
        """A connection of the RESP2 pool (connected at startup) is up."""
        pool = self._pools.get(False)
        return pool is not None and bool(pool.ready)

    def not_ready(self) -> Optional[str]:
        """Why the node cannot serve its clients at its consistency now, or None."""
        local = self.topology.local
        nodes = [Reachable(local.name, local.dc, local.rack, self.datastore_up)]
        nodes += [
            Reachable(name, pool.peer.dc, pool.peer.rack, pool.is_up and not pool.admin_down)
            for name, pool in self.peers.items()
        ]
        return not_ready(
            NodeHealth(
                self.state,
                self.config.servers[0].name,
                self.datastore_up,
                local.dc,
                local.rack,
                nodes,
                (self.read_consistency, self.write_consistency),
            )
        )

    def stats_snapshot(self) -> Snapshot:
        """The stats now (/info, /metrics): a stats request, counted."""
        self.stats.stats_count += 1
        return self.stats.snapshot(self.reactor.seconds())

    def reset_histograms(self) -> None:
        self.stats.reset_histograms(self.reactor.seconds())

    def _peer_pools(self, name: str) -> list:
        if name == "all":
            return list(self.peers.values())
        # Dynomite names peers by host; dynotwist by host:port: both are accepted
        return [pool for key, pool in self.peers.items() if name in (key, pool.peer.host)]

    def peer_down(self, name: str) -> bool:
        pools = self._peer_pools(name)
        for pool in pools:
            pool.admin_down = True
        return bool(pools)

    def peer_up(self, name: str) -> bool:
        pools = self._peer_pools(name)
        for pool in pools:
            pool.admin_down = False
        return bool(pools)

    def peer_reset(self, name: str) -> bool:
        pools = self._peer_pools(name)
        for pool in pools:
            pool.link.resets += 1
            pool.reset()
        return bool(pools)

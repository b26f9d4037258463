"""What the admin port may read and change on a running node (``admin.NodeView``).

A mixin of the node: its state, the consistency new connections start with, the
timeout factor, log verbosity, histograms and the peer links.
"""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from dynotwist import __version__
from dynotwist.core.readiness import NodeHealth, not_ready
from dynotwist.core.ring import Member, Topology
from dynotwist.core.stats import Snapshot, Stats
from dynotwist.logs import verbosity
from dynotwist.net.gate import LocalGate

if TYPE_CHECKING:
    from dynotwist.net.datastore import DatastorePool
    from dynotwist.net.ordered import ClientCount
    from dynotwist.net.peer import PeerPool

Fields = List[Tuple[str, object]]


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
    clients: ClientCount
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
        peers = self.peers

        def reachable(member: Member) -> bool:
            pool = peers.get(member.name)
            return pool is not None and pool.is_up and not pool.admin_down

        return not_ready(
            NodeHealth(
                self.state,
                self.config.servers[0].name,
                self.datastore_up,
                self.topology,
                reachable,
                (self.read_consistency, self.write_consistency),
            )
        )

    def info_sections(self, redis_version: str, keyspace_nodes: str) -> Dict[str, Fields]:
        """INFO's sections but the keyspace (core.nodeinfo): this node, not its
        datastore. ``redis_version``: the datastore's; ``keyspace_nodes``: how many of
        the rack's nodes the keyspace sums ("2/2")."""
        stats = self.stats
        config = self.config
        now = self.reactor.seconds()
        uptime = max(0, int(now - stats.started))
        peers = list(self.peers.values())
        down = [name for name, pool in self.peers.items() if not pool.is_up or pool.admin_down]
        local = self.topology.local
        return {
            "server": [
                ("dynotwist_version", __version__),
                ("redis_version", redis_version),
                ("redis_mode", "standalone"),
                ("os", "%s %s %s" % (platform.system(), platform.release(), platform.machine())),
                ("arch_bits", 64 if platform.architecture()[0] == "64bit" else 32),
                ("python_version", "%s %s" % (platform.python_implementation(),
                                              platform.python_version())),
                ("process_id", os.getpid()),
                ("tcp_port", config.listen.port),
                ("uptime_in_seconds", uptime),
                ("uptime_in_days", uptime // 86400),
            ],
            "clients": [
                ("connected_clients", self.clients.open),
                ("maxclients", config.client_connections),
            ],
            "stats": [
                ("total_connections_received", self.clients.accepted),
                ("total_commands_processed",
                 stats.client_read_requests + stats.client_write_requests),
                ("rejected_connections", self.clients.refused),
                ("client_protocol_errors", stats.client_err),
            ],
            "dynomite": [
                ("dc", local.dc),
                ("rack", local.rack),
                ("tokens", ",".join(str(token) for token in local.tokens)),
                ("state", self.state),
                ("read_consistency", self.read_consistency),
                ("write_consistency", self.write_consistency),
                ("datastore", config.servers[0].name),
                ("datastore_up", int(self.datastore_up)),
                ("peers", len(peers)),
                ("peers_up", len(peers) - len(down)),
                ("peers_down", len(down)),
                ("peers_down_names", ",".join(down)),
                ("keyspace_nodes", keyspace_nodes),
            ],
        }

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

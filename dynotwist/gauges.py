"""The node's gauges, read from its connections when stats are asked for.

Levels that the connections keep anyway (requests awaiting replies, open
connections, writes held by the node's state) are read here at each snapshot rather
than kept up to date on the hot path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Iterable

from dynotwist.net.datastore import PooledProtocol

if TYPE_CHECKING:
    from dynotwist.net.peer import PeerPool
    from dynotwist.node import Node


def _awaiting(connections: Iterable[PooledProtocol]) -> int:
    return sum(len(connection.pending) for connection in connections)


def read_node_gauges(node: Node) -> None:
    """Register, on ``node.stats``, a source for each gauge read from the node."""
    stats = node.stats
    peers = node.peers.values

    def local_peers() -> Iterable[PeerPool]:
        return (pool for pool in peers() if pool.same_dc)

    def remote_peers() -> Iterable[PeerPool]:
        return (pool for pool in peers() if not pool.same_dc)

    def held_frames(pools: Iterable[PeerPool]) -> Iterable[bytes]:
        return (frame for pool in pools for connection in pool.ready for frame in connection.held)

    stats.read_gauge("datastore_up", lambda: int(node.datastore_up))
    stats.read_gauge("in_queue", lambda: node.gate.held + sum(p.queued for p in node.pools))
    stats.read_gauge(
        "in_queue_bytes", lambda: node.gate.held_bytes + sum(p.queued_bytes for p in node.pools)
    )
    stats.read_gauge("out_queue", lambda: sum(_awaiting(p.ready) for p in node.pools))
    stats.read_gauge("peer_connections", lambda: sum(len(pool.ready) for pool in peers()))
    stats.read_gauge("peer_out_queue", lambda: sum(_awaiting(p.ready) for p in local_peers()))
    stats.read_gauge(
        "remote_peer_out_queue", lambda: sum(_awaiting(p.ready) for p in remote_peers())
    )
    stats.read_gauge("remote_peer_in_queue", lambda: sum(1 for _ in held_frames(remote_peers())))
    stats.read_gauge(
        "remote_peer_in_queue_bytes", lambda: sum(len(f) for f in held_frames(remote_peers()))
    )
    stats.read_gauge(
        "dnode_client_out_queue",
        lambda: sum(len(connection.waiting) for connection in node.serving),
    )
    for pool in node.peers.values():
        _read_peer_gauges(pool)


def _read_peer_gauges(pool: PeerPool) -> None:
    link = pool.link
    link.read_gauge("connections", lambda: len(pool.ready))
    link.read_gauge("out_queue", lambda: _awaiting(pool.ready))
    link.read_gauge("up", lambda: int(pool.is_up and not pool.admin_down))

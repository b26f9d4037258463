"""The node's peers while it serves: the ring, the router, one pool per peer.

A mixin of :class:`dynotwist.node.Node`. Membership events (a seed provider's new
list, a node learned from gossip, ``/peer/forget``, SIGHUP's ``dyn_seeds``) go through
:class:`~dynotwist.core.membership.Membership`; their :class:`Changes` are applied
here between two reactor events: pools made for new peers, and for a peer replaced by
another address; the old address's pool retired (it takes no new request, and closes
each connection once the requests in flight on it are answered); then a new ring and
router, which the next request uses.

:meth:`Peering.links_up` says whether every peer link is up: the startup log says it
once (``/ready`` asks whether enough are: :mod:`dynotwist.core.readiness`).
"""

from __future__ import annotations

from typing import Any, Callable, Dict, Iterable, List, Optional

from dynotwist.config import Config
from dynotwist.core.hashkit import get_hash
from dynotwist.core.membership import Changes, Membership
from dynotwist.core.ring import Member, Topology
from dynotwist.core.router import Router
from dynotwist.core.stats import Stats
from dynotwist.logs import logger, notice
from dynotwist.net.peer import PeerPool

__all__ = ["Peering"]

log = logger(__name__)

#: how often the startup watch looks at the peer links, seconds
_LINKS_CHECK = 0.1


class Peering:
    config: Config
    reactor: Any
    stats: Stats
    read_consistency: str
    membership: Membership
    topology: Topology
    router: Router
    single_node: bool
    peers: Dict[str, PeerPool]
    _make_peer_pool: Callable[[Member], PeerPool]
    _links_watch: Any = None

    def _build_ring(self) -> None:
        config = self.config
        self.topology = self.membership.topology()
        self.router = Router(
            self.topology,
            get_hash(config.hash),
            config.hash_tag.encode("latin-1") if config.hash_tag else None,
        )
        self.single_node = self.router.single_node

    # -- membership events --------------------------------------------------------------
    def set_seeds(self, members: Iterable[Member], source: str) -> Optional[Changes]:
        """The seed provider's list (the whole cluster); None if it was refused."""
        return self._change(lambda: self.membership.set_seeds(members), source)

    def learn_peer(self, member: Member) -> Optional[Changes]:
        """A node gossip told of."""
        return self._change(lambda: self.membership.learn(member), "gossip")

    def forget_peer(self, name: str) -> bool:
        """Remove a peer for good (``/peer/forget/<name>``); False if there is none."""
        changes = self._change(lambda: self.membership.forget(name), "/peer/forget")
        return bool(changes)

    def _change(self, event: Callable[[], Changes], source: str) -> Optional[Changes]:
        try:
            changes = event()
        except ValueError as error:
            log.error(
                "peers from {source} refused, the ring stays as it is: {error}",
                source=source,
                error=error,
            )
            return None
        if changes:
            self._apply(changes)
            notice(
                log,
                "peers changed ({source}): {changes}; the ring is now {ring}",
                source=source,
                changes=changes.describe(),
                ring=self.topology,
            )
        return changes

    def _apply(self, changes: Changes) -> None:
        peers = self.peers
        retired = list(changes.removed)
        started: List[PeerPool] = []
        for old, new in changes.replaced:
            pool = peers.get(old.name)
            if pool is not None and old.name == new.name and old.dc == new.dc:
                pool.peer = new  # same address, new tokens or rack: the pool stays
                continue
            retired.append(old)
        for old in retired:
            pool = peers.pop(old.name, None)
            if pool is not None:
                pool.retire()
            self.stats.forget_peer(old.name)
        for new in [*changes.added, *(new for _, new in changes.replaced)]:
            if new.name not in peers:
                pool = peers[new.name] = self._make_peer_pool(new)
                started.append(pool)
        self._build_ring()
        for pool in started:
            pool.start(connect_now=True)
        self.peers_changed()

    def peers_changed(self) -> None:
        """The peers changed (hook: what follows them)."""

    # -- readiness -----------------------------------------------------------------------
    def links_up(self) -> bool:
        """True when every peer has a connection up (and is not ejected)."""
        return all(pool.is_up for pool in self.peers.values())

    def _watch_links(self) -> None:
        """Log once when the peer links are first all up (the startup's last step)."""
        if self.links_up():
            if self.peers:
                notice(log, "peer links up: {count} peers connected", count=len(self.peers))
            self._links_watch = None
            return
        self._links_watch = self.reactor.callLater(_LINKS_CHECK, self._watch_links)

    def _stop_watching_links(self) -> None:
        if self._links_watch is not None and self._links_watch.active():
            self._links_watch.cancel()
        self._links_watch = None

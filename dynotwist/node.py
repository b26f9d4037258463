"""The running node: what every connection of one node shares.

``Node`` assembles the node's parts from its configuration (the ring and the router,
the datastore pools, the peer pools, the state gate, the dispatcher, stats) and hands
each part only what it needs. The Twisted service that listens and starts it lives in
:mod:`dynotwist.service`.
"""

from __future__ import annotations

import itertools
import os
import socket
from typing import Any, Dict, List, Optional, Set, Union

from dynotwist import datastores, tlsfiles
from dynotwist.config import Config
from dynotwist.control import NodeControls
from dynotwist.core import states
from dynotwist.core.consistency import DC_ONE
from dynotwist.core.coordinator import undelivered_replies
from dynotwist.core.ejection import Ejection
from dynotwist.core.gossip import GossipView, broadcast_address
from dynotwist.core.hashkit import NO_TOKEN
from dynotwist.core.membership import Membership, local_member, member_of
from dynotwist.core.ring import Member
from dynotwist.core.session import ClientSession
from dynotwist.core.slots import Slot
from dynotwist.core.stats import HISTOGRAM_RESET_INTERVALS, Stats
from dynotwist.datastores import Relayed
from dynotwist.gauges import read_node_gauges
from dynotwist.logs import verbosity
from dynotwist.net.batch import WriteBatch
from dynotwist.net.datastore import BackendPool, DatastorePool, PoolShared
from dynotwist.net.dispatch import Dispatcher
from dynotwist.net.gate import LocalGate
from dynotwist.net.gossip import Gossiper
from dynotwist.net.handoff import HintedHandoff, default_hints_dir
from dynotwist.net.ordered import ClientCount
from dynotwist.net.peer import PeerPool
from dynotwist.net.peerlinks import PeerLinks
from dynotwist.net.seeds import SeedPoller, provider_from
from dynotwist.peering import Peering
from dynotwist.proto.dnode import DEFAULT_MAX_PAYLOAD_LEN, Frame
from dynotwist.repair.warmup import WarmUp


class Node(NodeControls, Peering):
    """What every connection of this node shares: config, sessions, datastore pools."""

    def __init__(
        self,
        config: Config,
        reactor: Any,
        tls: Optional[tlsfiles.TLSFiles] = None,
        config_path: Optional[str] = None,
    ) -> None:
        self.config = config
        self.reactor = reactor
        self._read_consistency = config.read_consistency
        self._write_consistency = config.write_consistency
        self._read_repairs = config.read_repairs_enabled
        self._update_repairs()
        self.stats = Stats(
            config.pool_name,
            config.servers[0].name,
            config.datacenter,
            config.rack,
            started=reactor.seconds(),
            source=socket.gethostname(),
            reset_interval=config.stats_interval / 1000.0 * HISTOGRAM_RESET_INTERVALS,
        )
        self.kind = datastores.resolve(config.data_store)
        self.replies = self.kind.replies
        self.gate = LocalGate(self.datastore, self.replies, self.stats, reactor, self._timeout)
        self.clients = ClientCount(config.client_connections)
        # a peer's request is bounded as a client's is: by the query buffer limit
        self.max_relayed_payload = config.client_query_buffer_limit or DEFAULT_MAX_PAYLOAD_LEN
        self.batch = WriteBatch(reactor)
        self._shared = PoolShared(reactor, self.batch, self.stats, self.replies)
        self._client_ids = itertools.count(1)
        self._pools: Dict[bool, DatastorePool] = {}
        self.membership = Membership(
            local_member(config), [member_of(seed) for seed in config.dyn_seeds]
        )
        self._build_ring()
        self._msg_ids = itertools.count(1)
        self.links = PeerLinks(
            config, tls if tls is not None else tlsfiles.load(config), reactor, self.stats
        )
        self.peers: Dict[str, PeerPool] = {
            peer.name: self._make_peer_pool(peer) for peer in self.topology.peers
        }
        self.handoff: Optional[HintedHandoff] = None
        if config.hinted_handoff:  # peers may come later (seed providers, gossip)
            self.handoff = HintedHandoff(
                reactor,
                self.topology.local,
                self.peers,
                self.stats,
                config.hints_dir or default_hints_dir(config_path),
                config.max_hint_window,
                undelivered_replies(self.replies),
            )
        self.dispatcher = Dispatcher(self.gate, self.peers, self.replies, self.stats, self.handoff)
        self.warm_up = WarmUp(self)
        self.serving: Set[Any] = set()  # connections from peers on dyn_listen
        read_node_gauges(self)
        self.gossiper: Optional[Gossiper] = None
        if config.enable_gossip:
            # Dynomite's node joins: it serves once gossip says it is in the ring
            self.gate.set_state(states.JOINING)
            view = GossipView(
                self.membership.local,
                broadcast_address(config.dyn_listen.host, config.env, os.environ),
                states.JOINING,
                config.gos_interval / 1000.0,
                reactor.seconds(),
            )
            view.follow(self.membership.peers)
            self.gossiper = Gossiper(self, view, reactor)
        # ValueError: a provider's environment that cannot work (said at startup)
        provider = provider_from(config.dyn_seed_provider, os.environ, reactor)
        self.seed_poller: Optional[SeedPoller] = None
        if provider is not None:
            self.seed_poller = SeedPoller(
                provider,
                config.seeds_check_interval / 1000.0,
                reactor,
                lambda members: self.set_seeds(members, provider.description),
            )

    # -- read repair (reference 3.6): in force while enabled and both default levels,
    # which the admin port may change, are above DC_ONE; read on the forward path
    repairs_on = False

    def _update_repairs(self) -> None:
        self.repairs_on = (
            self._read_repairs
            and self._read_consistency != DC_ONE
            and self._write_consistency != DC_ONE
        )

    @property
    def read_repairs(self) -> bool:
        return self._read_repairs

    @read_repairs.setter
    def read_repairs(self, enabled: bool) -> None:
        self._read_repairs = enabled
        self._update_repairs()

    @property
    def read_consistency(self) -> str:
        """The level new client sessions read at."""
        return self._read_consistency

    @read_consistency.setter
    def read_consistency(self, level: str) -> None:
        self._read_consistency = level
        self._update_repairs()

    @property
    def write_consistency(self) -> str:
        """The level new client sessions write at."""
        return self._write_consistency

    @write_consistency.setter
    def write_consistency(self, level: str) -> None:
        self._write_consistency = level
        self._update_repairs()

    def new_session(self) -> ClientSession:
        return ClientSession(
            next(self._client_ids),
            self.read_consistency,
            self.write_consistency,
            self.config.requirepass,
        )

    @property
    def pools(self) -> List[DatastorePool]:
        """The local datastore's pools (one per protocol version in use)."""
        return list(self._pools.values())

    def _timeout(self) -> float:
        """The request timeout now, in seconds."""
        return self.config.timeout * self.timeout_factor / 1000.0

    def datastore(self, resp3: bool) -> DatastorePool:
        """The local datastore's pool for clients of this protocol version."""
        resp3 = resp3 and self.kind.speaks_resp3
        pool = self._pools.get(resp3)
        if pool is None:
            pool = self._pools[resp3] = self._make_pool(resp3)
            pool.timeout_factor = self.timeout_factor
            pool.start(connect_now=self.config.preconnect)
        return pool

    def _make_pool(self, resp3: bool) -> DatastorePool:
        config = self.config
        return DatastorePool(
            self._shared,
            config.servers[0].address,
            config.datastore_connections,
            config.timeout,
            config.server_retry_timeout,
            protocol_class=self.kind.connection_class,
            resp3=resp3,
            password=config.datastore_password,
            health=self._health(),
        )

    def _health(self) -> Ejection:
        """A backend's failure detection, as the configuration sets it."""
        config = self.config
        return Ejection(
            config.auto_eject_hosts,
            config.server_failure_limit,
            config.server_retry_timeout / 1000.0,
        )

    def admit_relayed(self, payload: bytes) -> Union[Relayed, bytes]:
        """A peer's request, checked as a client's would be (net.peer.ServingNode)."""
        return self.kind.admit_relayed(payload, self.config)

    def serve_local(self, request: Relayed, resp3: bool, slot: Slot, lane: int) -> None:
        """A request from a peer for this node's datastore."""
        if not self.gate.send(request.raw, slot, resp3, lane, request.write):
            slot.deliver(self.replies.datastore_refused)

    def _peer_timeout(self, peer: Member) -> int:
        """Dynomite's peer timeout, ms: ``timeout`` + 200 in this DC, + 5000 across DCs."""
        return self.config.timeout + (200 if peer.dc == self.topology.local_dc else 5000)

    def _make_peer_pool(self, peer: Member) -> PeerPool:
        config = self.config
        same_dc = peer.dc == self.topology.local_dc
        return PeerPool(
            self._shared,
            peer,
            config.local_peer_connections if same_dc else config.remote_peer_connections,
            self._peer_timeout(peer),
            same_dc,
            self._msg_ids,
            msg_rate=config.conn_msg_rate,
            dialer=self.links.endpoint,
            health=self._health(),
            probe=getattr(self.kind.connection_class, "probe_request", None),
            link_up=self._peer_link_up,
        )

    def _peer_link_up(self, pool: PeerPool) -> None:
        if self.gossiper is not None:
            self.gossiper.greet(pool.name)

    def start_warm_up(self, source: Optional[str] = None, rate: Optional[int] = None) -> str:
        """Copy this node's token range from another rack (dynotwist.repair.warmup);
        what happened, in a sentence."""
        if self.kind.name != "redis":
            return "refused: warm-up copies Redis datastores only"
        if self.router.single_node:
            return "refused: no other rack to copy from"
        return self.warm_up.start(source, rate)

    def warm_up_status(self) -> Dict[str, Any]:
        return self.warm_up.status()

    def forward_to_local_dc(self, request: Relayed, resp3: bool, slot: Slot, lane: int) -> bool:
        """A request forwarded from another DC: to every rack of this DC (reference 2.5)."""
        keys = request.keys
        token = self.router.token(keys[0]) if keys else NO_TOKEN
        plan = self.router.local_dc_fanout(token)
        self.dispatcher.execute(plan, request.raw, slot, resp3, lane, request.write)
        return True

    def reconfigure(self, config: Config) -> None:
        """A reloaded configuration (SIGHUP, :mod:`dynotwist.reload`): its live keys
        applied. Settings an operator changed through the admin port stay unless the
        file changed them too."""
        old, self.config = self.config, config
        if config.read_consistency != old.read_consistency:
            self.read_consistency = config.read_consistency
        if config.write_consistency != old.write_consistency:
            self.write_consistency = config.write_consistency
        if config.read_repairs_enabled != old.read_repairs_enabled:
            self.read_repairs = config.read_repairs_enabled
        if config.verbosity is not None and config.verbosity != old.verbosity:
            verbosity.set(config.verbosity)
        if config.timeout != old.timeout:
            for pool in self._pools.values():
                pool.set_timeout(config.timeout)
            for peer in self.peers.values():
                peer.set_timeout(self._peer_timeout(peer.peer))
        health = self._health()
        backends: List[BackendPool[Any]] = [*self._pools.values(), *self.peers.values()]
        for backend in backends:
            backend.health.configure(health.enabled, health.limit, health.retry_timeout)
        if config.dyn_seeds != old.dyn_seeds and self.seed_poller is None:
            self.set_seeds([member_of(seed) for seed in config.dyn_seeds], "SIGHUP")

    def gossip_received(self, frame: Frame, sender: str) -> None:
        """A GOSSIP_SYN frame; ignored unless ``enable_gossip`` (nodes are not added to
        the ring by a peer frame the operator did not ask to hear)."""
        if self.gossiper is not None:
            self.gossiper.received(frame, sender)

    def peers_changed(self) -> None:
        peers = self.membership.peers
        self.links.follow_peers(peers)
        if self.handoff is not None:
            self.handoff.follow_peers()
        if self.gossiper is not None:
            self.gossiper.view.follow(peers)

    def start(self) -> None:
        # RESP2 clients are the common case: their pool connects at startup
        self.datastore(False)
        for pool in self.peers.values():
            pool.start(connect_now=self.config.preconnect)
        self._watch_links()
        if self.seed_poller is not None:
            self.seed_poller.start()
        if self.gossiper is not None:
            self.gossiper.start()
        if self.handoff is not None:
            self.handoff.start()
        if self.config.warm_up:
            self.start_warm_up()

    def stop(self) -> None:
        self._stop_watching_links()
        if self.seed_poller is not None:
            self.seed_poller.stop()
        if self.gossiper is not None:
            self.gossiper.stop()
        if self.handoff is not None:
            self.handoff.stop()
        for pool in self._pools.values():
            pool.stop()
        for peer in self.peers.values():
            peer.stop()

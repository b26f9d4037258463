"""The gossip loop (``enable_gossip``, ``gos_interval``): Dynomite's messages moved over
the peer links; the rules are :mod:`dynotwist.core.gossip`'s.

Every interval (and at start): a JOINING node announces itself to every peer whose
link is up; a NORMAL node sends its table to one random peer whose link is up; a
STANDBY node is silent; a node with no peer is NORMAL. Gossip frames (``GOSSIP_SYN``,
data ``a``) go on the node's ordinary peer connections and expect no reply, as
Dynomite's do; they arrive on ``dyn_listen`` (:meth:`Gossiper.received`). The first
gossip a JOINING node receives makes it NORMAL — and, beyond Dynomite, so does having
announced itself to every peer: a joiner whose peers do not gossip back (a C node
forwards its table to one random peer per interval, and only on links it made itself)
does not wait on chance. A link that comes up is greeted at once (:meth:`greet`).
"""

from __future__ import annotations

import random
from typing import Any, Callable, Dict, List, Optional, Set

from twisted.internet.task import LoopingCall

from dynotwist.core import states
from dynotwist.core.gossip import GossipView
from dynotwist.logs import logger, notice
from dynotwist.proto.dnode import Frame
from dynotwist.proto.gossip import (
    GossipEntry,
    GossipError,
    decode_ports,
    encode_entries,
    encode_ports,
    parse_entries,
)

__all__ = ["Gossiper"]

log = logger(__name__)


class Gossiper:
    """Runs gossip for ``node`` with ``view`` (a :class:`GossipView`)."""

    def __init__(
        self,
        node: Any,
        view: GossipView,
        clock: Any,
        choose: Callable[[List[str]], str] = random.choice,
    ) -> None:
        self.node = node
        self.view = view
        self.clock = clock
        self.choose = choose
        self.sent = 0
        self.received_count = 0
        self._loop = LoopingCall(self.tick)
        self._loop.clock = clock
        self._bad_senders: Dict[str, str] = {}
        self._announced: Set[str] = set()  # peers a JOINING node announced itself to

    def start(self) -> None:
        self._loop.start(self.view.interval, now=True)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()

    # -- sending -------------------------------------------------------------------------
    def _ready(self) -> List[str]:
        return [name for name, pool in self.node.peers.items() if pool.is_up]

    def tick(self) -> None:
        node = self.node
        state = node.state
        if state == states.STANDBY:
            return
        if not node.peers:
            if state == states.JOINING:
                self._joined("it has no peer")
            return
        now = self.clock.seconds()
        self.view.set_state(state)
        if state == states.JOINING:
            entries, ports = self.view.announce(now)
            for name in self._ready():
                self._send(name, entries, ports)
                self._announced.add(name)
            self._join_if_announced()
        elif state == states.NORMAL:
            ready = self._ready()
            if ready:
                entries, ports = self.view.table(now)
                self._send(self.choose(ready), entries, ports)

    def greet(self, name: str) -> None:
        """A link to peer ``name`` just came up: gossip to it at once (its announce, or
        the table). A C node turns NORMAL on the first gossip it receives; received
        before its own first announce (one interval after it starts) this spares it
        the announce, which in Dynomite hands one buffer to every peer's message and,
        with two peers or more, leaves its event loop spinning."""
        state = self.node.state
        now = self.clock.seconds()
        self.view.set_state(state)
        if state == states.JOINING:
            self._send(name, *self.view.announce(now))
            self._announced.add(name)
            self._join_if_announced()
        elif state == states.NORMAL:
            self._send(name, *self.view.table(now))

    def _join_if_announced(self) -> None:
        if self.node.peers and self._announced.issuperset(self.node.peers):
            self._joined("announced to every peer")

    def _send(self, name: str, entries: List[GossipEntry], ports: List[int]) -> None:
        pool = self.node.peers.get(name)
        if pool is not None and pool.send_gossip(encode_entries(entries), encode_ports(ports)):
            self.sent += 1

    # -- receiving -----------------------------------------------------------------------
    def received(self, frame: Frame, sender: str) -> None:
        """A GOSSIP_SYN frame from ``sender`` (its address, for log lines)."""
        try:
            entries = parse_entries(frame.payload)
        except GossipError as error:
            self._refused(sender, str(error))
            return
        self.received_count += 1
        ports = decode_ports(frame.data, len(entries))
        learned = self.view.receive(entries, ports, self._port_of)
        for member in learned:
            self.node.learn_peer(member)
        node = self.node
        if node.state == states.JOINING:
            self._joined("gossip from %s" % sender)
        if GossipView.is_announce(entries):
            # answer a joiner at once: it turns NORMAL on the first gossip it hears
            announcer = entries[0]
            for name, pool in node.peers.items():
                peer = pool.peer
                if (peer.dc, peer.rack, peer.tokens[0]) == (
                    announcer.dc, announcer.rack, announcer.token
                ) and pool.is_up:
                    self.view.set_state(node.state)
                    table, table_ports = self.view.table(self.clock.seconds())
                    self._send(name, table, table_ports)

    def _port_of(self, address: str) -> Optional[int]:
        for member in self.node.membership.peers:
            if member.host == address:
                return int(member.port)
        return None

    def _joined(self, why: str) -> None:
        self.node.state = states.NORMAL
        self.view.set_state(states.NORMAL)
        notice(log, "gossip: NORMAL ({why})", why=why)

    def _refused(self, sender: str, reason: str) -> None:
        if self._bad_senders.get(sender) == reason:
            log.debug("gossip from {sender} refused: {reason}", sender=sender, reason=reason)
            return
        if len(self._bad_senders) > 1000:
            self._bad_senders.clear()
        self._bad_senders[sender] = reason
        log.warn("gossip from {sender} refused: {reason}", sender=sender, reason=reason)

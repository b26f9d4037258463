"""``secure_server_option`` applied to a node's peer connections.

:class:`PeerLinks` holds the node's link policy and TLS contexts and serves both ends:

- connecting: :meth:`PeerLinks.endpoint` is each peer pool's endpoint — TLS where the
  policy encrypts the link (the peer's certificate checked against the host its seed
  names), plaintext elsewhere, from the node's own ``dyn_listen`` address so that
  peers see the address their seeds name;
- accepting: the ``dyn_listen`` port (:mod:`dynotwist.net.peerport`) asks it whether
  plaintext may come from an address, and reports refusals to it.

Refusals are counted (``peer_plaintext_refused``, ``peer_tls_refused``) and logged at
warning level once per address and reason, then at debug level, so that a peer
retrying every few seconds does not flood the log. :meth:`PeerLinks.apply` installs new
settings (SIGHUP): pools whose links change between TLS and plaintext reconnect, and
plaintext connections the new policy refuses are closed.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Set, Tuple

from twisted.internet import endpoints
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.protocol import Factory
from twisted.python.failure import Failure

from dynotwist.config import Address, Config
from dynotwist.core.linkpolicy import LinkPolicy, SeedAddress, normal_address
from dynotwist.core.ring import Member
from dynotwist.core.stats import Stats
from dynotwist.logs import logger
from dynotwist.net.tls import (
    Contexts,
    CurrentServerContext,
    TLSClientEndpoint,
    TLSFactory,
    describe_failure,
    is_refusal,
)
from dynotwist.tlsfiles import TLSFiles

if TYPE_CHECKING:
    from dynotwist.net.peer import PeerPool
    from dynotwist.net.peerport import FirstByte

__all__ = ["PeerLinks", "bind_host", "resolve_host", "seed_addresses"]

log = logger(__name__)

_WILDCARDS = ("0.0.0.0", "::", "")
# distinct (address, reason) pairs remembered for logging once; forgotten past this
_LOGGED_MAX = 4096


def _is_ip(host: str) -> bool:
    return bool(isIPAddress(host) or isIPv6Address(host))


def resolve_host(host: str) -> List[str]:
    """The addresses of ``host`` (itself if it is an IP address); [] if it does not
    resolve."""
    if isIPAddress(host) or isIPv6Address(host):
        return [host]
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []
    return sorted({str(info[4][0]) for info in infos})


def seed_addresses(
    config: Config, resolve: Callable[[str], List[str]] = resolve_host
) -> List[SeedAddress]:
    """Every address of every ``dyn_seeds`` node, with its DC and rack.

    Host names are resolved only when the policy needs addresses (``rack`` and
    ``datacenter``); one that does not resolve is logged, and plaintext from it refused.
    """
    if config.secure_server_option not in ("rack", "datacenter"):
        return []
    found: List[SeedAddress] = []
    for seed in config.dyn_seeds:
        addresses = resolve(seed.host)
        if not addresses:
            log.warn(
                "seed {host} does not resolve: plaintext from it will be refused",
                host=seed.host,
            )
        found.extend(SeedAddress(address, seed.dc, seed.rack) for address in addresses)
    return found


def bind_host(listen: Address) -> Optional[str]:
    """The local address outgoing peer connections bind to: the ``dyn_listen`` host,
    unless it is a wildcard (the kernel then picks) or a Unix socket."""
    if listen.path or listen.host in _WILDCARDS:
        return None
    return listen.host


def _tcp_endpoint(
    reactor: Any, host: str, port: int, timeout: int, bind: Optional[str]
) -> Any:
    if isIPAddress(host):
        source = (bind, 0) if bind is not None and not isIPv6Address(bind) else None
        return endpoints.TCP4ClientEndpoint(
            reactor, host, port, timeout=timeout, bindAddress=source
        )
    if isIPv6Address(host):
        source = (bind, 0) if bind is not None and not isIPAddress(bind) else None
        return endpoints.TCP6ClientEndpoint(
            reactor, host, port, timeout=timeout, bindAddress=source
        )
    source = (bind, 0) if bind is not None else None
    return endpoints.HostnameEndpoint(reactor, host, port, timeout=timeout, bindAddress=source)


class PeerLinks:
    """The node's peer links: policy, contexts, outgoing endpoints, refusals."""

    def __init__(
        self,
        config: Config,
        files: TLSFiles,
        reactor: Any,
        stats: Stats,
        resolve: Callable[[str], List[str]] = resolve_host,
    ) -> None:
        self.reactor = self.clock = reactor
        self.stats = stats
        self.resolve = resolve
        self.bind_host = bind_host(config.dyn_listen)
        self.policy = self._policy(config)
        self.contexts = Contexts(files)
        #: the ``dyn_listen`` port's TLS wrapping; its context is the current one
        self.server_tls = TLSFactory(
            CurrentServerContext(lambda: self.contexts.peer_server), False, Factory()
        )
        self._plaintext: Dict[FirstByte, str] = {}  # open plaintext connections: source
        self._logged: Set[Tuple[str, str]] = set()

    def _policy(self, config: Config) -> LinkPolicy:
        return LinkPolicy(
            config.secure_server_option,
            config.datacenter,
            config.rack,
            seed_addresses(config, self.resolve),
        )

    # -- settings -----------------------------------------------------------------------
    def apply(self, config: Config, files: TLSFiles, pools: Iterable[PeerPool]) -> List[str]:
        """Install new settings (a reloaded configuration's): contexts built from
        ``files``, the policy of ``config``. Pools whose link changes between TLS and
        plaintext reconnect; plaintext connections now refused are closed. Returns
        the names of the pools reconnected."""
        contexts = Contexts(files)  # first: if it fails, nothing has changed
        policy = self._policy(config)
        old = self.policy
        self.contexts = contexts
        self.policy = policy
        self._logged.clear()
        changed = []
        for pool in pools:
            peer = pool.peer
            if old.encrypts(peer.dc, peer.rack) != policy.encrypts(peer.dc, peer.rack):
                changed.append(pool.name)
                pool.reset()
        for connection, source in list(self._plaintext.items()):
            reason = policy.refuses_plaintext(source)
            if reason is not None:
                self.refused_plaintext(source, reason)
                connection.close()
        return changed

    def follow_peers(self, peers: Iterable[Member]) -> None:
        """The ring's peers changed (a seed provider, gossip): plaintext is let in from
        their addresses as the policy says. Host names are resolved in the background
        (``reactor.resolve``): until then plaintext from them is refused."""
        policy = self.policy
        if policy.option not in ("rack", "datacenter"):
            return
        peers = list(peers)
        found = [SeedAddress(p.host, p.dc, p.rack) for p in peers if _is_ip(p.host)]
        self.policy = LinkPolicy(policy.option, policy.dc, policy.rack, found)
        for peer in peers:
            if not _is_ip(peer.host):
                d = self.reactor.resolve(peer.host)
                d.addCallbacks(self._resolved, self._unresolved, (peer,), None, (peer,))

    def _resolved(self, address: str, peer: Member) -> None:
        policy = self.policy
        if not policy.encrypts(peer.dc, peer.rack):
            policy.plaintext_sources = policy.plaintext_sources | {normal_address(address)}

    def _unresolved(self, reason: Failure, peer: Member) -> None:
        log.warn(
            "peer {host} does not resolve: plaintext from it will be refused ({reason})",
            host=peer.host,
            reason=reason.getErrorMessage(),
        )

    # -- connecting ---------------------------------------------------------------------
    def endpoint(self, pool: PeerPool) -> Any:
        """Where ``pool`` connects: TLS or plaintext by the policy, from this node's
        address."""
        peer = pool.peer
        tcp = _tcp_endpoint(
            self.reactor, peer.host, peer.port, max(1, pool.timeout_ms // 1000), self.bind_host
        )
        if not self.policy.encrypts(peer.dc, peer.rack):
            return tcp
        host = peer.host

        def refused(reason: Failure) -> None:
            self.refused_tls("%s:%d" % (host, peer.port), describe_failure(reason, host))

        return TLSClientEndpoint(tcp, self.contexts.peer_client(host), self.clock, refused)

    # -- accepting ----------------------------------------------------------------------
    def plaintext_opened(self, connection: FirstByte, source: str) -> None:
        self._plaintext[connection] = source

    def plaintext_closed(self, connection: FirstByte) -> None:
        self._plaintext.pop(connection, None)

    def refused_plaintext(self, source: str, reason: str) -> None:
        self.stats.peer_plaintext_refused += 1
        self._log_refusal(source, "plaintext: " + reason)

    def refused_tls(self, source: str, reason: str) -> None:
        self.stats.peer_tls_refused += 1
        self._log_refusal(source, reason)

    def handshake_failed(self, source: str, reason: Failure) -> None:
        """A TLS connection to ``dyn_listen`` ended before its handshake finished."""
        if is_refusal(reason):
            self.refused_tls(source, describe_failure(reason))
        else:
            log.debug("peer {peer} left during the TLS handshake", peer=source)

    def _log_refusal(self, address: str, reason: str) -> None:
        key = (address, reason)
        if key in self._logged:
            log.debug("refused peer {peer}: {reason}", peer=address, reason=reason)
            return
        if len(self._logged) >= _LOGGED_MAX:
            self._logged.clear()
        self._logged.add(key)
        log.warn("refused peer {peer}: {reason}", peer=address, reason=reason)


"""The ``dyn_listen`` port: TLS and plaintext peers on one port, told apart by the
first byte.

A TLS handshake record starts with 0x16, a dnode frame with a space. On a 0x16 the
connection is wrapped in Twisted's TLS protocol with the bytes already read fed in,
and handed to the dnode protocol once the handshake succeeded (the peer presented a
certificate signed by ``tls_ca_file``). Anything else is plaintext, let in only from
an address the policy allows (:meth:`dynotwist.core.linkpolicy.LinkPolicy.refuses_plaintext`);
a refused connection is closed, logged and counted.

Once decided, the connection's reads are handed to the protocol that serves it: one
call per read, nothing per request.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional

from twisted.internet.interfaces import IProtocol, IProtocolFactory
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.python.failure import Failure

from dynotwist.core.linkpolicy import is_tls_record
from dynotwist.net.tls import HandshakeGate

if TYPE_CHECKING:
    from dynotwist.net.peerlinks import PeerLinks

__all__ = ["FirstByte", "PeerPortFactory"]


class FirstByte(Protocol):
    """A new ``dyn_listen`` connection until its first byte says what it is."""

    transport: Any  # a TCP transport

    def __init__(self, factory: PeerPortFactory, addr: Any) -> None:
        self.factory = factory
        self.addr = addr
        self.inner: Optional[IProtocol] = None  # what serves the connection once decided
        self.source = getattr(addr, "host", str(addr))

    def dataReceived(self, data: bytes) -> None:
        inner = self.inner
        if inner is not None:
            inner.dataReceived(data)
        elif data:
            self._sort(data)

    def _sort(self, data: bytes) -> None:
        links = self.factory.links
        if is_tls_record(data[0]):
            if not links.contexts.peer_tls:
                links.refused_tls(
                    self.source, "it starts TLS and this node has no tls_ca_file and "
                    "tls_cert_file"
                )
                self.transport.abortConnection()
                return
            self._hand_over(self._tls(), data)
            return
        reason = links.policy.refuses_plaintext(self.source)
        if reason is not None:
            links.refused_plaintext(self.source, reason)
            self.transport.abortConnection()
            return
        protocol = self.factory.wrapped.buildProtocol(self.addr)
        links.plaintext_opened(self, self.source)
        self._hand_over(protocol, data)

    def _tls(self) -> Any:
        links = self.factory.links
        tls_factory = links.server_tls
        gate = HandshakeGate(
            lambda: self.factory.wrapped.buildProtocol(self.addr),
            self._handshake_done,
            links.clock,
        )
        return tls_factory.protocol(tls_factory, gate)

    def _handshake_done(self, protocol: Optional[IProtocol], reason: Optional[Failure]) -> None:
        if reason is not None:
            self.factory.links.handshake_failed(self.source, reason)

    def _hand_over(self, protocol: Any, data: bytes) -> None:
        self.inner = protocol
        protocol.makeConnection(self.transport)
        protocol.dataReceived(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.factory.links.plaintext_closed(self)
        if self.inner is not None:
            self.inner.connectionLost(reason)

    def close(self) -> None:
        """Drop the connection (it is no longer allowed)."""
        self.transport.abortConnection()


class PeerPortFactory(Factory):
    """The ``dyn_listen`` listener: sorts connections, then serves them with
    ``wrapped`` (the dnode server factory)."""

    noisy = False

    def __init__(self, wrapped: IProtocolFactory, links: PeerLinks) -> None:
        self.wrapped = wrapped
        self.links = links

    def buildProtocol(self, addr: Any) -> FirstByte:
        return FirstByte(self, addr)

"""TLS with pyOpenSSL through Twisted: contexts, handshakes, client endpoints.

:class:`Contexts` turns a node's checked files (:mod:`dynotwist.tlsfiles`) into
Twisted's ``CertificateOptions`` once: the peer server's (it requires a certificate
from ``tls_ca_file``), one client creator per peer host (``optionsForClientTLS``: the
peer's certificate must come from the CA and name that host, checked with
service-identity; this node presents its own certificate), and the client port's.
TLS 1.2 is the minimum everywhere. A reload builds a new :class:`Contexts`; the
objects here read the current one at each new connection (:class:`CurrentServerContext`).

A TLS connection is handed to the protocol that serves it only once its handshake has
succeeded (:class:`HandshakeGate`), so that a peer refused for its certificate never
reaches the dnode protocol, and a peer pool counts a connection as up only when it is.
"""

from __future__ import annotations

from typing import Any, Callable, Dict, List, Optional

from OpenSSL import SSL, crypto
from twisted.internet import ssl
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IHandshakeListener,
    IOpenSSLServerConnectionCreator,
    IProtocol,
    IProtocolFactory,
    IStreamClientEndpoint,
)
from twisted.internet.protocol import Factory, Protocol, connectionDone
from twisted.protocols.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from dynotwist.tlsfiles import Identity, TLSFiles

__all__ = [
    "HANDSHAKE_TIMEOUT",
    "Contexts",
    "CurrentServerContext",
    "HandshakeGate",
    "HandshakeTimeout",
    "TLSClientEndpoint",
    "TLSFactory",
    "describe_failure",
    "is_refusal",
]

#: seconds a connection may take to finish its TLS handshake
HANDSHAKE_TIMEOUT = 10.0

_MINIMUM = ssl.TLSVersion.TLSv1_2


class HandshakeTimeout(Exception):
    """The TLS handshake did not finish in time."""


def _x509(certificate: Any) -> crypto.X509:
    return crypto.X509.from_cryptography(certificate)


def _trust(certificates: Any) -> Any:
    return ssl.trustRootFromCertificates([ssl.Certificate(_x509(c)) for c in certificates])


def _identity_options(identity: Identity) -> Dict[str, Any]:
    """CertificateOptions' arguments that present ``identity``."""
    return {
        "privateKey": crypto.PKey.from_cryptography_key(identity.key),
        "certificate": _x509(identity.certificate),
        "extraCertChain": [_x509(c) for c in identity.chain[1:]],
        "raiseMinimumTo": _MINIMUM,
    }


class Contexts:
    """One node's TLS contexts, built from its files; never changed once built."""

    def __init__(self, files: TLSFiles) -> None:
        self.files = files
        self.peer_server: Optional[ssl.CertificateOptions] = None
        self.client_port: Optional[ssl.CertificateOptions] = None
        self._peer_clients: Dict[str, Any] = {}
        self._client_certificate: Optional[ssl.PrivateCertificate] = None
        if files.peer is not None:
            self._trust = _trust(files.ca)
            self.peer_server = ssl.CertificateOptions(
                trustRoot=self._trust, **_identity_options(files.peer)
            )
            self.peer_server.getContext()  # built now: a problem shows at load time
            leaf = files.peer
            self._client_certificate = ssl.PrivateCertificate.fromCertificateAndKeyPair(
                ssl.Certificate(_x509(leaf.certificate)),
                ssl.KeyPair(crypto.PKey.from_cryptography_key(leaf.key)),
            )
            self._chain: List[crypto.X509] = [_x509(c) for c in leaf.chain[1:]]
        if files.client is not None:
            options = _identity_options(files.client)
            if files.client_ca:
                options["trustRoot"] = _trust(files.client_ca)  # clients need a certificate
            self.client_port = ssl.CertificateOptions(**options)
            self.client_port.getContext()

    @property
    def peer_tls(self) -> bool:
        """True if this node has what peer TLS needs (a CA and a certificate)."""
        return self.peer_server is not None

    def peer_client(self, host: str) -> Any:
        """The client connection creator for a peer that ``dyn_seeds`` names ``host``."""
        creator = self._peer_clients.get(host)
        if creator is None:
            if self._client_certificate is None:
                raise ValueError("peer TLS needs tls_ca_file and tls_cert_file")
            creator = self._peer_clients[host] = ssl.optionsForClientTLS(
                host,
                trustRoot=self._trust,
                clientCertificate=self._client_certificate,
                extraCertificateOptions={
                    "extraCertChain": self._chain,
                    "raiseMinimumTo": _MINIMUM,
                },
            )
        return creator


@implementer(IOpenSSLServerConnectionCreator)
class CurrentServerContext:
    """The server side of TLS connections, from whatever ``options()`` gives now."""

    def __init__(self, options: Callable[[], Optional[ssl.CertificateOptions]]) -> None:
        self.options = options

    def serverConnectionForTLS(self, tlsProtocol: Any) -> SSL.Connection:
        options = self.options()
        if options is None:
            raise ValueError("no TLS context")
        return SSL.Connection(options.getContext(), None)


class TLSFactory(TLSMemoryBIOFactory):
    """Twisted's TLS wrapping without its write aggregation: the protocols of this
    project already hand over one write per connection per reactor iteration."""

    protocol = TLSMemoryBIOProtocol


@implementer(IHandshakeListener)
class HandshakeGate(Protocol):
    """Stands in for a TLS connection's protocol until the handshake is done.

    Then ``build()`` makes the real protocol, which takes this one's place in the TLS
    layer and is connected, and ``finished(protocol, None)`` is called. If the
    connection ends first (a refused certificate, a failed handshake, no handshake
    within ``timeout`` seconds), ``finished(None, reason)``.
    """

    transport: Any  # the TLS protocol

    def __init__(
        self,
        build: Callable[[], Optional[IProtocol]],
        finished: Callable[[Optional[IProtocol], Optional[Failure]], None],
        clock: Any,
        timeout: float = HANDSHAKE_TIMEOUT,
    ) -> None:
        self.build = build
        self.finished = finished
        self.clock = clock
        self.timeout = timeout
        self._timer: Any = None
        self._expired = False

    def connectionMade(self) -> None:
        self._timer = self.clock.callLater(self.timeout, self._expire)

    def _expire(self) -> None:
        self._timer = None
        self._expired = True
        self.transport.abortConnection()

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def handshakeCompleted(self) -> None:
        tls = self.transport
        if tls.disconnecting:
            return  # the peer's certificate failed verification: connectionLost follows
        self._stop_timer()
        protocol = self.build()
        if protocol is None:  # the factory refused the connection
            tls.abortConnection()
            return
        tls.wrappedProtocol = protocol
        protocol.makeConnection(tls)
        self.finished(protocol, None)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._stop_timer()
        if self._expired:
            reason = Failure(HandshakeTimeout("no TLS handshake within %g s" % self.timeout))
        self.finished(None, reason)


class _GateFactory(Factory):
    noisy = False

    def __init__(
        self,
        factory: IProtocolFactory,
        finished: Callable[[Optional[IProtocol], Optional[Failure]], None],
        clock: Any,
    ) -> None:
        self.factory = factory
        self.finished = finished
        self.clock = clock

    def buildProtocol(self, addr: Any) -> HandshakeGate:
        return HandshakeGate(
            lambda: self.factory.buildProtocol(addr), self.finished, self.clock
        )


@implementer(IStreamClientEndpoint)
class TLSClientEndpoint:
    """``endpoint`` then TLS with ``creator``; :meth:`connect` fires with the factory's
    protocol once the handshake has succeeded, or fails with why it did not (a failure
    on TLS grounds is also given to ``on_refused``)."""

    def __init__(
        self,
        endpoint: Any,
        creator: Any,
        clock: Any,
        on_refused: Optional[Callable[[Failure], None]] = None,
    ) -> None:
        self.endpoint = endpoint
        self.creator = creator
        self.clock = clock
        self.on_refused = on_refused

    def connect(self, factory: IProtocolFactory) -> Deferred:
        result: Deferred = Deferred()

        def finished(protocol: Optional[IProtocol], reason: Optional[Failure]) -> None:
            if reason is None:
                result.callback(protocol)
                return
            if self.on_refused is not None and is_refusal(reason):
                self.on_refused(reason)
            result.errback(reason)

        def not_connected(reason: Failure) -> None:
            if not result.called:
                result.errback(reason)

        wrapper = TLSFactory(self.creator, True, _GateFactory(factory, finished, self.clock))
        self.endpoint.connect(wrapper).addErrback(not_connected)
        return result


def is_refusal(reason: Failure) -> bool:
    """True if a connection ended on TLS grounds: the certificate or the handshake."""
    return reason.check(SSL.Error, ssl.VerificationError, HandshakeTimeout) is not None


def describe_failure(reason: Failure, host: Optional[str] = None) -> str:
    """Why a TLS handshake failed, in words; ``host``: the name the peer was checked
    against (connecting side)."""
    error = reason.value
    if isinstance(error, ssl.VerificationError):
        return "its certificate does not name %s" % host if host else str(error)
    if isinstance(error, SSL.Error):
        details = [
            str(item[2]) for item in (error.args[0] if error.args else [])
            if isinstance(item, tuple) and len(item) == 3 and item[2]
        ]
        text = "; ".join(details) or str(error)
        if "alert" in text:
            text += " (sent by the peer: it refused this node's certificate or TLS version)"
        elif "certificate verify failed" in text:
            text += (
                " (its certificate is not signed by tls_ca_file, has expired or is not"
                " valid yet)"
            )
        return "TLS handshake failed: %s" % text
    return str(error)

"""Seed providers (``dyn_seed_provider``): where a running node reads the cluster's
node list, polled without blocking the reactor (reference 5.4).

- ``simple_provider``: ``dyn_seeds`` only (nothing is polled).
- ``florida_provider``: an HTTP GET to ``DYNOMITE_FLORIDA_IP`` (default 127.0.0.1; a host
  name is resolved too), port ``DYNOMITE_FLORIDA_PORT`` (8080), request
  ``DYNOMITE_FLORIDA_REQUEST`` (Dynomite's ``GET /REST/v1/admin/get_seeds HTTP/1.0`` by
  default, sent as is); the response must say ``200 OK``; its body is the list.
- ``dns_provider``: the TXT record of ``DYNOMITE_DNS_NAME`` (default
  ``_dynomite.ec2-internal``), through the system's resolvers (twisted.names). Dynomite
  reads only the first string of the last record, so lists over 255 bytes are cut;
  dynotwist joins the record's strings. ``DYNOMITE_DNS_TYPE=A`` (Dynomite reads an A
  record's four bytes as text) is refused.

As in Dynomite, the provider names are matched by prefix (``florida_provider...``) and
any other name means simple. The list (``host:port:rack:dc:tokens`` joined with ``|``)
is checked, and handed to the node only when its text changed: the node adds, replaces
and removes peers while it serves. A provider that cannot be reached leaves the peers
as they are; its error is logged once, until it changes or the provider answers again.
"""

from __future__ import annotations

from typing import Any, Callable, List, Mapping, Optional, Protocol

from twisted.internet import defer, endpoints
from twisted.internet.abstract import isIPAddress, isIPv6Address
from twisted.internet.protocol import Factory, connectionDone
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.internet.task import LoopingCall
from twisted.python.failure import Failure

from dynotwist.core.membership import SeedListError, member_of, parse_seed_list
from dynotwist.core.ring import Member
from dynotwist.logs import logger, notice

__all__ = [
    "DNS_PROVIDER",
    "FLORIDA_PROVIDER",
    "DnsProvider",
    "FloridaProvider",
    "SeedPoller",
    "SeedProviderError",
    "provider_from",
]

log = logger(__name__)

FLORIDA_PROVIDER = "florida_provider"
DNS_PROVIDER = "dns_provider"
DEFAULT_FLORIDA_REQUEST = (
    b"GET /REST/v1/admin/get_seeds HTTP/1.0\r\nHost: 127.0.0.1\r\nUser-Agent: HTMLGET 1.0\r\n\r\n"
)
DEFAULT_DNS_NAME = "_dynomite.ec2-internal"
#: the most a florida answer may hold
MAX_RESPONSE = 1 << 20


class SeedProviderError(Exception):
    """A provider that did not give a seed list; str() says why."""


class SeedProvider(Protocol):
    description: str

    def fetch(self) -> defer.Deferred[str]:
        """The seed list's text (SeedProviderError if there is none)."""


# -- florida ---------------------------------------------------------------------------


class _HTTPGet(TwistedProtocol):
    """Sends the request, reads the whole response (HTTP/1.0: until the server closes).

    ``done`` fires once: with the response, or with the error that ended it; cancelling
    it (the poll's timeout) closes the connection."""

    transport: Any

    def __init__(self, request: bytes) -> None:
        self.request = request
        self.done: defer.Deferred[bytes] = defer.Deferred(self._cancel)
        self.received: List[bytes] = []
        self.size = 0

    def connectionMade(self) -> None:
        assert self.transport is not None
        self.transport.write(self.request)

    def dataReceived(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > MAX_RESPONSE:
            self._finish(SeedProviderError("the response exceeds %d bytes" % MAX_RESPONSE))
            assert self.transport is not None
            self.transport.abortConnection()
            return
        self.received.append(data)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self._finish(b"".join(self.received))

    def _finish(self, result: Any) -> None:
        if not self.done.called:
            if isinstance(result, Exception):
                self.done.errback(result)
            else:
                self.done.callback(result)

    def _cancel(self, done: defer.Deferred[bytes]) -> None:
        if self.transport is not None:
            self.transport.abortConnection()


class _OneRequest(Factory):
    noisy = False

    def __init__(self, request: bytes) -> None:
        self.request = request

    def buildProtocol(self, addr: Any) -> _HTTPGet:
        return _HTTPGet(self.request)


class FloridaProvider:
    """Dynomite's florida provider: one plain HTTP request per poll."""

    def __init__(
        self, reactor: Any, host: str, port: int, request: bytes, timeout: float = 10.0
    ) -> None:
        self.reactor = reactor
        self.host = host
        self.port = port
        self.request = request
        self.timeout = timeout
        self.description = "florida at %s:%d" % (host, port)

    def _endpoint(self) -> Any:
        timeout = max(1, int(self.timeout))
        if isIPAddress(self.host):
            return endpoints.TCP4ClientEndpoint(self.reactor, self.host, self.port, timeout)
        if isIPv6Address(self.host):
            return endpoints.TCP6ClientEndpoint(self.reactor, self.host, self.port, timeout)
        return endpoints.HostnameEndpoint(self.reactor, self.host, self.port, timeout)

    def fetch(self) -> defer.Deferred[str]:
        answer = self._endpoint().connect(_OneRequest(self.request))
        answer.addCallback(lambda protocol: protocol.done)
        timed_out = []

        def give_up() -> None:
            timed_out.append(True)
            answer.cancel()

        call = self.reactor.callLater(self.timeout, give_up)

        def finished(result: Any) -> str:
            if call.active():
                call.cancel()
            if timed_out:
                raise SeedProviderError("no answer within %g s" % self.timeout)
            if isinstance(result, Failure):
                if result.check(SeedProviderError, defer.CancelledError):
                    result.raiseException()  # the poller stopped: CancelledError
                raise SeedProviderError("cannot connect: %s" % result.getErrorMessage())
            return florida_body(result)

        return answer.addBoth(finished)


def florida_body(response: bytes) -> str:
    """The seed list in a florida response (Dynomite: ``200 OK`` then the body)."""
    head, separator, body = response.partition(b"\r\n\r\n")
    if b"200 OK\r\n" not in head + b"\r\n":
        status = head.split(b"\r\n", 1)[0].decode("latin-1", "replace")
        raise SeedProviderError("no 200 OK: %r" % (status or "(empty response)"))
    if not separator:
        raise SeedProviderError("the response has no body")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise SeedProviderError("the response's body is not UTF-8 text") from None


# -- DNS -------------------------------------------------------------------------------


class DnsProvider:
    """Dynomite's DNS provider: a TXT lookup per poll, through ``resolver`` (an
    ``IResolver``: twisted.names' client, or an authority in tests)."""

    def __init__(self, resolver: Any, name: str) -> None:
        self.resolver = resolver
        self.name = name
        self.description = "DNS TXT %s" % name

    def fetch(self) -> defer.Deferred[str]:
        d = self.resolver.lookupText(self.name)
        return d.addCallbacks(self._text, self._failed)

    def _text(self, result: Any) -> str:
        from twisted.names import dns

        answers = [rr.payload for rr in result[0] if rr.type == dns.TXT]
        if not answers:
            raise SeedProviderError("no TXT record for %s" % self.name)
        # Dynomite takes the last record; its strings are one text cut in 255-byte pieces
        strings = answers[-1].data  # bytes from the wire (str from an authority's file)
        return "".join(
            text.decode("utf-8", "replace") if isinstance(text, bytes) else text
            for text in strings
        )

    def _failed(self, failure: Failure) -> None:
        raise SeedProviderError(
            "TXT lookup of %s failed: %s" % (self.name, failure.getErrorMessage())
        )


def provider_from(name: str, environ: Mapping[str, str], reactor: Any) -> Optional[SeedProvider]:
    """The provider ``dyn_seed_provider`` names (with Dynomite's environment variables);
    None for ``simple_provider``. ValueError for a setting that cannot work."""
    if name.startswith(FLORIDA_PROVIDER):
        port_text = environ.get("DYNOMITE_FLORIDA_PORT", "8080")
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError("DYNOMITE_FLORIDA_PORT %r is not a port number" % port_text)
        request = environ.get("DYNOMITE_FLORIDA_REQUEST")
        return FloridaProvider(
            reactor,
            environ.get("DYNOMITE_FLORIDA_IP", "127.0.0.1"),
            int(port_text),
            request.encode("latin-1") if request is not None else DEFAULT_FLORIDA_REQUEST,
        )
    if name.startswith(DNS_PROVIDER):
        if environ.get("DYNOMITE_DNS_TYPE", "TXT").upper() != "TXT":
            raise ValueError(
                "DYNOMITE_DNS_TYPE=%s: only TXT records can hold a seed list"
                % environ["DYNOMITE_DNS_TYPE"]
            )
        from twisted.names import client

        resolver = client.createResolver()
        return DnsProvider(resolver, environ.get("DYNOMITE_DNS_NAME", DEFAULT_DNS_NAME))
    return None


# -- polling -----------------------------------------------------------------------------


class SeedPoller:
    """Asks ``provider`` every ``interval`` seconds (and once at start); a list whose
    text changed goes to ``changed`` as ring members."""

    def __init__(
        self,
        provider: SeedProvider,
        interval: float,
        clock: Any,
        changed: Callable[[List[Member]], Any],
    ) -> None:
        self.provider = provider
        self.interval = interval
        self.changed = changed
        self.last_text: Optional[str] = None
        self._polling: Optional[defer.Deferred[Any]] = None
        self._last_error: Optional[str] = None
        self._loop = LoopingCall(self.poll)
        self._loop.clock = clock

    def start(self) -> None:
        self._loop.start(self.interval, now=True)

    def stop(self) -> None:
        if self._loop.running:
            self._loop.stop()
        if self._polling is not None:
            self._polling.cancel()

    def poll(self) -> None:
        if self._polling is not None:
            return  # the last one is still under way
        d = self._polling = self.provider.fetch()
        d.addCallbacks(self._got, self._failed)
        d.addBoth(self._done)

    def _done(self, result: Any) -> None:
        self._polling = None

    def _got(self, text: str) -> None:
        if text == self.last_text:
            return
        try:
            members = [member_of(seed) for seed in parse_seed_list(text)]
        except SeedListError as error:
            self._report("its list is refused: %s" % error)
            return
        self.last_text = text
        if self._last_error is not None:
            notice(
                log, "seed provider {provider} answers again", provider=self.provider.description
            )
            self._last_error = None
        self.changed(members)

    def _failed(self, failure: Failure) -> None:
        if failure.check(defer.CancelledError) and not self._loop.running:
            return
        if failure.check(SeedProviderError):
            self._report(failure.getErrorMessage())
        else:
            self._report("%s: %s" % (type(failure.value).__name__, failure.getErrorMessage()))

    def _report(self, reason: str) -> None:
        if reason == self._last_error:
            log.debug("seed provider {provider}: {reason}", provider=self.provider.description,
                      reason=reason)
            return
        self._last_error = reason
        log.warn(
            "seed provider {provider}: {reason}; the peers stay as they are",
            provider=self.provider.description,
            reason=reason,
        )

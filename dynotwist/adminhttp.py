"""The admin port's HTTP connections, bounded before a request reaches the app.

twisted.web's channel reads a request's whole body (into a temporary file when it is
big) before the resource runs, and its idle timeout restarts on every byte. On
``stats_listen``:

- no request has a body: a ``Content-Length`` above 0 or any ``Transfer-Encoding``
  is answered 413 from the headers, and the connection closed, without reading the
  body;
- a request's line and headers must be complete within :data:`REQUEST_DEADLINE`
  seconds of the connection opening, or of the answer to the previous request on a
  kept-alive connection, however slowly they trickle in, or the connection is
  dropped; an idle kept-alive connection is dropped after as long;
- request line and headers together: Twisted's limit, 16 KB (closed beyond);
- at most :data:`MAX_CONNECTIONS` connections at once: one more is answered 503 and
  closed.
"""

from __future__ import annotations

from typing import Any, Callable, Optional, cast

from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import Protocol, connectionDone
from twisted.python.failure import Failure
from twisted.web.http import RESPONSES, HTTPChannel
from twisted.web.server import Site

from dynotwist.admin import AdminApp, NodeView
from dynotwist.logs import TRACE_REQUESTS, logger, verbosity

log = logger(__name__)

__all__ = ["MAX_CONNECTIONS", "REQUEST_DEADLINE", "AdminChannel", "AdminSite", "admin_site"]

#: seconds for a request's line and headers, from the connection or the previous answer
REQUEST_DEADLINE = 10.0

#: admin connections open at once
MAX_CONNECTIONS = 64


def plain_answer(code: int, reason: str) -> bytes:
    """A whole HTTP answer with a one-line text body, for a connection about to close."""
    body = reason.encode("utf-8") + b"\n"
    return b"".join((
        b"HTTP/1.1 %d %s\r\n" % (code, RESPONSES[code]),
        b"Content-Type: text/plain; charset=utf-8\r\n",
        b"Content-Length: %d\r\n" % len(body),
        b"Connection: close\r\n\r\n",
        body,
    ))


TOO_LARGE = plain_answer(413, "the admin port takes no request body")
BUSY = plain_answer(503, "too many admin connections (%d): try again later" % MAX_CONNECTIONS)


class AdminChannel(HTTPChannel):
    """An HTTP/1.1 channel that refuses bodies from the headers and times the headers."""

    transport: Any  # a TCP or UNIX transport
    site: AdminSite  # set by Site.buildProtocol
    _deadline: Optional[IDelayedCall] = None

    def connectionMade(self) -> None:
        super().connectionMade()
        self.site.open_connections += 1
        self._wait_for_request()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        self.site.open_connections -= 1
        self._stop_waiting()
        super().connectionLost(reason)

    def headerReceived(self, line: bytes) -> bool:
        # each header is seen here, before the end of the headers: a body is refused
        # before Request.gotLength opens a file for it
        if line.partition(b":")[0].lower() == b"transfer-encoding":
            return self._refuse_body()
        if not super().headerReceived(line):
            return False
        if self.length:  # Content-Length above 0
            return self._refuse_body()
        return True

    def _refuse_body(self) -> bool:
        self.transport.write(TOO_LARGE)
        self.loseConnection()  # stops reading: the body is never read
        return False

    def allHeadersReceived(self) -> None:
        self._stop_waiting()
        super().allHeadersReceived()

    def requestDone(self, request: Any) -> None:
        # before the base class: it may parse a pipelined request right away
        self._wait_for_request()
        super().requestDone(request)

    def _wait_for_request(self) -> None:
        self._stop_waiting()
        self._deadline = self.callLater(REQUEST_DEADLINE, self._too_slow)

    def _stop_waiting(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        self.transport.abortConnection()


class _Busy(Protocol):
    """A connection over the cap: answered 503 and closed."""

    transport: Any

    def connectionMade(self) -> None:
        self.transport.write(BUSY)
        self.transport.loseConnection()


class AdminSite(Site):
    """The admin port's Site: :class:`AdminChannel` connections, at most
    :data:`MAX_CONNECTIONS` of them."""

    # the HTTP/1.1 channel itself, not twisted.web's wrapper that may switch to HTTP/2
    # after TLS's ALPN (the admin port has no TLS); Twisted types the attribute as that
    # wrapper's factory
    protocol = cast(Callable[[], Any], AdminChannel)

    def __init__(self, resource: Any, reactor: Any) -> None:
        # no idle timeout of twisted.web's: the request deadline bounds every wait
        super().__init__(resource, reactor=reactor, timeout=None)
        self.open_connections = 0
        self.noisy = False

    def buildProtocol(self, addr: Any) -> Any:
        if self.open_connections >= MAX_CONNECTIONS:
            return _Busy()
        return super().buildProtocol(addr)

    def log(self, request: Any) -> None:
        """The access log, at ``-v 7`` and up only: a scraper polls /metrics every few
        seconds, and changes are logged on their own (``admin.log_change``)."""
        if verbosity.verbosity >= TRACE_REQUESTS:
            log.debug("{line}", line=self._logFormatter(self._logDateTime, request))


def admin_site(node: NodeView, reactor: Any) -> AdminSite:
    """The Site to listen with on ``stats_listen``."""
    return AdminSite(AdminApp(node).resource(), reactor)

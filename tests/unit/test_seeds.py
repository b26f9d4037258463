"""Seed providers (net.seeds): a florida HTTP server (twisted.web) and a DNS answer
(twisted.names' authority) served in-process, over in-memory transports; the poller
on a fake clock."""

from __future__ import annotations

from typing import Any, List, Optional

from twisted.internet import defer
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock
from twisted.names import authority
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial import unittest
from twisted.web import resource, server

from dynotwist.core.ring import Member
from dynotwist.net.seeds import (
    DEFAULT_FLORIDA_REQUEST,
    DnsProvider,
    FloridaProvider,
    SeedPoller,
    SeedProviderError,
    florida_body,
    provider_from,
)

SEEDS = "127.0.0.2:8101:rack1:dc1:0|127.0.0.3:8101:rack2:dc1:0"


class Seeds(resource.Resource):
    """Florida's get_seeds, as florida.js serves it."""

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.body = SEEDS.encode()
        self.code = 200
        self.requests: List[Any] = []

    def render_GET(self, request: Any) -> bytes:
        self.requests.append(request)
        request.setResponseCode(self.code)
        return self.body


def florida_site(seeds: Seeds) -> server.Site:
    root = resource.Resource()
    rest = root.putChild(b"REST", resource.Resource()) or root.children[b"REST"]
    v1 = rest.putChild(b"v1", resource.Resource()) or rest.children[b"v1"]
    admin = v1.putChild(b"admin", resource.Resource()) or v1.children[b"admin"]
    admin.putChild(b"get_seeds", seeds)
    return server.Site(root)


class FloridaTests(unittest.TestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.seeds = Seeds()
        self.site = florida_site(self.seeds)
        self.provider = FloridaProvider(
            self.reactor, "127.0.0.1", 8080, DEFAULT_FLORIDA_REQUEST, timeout=5
        )

    def serve(self) -> None:
        """Connect the provider's connection attempt to the in-process florida."""
        host, port, factory, _, _ = self.reactor.tcpClients[-1]
        self.assertEqual((host, port), ("127.0.0.1", 8080))
        client = factory.buildProtocol(None)
        florida = self.site.buildProtocol(None)
        pump = iosim.connect(
            florida, iosim.makeFakeServer(florida), client, iosim.makeFakeClient(client),
            clock=self.reactor,
        )
        pump.flush()

    def test_the_seed_list_is_the_body_of_dynomites_request(self) -> None:
        fetched = self.provider.fetch()
        self.serve()
        self.assertEqual(self.successResultOf(fetched), SEEDS)
        (request,) = self.seeds.requests
        self.assertEqual((request.method, request.uri, request.clientproto),
                         (b"GET", b"/REST/v1/admin/get_seeds", b"HTTP/1.0"))
        self.assertEqual(request.getHeader(b"user-agent"), b"HTMLGET 1.0")

    def test_a_status_other_than_200_is_refused(self) -> None:
        self.seeds.code = 503
        fetched = self.provider.fetch()
        self.serve()
        failure = self.failureResultOf(fetched, SeedProviderError)
        self.assertIn("503", failure.getErrorMessage())

    def test_unreachable_florida(self) -> None:
        fetched = self.provider.fetch()
        self.reactor.tcpClients[-1][2].clientConnectionFailed(
            None, Failure(ConnectionRefusedError())
        )
        failure = self.failureResultOf(fetched, SeedProviderError)
        self.assertIn("cannot connect", failure.getErrorMessage())

    def test_a_silent_florida_times_out(self) -> None:
        fetched = self.provider.fetch()
        self.reactor.advance(5)
        failure = self.failureResultOf(fetched, SeedProviderError)
        self.assertEqual(failure.getErrorMessage(), "no answer within 5 s")

    def test_florida_body(self) -> None:
        self.assertEqual(florida_body(b"HTTP/1.1 200 OK\r\nA: b\r\n\r\na|b"), "a|b")
        for response in (b"", b"HTTP/1.0 404 Not Found\r\n\r\nx", b"HTTP/1.0 200 OK\r\n"):
            self.assertRaises(SeedProviderError, florida_body, response)

    def test_environment(self) -> None:
        provider = provider_from(
            "florida_provider",
            {"DYNOMITE_FLORIDA_IP": "10.0.0.9", "DYNOMITE_FLORIDA_PORT": "9090",
             "DYNOMITE_FLORIDA_REQUEST": "GET /seeds HTTP/1.0\r\n\r\n"},
            self.reactor,
        )
        assert isinstance(provider, FloridaProvider)
        self.assertEqual((provider.host, provider.port, provider.request),
                         ("10.0.0.9", 9090, b"GET /seeds HTTP/1.0\r\n\r\n"))
        self.assertIsNone(provider_from("simple_provider", {}, self.reactor))
        self.assertRaises(ValueError, provider_from, "florida_provider",
                          {"DYNOMITE_FLORIDA_PORT": "80a"}, self.reactor)
        self.assertRaises(ValueError, provider_from, "dns_provider",
                          {"DYNOMITE_DNS_TYPE": "A"}, self.reactor)


ZONE = """
zone = [
    SOA("dyno.test", mname="ns.dyno.test", rname="root.dyno.test", serial=1,
        refresh=3600, retry=600, expire=86400, minimum=60),
    TXT("_dynomite.dyno.test", %s),
]
"""


class DnsTests(unittest.TestCase):
    def authority(self, *strings: str) -> Any:
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(ZONE % ", ".join(repr(s) for s in strings))
        return authority.PySourceAuthority(path)

    def test_the_txt_record_is_the_seed_list(self) -> None:
        provider = DnsProvider(self.authority(SEEDS), "_dynomite.dyno.test")
        self.assertEqual(self.successResultOf(provider.fetch()), SEEDS)

    def test_a_list_longer_than_one_string_is_joined(self) -> None:
        long_list = "|".join("10.0.%d.%d:8101:rack%d:dc1:0" % (i, i, i) for i in range(12))
        self.assertGreater(len(long_list), 255)
        strings = [long_list[i:i + 255] for i in range(0, len(long_list), 255)]
        provider = DnsProvider(self.authority(*strings), "_dynomite.dyno.test")
        self.assertEqual(self.successResultOf(provider.fetch()), long_list)

    def test_no_such_name(self) -> None:
        provider = DnsProvider(self.authority(SEEDS), "_other.dyno.test")
        self.failureResultOf(provider.fetch(), SeedProviderError)


class FakeProvider:
    description = "fake"

    def __init__(self) -> None:
        self.pending: Optional[defer.Deferred[str]] = None
        self.fetches = 0

    def fetch(self) -> defer.Deferred[str]:
        self.fetches += 1
        self.pending = defer.Deferred()
        return self.pending


class PollerTests(unittest.TestCase):
    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.provider = FakeProvider()
        self.lists: List[List[Member]] = []
        self.poller = SeedPoller(self.provider, 30.0, self.clock, self.lists.append)
        self.poller.start()

    def answer(self, result: Any) -> None:
        pending = self.provider.pending
        assert pending is not None
        if isinstance(result, Exception):
            pending.errback(result)
        else:
            pending.callback(result)

    def test_a_changed_list_goes_to_the_node_an_unchanged_one_does_not(self) -> None:
        self.assertEqual(self.provider.fetches, 1)  # at start
        self.answer(SEEDS)
        self.assertEqual([[m.name for m in ms] for ms in self.lists],
                         [["127.0.0.2:8101", "127.0.0.3:8101"]])
        self.clock.advance(30)
        self.answer(SEEDS)
        self.assertEqual(len(self.lists), 1)
        self.clock.advance(30)
        self.answer(SEEDS + "|127.0.0.4:8101:rack3:dc1:0")
        self.assertEqual(len(self.lists[-1]), 3)

    def test_errors_and_bad_lists_leave_the_peers_and_polling_goes_on(self) -> None:
        self.answer(SeedProviderError("cannot connect: refused"))
        self.clock.advance(30)
        self.answer("garbage")
        self.clock.advance(30)
        self.answer(SEEDS)
        self.assertEqual(len(self.lists), 1)
        self.assertEqual(self.provider.fetches, 3)

    def test_a_slow_provider_is_not_asked_twice_at_once(self) -> None:
        self.clock.advance(30)
        self.clock.advance(30)
        self.assertEqual(self.provider.fetches, 1)
        self.answer(SEEDS)
        self.clock.advance(30)
        self.assertEqual(self.provider.fetches, 2)

    def test_stop(self) -> None:
        self.poller.stop()
        self.clock.advance(60)
        self.assertEqual(self.provider.fetches, 1)

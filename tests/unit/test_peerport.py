"""The dyn_listen port's first-byte sorting, the plaintext decision per source address,
peer TLS handshakes and refusals, outgoing endpoints and reloads — on in-memory
transports (twisted.test.iosim) with certificates made in a temporary directory."""

from __future__ import annotations

import contextlib
from typing import Any, Dict, List, Optional, Sequence, Tuple

from OpenSSL import SSL
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.logger import globalLogPublisher
from twisted.python.failure import Failure
from twisted.test import iosim
from twisted.trial import unittest

from dynotwist import certs
from dynotwist.config import Config, parse_config
from dynotwist.core import ring
from dynotwist.core.stats import Stats, detached_stats
from dynotwist.net.peer import DnodeServerFactory
from dynotwist.net.peerlinks import PeerLinks, bind_host
from dynotwist.net.peerport import FirstByte, PeerPortFactory
from dynotwist.net.tls import HANDSHAKE_TIMEOUT, TLSClientEndpoint, TLSFactory
from dynotwist.proto.dnode import encode_frame
from dynotwist.proto.resp import encode_command
from dynotwist.testing.configs import render_config
from dynotwist.tlsfiles import TLSFiles, load
from tests.support.fakes import FakeNode

# this node: dc1/rack1 on 127.0.0.2; its seeds
HOST = "127.0.0.2"
SEEDS = [
    ("127.0.0.3", "dc1", "rack2"),
    ("127.0.0.4", "dc2", "rack1"),
    ("127.0.0.5", "dc1", "rack1"),
]
GET = encode_command([b"GET", b"k"])
FRAME = encode_frame(7, 3, 0, 1, GET)  # a dnode request: starts with a space


def config(
    option: str = "datacenter",
    files: Optional[certs.NodeFiles] = None,
    host: str = HOST,
    dc: str = "dc1",
    rack: str = "rack1",
    **extra: object,
) -> Config:
    fields: Dict[str, object] = {
        "datacenter": dc,
        "rack": rack,
        "listen": "%s:8102" % host,
        "dyn_listen": "%s:8101" % host,
        "stats_listen": "%s:22222" % host,
        "servers": ["127.0.0.1:22122:1"],
        "tokens": "0",
        "dyn_seeds": ["%s:8101:%s:%s:0" % (h, r, d) for h, d, r in SEEDS],
        "secure_server_option": option,
    }
    if files is not None:
        fields.update(
            tls_ca_file=files.ca_file, tls_cert_file=files.cert_file, tls_key_file=files.key_file
        )
    fields.update(extra)
    return parse_config(render_config(fields))


class Recorder(Protocol):
    def __init__(self) -> None:
        self.received: List[bytes] = []
        self.lost: Optional[Failure] = None

    def dataReceived(self, data: bytes) -> None:
        self.received.append(data)

    def connectionLost(self, reason: Failure) -> None:  # type: ignore[override]
        self.lost = reason


class RecorderFactory(Factory):
    def __init__(self) -> None:
        self.built: List[Recorder] = []

    def buildProtocol(self, addr: Any) -> Recorder:
        protocol = Recorder()
        protocol.factory = self
        self.built.append(protocol)
        return protocol


class Warnings:
    """The warning lines logged while it is installed."""

    def __init__(self, testcase: unittest.TestCase) -> None:
        self.lines: List[str] = []
        globalLogPublisher.addObserver(self.observe)
        testcase.addCleanup(globalLogPublisher.removeObserver, self.observe)

    def observe(self, event: Dict[str, Any]) -> None:
        if event.get("log_namespace") == "dynotwist.net.peerlinks" and event.get(
            "log_level"
        ).name == "warn":
            self.lines.append(event["log_format"].format(**event))


class Harness:
    """One node's links and dyn_listen port, with a recording protocol behind it."""

    def __init__(self, node_config: Config, files: Optional[TLSFiles] = None) -> None:
        self.reactor = MemoryReactorClock()
        self.stats = Stats("p", "s", "dc1", "rack1", started=0.0)
        self.links = PeerLinks(
            node_config, files or load(node_config), self.reactor, self.stats
        )
        self.wrapped = RecorderFactory()
        self.port = PeerPortFactory(self.wrapped, self.links)

    def accept(self, source: str) -> Tuple[FirstByte, StringTransport]:
        addr = IPv4Address("TCP", source, 40000)
        protocol = self.port.buildProtocol(addr)
        transport = StringTransport(peerAddress=addr)
        protocol.makeConnection(transport)
        return protocol, transport

    def connect_tls(
        self, source: str, client_factory: TLSFactory
    ) -> Tuple[FirstByte, Any, iosim.IOPump]:
        """A TLS client connected through iosim; the pump flushed."""
        addr = IPv4Address("TCP", source, 40000)
        server = self.port.buildProtocol(addr)
        client = client_factory.buildProtocol(None)
        pump = iosim.connect(
            server, iosim.FakeTransport(server, True, peerAddress=addr),
            client, iosim.FakeTransport(client, False),
            greet=True, clock=self.reactor,
        )
        return server, client, pump


class CertsTestCase(unittest.TestCase):
    def setUp(self) -> None:
        self.dir = self.mktemp()
        self.authority = certs.new_authority()
        certs.write_authority(self.dir, self.authority)

    def node_files(
        self, name: str, hosts: Sequence[str], authority: Optional[certs.Authority] = None
    ) -> certs.NodeFiles:
        directory = self.dir if authority is None else self.mktemp()
        if authority is not None:
            certs.write_authority(directory, authority)
        return certs.write_node_files(directory, name, authority or self.authority, hosts)

    def tls_node(self, option: str = "datacenter", **extra: object) -> Harness:
        return Harness(config(option, self.node_files("a", [HOST]), **extra))

    def client_tls(
        self, files: certs.NodeFiles, server_host: str = HOST, source: str = "127.0.0.4"
    ) -> Tuple[TLSFactory, RecorderFactory]:
        """A TLS client factory presenting ``files``' certificate, checking the server
        against ``server_host``."""
        links = PeerLinks(
            config("all", files, host=source), load(config("all", files, host=source)),
            MemoryReactorClock(), detached_stats(),
        )
        recorder = RecorderFactory()
        return TLSFactory(links.contexts.peer_client(server_host), True, recorder), recorder


class PlaintextTests(CertsTestCase):
    def test_allowed_source_reaches_the_dnode_protocol(self) -> None:
        h = Harness(config("datacenter", self.node_files("a", [HOST])))
        protocol, transport = h.accept("127.0.0.3")  # dc1/rack2: same DC
        protocol.dataReceived(FRAME[:5])
        protocol.dataReceived(FRAME[5:])
        (served,) = h.wrapped.built
        self.assertEqual(b"".join(served.received), FRAME)
        self.assertFalse(transport.disconnecting)
        protocol.dataReceived(GET)
        self.assertEqual(b"".join(served.received), FRAME + GET)
        self.assertEqual(h.stats.peer_plaintext_refused, 0)

    def test_refused_source_is_closed_counted_and_logged_once(self) -> None:
        warnings = Warnings(self)
        h = Harness(config("datacenter", self.node_files("a", [HOST])))
        for _ in range(3):
            protocol, transport = h.accept("127.0.0.4")  # dc2: TLS only
            protocol.dataReceived(FRAME)
            self.assertTrue(transport.disconnected)
        self.assertEqual(h.wrapped.built, [])
        self.assertEqual(h.stats.peer_plaintext_refused, 3)
        self.assertEqual(
            warnings.lines,
            [
                "refused peer 127.0.0.4: plaintext: secure_server_option datacenter: plaintext"
                " only from the seeds of datacenter dc1, and 127.0.0.4 is not one of their"
                " addresses"
            ],
        )

    def test_each_option(self) -> None:
        files = self.node_files("a", [HOST])
        # source -> allowed, per option, for dc1/rack1
        expected = {
            "none": {"127.0.0.3": True, "127.0.0.4": True, "127.0.0.5": True, "10.1.1.1": True},
            "rack": {"127.0.0.3": False, "127.0.0.4": False, "127.0.0.5": True, "10.1.1.1": False},
            "datacenter": {
                "127.0.0.3": True, "127.0.0.4": False, "127.0.0.5": True, "10.1.1.1": False
            },
            "all": {"127.0.0.3": False, "127.0.0.4": False, "127.0.0.5": False, "10.1.1.1": False},
        }
        for option, sources in expected.items():
            h = Harness(config(option, files))
            for source, allowed in sources.items():
                protocol, transport = h.accept(source)
                protocol.dataReceived(FRAME)
                self.assertEqual(not transport.disconnected, allowed, (option, source))

    def test_none_without_certificates(self) -> None:
        h = Harness(config("none"))
        protocol, transport = h.accept("10.9.9.9")
        protocol.dataReceived(FRAME)
        self.assertEqual(len(h.wrapped.built), 1)
        self.assertFalse(transport.disconnected)

    def test_real_dnode_protocol_behind_the_port(self) -> None:
        h = Harness(config("rack", self.node_files("a", [HOST])))
        node = FakeNode(h.reactor)
        port = PeerPortFactory(DnodeServerFactory(node), h.links)
        addr = IPv4Address("TCP", "127.0.0.5", 40000)  # same rack
        protocol = port.buildProtocol(addr)
        protocol.makeConnection(StringTransport(peerAddress=addr))
        protocol.dataReceived(FRAME)
        self.assertEqual([sent[0] for sent in node.stores[False].sent], [GET])


class TLSTests(CertsTestCase):
    def test_handshake_then_the_dnode_protocol(self) -> None:
        h = self.tls_node("all")
        client_factory, client_side = self.client_tls(self.node_files("b", ["127.0.0.4"]))
        _, client, pump = h.connect_tls("127.0.0.4", client_factory)
        (served,) = h.wrapped.built  # built once the handshake succeeded
        client.write(FRAME)
        pump.flush()
        self.assertEqual(b"".join(served.received), FRAME)
        self.assertEqual(h.stats.peer_tls_refused, 0)
        # the client checked the server's certificate: the connection stays up
        self.assertIsNone(client_side.built[0].lost)

    def test_tls_accepted_under_none_when_the_node_has_certificates(self) -> None:
        h = self.tls_node("none")
        client_factory, _ = self.client_tls(self.node_files("b", ["127.0.0.4"]))
        h.connect_tls("127.0.0.4", client_factory)
        self.assertEqual(len(h.wrapped.built), 1)

    def test_certificate_from_another_ca_is_refused(self) -> None:
        warnings = Warnings(self)
        h = self.tls_node("all")
        stranger = self.node_files("b", ["127.0.0.4"], certs.new_authority("other CA"))
        client_factory, client_side = self.client_tls(stranger)
        h.connect_tls("127.0.0.4", client_factory)
        self.assertEqual(h.wrapped.built, [])
        self.assertIsNotNone(client_side.built[0].lost)
        self.assertEqual(h.stats.peer_tls_refused, 1)
        self.assertEqual(len(warnings.lines), 1)
        self.assertTrue(
            warnings.lines[0].startswith("refused peer 127.0.0.4: TLS handshake failed:"),
            warnings.lines[0],
        )

    def test_tls_refused_without_certificates(self) -> None:
        h = Harness(config("none"))
        client_factory, _ = self.client_tls(self.node_files("b", ["127.0.0.4"]))
        h.connect_tls("127.0.0.4", client_factory)
        self.assertEqual(h.wrapped.built, [])
        self.assertEqual(h.stats.peer_tls_refused, 1)

    def test_silent_handshake_times_out(self) -> None:
        h = self.tls_node("all")
        protocol, transport = h.accept("127.0.0.4")
        protocol.dataReceived(b"\x16\x03\x01")  # a TLS record starts, and nothing more
        self.assertFalse(transport.disconnected)
        h.reactor.advance(HANDSHAKE_TIMEOUT)
        self.assertTrue(transport.disconnected)
        protocol.connectionLost(Failure(ConnectionError()))
        self.assertEqual(h.stats.peer_tls_refused, 1)
        self.assertEqual(h.wrapped.built, [])

    def test_tls_1_1_is_refused(self) -> None:
        h = self.tls_node("all")
        context = SSL.Context(SSL.TLS_METHOD)
        context.set_max_proto_version(SSL.TLS1_1_VERSION)
        context.set_cipher_list(b"DEFAULT:@SECLEVEL=0")
        old = SSL.Connection(context, None)
        old.set_connect_state()
        with contextlib.suppress(SSL.WantReadError):
            old.do_handshake()
        protocol, transport = h.accept("127.0.0.4")
        protocol.dataReceived(old.bio_read(65536))
        self.assertTrue(transport.disconnecting)
        protocol.connectionLost(Failure(ConnectionError()))
        self.assertEqual(h.stats.peer_tls_refused, 1)
        self.assertEqual(h.wrapped.built, [])


class Pool:
    """What PeerLinks reads of a peer pool."""

    def __init__(self, host: str, dc: str, rack: str) -> None:
        self.peer = ring.Member("%s:8101" % host, host, 8101, dc, rack, (0,))
        self.name = self.peer.name
        self.timeout_ms = 5200
        self.resets = 0

    def reset(self) -> None:
        self.resets += 1


class EndpointTests(CertsTestCase):
    def test_plaintext_or_tls_by_policy_from_the_node_address(self) -> None:
        h = self.tls_node("datacenter")
        same_dc = h.links.endpoint(Pool("127.0.0.3", "dc1", "rack2"))
        other_dc = h.links.endpoint(Pool("127.0.0.4", "dc2", "rack1"))
        self.assertIsInstance(same_dc, TCP4ClientEndpoint)
        self.assertIsInstance(other_dc, TLSClientEndpoint)
        same_dc.connect(RecorderFactory())
        other_dc.connect(RecorderFactory())
        self.assertEqual(
            [(c[0], c[4]) for c in h.reactor.tcpClients],
            [("127.0.0.3", (HOST, 0)), ("127.0.0.4", (HOST, 0))],
        )

    def test_wildcard_listen_does_not_bind(self) -> None:
        self.assertIsNone(bind_host(config("none", host="0.0.0.0").dyn_listen))
        self.assertEqual(bind_host(config("none").dyn_listen), HOST)

    def connect(self, client: Harness, server: Harness, peer_host: str) -> Deferred:
        """``client`` connects to ``server`` (reached as ``peer_host``) over TLS."""
        endpoint = client.links.endpoint(Pool(peer_host, "dc2", "rack1"))
        result = endpoint.connect(RecorderFactory())
        _, _, factory, _, _ = client.reactor.tcpClients[0]
        client_side = factory.buildProtocol(None)
        addr = IPv4Address("TCP", HOST, 40000)
        server_side = server.port.buildProtocol(addr)
        iosim.connect(
            server_side, iosim.FakeTransport(server_side, True, peerAddress=addr),
            client_side, iosim.FakeTransport(client_side, False), clock=client.reactor,
        )
        return result

    def test_peer_certificate_checked_against_the_seed_host(self) -> None:
        a = self.tls_node("all")
        b = Harness(config("all", self.node_files("b", ["127.0.0.4"]), host="127.0.0.4"))
        connected = self.successResultOf(self.connect(a, b, "127.0.0.4"))
        self.assertIsInstance(connected, Recorder)
        self.assertEqual(a.stats.peer_tls_refused + b.stats.peer_tls_refused, 0)
        self.assertEqual(len(b.wrapped.built), 1)

    def test_peer_certificate_naming_another_host_is_refused(self) -> None:
        warnings = Warnings(self)
        a = self.tls_node("all")
        # b's certificate is from the cluster CA but names 127.0.0.9
        b = Harness(config("all", self.node_files("b", ["127.0.0.9"]), host="127.0.0.4"))
        failure = self.failureResultOf(self.connect(a, b, "127.0.0.4"))
        self.assertEqual(a.stats.peer_tls_refused, 1)
        self.assertIn(
            "refused peer 127.0.0.4:8101: its certificate does not name 127.0.0.4",
            warnings.lines,
        )
        self.assertIsNotNone(failure)

    def test_peer_certificate_from_another_ca_is_refused(self) -> None:
        a = self.tls_node("all")
        stranger = self.node_files("b", ["127.0.0.4"], certs.new_authority("other CA"))
        b = Harness(config("all", stranger, host="127.0.0.4"))
        self.failureResultOf(self.connect(a, b, "127.0.0.4"), SSL.Error)
        self.assertEqual(a.stats.peer_tls_refused, 1)
        self.assertEqual(b.wrapped.built, [])


class ApplyTests(CertsTestCase):
    def test_tighter_policy_closes_plaintext_and_reconnects_pools(self) -> None:
        files = self.node_files("a", [HOST])
        h = Harness(config("datacenter", files))
        protocol, transport = h.accept("127.0.0.3")
        protocol.dataReceived(FRAME)
        kept, kept_transport = h.accept("127.0.0.5")  # same rack: still plaintext
        kept.dataReceived(FRAME)
        same_dc, same_rack = Pool("127.0.0.3", "dc1", "rack2"), Pool("127.0.0.5", "dc1", "rack1")
        new = config("rack", files)
        reconnected = h.links.apply(new, load(new), [same_dc, same_rack])
        self.assertEqual(reconnected, ["127.0.0.3:8101"])
        self.assertEqual((same_dc.resets, same_rack.resets), (1, 0))
        self.assertTrue(transport.disconnected)
        self.assertFalse(kept_transport.disconnected)
        self.assertEqual(h.stats.peer_plaintext_refused, 1)
        # a closed connection is forgotten
        protocol.connectionLost(Failure(ConnectionError()))
        self.assertEqual(list(h.links._plaintext), [kept])

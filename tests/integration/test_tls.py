"""Peer and client TLS with real nodes on loopback, each node on its own 127.0.0.N.

- One small cluster per ``secure_server_option``. Every node but the first is
  reached through a recording relay on its own address (the seeds name the relay's
  port): a SET through the first node reaches every replica, and what the relays
  recorded from the first node shows the value in clear on the links the policy leaves
  in plaintext, and only TLS records (first byte 0x16) without the value on the links
  it encrypts.
- Refusals: a node with a certificate from another CA and one whose certificate names
  another host get none of the cluster's data; plaintext from an address the policy
  does not allow is closed; each is logged and counted in /metrics.
- SIGHUP turns TLS on in a running cluster.
- Client TLS: redis-cli --tls and redis-py ssl=True, with and without client
  certificates.
"""

from __future__ import annotations

import os
import socket
import ssl
import subprocess
import urllib.request
import uuid
from functools import partial
from typing import Dict, List, Tuple

import redis
from twisted.trial import unittest

from dynotwist import certs
from dynotwist.proto.dnode import DMSG_REQ, encode_frame
from dynotwist.proto.resp import encode_command
from dynotwist.testing.cluster import Cluster, ClusterNode
from dynotwist.testing.ports import loopback_hosts
from dynotwist.testing.processes import find_program, log_tail
from tests.support.fixtures import Processes, ProcessTestCase
from tests.support.members import log_of, stored, through
from tests.support.relay import RecordingRelay
from tests.support.resp import bulk
from tests.support.waiting import wait_until

WAIT = 30.0  # seconds: bound on waits for copies, reconnections and counters (PyPy, loaded CI)
OK = b"+OK\r\n"


def metric(member: ClusterNode, name: str) -> int:
    """A counter of ``member``'s /metrics (``dynotwist_<name>_total``)."""
    url = "http://%s:%d/metrics" % (member.host, member.stats_port)
    with urllib.request.urlopen(url, timeout=5) as response:
        body = response.read().decode()
    for line in body.splitlines():
        if line.startswith("dynotwist_%s_total{" % name):
            return int(float(line.rsplit(" ", 1)[1]))
    raise AssertionError("no %s in the /metrics of %s" % (name, member.name))


def dnode_call(source: str, target: ClusterNode, payload: bytes) -> bytes:
    """A plaintext dnode request from ``source`` to ``target``'s dyn_listen: what came
    back before the connection closed (b"" if it was closed at once)."""
    with socket.socket() as sock:
        sock.settimeout(3.0)
        sock.bind((source, 0))
        sock.connect((target.host, target.peer_port))
        sock.sendall(encode_frame(1, DMSG_REQ, 0, 1, payload))
        try:
            return sock.recv(65536)
        except ConnectionResetError:
            return b""
        except socket.timeout:
            return b"(no answer)"


def relay_peers(cluster: Cluster) -> Dict[str, RecordingRelay]:
    """A relay in front of every node but the first, on the node's own address: every
    seed list names the relay's port instead of the node's ``dyn_listen`` port."""
    relays = {
        member.name: RecordingRelay(member.host, member.host, member.peer_port)
        for member in cluster.nodes[1:]
    }
    port_of = {(m.host, m.peer_port): relays[m.name].port for m in cluster.nodes[1:]}
    for member in cluster.nodes:
        seeds = []
        listed = member.node.fields["dyn_seeds"]
        assert isinstance(listed, list)
        for seed in listed:
            host, port, rest = str(seed).split(":", 2)
            seeds.append("%s:%d:%s" % (host, port_of.get((host, int(port)), int(port)), rest))
        member.node.rewrite(dict(member.node.fields, dyn_seeds=seeds))
    return relays


class PolicyCase(ProcessTestCase):
    """A cluster under one ``secure_server_option``; its first node's links relayed."""

    option = "none"
    shape = (1, 2, 1)  # DCs, racks per DC, nodes per rack
    cluster: Cluster
    relays: Dict[str, RecordingRelay]

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        dcs, racks, per_rack = cls.shape
        count = dcs * racks * per_rack

        def prepare(cluster: Cluster) -> None:
            cls.relays = relay_peers(cluster)
            for relay in cls.relays.values():
                processes.add_cleanup(relay.close)

        cls.cluster = processes.cluster(
            dcs, racks, per_rack, prepare=prepare, secure_server_option=cls.option,
            hosts=loopback_hosts(count), extra_fields={"timeout": 2000},
        )

    def encrypted(self, member: ClusterNode) -> bool:
        first = self.cluster.nodes[0]
        if self.option == "all":
            return True
        if self.option == "datacenter":
            return member.dc != first.dc
        if self.option == "rack":
            return (member.dc, member.rack) != (first.dc, first.rack)
        return False

    def check_write_and_capture(self, owner: ClusterNode) -> None:
        """SET a fresh value through the first node on a key ``owner`` owns; it reaches
        every replica; the relays show it only on plaintext links."""
        cluster = self.cluster
        first = cluster.nodes[0]
        value = b"secret-%s" % uuid.uuid4().hex.encode()
        key = cluster.key_owned_by(owner, "tls-%s" % self.option).encode()
        before = {name: len(relay.sent(first.host)) for name, relay in self.relays.items()}
        self.assertEqual(through(first, b"SET", key, value), OK)
        replicas = cluster.replicas(key)
        wait_until(lambda: all(stored(m, key) == bulk(value) for m in replicas), WAIT,
                   message="the value on every replica")
        self.assertEqual(through(cluster.nodes[-1], b"GET", key), bulk(value))
        carried_tls = carried_plain = 0
        for member in cluster.nodes[1:]:
            relay = self.relays[member.name]
            sent = relay.sent(first.host)
            grew = len(sent) - before[member.name]
            if self.encrypted(member):
                self.assertNotIn(value, sent, member.name)
                self.assertNotIn(b"$2014$", sent, member.name)
                # a link that carried nothing may still be connecting (slow starts)
                wait_until(partial(relay.first_bytes, first.host), WAIT,
                           message="a connection from %s to %s" % (first.name, member.name))
                self.assertEqual(set(relay.first_bytes(first.host)), {0x16}, member.name)
                carried_tls += grew > len(value)
            else:
                self.assertLessEqual(set(relay.first_bytes(first.host)), {ord(" ")},
                                     member.name)
                carried_plain += value in sent
        expected_tls = any(self.encrypted(m) for m in cluster.nodes[1:])
        self.assertEqual(bool(carried_tls), expected_tls, "a TLS link carried the SET")
        self.assertEqual(bool(carried_plain), not all(
            self.encrypted(m) for m in cluster.nodes[1:]
        ), "a plaintext link carried the value in clear")
        for member in cluster.nodes:  # the nodes accept each other
            self.assertEqual(metric(member, "peer_tls_refused"), 0, member.name)


class NoneTests(PolicyCase):
    option = "none"
    shape = (2, 1, 1)

    def test_plaintext_between_dcs(self) -> None:
        self.check_write_and_capture(self.cluster.nodes[0])


class DatacenterTests(PolicyCase):
    option = "datacenter"
    shape = (2, 2, 1)

    def test_tls_between_dcs_plaintext_within(self) -> None:
        self.check_write_and_capture(self.cluster.nodes[0])

    def send_plaintext(self, source: str, key: bytes) -> bytes:
        """A dnode SET from ``source`` to the first node."""
        set_key = encode_command([b"SET", key, b"plain"])
        return dnode_call(source, self.cluster.nodes[0], set_key)

    def test_plaintext_peer_refused_by_address(self) -> None:
        first, same_dc, other_dc = (self.cluster.nodes[0], self.cluster.nodes[1],
                                    self.cluster.nodes[2])
        self.assertEqual((same_dc.dc, other_dc.dc), (first.dc, "dc2"))
        refused_before = metric(first, "peer_plaintext_refused")
        for source in (other_dc.host, "127.0.0.250"):  # another DC's seed; no seed
            key = b"plain-%s" % uuid.uuid4().hex.encode()
            self.assertEqual(self.send_plaintext(source, key), b"")  # closed
            self.assertEqual(stored(first, key), b"$-1\r\n")
            self.assertIn("refused peer %s: plaintext: secure_server_option datacenter"
                          % source, log_of(first))
        self.assertEqual(metric(first, "peer_plaintext_refused"), refused_before + 2)
        # a seed of this DC may speak plaintext
        key = b"plain-%s" % uuid.uuid4().hex.encode()
        self.assertIn(b"+OK\r\n", self.send_plaintext(same_dc.host, key))
        self.assertEqual(stored(first, key), bulk(b"plain"))


class RackTests(PolicyCase):
    option = "rack"
    shape = (1, 2, 2)  # rack1-1 -> rack1-2 in plaintext, to rack2 in TLS

    def test_tls_between_racks_plaintext_within(self) -> None:
        self.check_write_and_capture(self.cluster.node_named("dc1-rack1-2"))


class AllTests(PolicyCase):
    option = "all"
    shape = (1, 2, 1)  # one DC: TLS even there

    def test_tls_everywhere(self) -> None:
        self.check_write_and_capture(self.cluster.nodes[0])


class RefusedCertificateTests(ProcessTestCase):
    """rack1 is honest; rack2 holds a certificate from another CA (and trusts only
    that CA); rack3's certificate is from the cluster CA but names another address."""

    cluster: Cluster

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        def prepare(cluster: Cluster) -> None:
            stranger, liar = cluster.nodes[1], cluster.nodes[2]
            other = os.path.join(cluster.tls_dir, "other")
            authority = certs.new_authority("another cluster's CA")
            certs.write_authority(other, authority)
            files = certs.write_node_files(other, stranger.name, authority, [stranger.host])
            stranger.node.rewrite(dict(
                stranger.node.fields, tls_ca_file=files.ca_file,
                tls_cert_file=files.cert_file, tls_key_file=files.key_file,
            ))
            assert cluster.authority is not None
            certs.write_node_files(cluster.tls_dir, liar.name, cluster.authority,
                                   ["127.0.0.99"])

        cls.cluster = processes.cluster(
            1, 3, prepare=prepare, connected=False, secure_server_option="all",
            hosts=loopback_hosts(3, first=40),
        )

    def test_refused_peers_get_no_data(self) -> None:
        honest, stranger, liar = self.cluster.nodes
        wait_until(lambda: metric(honest, "peer_tls_refused") >= 2, WAIT,
                   message="refusals counted")
        key = b"refused-%s" % uuid.uuid4().hex.encode()
        self.assertEqual(through(honest, b"SET", key, b"v"), OK)
        self.assertEqual(stored(honest, key), bulk(b"v"))
        # the copies are not sent: the peers are never connected (nothing to wait for)
        for line in (
            # connecting to them
            "refused peer %s:%d: its certificate does not name %s"
            % (liar.host, liar.peer_port, liar.host),
            "refused peer %s:%d: TLS handshake failed" % (stranger.host, stranger.peer_port),
            # the stranger connecting here (it refuses this node's certificate too)
            "refused peer %s: TLS handshake failed" % stranger.host,
        ):
            wait_until(lambda line=line: line in log_of(honest), WAIT, message=line)
        for peer in (stranger, liar):
            self.assertEqual(stored(peer, key), b"$-1\r\n", peer.name)
        # a write through the stranger does not reach the honest node either
        other = b"stranger-%s" % uuid.uuid4().hex.encode()
        through(stranger, b"SET", other, b"x")
        self.assertEqual(stored(honest, other), b"$-1\r\n")
        self.assertGreaterEqual(metric(honest, "peer_tls_refused"), 2)
        self.assertEqual(metric(honest, "peer_plaintext_refused"), 0)


class ReloadTests(ProcessTestCase):
    """Certificates in place and secure_server_option none; SIGHUP after switching the
    files to all: plaintext from the other node is refused, replication goes on."""

    cluster: Cluster

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.cluster = processes.cluster(
            1, 2, tls=True, secure_server_option="none", hosts=loopback_hosts(2, first=50),
        )

    def test_sighup_turns_tls_on(self) -> None:
        first, second = self.cluster.nodes
        self.assertIn("TLS: secure_server_option none, peer certificate '%s'"
                      % self.cluster.tls_files(first)["tls_cert_file"], log_of(first))
        for member in self.cluster.nodes:
            member.node.rewrite(dict(member.node.fields, secure_server_option="all"))
            member.node.reload()
        for member in self.cluster.nodes:
            wait_until(lambda m=member: "SIGHUP: TLS settings reloaded: secure_server_option "
                       "all" in log_of(m), WAIT, message="%s reloaded" % member.name)
        # the plaintext connections between them were replaced by TLS ones
        key = b"reloaded-%s" % uuid.uuid4().hex.encode()
        self.assertEqual(through(first, b"SET", key, b"v"), OK)
        wait_until(lambda: stored(second, key) == bulk(b"v"), WAIT, message="copy over TLS")
        self.assertEqual(dnode_call(second.host, first, encode_command([b"PING"])), b"")
        self.assertGreaterEqual(metric(first, "peer_plaintext_refused"), 1)


class ClientTLSTests(ProcessTestCase):
    """A node with client_tls, without then with client_tls_ca_file."""

    required_programs = ("redis-server", "redis-cli")

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        tls_dir = os.path.join(processes.workdir, "tls")
        authority = certs.new_authority()
        cls.ca_file = certs.write_authority(tls_dir, authority)
        cls.server = certs.write_node_files(tls_dir, "node", authority, ["127.0.0.1"])
        cls.client = certs.write_node_files(tls_dir, "client", authority, ["client"])
        backend = processes.redis()
        tls = {"client_tls": True, "tls_cert_file": cls.server.cert_file,
               "tls_key_file": cls.server.key_file}
        cls.open_node = processes.node(backend.port, name="open", **tls)
        cls.strict_node = processes.node(backend.port, name="strict",
                                         client_tls_ca_file=cls.ca_file, **tls)

    def redis_cli(self, port: int, *options: str) -> Tuple[int, str]:
        result = subprocess.run(
            [find_program("redis-cli"), "-h", "127.0.0.1", "-p", str(port), *options,
             "PING"],
            capture_output=True, text=True, timeout=15,
        )
        return result.returncode, (result.stdout + result.stderr).strip()

    def client_certificate(self) -> List[str]:
        return ["--cert", self.client.cert_file, "--key", self.client.key_file]

    def test_redis_cli(self) -> None:
        code, out = self.redis_cli(self.open_node.client_port, "--tls", "--cacert",
                                   self.ca_file)
        self.assertEqual((code, out), (0, "PONG"), log_tail(self.open_node.log_path))
        _, out = self.redis_cli(self.open_node.client_port)  # plaintext: no answer
        self.assertNotEqual(out, "PONG")

    def test_redis_cli_with_client_certificate(self) -> None:
        port = self.strict_node.client_port
        code, out = self.redis_cli(port, "--tls", "--cacert", self.ca_file,
                                   *self.client_certificate())
        self.assertEqual((code, out), (0, "PONG"))
        _, out = self.redis_cli(port, "--tls", "--cacert", self.ca_file)
        self.assertNotEqual(out, "PONG")

    def test_redis_py(self) -> None:
        client = redis.Redis(host="127.0.0.1", port=self.open_node.client_port, ssl=True,
                             ssl_ca_certs=self.ca_file, socket_timeout=10)
        try:
            self.assertTrue(client.set("tls-py", "v"))
            self.assertEqual(client.get("tls-py"), b"v")
        finally:
            client.close()

    def test_redis_py_with_client_certificate(self) -> None:
        port = self.strict_node.client_port
        client = redis.Redis(host="127.0.0.1", port=port, ssl=True, ssl_ca_certs=self.ca_file,
                             ssl_certfile=self.client.cert_file,
                             ssl_keyfile=self.client.key_file, socket_timeout=10)
        try:
            self.assertTrue(client.ping())
        finally:
            client.close()
        anonymous = redis.Redis(host="127.0.0.1", port=port, ssl=True,
                                ssl_ca_certs=self.ca_file, socket_timeout=10)
        try:
            with self.assertRaises((redis.ConnectionError, ssl.SSLError, OSError)):
                anonymous.ping()
        finally:
            anonymous.close()


class RelayTests(unittest.TestCase):
    """The relay itself: bytes both ways, recorded, from the connecting address."""

    def test_relays_and_records(self) -> None:
        with socket.socket() as server:
            server.bind(("127.0.0.1", 0))
            server.listen(1)
            relay = RecordingRelay("127.0.0.60", "127.0.0.1", server.getsockname()[1])
            self.addCleanup(relay.close)
            with socket.socket() as client:
                client.bind(("127.0.0.61", 0))
                client.connect((relay.host, relay.port))
                client.sendall(b"hello")
                accepted, (source, _) = server.accept()
                with accepted:
                    self.assertEqual(source, "127.0.0.61")
                    self.assertEqual(accepted.recv(5), b"hello")
                    accepted.sendall(b"world")
                    self.assertEqual(client.recv(5), b"world")
        self.assertEqual(relay.sent(), b"hello")
        self.assertEqual(relay.first_bytes(), b"h")

"""Hostile input against real nodes: nothing crosses a node that it did not parse.

Attackers send smuggling chunks, garbage, HTTP requests and oversized frames on the
client and peer ports while well-behaved clients check every reply against their own
request; the redis-server behind the node is then asked directly whether anything
the node refuses was run. Every class runs a node with the hiredis accelerator and one
with the pure-Python parser.
"""

from __future__ import annotations

import os
import random
import socket
from typing import Iterator, List, Optional, Tuple

from dynotwist.proto.dnode import DMSG_REQ, DnodeParser, encode_frame
from dynotwist.testing.blocking import ConnectionClosed, RespClient, encode
from dynotwist.testing.processes import NodeProcess
from tests.support.fixtures import NodeTestCase, Processes

# Each chunk starts with a good request and goes on with bytes a parser may misread:
# Redis, reading what would be forwarded, would run the CONFIG SET or FLUSHALL in them.
SMUGGLING = [
    b"*1\r\n$4\r\nPING\r\n~2\r\n$3\r\nGET\r\n$39\r\nCONFIG SET maxmemory-policy allkeys-lru\r\n",
    b"*1\r\n$4\r\nPING\r\n*2\r\n+GET\r\n$39\r\nCONFIG SET maxmemory-policy allkeys-lru\r\n",
    b"*1\r\n$4\r\nPING\r\n%1\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$8\r\nFLUSHALL\r\n",
    b"*1\r\n$4\r\nPING\r\n>2\r\n$3\r\nGET\r\n|1\r\n+a\r\n+b\r\n$8\r\nFLUSHALL\r\n",
    b"*1\r\n$4\r\nPING\r\n*1\r\n*1\r\n$8\r\nFLUSHALL\r\n",
    b"*2\r\n$3\r\nGET\r\n:1\r\n*1\r\n$8\r\nFLUSHALL\r\n",
    b"*1\r\n$4\r\nPING\r\n=12\r\ntxt:FLUSHALL\r\n",
]

HTTP = (
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 28\r\n\r\nSET pwned 1\r\nFLUSHALL\r\n"
)


def garbage(rng: random.Random) -> bytes:
    """A chunk of malformed, truncated or smuggling bytes."""
    pick = rng.randrange(5)
    if pick == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if pick == 1:
        chunk = rng.choice(SMUGGLING)
        return chunk[: rng.randrange(1, len(chunk) + 1)]
    if pick == 2:
        return rng.choice(SMUGGLING)
    if pick == 3:
        return b"*%d\r\n$%d\r\n" % (rng.randrange(-5, 50), rng.randrange(-5, 10**6))
    return HTTP


class HostileClientPortTest(NodeTestCase):
    """Two nodes in front of one redis-server: one with hiredis, one pure Python."""

    nodes: List[NodeProcess]

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.backend = processes.redis()
        accelerated = processes.node(cls.backend.port, name="accelerated")
        os.environ["DYNOTWIST_PURE_PYTHON"] = "1"
        try:
            pure = processes.node(cls.backend.port, name="pure")
        finally:
            del os.environ["DYNOTWIST_PURE_PYTHON"]
        cls.node = accelerated
        cls.nodes = [accelerated, pure]

    def each_node(self) -> Iterator[Tuple[str, int]]:
        for node in self.nodes:
            yield node.name, node.client_port

    def assert_datastore_untouched(self) -> None:
        """Nothing refused by the node ran on the redis-server behind it."""
        with RespClient(self.backend.port) as direct:
            policy = direct.call("CONFIG", "GET", "maxmemory-policy")
            self.assertIn(b"noeviction", policy)
            self.assertEqual(direct.call("EXISTS", "pwned"), b":0\r\n")
            self.assertEqual(direct.call("EXISTS", "canary"), b":1\r\n")  # no FLUSHALL

    def setUp(self) -> None:
        super().setUp()
        with RespClient(self.backend.port) as direct:
            direct.call("SET", "canary", "alive")
            direct.call("CONFIG", "SET", "maxmemory-policy", "noeviction")

    def test_smuggling_chunks_run_nothing_and_shift_no_reply(self) -> None:
        for name, port in self.each_node():
            victim = self.connect(port)
            victim.call("SET", "victim:secret", "for the victim only")
            for chunk in SMUGGLING:
                attacker = self.connect(port)
                attacker.send(chunk)
                # the victim's reply stays on the victim's connection
                replies = victim.pipeline([("GET", "victim:secret")] * 20)
                self.assertEqual(
                    replies, [b"$19\r\nfor the victim only\r\n"] * 20, (name, chunk)
                )
                # the attacker gets PONG (or the GET's reply), then an error, then EOF
                attacker.sock.shutdown(socket.SHUT_WR)
                answered = attacker.read_until_closed()
                self.assertNotIn(b"for the victim only", answered, (name, chunk))
            self.assert_datastore_untouched()

    def test_http_on_the_resp_port_is_closed_without_running_its_body(self) -> None:
        for name, port in self.each_node():
            attacker = self.connect(port)
            attacker.send(HTTP)
            self.assertEqual(attacker.read_until_closed(), b"", name)
            self.assert_datastore_untouched()

    def test_garbage_never_changes_what_other_clients_get(self) -> None:
        rng = random.Random(8)
        for name, port in self.each_node():
            good = [self.connect(port) for _ in range(4)]
            sent = 0
            for round_number in range(40):
                attackers = []
                for _ in range(3):
                    attacker = RespClient(port)
                    attacker.send(garbage(rng))
                    attackers.append(attacker)
                for index, client in enumerate(good):
                    key = "good:%d:%d" % (index, round_number)
                    value = "value-%s-%d-%d" % (name, index, round_number)
                    replies = client.pipeline(
                        [("SET", key, value), ("GET", key), ("PING",), ("GET", "victim:none")]
                    )
                    self.assertEqual(
                        replies,
                        [b"+OK\r\n", encode_bulk(value), b"+PONG\r\n", b"$-1\r\n"],
                        (name, round_number),
                    )
                    sent += 4
                for attacker in attackers:
                    attacker.close()
            self.assertEqual(sent, 40 * 4 * 4)
            self.assert_datastore_untouched()


def encode_bulk(value: str) -> bytes:
    data = value.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


class LimitedNode(NodeTestCase):
    """A node with requirepass and the limits in ``node_fields``."""

    def connect(self, port: Optional[int] = None, authenticate: bool = True) -> RespClient:
        client = super().connect(port)
        if authenticate:
            self.assertEqual(client.call("AUTH", "s3cret"), b"+OK\r\n")
        return client


class LimitsTest(LimitedNode):
    """Redis's limits before AUTH, on the query buffer and on the output buffer."""

    node_fields = {
        "requirepass": "s3cret",
        "client_query_buffer_limit": "1mb",
        "client_output_buffer_limit": "1mb",
    }

    def test_unauthenticated_clients_get_redis_limits(self) -> None:
        client = self.connect(authenticate=False)
        client.send(b"*11\r\n")
        self.assertEqual(
            client.read_until_closed(),
            b"-ERR Protocol error: unauthenticated multibulk length\r\n",
        )
        client = self.connect(authenticate=False)
        client.send(b"*2\r\n$3\r\nGET\r\n$16385\r\n")
        self.assertEqual(
            client.read_until_closed(), b"-ERR Protocol error: unauthenticated bulk length\r\n"
        )

    def test_auth_then_a_big_request_in_one_write_is_served(self) -> None:
        client = self.connect(authenticate=False)
        value = "v" * 100000
        client.send(
            encode("AUTH", "s3cret") + encode("SET", "big", value) + encode("STRLEN", "big")
        )
        self.assertEqual(client.read_replies(3), [b"+OK\r\n", b"+OK\r\n", b":100000\r\n"])

    def test_a_request_over_the_query_buffer_limit_closes_its_client_alone(self) -> None:
        other = self.connect()
        client = self.connect()
        client.send(b"*3\r\n$3\r\nSET\r\n$3\r\nhog\r\n$3000000\r\n")
        try:
            for _ in range(12):
                client.send(b"x" * 100000)
        except OSError:
            pass  # closed under our feet: what we expect
        self.assertEqual(client.read_until_closed(), b"")
        self.assertEqual(other.call("PING"), b"+PONG\r\n")

    def test_a_client_that_does_not_read_is_closed_past_the_output_limit(self) -> None:
        other = self.connect()
        self.assertEqual(other.call("SET", "large", "x" * 200000), b"+OK\r\n")
        hog = self.connect()
        hog.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        hog.send(encode("GET", "large") * 100)  # 20 MB of replies, never read
        for _ in range(100):
            self.assertEqual(other.call("STRLEN", "large"), b":200000\r\n")
        received = 0
        try:
            while True:
                data = hog.sock.recv(1 << 20)
                if not data:
                    break
                received += len(data)
        except ConnectionResetError:
            pass
        self.assertLess(received, 100 * 200000)


class ConnectionLimitTest(LimitedNode):
    node_fields = {"requirepass": "s3cret", "client_connections": 6}

    def test_client_connections_is_enforced(self) -> None:
        clients = [self.connect() for _ in range(6)]
        refused = RespClient(self.node.client_port)
        self.addCleanup(refused.close)
        self.assertEqual(refused.read_until_closed(), b"-ERR max number of clients reached\r\n")
        clients.pop().close()
        for _ in range(50):  # the node sees the close soon; a new client is then accepted
            again = RespClient(self.node.client_port)
            self.addCleanup(again.close)
            again.send(encode("AUTH", "s3cret"))
            try:
                reply = again.read_reply()
            except ConnectionClosed:
                continue
            if reply == b"+OK\r\n":
                break
        else:
            self.fail("no connection accepted after one was closed")
        self.assertEqual(clients[0].call("PING"), b"+PONG\r\n")


class HostilePeerPortTest(NodeTestCase):
    """The peer port (dyn_listen) refuses what the client port refuses."""

    def exchange(self, payloads: List[bytes]) -> List[bytes]:
        """Send one request frame per payload; the response frames' payloads."""
        port = self.node.peer_port
        assert port is not None
        with socket.create_connection(("127.0.0.1", port), timeout=10) as peer:
            peer.sendall(
                b"".join(encode_frame(i, DMSG_REQ, 0, 1, p) for i, p in enumerate(payloads, 1))
            )
            parser = DnodeParser()
            frames: list = []
            while len(frames) < len(payloads):
                data = peer.recv(65536)
                if not data:
                    break
                frames.extend(parser.feed(data))
        self.assertEqual([f.msg_id for f in frames], list(range(1, len(payloads) + 1)))
        return [f.payload for f in frames]

    def test_refused_commands_get_error_frames_and_run_nothing(self) -> None:
        with RespClient(self.backend.port) as direct:
            direct.call("SET", "canary", "alive")
        replies = self.exchange(
            [
                encode("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"),
                encode("FLUSHALL"),
                encode("SET", "a", "1") + encode("FLUSHALL"),  # two requests in one frame
                b"",  # an empty payload
                b"*1\r\n$3\r\nGE",  # a truncated one
                encode("SET", "peer:key", "from a peer"),
                encode("GET", "peer:key"),
            ]
        )
        for reply in replies[:5]:
            self.assertTrue(reply.startswith(b"-ERR "), reply)
        self.assertEqual(replies[5:], [b"+OK\r\n", b"$11\r\nfrom a peer\r\n"])
        with RespClient(self.backend.port) as direct:
            self.assertIn(b"noeviction", direct.call("CONFIG", "GET", "maxmemory-policy"))
            self.assertEqual(direct.call("GET", "canary"), b"$5\r\nalive\r\n")
            self.assertEqual(direct.call("EXISTS", "a"), b":0\r\n")

"""Hostile-input soak of a live local cluster: attackers on every port, honest clients beside.

Starts a 1-DC cluster on loopback (3 racks of 1 node by default, each node with its own
redis-server, ``requirepass`` set) and, until ``--frames`` hostile frames have been sent
over at least ``--connections`` connections (or for ``--seconds``), runs:

- attackers on every node's client port (malformed lengths, truncated requests, RESP3
  aggregates and smuggling chunks, random bytes, oversized bulks, inline garbage, HTTP,
  with and without AUTH), peer port (dnode frames with garbage headers, wrong or huge
  lengths, refused commands, two requests in one frame, empty payloads, the encrypted
  flag) and admin port (garbage HTTP, huge bodies, other methods, Origin headers,
  endless headers); each connection sends its frames in one write, one write per frame,
  byte by byte, or is reset in the middle of a request;
- well-behaved clients (RESP2 and RESP3, through every node) pipelining SET/GET/INCR/
  MGET/DEL on keys of their own and checking every reply against their own request.

Meanwhile each node is pinged four times a second: one that stops answering is named with
the attacks it was under when it did. At the end the script checks that every node still
runs and answers, that no refused command reached a redis-server (maxmemory-policy, a
canary key, a key that only refused requests write) and that no refused admin request
changed a node's settings, and prints frames and connections per port, what each attack
kind got, wrong and error replies, and each node's RSS before and after. The exit status
is 1 on a crashed or silent node, a wrong reply, a lost honest connection, a changed
datastore or changed node settings. The cluster's configs and logs stay in the work dir.

    .venv/bin/python benchmarks/hostile_soak.py
    .venv/bin/python benchmarks/hostile_soak.py --frames 50000 --racks 2 --nodes-per-rack 2
    .venv/bin/python benchmarks/hostile_soak.py --seconds 600 --pure-python --requirepass ''
"""

from __future__ import annotations

import argparse
import http.client
import os
import random
import socket
import struct
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from typing import Callable, Deque, Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

from dynotwist.proto.dnode import (
    DMSG_REQ,
    DMSG_REQ_FORWARD,
    DMSG_RES,
    FLAG_ENCRYPTED,
    FLAG_RESP3,
    MAGIC,
    encode_frame,
    encode_header,
)
from dynotwist.proto.resp import ReplyFramer, encode_command
from dynotwist.testing.cluster import Cluster, ClusterNode
from dynotwist.testing.ports import LOOPBACK

CANARY = b"soak:canary"  # set on every redis-server first: a FLUSHALL/FLUSHDB removes it
PWNED = b"soak:pwned"  # only ever written by requests the node must refuse whole
Generator = Callable[[random.Random], bytes]
Key = Tuple[str, str]  # (port, attack kind)
CHECK_TIMEOUT = 5.0  # seconds a check waits for a node or a redis-server


def cmd(*args: Union[bytes, str]) -> bytes:
    return encode_command([a if isinstance(a, bytes) else a.encode() for a in args])


def auth(password: str) -> List[bytes]:
    return [cmd("AUTH", password)] if password else []


def bulk(value: bytes) -> bytes:
    return b"$%d\r\n%s\r\n" % (len(value), value)


def noise(rng: random.Random, high: int = 300) -> bytes:
    return rng.randbytes(rng.randrange(1, high))


def cut(rng: random.Random, data: bytes) -> bytes:
    """A strict prefix of ``data``."""
    return data[: rng.randrange(1, len(data))]


def pick(*choices: bytes) -> Generator:
    return lambda rng: rng.choice(choices)


# -- attacks: per port, kind -> a generator of one hostile frame --------------------------
BAD_NUMBERS = (b"-7", b"abc", b"", b"1x", b" 3", b"+5", b"99999999999999999999", b"2147483648",
               b"4294967296", b"-2147483649", b"0x10", b"1.5")
REFUSED = (
    cmd("FLUSHALL"), cmd("FLUSHDB"), cmd("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"),
    cmd("SHUTDOWN", "NOSAVE"), cmd("DEBUG", "SLEEP", "0"), cmd("CONFIG", "RESETSTAT"),
)
# A good request, then bytes a parser may take for a harmless request while Redis,
# reading them as forwarded, runs the refused command in them. (An inline command that
# the node itself is allowed to serve proves nothing: Redis would run it too.)
CONFIG_SET = b"$39\r\nCONFIG SET maxmemory-policy allkeys-lru\r\n"
SMUGGLING = (
    b"*1\r\n$4\r\nPING\r\n~2\r\n$3\r\nGET\r\n" + CONFIG_SET,
    b"*1\r\n$4\r\nPING\r\n%1\r\n$3\r\nGET\r\n" + CONFIG_SET,
    b"*1\r\n$4\r\nPING\r\n>2\r\n$3\r\nGET\r\n" + CONFIG_SET,
    b"*1\r\n$4\r\nPING\r\n*2\r\n+GET\r\n" + CONFIG_SET,
    b"*1\r\n$4\r\nPING\r\n%1\r\n$3\r\nGET\r\n$3\r\nkey\r\n*1\r\n$8\r\nFLUSHALL\r\n",
    b"*1\r\n$4\r\nPING\r\n>2\r\n$3\r\nGET\r\n|1\r\n+a\r\n+b\r\n$8\r\nFLUSHALL\r\n",
    b"*1\r\n$4\r\nPING\r\n*1\r\n*1\r\n$8\r\nFLUSHALL\r\n",
    b"*2\r\n$3\r\nGET\r\n:1\r\n*1\r\n$8\r\nFLUSHALL\r\n",
    b"*1\r\n$4\r\nPING\r\n=12\r\ntxt:FLUSHALL\r\n",
    b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n#t\r\n,1.5\r\n(12\r\n_\r\n" + CONFIG_SET,
)
RESP3_TOPS = (b"~2\r\n$3\r\nGET\r\n$1\r\nk\r\n", b"%1\r\n$3\r\nGET\r\n$1\r\nk\r\n",
              b">1\r\n$4\r\nPING\r\n", b"|1\r\n+a\r\n+b\r\n", b"#t\r\n", b",1.5\r\n",
              b"(123\r\n", b"_\r\n", b"=7\r\ntxt:abc\r\n", b"!3\r\nERR\r\n")
HTTP_REQUESTS = (
    b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 36\r\n\r\n"
    b"SET soak:pwned 1\r\nFLUSHALL\r\nQUIT\r\n",
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"Host: 127.0.0.1\r\nFLUSHALL\r\n",
)
INLINE = (b'SET "unbalanced\r\n', b"GET 'a\\x'b\r\n", b"\x00\x01\xfe\xff\r\n", b"FLUSHALL\r\n",
          b"CONFIG SET maxmemory-policy allkeys-lru\r\n", b"\r\n\r\n\r\n", b"   \t \r\n",
          b"GET " + b"k" * 70000, b"SET a " + b'"\\x' * 100 + b"\r\n")

CLIENT_ATTACKS: Dict[str, Generator] = {
    "multibulk-length": lambda rng: b"*%s\r\n$4\r\nPING\r\n" % rng.choice(BAD_NUMBERS),
    "bulk-length": lambda rng: b"*2\r\n$3\r\nGET\r\n$%s\r\nkey\r\n" % rng.choice(BAD_NUMBERS),
    "truncated": lambda rng: cut(rng, cmd("SET", "soak:attack", noise(rng, 100))),
    "resp3-smuggling": lambda rng: rng.choice(SMUGGLING + RESP3_TOPS),
    "random-bytes": noise,
    "oversized-bulk": lambda rng: b"*3\r\n$3\r\nSET\r\n$9\r\nsoak:huge\r\n$%d\r\n%s" % (
        rng.choice((16385, 10**6, 536870913, 2**40)), b"x" * rng.randrange(1 << 18)),
    "multibulk-count": lambda rng: b"*%d\r\n" % rng.choice((11, 1024 * 1024 + 1, 2**31 - 1)),
    "inline-garbage": pick(*INLINE),
    "http": pick(*HTTP_REQUESTS),
    "refused-command": pick(*REFUSED),
}


def dnode(payload: bytes, msg_type: int = DMSG_REQ, flags: int = 0) -> Generator:
    return lambda rng: encode_frame(rng.randrange(1, 1 << 32), msg_type, flags, 1, payload)


def one_of(*generators: Generator) -> Generator:
    return lambda rng: rng.choice(generators)(rng)


FORWARDABLE = (DMSG_REQ, DMSG_REQ_FORWARD)
PEER_ATTACKS: Dict[str, Generator] = {
    "garbage-header": lambda rng: MAGIC + rng.choice((
        b"x y z\r\n", b"1 3 0 1 1 *1 d *abc\r\n", b"1 3 12 1 1 *1 d *4\r\nPING",
        b"-1 3 0 1 1 *1 d *4\r\nPING", b"1 3 0 1 1 *99999999 d *4\r\n")) + noise(rng, 60),
    "random-bytes": lambda rng: noise(rng) + rng.choice((MAGIC, b"$2014$", b"")) + noise(rng),
    "wrong-length": lambda rng: encode_header(
        rng.randrange(1, 99), DMSG_REQ, 0, 1, rng.randrange(60)) + cmd("GET", "soak:attack"),
    "truncated": lambda rng: cut(rng, dnode(cmd("SET", "soak:attack", noise(rng, 100)))(rng)),
    "refused-command": one_of(*(dnode(r, kind) for r in REFUSED for kind in FORWARDABLE)),
    "two-requests": one_of(dnode(cmd("SET", PWNED, "1") + cmd("FLUSHALL")),
                           dnode(cmd("GET", "k") + REFUSED[2])),
    "empty-payload": one_of(dnode(b""), dnode(b"", DMSG_REQ_FORWARD), dnode(b"", DMSG_RES)),
    "huge-length": lambda rng: encode_header(
        rng.randrange(1, 99), DMSG_REQ, 0, 1, rng.choice((2**31, 2**40, 10**19 - 1))) + noise(rng),
    "encrypted-flag": one_of(dnode(cmd("GET", "k"), flags=FLAG_ENCRYPTED),
                             dnode(cmd("FLUSHALL"), flags=FLAG_ENCRYPTED | FLAG_RESP3)),
    "smuggling": lambda rng: dnode(rng.choice(SMUGGLING))(rng),
}

ADMIN_CHANGE = b"/set_timeout_factor/9"  # refused here; any success shows in the settings


def http_request(method: bytes, path: bytes, headers: bytes = b"") -> bytes:
    return b"%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\n%s\r\n" % (method, path, headers)


ADMIN_ATTACKS: Dict[str, Generator] = {
    "garbage": lambda rng: noise(rng) + b"\r\n\r\n",
    "bad-request-line": pick(b"GET\r\n\r\n", b"GET / HTTP/9.9\r\n\r\n",
                             b"\x00\xff / HTTP/1.1\r\n\r\n",
                             b"GET " + b"/a" * 40000 + b" HTTP/1.1\r\n\r\n"),
    "huge-body": lambda rng: http_request(
        b"POST", ADMIN_CHANGE, b"Content-Length: %d\r\n" % rng.choice((10**6, 2**40, 10**30)))
    + b"x" * rng.randrange(1 << 16),
    "other-methods": lambda rng: http_request(
        rng.choice((b"POST", b"PUT", b"DELETE", b"PATCH", b"OPTIONS", b"TRACE")), ADMIN_CHANGE,
        b"Content-Length: 0\r\n"),
    "origin": lambda rng: http_request(
        rng.choice((b"GET", b"HEAD")), ADMIN_CHANGE, b"Origin: http://evil.example\r\n"),
    "endless-headers": lambda rng: b"GET /info HTTP/1.1\r\n" + b"".join(
        b"X-Soak-%d: %s\r\n" % (i, b"h" * 64) for i in range(rng.randrange(100, 1000))),
    "bad-chunks": pick(http_request(b"POST", ADMIN_CHANGE, b"Transfer-Encoding: chunked\r\n")
                       + b"ffffffffffffffff\r\nabc\r\n", http_request(
                           b"POST", ADMIN_CHANGE, b"Transfer-Encoding: chunked\r\n") + b"zz\r\n"),
}

ATTACKS = {"client": CLIENT_ATTACKS, "peer": PEER_ATTACKS, "admin": ADMIN_ATTACKS}
PORT_WEIGHTS = {"client": 5, "peer": 3, "admin": 2}
STYLES = ("one-write", "write-per-frame", "drip", "reset-mid-request")


def port_of(member: ClusterNode, port: str) -> int:
    ports = {"client": member.client_port, "peer": member.peer_port, "admin": member.stats_port}
    return ports[port]


# -- one attacking connection -----------------------------------------------------------
class Outcome(NamedTuple):
    frames: int  # frames written whole
    closed: bool  # the node closed (or reset) the connection
    received: int  # bytes the node answered


def attack(port: int, frames: Sequence[bytes], style: str, prefix: bytes,
           rng: random.Random) -> Outcome:
    sent = received = 0
    with socket.create_connection((LOOPBACK, port), timeout=5) as sock:
        try:
            sock.sendall(prefix)
            if style == "one-write":
                sock.sendall(b"".join(frames))
                sent = len(frames)
            elif style == "reset-mid-request":
                data = b"".join(frames)
                sock.sendall(data[: rng.randrange(1, len(data))] if len(data) > 1 else data)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return Outcome(len(frames), False, 0)
            else:
                for frame in frames:
                    drip = frame[:200] if style == "drip" else b""
                    for i in range(len(drip)):
                        sock.sendall(drip[i : i + 1])
                        time.sleep(0.001)
                    sock.sendall(frame[len(drip):])
                    sent += 1
            sock.settimeout(0.3)  # read answers until the node closes or goes quiet
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                data = sock.recv(1 << 16)
                if not data:
                    return Outcome(sent, True, received)
                received += len(data)
        except socket.timeout:
            pass
        except OSError:
            return Outcome(sent, True, received)
    return Outcome(sent, False, received)


class Span:
    """One attacking connection's kind and when it began and ended."""

    __slots__ = ("begin", "end", "key")

    def __init__(self, key: Key, begin: float) -> None:
        self.key, self.begin = key, begin
        self.end: Optional[float] = None


class Tally:
    """What the attackers did, per (port, attack kind); decides when they stop."""

    def __init__(self, frames: int, connections: int, seconds: float) -> None:
        self.target = (frames, connections)
        self.deadline = time.monotonic() + seconds if seconds > 0 else None
        self.lock = threading.Lock()
        self.frames: Counter[Key] = Counter()
        self.connections: Counter[Key] = Counter()
        self.closed: Counter[Key] = Counter()
        self.answered: Counter[Key] = Counter()
        self.spans: Dict[str, Deque[Span]] = {}  # per node, its latest attacks

    def more(self) -> bool:
        if self.deadline is not None:
            return time.monotonic() < self.deadline
        with self.lock:
            frames, connections = sum(self.frames.values()), sum(self.connections.values())
        return frames < self.target[0] or connections < self.target[1]

    def begin(self, node: str, key: Key) -> Span:
        span = Span(key, time.monotonic())
        with self.lock:
            self.spans.setdefault(node, deque(maxlen=1000)).append(span)
        return span

    def record(self, span: Span, outcome: Outcome) -> None:
        key = span.key
        with self.lock:
            span.end = time.monotonic()
            self.frames[key] += outcome.frames
            self.connections[key] += 1
            self.closed[key] += outcome.closed
            self.answered[key] += outcome.received > 0

    def suspects(self, node: str, since: float, until: float) -> List[str]:
        """The attacks on ``node`` under way at some time between ``since`` and ``until``."""
        with self.lock:
            keys = {span.key for span in self.spans.get(node, ())
                    if span.begin < until and (span.end is None or span.end >= since)}
        return sorted(" ".join(key) for key in keys)


def attacker(nodes: List[ClusterNode], tally: Tally, password: str, rng: random.Random) -> None:
    ports = [p for p, w in PORT_WEIGHTS.items() for _ in range(w)]
    while tally.more():
        port = rng.choice(ports)
        kind = rng.choice(sorted(ATTACKS[port]))
        style = rng.choice(STYLES)
        generate = ATTACKS[port][kind]
        frames = [generate(rng) for _ in range(rng.randint(1, 3 if style == "drip" else 40))]
        # half the client-port attackers are authenticated: both sides of AUTH get tried
        authenticate = bool(port == "client" and password and rng.random() < 0.5)
        prefix = b"".join(auth(password)) if authenticate else b""
        member = rng.choice(nodes)
        span = tally.begin(member.name, (port, kind + (" +AUTH" if authenticate else "")))
        try:
            outcome = attack(port_of(member, port), frames, style, prefix, rng)
        except OSError:  # refused or timed out connecting: nothing was sent
            outcome = Outcome(0, True, 0)
        tally.record(span, outcome)


# -- well-behaved clients ---------------------------------------------------------------
class ConnectionLost(Exception):
    pass


def read_replies(sock: socket.socket, framer: ReplyFramer, pending: List[bytes],
                 count: int) -> List[bytes]:
    """The next ``count`` replies; ``pending`` keeps those that came early."""
    while len(pending) < count:
        data = sock.recv(1 << 16)
        if not data:
            raise ConnectionLost("closed by the server")
        pending.extend(framer.feed(data))
    replies = pending[:count]
    del pending[:count]
    return replies


def call(port: int, *requests: bytes) -> bytes:
    """Send ``requests`` on a new connection; the last one's reply."""
    with socket.create_connection((LOOPBACK, port), timeout=CHECK_TIMEOUT) as sock:
        sock.sendall(b"".join(requests))
        return read_replies(sock, ReplyFramer(), [], len(requests))[-1]


class GoodClient(threading.Thread):
    """Pipelines SET/GET/INCR/MGET/DEL of its own keys through one node; checks each reply."""

    def __init__(self, index: int, member: ClusterNode, password: str, resp3: bool,
                 depth: int, stop: threading.Event) -> None:
        super().__init__(name="good-%d" % index, daemon=True)
        self.index, self.member, self.password, self.resp3 = index, member, password, resp3
        self.depth, self.stop = depth, stop
        self.rng = random.Random(index)
        self.checked = self.wrong = self.lost = 0
        self.errors: Counter[bytes] = Counter()  # error replies
        self.losses: Counter[str] = Counter()  # connections closed or silent
        self.wrong_examples: List[Tuple[bytes, bytes, bytes]] = []
        self.sessions = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.sessions += 1
            try:
                with socket.create_connection((LOOPBACK, self.member.client_port), 20) as sock:
                    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    self.session(sock, ReplyFramer())
            except (OSError, ConnectionLost) as error:
                self.lost += 1
                self.losses["%s: %s" % (self.member.name, error)] += 1
                time.sleep(0.2)

    def session(self, sock: socket.socket, framer: ReplyFramer) -> None:
        pending: List[bytes] = []

        def exchange(requests: Sequence[bytes]) -> List[bytes]:
            sock.sendall(b"".join(requests))
            return read_replies(sock, framer, pending, len(requests))

        setup = auth(self.password) + ([cmd("HELLO", "3")] if self.resp3 else [])
        exchange(setup)  # checked by the requests that follow
        counter_key = b"soak:good:%d:counter:%d" % (self.index, self.sessions)
        count, round_no = 0, 0
        while not self.stop.is_set():
            pairs: List[Tuple[bytes, bytes]] = []
            for _ in range(self.depth):
                round_no += 1
                count += 1
                pairs += self.round(round_no, counter_key, count)
            replies = exchange([request for request, _ in pairs])
            if self.check(pairs, replies):
                return  # a wrong reply: this stream can no longer be trusted

    def round(self, n: int, counter_key: bytes, count: int) -> List[Tuple[bytes, bytes]]:
        tag = b"%d.%d.%d." % (self.index, self.sessions, n)
        key, missing = b"soak:good:" + tag, b"soak:good:%d:none" % self.index
        value = (tag * (1 + self.rng.randrange(3000) // len(tag)))[: self.rng.randrange(1, 3000)]
        null = b"_\r\n" if self.resp3 else b"$-1\r\n"
        return [
            (cmd(b"SET", key, value), b"+OK\r\n"),
            (cmd(b"GET", key), bulk(value)),
            (cmd(b"INCR", counter_key), b":%d\r\n" % count),
            (cmd(b"MGET", key, missing), b"*2\r\n" + bulk(value) + null),
            (cmd(b"DEL", key), b":1\r\n"),
            (cmd(b"GET", key), null),
        ]

    def check(self, pairs: List[Tuple[bytes, bytes]], replies: List[bytes]) -> bool:
        wrong = False
        for (request, expected), reply in zip(pairs, replies):
            self.checked += 1
            if reply == expected:
                continue
            if reply[:1] in (b"-", b"!"):
                self.errors[reply[:100]] += 1
                continue
            self.wrong += 1
            wrong = True
            if len(self.wrong_examples) < 5:
                self.wrong_examples.append((request[:80], expected[:80], reply[:80]))
        return wrong


# -- the cluster and its checks -----------------------------------------------------------
def redis_call(port: int, *args: Union[bytes, str]) -> bytes:
    return call(port, cmd(*args))


def node_call(member: ClusterNode, password: str, *args: Union[bytes, str]) -> bytes:
    """One request through ``member``'s client port, after AUTH when there is a password."""
    return call(member.client_port, *auth(password), cmd(*args))


def wait_serving(cluster: Cluster, password: str, timeout: float = 60.0) -> None:
    """Until each node writes, through its client port, to every node of its rack."""
    deadline = time.monotonic() + timeout
    for member in cluster.nodes:
        for owner in cluster.rack_nodes(member.dc, member.rack):
            key = cluster.key_owned_by(owner, "soak:probe:%s" % member.name)
            while node_call(member, password, "SET", key, "1") != b"+OK\r\n":
                if time.monotonic() > deadline:
                    raise RuntimeError("%s cannot write to %s" % (member.name, owner.name))
                time.sleep(0.2)


def datastore_problems(member: ClusterNode) -> List[str]:
    try:
        policy = redis_call(member.redis_port, "CONFIG", "GET", "maxmemory-policy")
        problems = [] if b"noeviction" in policy else ["maxmemory-policy changed: %r" % policy]
        if redis_call(member.redis_port, "EXISTS", CANARY) != b":1\r\n":
            problems.append("canary gone (a flush ran)")
        if redis_call(member.redis_port, "EXISTS", PWNED) != b":0\r\n":
            problems.append("%s was written" % PWNED.decode())
        return problems
    except (OSError, ConnectionLost) as error:
        return ["redis-server unreachable: %s" % error]


def node_settings(member: ClusterNode) -> Optional[Tuple[str, ...]]:
    """What the admin port says of the node's state, consistency and timeout factor."""
    bodies = []
    for path in ("/state/get_state", "/get_consistency", "/get_timeout_factor"):
        connection = http.client.HTTPConnection(LOOPBACK, member.stats_port, timeout=CHECK_TIMEOUT)
        try:
            connection.request("GET", path)
            bodies.append(" ".join(connection.getresponse().read().decode("latin-1").split()))
        except OSError:
            return None
        finally:
            connection.close()
    return tuple(bodies)


def rss_kb(pid: int) -> Optional[int]:
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def alive(member: ClusterNode, password: str) -> str:
    if not member.node.running:
        process = member.node.process
        return "CRASHED (exit %s)" % (process.poll() if process else None)
    try:
        reply = node_call(member, password, "PING")
    except (OSError, ConnectionLost) as error:
        return "runs, no answer: %s" % error
    return "yes" if reply == b"+PONG\r\n" else "runs, PING -> %r" % reply[:60]


# -- running and reporting -----------------------------------------------------------------
class Watch(threading.Thread):
    """Pings one node four times a second; notes when it first leaves a PING unanswered (for
    ``CHECK_TIMEOUT`` seconds), and which attacks on it were under way between the last
    answered PING and that one."""

    def __init__(self, member: ClusterNode, password: str, tally: Tally, started: float,
                 stop: threading.Event) -> None:
        super().__init__(name="watch-%s" % member.name, daemon=True)
        self.member, self.password, self.tally, self.stop = member, password, tally, stop
        self.started = started
        self.stalled: Optional[Tuple[float, str]] = None  # when, and the attacks just before

    def run(self) -> None:
        answered = self.started
        while self.stalled is None and not self.stop.wait(0.25):
            asked = time.monotonic()
            if alive(self.member, self.password) == "yes":
                answered = asked
            else:
                suspects = self.tally.suspects(self.member.name, answered, asked)
                self.stalled = (asked - self.started, ", ".join(suspects) or "none")


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [list(header)] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells)


def megabytes(kb: Optional[int]) -> str:
    return "-" if kb is None else "%.1f MB" % (kb / 1024)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0,
                        help="run this long instead of up to --frames/--connections")
    parser.add_argument("--frames", type=int, default=10000, help="hostile frames to send")
    parser.add_argument("--connections", type=int, default=100, help="at least this many")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--workdir", help="where the cluster's configs and logs go")
    parser.add_argument("--racks", type=int, default=3)
    parser.add_argument("--nodes-per-rack", type=int, default=1)
    parser.add_argument("--attackers", type=int, default=4, help="attacking threads")
    parser.add_argument("--good-clients", type=int, default=6)
    parser.add_argument("--pipeline", type=int, default=8, help="rounds of 6 requests per write")
    parser.add_argument("--requirepass", default="soak-secret", help="'' for no password")
    parser.add_argument("--pure-python", action="store_true", help="nodes without hiredis")
    args = parser.parse_args()
    workdir = args.workdir or tempfile.mkdtemp(prefix="dynotwist-soak-")
    if args.pure_python:
        os.environ["DYNOTWIST_PURE_PYTHON"] = "1"
    password = args.requirepass
    cluster = Cluster(workdir, 1, args.racks, args.nodes_per_rack,
                      extra_fields={"requirepass": password} if password else None)
    print("cluster in %s (logs kept there)" % workdir, flush=True)
    try:
        cluster.start(connected=False)
        wait_serving(cluster, password)
        return soak(cluster.nodes, args, password)
    finally:
        cluster.stop()


def soak(nodes: List[ClusterNode], args: argparse.Namespace, password: str) -> int:
    for member in nodes:
        redis_call(member.redis_port, "CONFIG", "SET", "maxmemory-policy", "noeviction")
        redis_call(member.redis_port, "SET", CANARY, "alive")
        redis_call(member.redis_port, "DEL", PWNED)
    settings = {m.name: node_settings(m) for m in nodes}
    rss = {m.name: rss_kb(m.node.pid) for m in nodes}
    stop = threading.Event()
    tally = Tally(args.frames, args.connections, args.seconds)
    good = [GoodClient(i, nodes[i % len(nodes)], password, i % 2 == 1, args.pipeline, stop)
            for i in range(args.good_clients)]
    started = time.monotonic()
    watches = [Watch(member, password, tally, started, stop) for member in nodes]
    attackers = [
        threading.Thread(target=attacker, daemon=True,
                         args=(nodes, tally, password, random.Random(args.seed * 1000 + i)))
        for i in range(args.attackers)
    ]
    for thread in [*watches, *good, *attackers]:
        thread.start()
    for thread in attackers:
        thread.join()
    stop.set()
    for thread in [*watches, *good]:
        thread.join(60)
    report_attacks(tally, time.monotonic() - started)
    stalled = {w.member.name: w.stalled for w in watches if w.stalled is not None}
    failures = check_nodes(nodes, password, settings, rss, stalled)
    failures += report_clients(good)
    print("\n" + ("FAILED:\n  " + "\n  ".join(failures) if failures else "OK"))
    return 1 if failures else 0


def report_attacks(tally: Tally, elapsed: float) -> None:
    print("\n%.0f s; attacks per kind (closed: the node closed the connection; answered: it"
          " sent something):" % elapsed)
    keys = sorted(tally.connections)
    print(table(("port", "attack", "connections", "frames", "closed", "answered"), [
        (p, k, tally.connections[p, k], tally.frames[p, k], tally.closed[p, k],
         tally.answered[p, k]) for p, k in keys]))
    print("\nframes sent per port:")
    print(table(("port", "frames", "connections"), [
        (port, sum(tally.frames[k] for k in keys if k[0] == port),
         sum(tally.connections[k] for k in keys if k[0] == port)) for port in ATTACKS]
        + [("total", sum(tally.frames.values()), sum(tally.connections.values()))]))


def check_nodes(nodes: List[ClusterNode], password: str,
                settings: Dict[str, Optional[Tuple[str, ...]]],
                rss: Dict[str, Optional[int]], stalled: Dict[str, Tuple[float, str]]) -> List[str]:
    """Print each node's health, datastore and settings; what failed."""
    failures, rows = [], []
    for member in nodes:
        state = alive(member, password)
        problems = datastore_problems(member)
        now = node_settings(member) if member.node.running else None
        before = settings[member.name] or ()
        problems += ["settings changed: %s -> %s" % (old, new)
                     for old, new in zip(before, now or ()) if old != new]
        health = [] if state == "yes" else [state]
        if member.name in stalled:
            health.append("PING unanswered at %.0f s; attacks on it since its last PONG: %s"
                          % stalled[member.name])
        failures += ["%s: %s" % (member.name, p) for p in health + problems]
        unread = [] if now is not None else ["settings unreadable"]
        when = "at %.0f s" % stalled[member.name][0] if member.name in stalled else "-"
        rows.append((member.name, state, when, megabytes(rss[member.name]),
                     megabytes(rss_kb(member.node.pid) if member.node.running else None),
                     "; ".join(problems + unread) or "untouched"))
    print("\nnodes:")
    print(table(("node", "alive", "stalled", "RSS before", "RSS after", "datastore, settings"),
                rows))
    return failures


def report_clients(good: List[GoodClient]) -> List[str]:
    checked, wrong, lost = (sum(getattr(c, a) for c in good) for a in ("checked", "wrong", "lost"))
    errors: Counter[bytes] = sum((c.errors for c in good), Counter())
    losses: Counter[str] = sum((c.losses for c in good), Counter())
    print("\nwell-behaved clients: %d, %d requests checked, %d wrong replies, %d error replies,"
          " %d connections lost" % (len(good), checked, wrong, sum(errors.values()), lost))
    for reply, count in errors.most_common(10):
        print("  error reply %6d x %r" % (count, reply))
    for reason, count in losses.most_common(10):
        print("  lost        %6d x %s" % (count, reason))
    for client in good:
        for request, expected, reply in client.wrong_examples:
            print("  WRONG %s: %r expected %r got %r" % (client.name, request, expected, reply))
    failures = ["%d wrong replies to well-behaved clients" % wrong] if wrong else []
    return failures + (["%d well-behaved connections lost" % lost] if lost else [])


if __name__ == "__main__":
    sys.exit(main())

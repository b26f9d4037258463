"""The memcached codec against real memcached processes and a real node.

- Each recorded vector (tests/vectors/memcache-requests.txt) gets exactly the recorded
  bytes from memcached itself and from a dynotwist node in front of another memcached
  (its parser, its fenced relay on the shared datastore connection, its framer).
- Seeded pipelines of every request kind, in pieces: the node's bytes are memcached's.
- The reply framer on what memcached sends; fragments of a get merged as the whole get.
- Values over the size limit, long lines and a long key: refused alike, or as the
  deliberate difference says.

Nodes run in the test's reactor (``dynotwist.testing.start_node``); clients are raw
connections, since the bytes are the point.
"""

from __future__ import annotations

import base64
import contextlib
import random
import time
from typing import Any, Generator, List

from twisted.internet import defer, task
from twisted.trial import unittest

from dynotwist.proto.memcache import (
    BAD_FORMAT,
    END,
    ERROR,
    EXPECT_FENCED,
    EXPECT_LINE,
    EXPECT_VALUES,
    MAX_LINE,
    TOO_LARGE,
    MemcacheReplyFramer,
    MemcacheRequest,
    merge_get_replies,
)
from dynotwist.testing import RunningNode, start_memcached, start_node
from dynotwist.testing.processes import MemcachedServer
from tests.support.chunks import pieces
from tests.support.fixtures import started, workdir
from tests.support.memcache import PROBE, TAIL, parse, requests_only
from tests.support.raw import connect, connect_raw, exchange, read_until
from tests.support.vectors import KiB, MiB, load_memcache_vectors

MEMCACHED_ARGS = ("-m", "64", "-t", "2")
QUIT = b"quit\r\n"

# the node refuses flush_all, a deliberate difference from memcached: the value stays
FLUSH_REFUSED = (
    b"SERVER_ERROR flush_all is not available through a Dynomite cluster: "
    b"flush each memcached\r\n"
)
THROUGH_THE_NODE = {
    "flush_all": b"STORED\r\n" + FLUSH_REFUSED + b"VALUE fl1 0 1\r\na\r\nEND\r\nMN\r\n",
    "flush_all-zero-extra": (
        b"STORED\r\n" + FLUSH_REFUSED + b"VALUE fl2 0 1\r\na\r\nEND\r\nMN\r\n"
    ),
}


class NodeTestCase(unittest.TestCase):
    """Memcached processes, and nodes in front of them in the test's reactor."""

    def memcached(self) -> defer.Deferred[MemcachedServer]:
        return start_memcached(self, extra_args=MEMCACHED_ARGS)

    @defer.inlineCallbacks
    def node(self, server: MemcachedServer) -> Generator[defer.Deferred[Any], Any, RunningNode]:
        node = yield start_node(self, datastore="memcached", datastore_port=server.port)
        return node

    @defer.inlineCallbacks
    def serve(self, node: RunningNode, chunks: List[bytes]
              ) -> Generator[defer.Deferred[Any], Any, bytes]:
        """What a client sending ``chunks``, one per reactor turn, reads until the node
        closes the connection (the chunks end with what closes it)."""
        connection = yield connect_raw(self, node.client_port)
        for chunk in chunks:
            connection.write(chunk)
            yield task.deferLater(node.reactor, 0, lambda: None)
        received = yield connection.closed
        return received


class RecordedVectorTests(NodeTestCase):
    @defer.inlineCallbacks
    def test_memcached_and_node_give_the_recorded_replies(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        """Real memcached answers each vector with the recorded bytes, and so does a
        node relaying to another memcached over one shared, fenced connection (but
        for flush_all, which it refuses)."""
        direct = yield self.memcached()
        node = yield self.node((yield self.memcached()))
        vectors = load_memcache_vectors()
        for name, request, recorded in vectors:
            got = yield exchange(self, direct.port, request + PROBE + QUIT)
            self.assertEqual(got, recorded, "memcached itself, %s" % name)
            # closed by the error that closes, or by quit
            served = yield self.serve(node, [request + TAIL])
            self.assertEqual(served, THROUGH_THE_NODE.get(name, recorded),
                             "through the node, %s" % name)
        # the vectors hold every request kind, noreply and quiet ones included
        relayed = [item for _, request, _ in vectors for item in parse([request])
                   if isinstance(item, MemcacheRequest) and not item.local]
        commands = {request.command for request in relayed}
        self.assertTrue({b"set", b"cas", b"gat", b"mg", b"ms", b"md", b"ma", b"me"} <= commands)
        self.assertTrue(any(r.noreply for r in relayed))
        self.assertTrue(any(r.quiet for r in relayed))


def seeded_pipeline(seed: int, count: int) -> bytes:
    """Valid requests of every kind on a few keys (no time-dependent flags)."""
    rnd = random.Random(seed)
    keys = [b"d%d" % i for i in range(12)] + [b"n%d" % i for i in range(4)]

    def key() -> bytes:
        return rnd.choice(keys)

    def value() -> bytes:
        size = rnd.choice([0, 1, 5, 100, 3000, 200 * KiB])
        return bytes(rnd.getrandbits(8) for _ in range(min(size, 64))) * max(1, size // 64)

    def noreply() -> bytes:
        return b" noreply" if rnd.random() < 0.3 else b""

    out: List[bytes] = []
    for _ in range(count):
        kind = rnd.randrange(16)
        if kind < 3:
            command = rnd.choice([b"set", b"add", b"replace", b"append", b"prepend"])
            v = value()
            out.append(
                b"%s %s %d 0 %d%s\r\n%s\r\n"
                % (command, key(), rnd.randrange(99), len(v), noreply(), v)
            )
        elif kind == 3:
            out.append(
                b"set %s 0 0 %d%s\r\n%d\r\n"
                % (rnd.choice(keys[-4:]), 3, noreply(), rnd.randrange(100, 999))
            )
        elif kind == 4:
            command = rnd.choice([b"get", b"gets", b"gat 0", b"gats 0", b"bget"])
            out.append(
                command + b" " + b" ".join(key() for _ in range(rnd.randrange(1, 25))) + b"\r\n"
            )
        elif kind == 5:
            out.append(b"cas %s 0 0 1 %d%s\r\nc\r\n" % (key(), rnd.randrange(1, 400), noreply()))
        elif kind == 6:
            command = rnd.choice([b"incr", b"decr"])
            out.append(
                b"%s %s %d%s\r\n" % (command, rnd.choice(keys), rnd.randrange(50), noreply())
            )
        elif kind == 7:
            out.append(b"delete %s%s\r\n" % (key(), noreply()))
        elif kind == 8:
            out.append(b"touch %s 0%s\r\n" % (key(), noreply()))
        elif kind == 9:
            flags = rnd.sample(
                [b"v", b"f", b"s", b"k", b"c", b"q", b"h", b"O7", b"T0", b"b"], rnd.randrange(6)
            )
            k = key()
            if b"b" in flags:
                k = base64.b64encode(k)
            out.append(b"mg %s %s\r\n" % (k, b" ".join(flags)))
        elif kind in (10, 11):
            v = value()
            flags = rnd.sample(
                [b"T0", b"F9", b"q", b"k", b"c", b"O1", b"I", b"MA", b"ME", b"MR", b"C1"],
                rnd.randrange(4),
            )
            if b"MA" in flags and b"ME" in flags:
                flags.remove(b"ME")
            if b"MR" in flags and (b"MA" in flags or b"ME" in flags):
                flags.remove(b"MR")
            out.append(b"ms %s %d %s\r\n%s\r\n" % (key(), len(v), b" ".join(flags), v))
        elif kind == 12:
            out.append(
                b"md %s %s\r\n"
                % (key(), b" ".join(rnd.sample([b"q", b"k", b"O3", b"I"], rnd.randrange(3))))
            )
        elif kind == 13:
            flags = rnd.sample(
                [b"q", b"v", b"N0", b"J5", b"D3", b"MD", b"k", b"c"], rnd.randrange(5)
            )
            out.append(b"ma %s %s\r\n" % (rnd.choice(keys), b" ".join(flags)))
        elif kind == 14:
            out.append(
                rnd.choice(
                    [b"mn\r\n", b"verbosity 0\r\n", b"verbosity 0 noreply\r\n", b"me zz\r\n"]
                )
            )
        else:  # a malformed request now and then
            out.append(
                rnd.choice(
                    [
                        b"bogus\r\n",
                        b"set x 0 0 -1\r\n",
                        b"incr x y\r\n",
                        b"mg x v v\r\n",
                        b"ms x 1 z\r\nq\r\n",
                    ]
                )
            )
    return b"".join(out)


class DifferentialTests(NodeTestCase):
    @defer.inlineCallbacks
    def test_seeded_pipelines(self) -> Generator[defer.Deferred[Any], Any, None]:
        """The node's replies, one per request through the shared fenced connection,
        are byte for byte memcached's own, whatever the pieces of the client's bytes."""
        direct = yield self.memcached()
        node = yield self.node((yield self.memcached()))
        relayed: List[MemcacheRequest] = []
        for seed in range(4):
            data = seeded_pipeline(seed, 250)
            relayed += [item for item in parse([data]) if isinstance(item, MemcacheRequest)]
            rnd = random.Random(seed)
            chunks = pieces(data + TAIL, [rnd.randrange(len(data)) for _ in range(200)])
            served = yield self.serve(node, chunks)
            mine = yield exchange(self, direct.port, data + PROBE + QUIT)
            self.assertTrue(mine.endswith(b"MN\r\n"))
            self.assertEqual(served, mine, "seed %d" % seed)
        self.assertGreater(len([r for r in relayed if r.noreply]), 50)
        self.assertTrue(any(r.quiet for r in relayed))


class SizeTests(NodeTestCase):
    @defer.inlineCallbacks
    def test_memcached_refuses_too_large_alike(self) -> Generator[defer.Deferred[Any], Any, None]:
        server = yield self.memcached()
        node = yield self.node(server)
        value = b"v" * (2 * MiB)
        for request, shown in [
            (b"set big 0 0 %d\r\n%s\r\nget big\r\n" % (len(value), value), True),
            (b"set big 0 0 %d noreply\r\n%s\r\nget big\r\n" % (len(value), value), False),
            (b"ms big %d q T0\r\n%s\r\nmg big v\r\n" % (len(value), value), True),
            # the block is skipped by its length, whatever it holds
            (b"set big 0 0 %d\r\n%sXY\r\n" % (len(value), value), True),
            # at our limit but above memcached's (its item header counts): its own error
            (b"set big 0 0 %d\r\n%s\r\n" % (MiB, b"w" * MiB), True),
        ]:
            direct = yield exchange(self, server.port, request + PROBE + QUIT)
            self.assertEqual((yield self.serve(node, [request + TAIL])), direct)
            self.assertEqual(TOO_LARGE in direct, shown)
            self.assertTrue(direct.endswith(b"MN\r\n"))

    def test_long_lines_in_memcached(self) -> None:
        """memcached closes as the parser does when the line arrives in pieces."""
        server = started(self, MemcachedServer(workdir(self), extra_args=MEMCACHED_ARGS))
        for line, closes in [
            (b"x" * (MAX_LINE + 1), True),
            (b"gat 1 " + b"k " * MAX_LINE, True),
            (b" " * 101 + b"get " + b"k " * MAX_LINE, True),
            (b" " * 100 + b"get " + b"k " * MAX_LINE, False),
            (b"gets " + b"k " * MAX_LINE, False),
        ]:
            with connect(server.port) as conn:
                conn.sendall(line)
                time.sleep(0.2)  # memcached reads the line without its newline
                with contextlib.suppress(OSError):
                    conn.sendall(b"\r\n" + TAIL)
                received = read_until(conn)
            self.assertEqual(received.endswith(b"MN\r\n"), not closes, line[:20])
            if not closes:
                self.assertEqual(received, b"END\r\nMN\r\n")


def framed(server: MemcachedServer, data: bytes, kinds: List[int]) -> List[bytes]:
    """``data`` sent to ``server``; its replies, framed as the node frames them."""
    framer = MemcacheReplyFramer()
    for kind in kinds:
        framer.expect(kind)
    replies: List[bytes] = []
    with connect(server.port) as conn:
        conn.sendall(data)
        while len(replies) < len(kinds):
            replies.extend(framer.feed(conn.recv(64 * KiB)))
    return replies


class FramerTests(unittest.TestCase):
    def test_replies_of_a_real_memcached(self) -> None:
        """Every request kind, pipelined in one write: one reply each, fences removed."""
        server = started(self, MemcachedServer(workdir(self), extra_args=MEMCACHED_ARGS))
        requests = [
            b"set a 0 0 2\r\nhi\r\n",
            b"set n 0 0 1 noreply\r\n5\r\n",
            b"get a n zz a\r\n",
            b"gets zz\r\n",
            b"gat 0 a\r\n",
            b"mg a v f s k c q\r\n",
            b"mg zz v q\r\n",
            b"mg a\r\n",
            b"ma n v D5\r\n",
            b"ma n q\r\n",
            b"md zz q\r\n",
            b"ms a 3 q MA\r\n!!!\r\n",
            b"ms zz 1 q MR\r\nx\r\n",
            b"me a\r\n",
            b"stats\r\n",
            b"stats reset\r\n",
            b"stats detail\r\n",
            b"stats detail dump\r\n",
            b"stats nonsense\r\n",
            b"version\r\n",
            b"incr n 1 noreply\r\n",
            b"get n\r\n",
        ]
        parsed = requests_only(parse(requests))
        self.assertEqual(len(parsed), len(requests))
        replies = framed(server, b"".join(r.raw_with_fence for r in parsed),
                         [r.expect for r in parsed])
        self.assertEqual(len(replies), len(parsed))
        by_request = dict(zip(requests, replies))
        self.assertEqual(by_request[b"set n 0 0 1 noreply\r\n5\r\n"], b"")
        self.assertEqual(by_request[b"get a n zz a\r\n"][-5:], END)
        self.assertTrue(by_request[b"mg a v f s k c q\r\n"].startswith(b"VA 2 f0 s2 ka c"))
        self.assertEqual(by_request[b"mg zz v q\r\n"], b"")
        self.assertEqual(by_request[b"ma n v D5\r\n"], b"VA 2\r\n10\r\n")
        self.assertEqual(by_request[b"ma n q\r\n"], b"")
        self.assertEqual(by_request[b"md zz q\r\n"], b"NF\r\n")
        self.assertEqual(by_request[b"ms a 3 q MA\r\n!!!\r\n"], b"")
        self.assertEqual(by_request[b"ms zz 1 q MR\r\nx\r\n"], b"NS\r\n")
        self.assertTrue(by_request[b"stats\r\n"].startswith(b"STAT pid "))
        self.assertTrue(by_request[b"stats\r\n"].endswith(b"\r\nEND\r\n"))
        self.assertEqual(by_request[b"stats reset\r\n"], b"RESET\r\n")
        self.assertTrue(by_request[b"stats detail\r\n"].startswith(b"CLIENT_ERROR usage"))
        self.assertEqual(by_request[b"stats nonsense\r\n"], ERROR)
        self.assertEqual(by_request[b"incr n 1 noreply\r\n"], b"")
        self.assertEqual(by_request[b"get n\r\n"], b"VALUE n 0 2\r\n12\r\nEND\r\n")


class MergeTests(unittest.TestCase):
    def test_fragments_of_a_real_get(self) -> None:
        """A get split into fragments by some owner function, each sent with its
        ``with_keys`` line: merged, the same bytes as the whole get."""
        server = started(self, MemcachedServer(workdir(self), extra_args=MEMCACHED_ARGS))
        keys = [b"key:%d" % i for i in range(40)]
        setup = b"".join(
            b"set %s %d 0 %d noreply\r\n%s\r\n" % (k, i, len(k) * (i % 3), k * (i % 3))
            for i, k in enumerate(keys)
            if i % 4
        )
        asked = keys + keys[:5]
        line = b"gets " + b" ".join(asked) + b"\r\n"
        (request,) = requests_only(parse([line]))

        def owner_of(key: bytes) -> int:
            return int(key.split(b":")[1]) % 3

        fragments = [request.with_keys([k for k in asked if owner_of(k) == n]) for n in range(3)]
        kinds = [EXPECT_LINE | EXPECT_FENCED] + [EXPECT_VALUES] * (len(fragments) + 1)
        replies = framed(server, setup + b"mn\r\n" + b"".join(fragments) + line, kinds)
        self.assertEqual(replies[0], b"")  # the setup's replies, up to the fence
        self.assertEqual(merge_get_replies(replies[1:-1], request.keys), replies[-1])


class DifferenceTests(NodeTestCase):
    @defer.inlineCallbacks
    def test_memcached_drops_earlier_replies_on_a_long_key(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        """memcached 1.6.18 discards the unsent replies of the earlier pipelined
        requests with a get whose key is too long; the parser refuses that get before
        it reaches memcached, so the node keeps them."""
        server = yield self.memcached()
        data = b"set dk 0 0 1\r\nx\r\nget dk " + b"k" * 251 + b"\r\n"
        self.assertEqual((yield exchange(self, server.port, data + PROBE + QUIT)),
                         BAD_FORMAT + b"MN\r\n")
        node = yield self.node(server)
        self.assertEqual((yield self.serve(node, [data + TAIL])),
                         b"STORED\r\n" + BAD_FORMAT + b"MN\r\n")

"""Memcached mode (``data_store: 1``) against real memcached processes.

- A seeded differential run: the same operations (pymemcache calls and raw text and
  meta requests) sent through a dynotwist node and straight to a reference memcached
  give the same results; raw requests are compared byte for byte. Cas unique numbers
  differ between two memcached processes, so cas operations compare success or
  failure, and ``gets`` results their values. Through a single node, and through node
  1 of a 1 DC x 3 racks cluster, after which the values written are on every rack's
  memcached.
- A multi-key get over keys owned by different nodes (3 racks x 2 nodes per rack):
  every value, VALUE blocks in key order under one END, as memcached answers.
- memcached SIGKILLed under traffic (a node in the test's reactor, Twisted's memcached
  client): every reply is a normal one or the node's
  ``SERVER_ERROR Storage: Datastore refused connection``; once memcached is back on
  the same port, traffic is served again through the same node.
- Errors leave the connection usable: unknown commands, ``flush_all`` (refused by the
  node), a value over ``item_size_max``.

Set DYNOTWIST_DIFF_SEED to replay another sequence.
"""

from __future__ import annotations

import base64
import os
import random
import re
import socket
from typing import Any, Callable, Dict, Generator, List, Sequence, Tuple

from pymemcache.client.base import Client
from pymemcache.exceptions import (
    MemcacheClientError,
    MemcacheIllegalInputError,
    MemcacheServerError,
    MemcacheUnknownCommandError,
    MemcacheUnknownError,
)
from twisted.internet import defer
from twisted.protocols.memcache import ServerError
from twisted.trial import unittest

from dynotwist.testing import connect_memcache, start_memcached, start_node
from dynotwist.testing.blocking import SOCKET_TIMEOUT, memcache_call
from dynotwist.testing.cluster import Cluster
from dynotwist.testing.processes import MemcachedServer, NodeProcess
from tests.support.fixtures import Processes, ProcessTestCase
from tests.support.traffic import (
    REFUSED,
    MemcachePairs,
    Traffic,
    through_a_datastore_restart,
)
from tests.support.waiting import wait_until

SEED = int(os.environ.get("DYNOTWIST_DIFF_SEED", "20240611"))
OPERATIONS_PER_RUN = 3500
KEYS_PER_RUN = 24
CAS_KEYS_PER_RUN = 4
EXPIRY = 3600  # seconds: nothing expires during a run
RECOVERY_WAIT = 20.0
# Without its background LRU threads, memcached answers alike whenever a request comes:
# they hold item references for a moment, and an incr/decr whose result is shorter than
# the value rewrites the item in place (padded with spaces) only when nobody else holds
# it, so two memcached processes could otherwise store "593" and "593<17 spaces>".
DETERMINISTIC = ("-o", "no_lru_crawler,no_lru_maintainer")

FLUSH_REFUSED = (
    b"SERVER_ERROR flush_all is not available through a Dynomite cluster: "
    b"flush each memcached\r\n"
)
TOO_LARGE = b"SERVER_ERROR object too large for cache\r\n"

# pymemcache's exceptions for replies the server sent (compared by type and text)
SERVER_REPLIES = (
    MemcacheClientError,
    MemcacheIllegalInputError,
    MemcacheServerError,
    MemcacheUnknownCommandError,
    MemcacheUnknownError,
)

# lower-case letters and digits only: a value never ends in "MN", the fence reply
VALUES = ["", "a", "b", "hello", "world", "0", "1", "12", "42", "007", "99999",
          "18446744073709551615", "xyzzy" * 6, "spaced value", "z" * 300]


def memcache_node(processes: Processes, backend: MemcachedServer, name: str = "node",
                  **extra: object) -> NodeProcess:
    return processes.node(backend.port, name=name, data_store=1, **extra)


def pymemcache_client(port: int) -> Client:
    return Client(("127.0.0.1", port), timeout=SOCKET_TIMEOUT, connect_timeout=5.0,
                  no_delay=True, default_noreply=False)


class RawClient:
    """Raw memcached text requests; each followed by ``mn``, the reply being everything
    the server sends before ``MN``: exactly the bytes it sent for the request."""

    def __init__(self, port: int, timeout: float = SOCKET_TIMEOUT) -> None:
        self.port = port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def call(self, data: bytes) -> bytes:
        self.sock.sendall(data + b"mn\r\n")
        buffer = b""
        while not buffer.endswith(b"MN\r\n"):
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionResetError("port %d closed the connection" % self.port)
            buffer += chunk
        return buffer[:-4]

    def close(self) -> None:
        self.sock.close()


class Side:
    """One end of the comparison: a pymemcache client and a raw connection to one port."""

    def __init__(self, port: int) -> None:
        self.mc = pymemcache_client(port)
        self.raw = RawClient(port)

    def close(self) -> None:
        self.mc.close()
        self.raw.close()


Operation = Tuple[str, Callable[[Side], Any]]


def outcome(function: Callable[[], Any]) -> Any:
    """What a pymemcache call gave: its result, or the server's error as a value."""
    try:
        return function()
    except SERVER_REPLIES as error:
        return ("error", type(error).__name__, str(error))


class OperationGenerator:
    """A reproducible sequence of operations over a small key space."""

    def __init__(self, seed: int, prefix: str) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.keys = ["%s:k%d" % (prefix, i) for i in range(KEYS_PER_RUN)]
        # cas succeeds or fails on each memcached by its own cas numbers: a replica
        # running a relayed cas may decide otherwise, so these keys are kept apart
        self.cas_keys = ["%s:cas%d" % (prefix, i) for i in range(CAS_KEYS_PER_RUN)]
        self.families: List[Tuple[int, Callable[[], Operation]]] = [
            (16, self.storage), (14, self.read), (4, self.cas), (6, self.counter),
            (5, self.delete), (4, self.touch), (6, self.noreply), (6, self.raw_classic),
            (8, self.meta_get), (7, self.meta_set), (3, self.meta_delete),
            (5, self.meta_arithmetic), (2, self.quiet_meta),
        ]
        self.total = sum(weight for weight, _ in self.families)

    def pick(self, seq: Sequence[Any]) -> Any:
        return seq[self.rng.randrange(len(seq))]

    def key(self) -> str:
        return str(self.pick(self.keys))

    def value(self) -> str:
        return str(self.pick(VALUES))

    def flags(self) -> int:
        return int(self.pick([0, 0, 0, 1, 7, 65535, 4294967295]))

    def operations(self, count: int) -> List[Operation]:
        out = []
        for _ in range(count):
            choice = self.rng.randrange(self.total)
            for weight, family in self.families:
                if choice < weight:
                    out.append(family())
                    break
                choice -= weight
        return out

    # -- pymemcache ---------------------------------------------------------------------
    def storage(self) -> Operation:
        verb = self.pick(["set", "set", "add", "replace", "append", "prepend"])
        key, value, flags = self.key(), self.value(), self.flags()
        expire = self.pick([0, EXPIRY])

        def run(side: Side) -> Any:
            method = getattr(side.mc, verb)
            if verb in ("append", "prepend"):
                return outcome(lambda: method(key, value, expire=expire))
            return outcome(lambda: method(key, value, expire=expire, flags=flags))

        return ("%s %s %r" % (verb, key, value), run)

    def read(self) -> Operation:
        kind = self.pick(["get", "get_many", "gets", "gets_many"])
        keys = [self.key() for _ in range(self.rng.randint(1, 6))]

        def run(side: Side) -> Any:
            if kind == "get":
                return outcome(lambda: side.mc.get(keys[0]))
            if kind == "gets":
                return outcome(lambda: side.mc.gets(keys[0])[0])
            if kind == "get_many":
                return outcome(lambda: side.mc.get_many(keys))
            return outcome(lambda: {k: v for k, (v, _) in side.mc.gets_many(keys).items()})

        return ("%s %s" % (kind, keys), run)

    def cas(self) -> Operation:
        key = str(self.pick(self.cas_keys))
        value = self.value()
        mode = self.pick(["right", "right", "stale", "write-between"])

        def run(side: Side) -> Any:
            before, token = side.mc.gets(key)
            if token is None:  # no item: NOT_FOUND whatever the number
                return before, outcome(lambda: side.mc.cas(key, value, b"12345"))
            if mode == "stale":
                token = b"%d" % (int(token) + 1000000000)
            elif mode == "write-between":
                side.mc.set(key, "between")
            return before, outcome(lambda: side.mc.cas(key, value, token))

        def seed(side: Side) -> Any:
            return outcome(lambda: side.mc.add(key, value))

        if self.rng.random() < 0.3:
            return ("add %s (cas key)" % key, seed)
        return ("cas %s %s %r" % (mode, key, value), run)

    def counter(self) -> Operation:
        verb = self.pick(["incr", "decr"])
        key = self.key()
        delta = self.pick([0, 1, 5, 1000, 18446744073709551615])
        return ("%s %s %d" % (verb, key, delta),
                lambda side: outcome(lambda: getattr(side.mc, verb)(key, delta)))

    def delete(self) -> Operation:
        keys = [self.key() for _ in range(self.rng.randint(1, 3))]
        if len(keys) == 1:
            return ("delete %s" % keys[0], lambda side: outcome(lambda: side.mc.delete(keys[0])))
        return ("delete_many %s" % keys,
                lambda side: outcome(lambda: side.mc.delete_many(keys)))

    def touch(self) -> Operation:
        key = self.key()
        return ("touch %s" % key, lambda side: outcome(lambda: side.mc.touch(key, EXPIRY)))

    def noreply(self) -> Operation:
        """A noreply write, then a get of the key on the same connection."""
        verb = self.pick(["set", "add", "replace", "append", "prepend", "delete", "incr",
                          "decr", "touch"])
        key, value, flags = self.key(), self.value(), self.flags()

        def run(side: Side) -> Any:
            mc = side.mc
            if verb in ("set", "add", "replace"):
                getattr(mc, verb)(key, value, noreply=True, flags=flags)
            elif verb in ("append", "prepend"):
                getattr(mc, verb)(key, value, noreply=True)
            elif verb == "delete":
                mc.delete(key, noreply=True)
            elif verb in ("incr", "decr"):
                getattr(mc, verb)(key, 3, noreply=True)
            else:
                mc.touch(key, EXPIRY, noreply=True)
            return outcome(lambda: mc.gets(key)[0])

        return ("%s %s noreply" % (verb, key), run)

    # -- raw requests -------------------------------------------------------------------
    def raw(self, label: str, data: bytes) -> Operation:
        return (label, lambda side: side.raw.call(data))

    def raw_classic(self) -> Operation:
        key = self.key().encode()
        value = self.value().encode()
        kind = self.rng.randrange(9)
        if kind == 0:
            keys = b" ".join(self.key().encode() for _ in range(self.rng.randint(1, 5)))
            data = b"gat %d %s\r\n" % (EXPIRY, keys)
        elif kind == 1:
            keys = b" ".join(self.key().encode() for _ in range(self.rng.randint(1, 5)))
            data = b"get %s\r\n" % keys
        elif kind == 2:
            data = b"touch %s %d\r\n" % (key, EXPIRY)
        elif kind == 3:
            verb = self.pick([b"set", b"add", b"replace", b"append", b"prepend"])
            data = b"%s %s %d 0 %d\r\n%s\r\n" % (verb, key, self.flags(), len(value), value)
        elif kind == 4:
            verb = self.pick([b"set", b"add", b"replace", b"append", b"prepend"])
            data = b"%s %s %d %d %d noreply\r\n%s\r\nget %s\r\n" % (
                verb, key, self.flags(), EXPIRY, len(value), value, key)
        elif kind == 5:
            data = b"%s %s %d\r\n" % (self.pick([b"incr", b"decr"]), key,
                                      self.rng.randint(0, 100))
        elif kind == 6:
            data = b"%s %s 7 noreply\r\nget %s\r\n" % (self.pick([b"incr", b"decr"]), key, key)
        elif kind == 7:
            data = b"delete %s noreply\r\nget %s\r\n" % (key, key)
        else:  # errors memcached itself reports, in the middle of a pipeline
            data = self.pick([
                b"get %s\r\nincr %s abc\r\nget %s\r\n" % (key, key, key),
                b"set %s 0 0 2\r\nabc\r\nget %s\r\n" % (key, key),
                b"set %s 0 0 x\r\nget %s\r\n" % (key, key),
                b"delete %s 0\r\ndelete %s 5\r\n" % (key, key),
                b"touch %s\r\nget %s\r\n" % (key, key),
            ])
        return self.raw(data.decode("latin-1").replace("\r\n", " | ")[:120], data)

    def meta_get(self) -> Operation:
        key = self.key().encode()
        flags = [f for f in (b"v", b"f", b"k", b"s", b"h", b"O123", b"q") if
                 self.rng.random() < 0.4]
        if self.rng.random() < 0.15:
            flags.append(b"N%d" % EXPIRY)
        if self.rng.random() < 0.15:
            flags.append(b"T%d" % EXPIRY)
        if self.rng.random() < 0.15:  # a base64 key: routed by its decoded bytes
            key = base64.b64encode(key)
            flags.append(b"b")
        tail = b"get %s\r\n" % key if b"q" in flags and b"b" not in flags else b""
        data = b" ".join([b"mg", key, *flags]) + b"\r\n" + tail
        return self.raw(data.decode("latin-1").strip(), data)

    def meta_set(self) -> Operation:
        key = self.key().encode()
        value = self.value().encode()
        flags = []
        if self.rng.random() < 0.5:
            flags.append(b"M" + self.pick([b"E", b"A", b"P", b"R", b"S"]))
        if self.rng.random() < 0.4:
            flags.append(b"F%d" % self.flags())
        if self.rng.random() < 0.3:
            flags.append(b"T%d" % EXPIRY)
        if self.rng.random() < 0.2:
            flags.append(b"k")
        if self.rng.random() < 0.2:
            flags.append(b"O9")
        if self.rng.random() < 0.15:
            flags.append(b"q")
        data = b" ".join([b"ms", key, b"%d" % len(value), *flags]) + b"\r\n%s\r\n" % value
        data += b"mg %s v f\r\n" % key
        return self.raw("ms %s %r" % (key.decode(), flags), data)

    def meta_delete(self) -> Operation:
        key = self.key().encode()
        flags = [f for f in (b"q", b"k", b"O77") if self.rng.random() < 0.3]
        if self.rng.random() < 0.2:
            flags += [b"I", b"T%d" % EXPIRY]  # marks the item stale instead
        data = b" ".join([b"md", key, *flags]) + b"\r\nmg %s v\r\n" % key
        return self.raw("md %s %r" % (key.decode(), flags), data)

    def meta_arithmetic(self) -> Operation:
        key = self.key().encode()
        flags = []
        if self.rng.random() < 0.6:
            flags.append(b"v")
        if self.rng.random() < 0.3:
            flags += [b"N%d" % EXPIRY, b"J%d" % self.rng.randint(0, 50)]
        if self.rng.random() < 0.5:
            flags.append(b"D%d" % self.rng.randint(0, 1000))
        if self.rng.random() < 0.4:
            flags.append(b"M" + self.pick([b"I", b"+", b"D", b"-"]))
        if self.rng.random() < 0.15:
            flags.append(b"q")
        data = b" ".join([b"ma", key, *flags]) + b"\r\nmg %s v\r\n" % key
        return self.raw("ma %s %r" % (key.decode(), flags), data)

    def quiet_meta(self) -> Operation:
        """Several quiet meta requests in one write, then a no-op: only the misses and
        failures answer."""
        keys = [self.key().encode() for _ in range(4)]
        data = b"".join(b"mg %s v k q\r\n" % key for key in keys)
        data += b"md %s q\r\nms %s 1 q ME\r\nq\r\n" % (keys[0], keys[1])
        return self.raw("quiet meta %s" % keys, data)


def run_differential(test: Any, node_port: int, reference_port: int, prefix: str,
                     seed: int) -> OperationGenerator:
    """Run the generated operations on both ends; fail with the first mismatches."""
    generator = OperationGenerator(seed, prefix)
    operations = generator.operations(OPERATIONS_PER_RUN)
    node, reference = Side(node_port), Side(reference_port)
    mismatches: List[str] = []
    try:
        for index, (label, run) in enumerate(operations):
            got = run(node)
            expected = run(reference)
            if got != expected:
                mismatches.append("#%d %s:\n    node:      %r\n    memcached: %r"
                                  % (index, label, got, expected))
                if len(mismatches) >= 10:
                    break
    finally:
        node.close()
        reference.close()
    test.assertEqual(mismatches, [], "seed %d:\n%s" % (seed, "\n".join(mismatches)))
    return generator


class SingleNodeDifferentialTest(ProcessTestCase):
    required_programs = ("memcached",)
    reference: MemcachedServer
    node: NodeProcess

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.reference = processes.memcached(extra_args=DETERMINISTIC)
        cls.node = memcache_node(processes, processes.memcached(extra_args=DETERMINISTIC))

    def test_differential(self) -> None:
        run_differential(self, self.node.client_port, self.reference.port, "single", SEED)


class ClusterDifferentialTest(ProcessTestCase):
    """Through node 1 of 1 DC x 3 racks, each node in front of its own memcached."""

    required_programs = ("memcached",)
    reference: MemcachedServer
    cluster: Cluster

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.reference = processes.memcached(extra_args=DETERMINISTIC)
        cls.cluster = processes.cluster(1, 3, datastore="memcached",
                                        datastore_args=DETERMINISTIC)

    def test_differential_and_replicas(self) -> None:
        first = self.cluster.nodes[0]
        generator = run_differential(
            self, first.client_port, self.reference.port, "cluster", SEED + 1
        )
        # every key but the cas ones: each rack's memcached holds what the reference does
        expected = {key: memcache_call(self.reference.port, b"get %s\r\n" % key.encode())
                    for key in generator.keys}
        self.assertTrue(any(reply != b"END\r\n" for reply in expected.values()))
        differences: Dict[str, str] = {}

        def replicas_agree() -> bool:
            differences.clear()
            for member in self.cluster.nodes:
                for key, reply in expected.items():
                    got = memcache_call(member.datastore_port, b"get %s\r\n" % key.encode())
                    if got != reply:
                        differences["%s on %s" % (key, member.name)] = "%r != %r" % (got, reply)
            return not differences

        try:
            wait_until(replicas_agree, RECOVERY_WAIT, message="every rack holding the values")
        except AssertionError:
            self.fail("replicas differ from the reference: %s"
                      % "\n".join("%s: %s" % item for item in sorted(differences.items())[:10]))


class MultiOwnerGetTest(ProcessTestCase):
    """3 racks x 2 nodes: a get's keys live on different nodes of the rack."""

    required_programs = ("memcached",)
    reference: MemcachedServer
    cluster: Cluster

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.reference = processes.memcached()
        cls.cluster = processes.cluster(1, 3, 2, datastore="memcached")

    def test_get_across_owners(self) -> None:
        first = self.cluster.nodes[0]
        rack = self.cluster.rack_nodes(first.dc, first.rack)
        keys: List[str] = []
        for n in range(4):
            for member in rack:
                keys.append(self.cluster.key_owned_by(member, "multi%d" % n))
        owners = {self.cluster.owner(k.encode(), first.dc, first.rack).name for k in keys}
        self.assertEqual(len(owners), 2)
        node, reference = pymemcache_client(first.client_port), pymemcache_client(
            self.reference.port)
        self.addCleanup(node.close)
        self.addCleanup(reference.close)
        for index, key in enumerate(keys):
            for client in (node, reference):
                self.assertTrue(client.set(key, "value-%d" % index, flags=index))
        missing = self.cluster.key_owned_by(rack[1], "absent")
        asked = [*keys, missing]
        self.assertEqual(node.get_many(asked), {k: b"value-%d" % i for i, k in enumerate(keys)})
        self.assertEqual({k: v for k, (v, _) in node.gets_many(asked).items()},
                         {k: b"value-%d" % i for i, k in enumerate(keys)})

        raw_node, raw_reference = RawClient(first.client_port), RawClient(self.reference.port)
        self.addCleanup(raw_node.close)
        self.addCleanup(raw_reference.close)
        shuffled = list(reversed(keys))
        shuffled.insert(3, missing)
        shuffled.append(keys[0])  # asked twice: returned twice
        requests = [
            b"get %s\r\n" % b" ".join(k.encode() for k in shuffled),
            b"get %s %s %s\r\n" % (keys[0].encode(), keys[1].encode(), keys[2].encode()),
            b"gat %d %s\r\n" % (EXPIRY, b" ".join(k.encode() for k in keys)),
            b"get %s %s\r\n" % (missing.encode(), missing.encode()),
            b"get %s\r\nget %s %s\r\n" % (keys[1].encode(), keys[3].encode(), keys[0].encode()),
        ]
        for request in requests:
            got = raw_node.call(request)
            self.assertEqual(got, raw_reference.call(request), request)
            self.assertEqual(got.count(b"END\r\n"), request.count(b"\r\n"))
        # gets: the same blocks in the same order, cas numbers aside
        request = b"gets %s\r\n" % b" ".join(k.encode() for k in shuffled)
        without_cas = re.compile(rb"^(VALUE \S+ \d+ \d+) \d+\r$", re.M)
        self.assertEqual(without_cas.sub(rb"\1", raw_node.call(request)),
                         without_cas.sub(rb"\1", raw_reference.call(request)))


class MemcachedRestartTest(unittest.TestCase):
    """memcached SIGKILLed under traffic, then restarted on the same port; the node runs
    in the test's reactor, the traffic goes through Twisted's memcached client."""

    @defer.inlineCallbacks
    def test_kill_and_restart_memcached_under_traffic(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        node = yield start_node(self, datastore="memcached", timeout=1000,
                                server_retry_timeout=1000)
        traffic = Traffic(MemcachePairs((yield connect_memcache(
            self, node.client_port, timeout=SOCKET_TIMEOUT))))

        @defer.inlineCallbacks
        def while_down() -> Generator[defer.Deferred[Any], Any, None]:
            # a fresh connection is answered as well, and the node's own replies work
            fresh = yield connect_memcache(self, node.client_port, timeout=SOCKET_TIMEOUT)
            for request in (fresh.get(b"traffic:1"), fresh.set(b"down", b"x")):
                error = yield self.assertFailure(request, ServerError)
                self.assertIn(REFUSED, str(error))
            self.assertTrue((yield fresh.version()))

        restarted = yield through_a_datastore_restart(
            self, traffic, node, while_down, lambda port: start_memcached(self, port=port))

        after = yield connect_memcache(self, node.client_port, timeout=SOCKET_TIMEOUT)
        self.assertTrue((yield after.set(b"after:restart", b"yes")))
        self.assertEqual((yield after.get(b"after:restart")), (0, b"yes"))
        direct = yield connect_memcache(self, restarted.port, timeout=SOCKET_TIMEOUT)
        self.assertEqual((yield direct.get(b"after:restart")), (0, b"yes"))


class ErrorsTest(ProcessTestCase):
    required_programs = ("memcached",)
    node: NodeProcess

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.node = memcache_node(processes, processes.memcached(), item_size_max=1024)

    def raw(self) -> RawClient:
        client = RawClient(self.node.client_port)
        self.addCleanup(client.close)
        return client

    def test_unknown_command(self) -> None:
        client = self.raw()
        self.assertEqual(client.call(b"bogus a b\r\n"), b"ERROR\r\n")
        self.assertEqual(client.call(b"set e:k 0 0 1\r\nv\r\n"), b"STORED\r\n")
        self.assertEqual(client.call(b"frobnicate\r\nget e:k\r\n"),
                         b"ERROR\r\nVALUE e:k 0 1\r\nv\r\nEND\r\n")

    def test_flush_all_refused(self) -> None:
        client = self.raw()
        self.assertEqual(client.call(b"set e:f 0 0 1\r\nv\r\n"), b"STORED\r\n")
        self.assertEqual(client.call(b"flush_all\r\n"), FLUSH_REFUSED)
        self.assertEqual(client.call(b"get e:f\r\n"), b"VALUE e:f 0 1\r\nv\r\nEND\r\n")
        mc = pymemcache_client(self.node.client_port)
        self.addCleanup(mc.close)
        with self.assertRaises(MemcacheServerError):
            mc.flush_all()
        self.assertEqual(mc.get("e:f"), b"v")

    def test_version(self) -> None:
        client = self.raw()
        self.assertTrue(client.call(b"version\r\n").startswith(b"VERSION "))
        mc = pymemcache_client(self.node.client_port)
        self.addCleanup(mc.close)
        self.assertTrue(mc.version())
        self.assertTrue(mc.set("e:v", "after version"))
        self.assertEqual(mc.get("e:v"), b"after version")

    def test_value_too_large(self) -> None:
        client = self.raw()
        big = b"x" * 2000
        self.assertEqual(client.call(b"set e:big 0 0 %d\r\n%s\r\n" % (len(big), big)),
                         TOO_LARGE)
        self.assertEqual(client.call(b"get e:big\r\n"), b"END\r\n")
        self.assertEqual(client.call(b"set e:small 0 0 2\r\nok\r\n"), b"STORED\r\n")
        # in one write with the requests around it
        self.assertEqual(
            client.call(b"get e:small\r\nset e:big 0 0 %d\r\n%s\r\nget e:small\r\n"
                        % (len(big), big)),
            b"VALUE e:small 0 2\r\nok\r\nEND\r\n" + TOO_LARGE
            + b"VALUE e:small 0 2\r\nok\r\nEND\r\n")
        mc = pymemcache_client(self.node.client_port)
        self.addCleanup(mc.close)
        with self.assertRaises(MemcacheServerError):
            mc.set("e:big", big)
        self.assertTrue(mc.set("e:fits", b"y" * 500))
        self.assertEqual(mc.get("e:fits"), b"y" * 500)


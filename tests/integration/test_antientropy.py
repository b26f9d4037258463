"""Anti-entropy: ``python -m dynotwist.repair check`` over a cluster of three racks
whose redis-servers were made to differ by hand, one case per rule: a key missing on
a rack, a value most racks hold, a value only one rack holds, read repair's
timestamps (a newer write, a newer delete), a TTL, and a three-way tie that only a
named source rack settles."""

from __future__ import annotations

import subprocess
import sys
from typing import Any, Dict, Generator, List, Optional, Tuple

from twisted.internet import defer, threads

from dynotwist.testing.processes import node_env
from tests.support.fixtures import Processes, ProcessTestCase
from tests.support.history import _connect

# key -> what rack1, rack2, rack3 hold: (value or None, read repair's stamp or None,
# True for a tombstone); then what every rack must hold once fixed
PLANTED: Dict[str, Tuple[List[Tuple[Optional[str], Optional[int], bool]], Optional[str]]] = {
    "ae:same": ([("v", None, False)] * 3, "v"),
    "ae:missing": ([("v", None, False), (None, None, False), ("v", None, False)], "v"),
    "ae:majority": ([("a", None, False), ("a", None, False), ("b", None, False)], "a"),
    "ae:only": ([(None, None, False), ("v", None, False), (None, None, False)], "v"),
    "ae:stamped": ([("old", 1000, False), ("new", 2000, False), ("old", 1000, False)], "new"),
    "ae:deleted": ([("x", 1000, False), (None, 2000, True), ("x", 1000, False)], None),
    "ae:tie": ([("1", None, False), ("2", None, False), ("3", None, False)], "3"),
}
RACKS = ("rack1", "rack2", "rack3")


class AntiEntropyTest(ProcessTestCase):
    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.cluster = processes.cluster(1, 3)

    def redis_port(self, rack: str) -> int:
        return self.cluster.node_named("dc1-" + rack).redis.port

    @defer.inlineCallbacks
    def plant(self) -> Generator[defer.Deferred[Any], Any, None]:
        for index, rack in enumerate(RACKS):
            connection = yield _connect(self.redis_port(rack))
            for key, (held, _) in PLANTED.items():
                value, stamp, tombstone = held[index]
                if value is not None:
                    yield connection.execute_command("SET", key, value)
                if stamp is not None:
                    metadata = "._rem-set" if tombstone else "._add-set"
                    yield connection.execute_command("ZADD", metadata, stamp, key)
            yield connection.execute_command("SET", "ae:ttl", "t", "PX", 3600000)
            if rack == "rack2":
                yield connection.execute_command("DEL", "ae:ttl")
            yield connection.disconnect()

    @defer.inlineCallbacks
    def held(self, key: str) -> Generator[defer.Deferred[Any], Any, List[Any]]:
        found = []
        for rack in RACKS:
            connection = yield _connect(self.redis_port(rack))
            found.append((yield connection.execute_command("GET", key)))
            yield connection.disconnect()
        return found

    def check(self, *options: str) -> defer.Deferred[subprocess.CompletedProcess]:
        configs = [m.config_path for m in self.cluster.nodes]
        argv = [sys.executable, "-m", "dynotwist.repair", "check", *configs, *options]
        return threads.deferToThread(subprocess.run, argv, capture_output=True, text=True,
                                     env=node_env(), timeout=60)

    @defer.inlineCallbacks
    def test_find_then_fix(self) -> Generator[defer.Deferred[Any], Any, None]:
        yield self.plant()
        found = yield self.check("--rate", "0")
        self.assertEqual(found.returncode, 1, found.stdout + found.stderr)
        self.assertIn("; 7 differ: 0 fixed, 1 unresolved", found.stdout)
        self.assertIn("ae:tie: ", found.stdout)
        self.assertEqual((yield self.held("ae:missing")), [b"v", None, b"v"], "check only")

        fixed = yield self.check("--fix")
        self.assertEqual(fixed.returncode, 1, "the tie is left: " + fixed.stdout)
        self.assertIn("7 differ: 6 fixed, 1 unresolved", fixed.stdout)
        for key, (_, expected) in PLANTED.items():
            want = [None if expected is None else expected.encode()] * 3
            if key == "ae:tie":
                want = [b"1", b"2", b"3"]
            self.assertEqual((yield self.held(key)), want, key)
        connection = yield _connect(self.redis_port("rack2"))
        self.assertGreater(int((yield connection.execute_command("PTTL", "ae:ttl"))), 0)
        self.assertEqual(int(float((yield connection.execute_command(
            "ZSCORE", "._add-set", "ae:stamped")))), 2000, "the timestamp comes along")
        yield connection.disconnect()

        settled = yield self.check("--fix", "--source-rack", "rack3")
        self.assertEqual(settled.returncode, 0, settled.stdout + settled.stderr)
        self.assertIn("1 differ: 1 fixed, 0 unresolved", settled.stdout)
        self.assertEqual((yield self.held("ae:tie")), [b"3"] * 3)

        clean = yield self.check()
        self.assertEqual(clean.returncode, 0, clean.stdout + clean.stderr)
        self.assertIn("; 0 differ", clean.stdout)
        self.assertIn("rack1", clean.stdout.splitlines()[1])

    @defer.inlineCallbacks
    def test_refusals(self) -> Generator[defer.Deferred[Any], Any, None]:
        one = self.cluster.nodes[0].config_path
        argv = [sys.executable, "-m", "dynotwist.repair", "check", one]
        result = yield threads.deferToThread(subprocess.run, argv, capture_output=True,
                                             text=True, env=node_env(), timeout=60)
        self.assertEqual(result.returncode, 2)
        self.assertIn("no configuration given for", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        result = yield self.check("--range", "12:x")
        self.assertEqual(result.returncode, 2)
        self.assertIn("a token range is low:high", result.stderr)

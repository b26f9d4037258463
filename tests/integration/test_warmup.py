"""Warm-up of an empty replacement node, under a DC_QUORUM write load.

rack3's node is killed and its redis-server emptied (a replaced machine); the node
comes back with ``warm_up: true`` while writers keep going through rack1 and rack2. It
copies its range from another rack (keys loaded straight into the redis-servers, which
nothing else would bring back, with their TTLs), refuses reads meanwhile, and ends
with the same data as the other racks. The admin port and ``python -m dynotwist.repair
warm-up`` start one by hand on a running node.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any, Dict, Generator, List

from twisted.internet import defer, threads

from dynotwist.testing.cluster import ClusterNode
from dynotwist.testing.processes import node_env
from tests.integration.test_handoff import CONVERGENCE_WAIT, sleep
from tests.support.fixtures import ThreeRacksTestCase
from tests.support.history import Writers, _connect, divergence, node_info
from tests.support.waiting import eventually

PRELOADED = 3000
WITH_TTL = range(0, PRELOADED, 10)  # every tenth key expires, in an hour


def pool_of(info: Any) -> Dict[str, Any]:
    return next(value for value in info.values() if isinstance(value, dict))


class WarmUpTest(ThreeRacksTestCase):
    @defer.inlineCallbacks
    def preload(self) -> Generator[defer.Deferred[Any], Any, None]:
        """The same keys in every rack's redis-server, written there directly."""
        for member in self.cluster.nodes:
            connection = yield _connect(member.redis.port)
            try:
                replies = []
                for n in range(PRELOADED):
                    args = ["SET", "preloaded:%d" % n, "value-%d" % n]
                    if n in WITH_TTL:
                        args += ["PX", 3600000]
                    replies.append(connection.execute_command(*args))
                replies.append(connection.execute_command("HSET", "preloaded:hash", "f", "v"))
                yield defer.gatherResults(replies)
            finally:
                yield connection.disconnect()

    @defer.inlineCallbacks
    def holds_preloaded(self, member: ClusterNode
                        ) -> Generator[defer.Deferred[Any], Any, List[str]]:
        connection = yield _connect(member.redis.port)
        problems = []
        try:
            keys = ["preloaded:%d" % n for n in range(PRELOADED)]
            values = yield connection.mget(keys)
            ttls = yield defer.gatherResults(
                [connection.execute_command("PTTL", keys[n]) for n in WITH_TTL])
            hashed = yield connection.execute_command("HGET", "preloaded:hash", "f")
        finally:
            yield connection.disconnect()
        for n, value in enumerate(values):
            if value != b"value-%d" % n:
                problems.append("%s holds %r" % (keys[n], value))
        problems += ["%s lost its TTL (%r)" % (keys[n], ttl)
                     for n, ttl in zip(WITH_TTL, ttls) if not 0 < int(ttl) <= 3600000]
        if hashed != b"v":
            problems.append("preloaded:hash holds %r" % hashed)
        return problems

    @defer.inlineCallbacks
    def test_empty_replacement_under_load(self) -> Generator[defer.Deferred[Any], Any, None]:
        yield self.preload()
        rack3 = self.member("rack3")
        writers = Writers([self.member("rack1"), self.member("rack2")], prefix="warm")
        yield writers.start()
        self.cluster.kill(rack3)
        connection = yield _connect(rack3.redis.port)
        yield connection.execute_command("FLUSHALL")
        yield connection.disconnect()
        yield sleep(1.0)
        rack3.node.rewrite({**rack3.node.fields, "warm_up": True})
        try:
            yield threads.deferToThread(self.cluster.restart, rack3)
        finally:
            rack3.node.rewrite({k: v for k, v in rack3.node.fields.items() if k != "warm_up"})

        @defer.inlineCallbacks
        def done() -> Generator[defer.Deferred[Any], Any, bool]:
            pool = pool_of((yield node_info(rack3)))
            self.assertNotEqual(pool["warm_up_state"], 3, "the warm-up failed")
            return pool["warm_up_state"] == 2

        yield eventually(done, CONVERGENCE_WAIT, interval=0.2, message="warm-up done")
        yield sleep(1.0)
        yield writers.stop()
        self.assertEqual((yield self.holds_preloaded(rack3)), [])
        pool = pool_of((yield node_info(rack3)))
        self.assertGreaterEqual(pool["warm_up_keys"], PRELOADED)
        self.assertGreater(pool["warm_up_bytes"], 0)
        problems: List[str] = []

        @defer.inlineCallbacks
        def converged() -> Generator[defer.Deferred[Any], Any, bool]:
            problems[:] = yield divergence(self.cluster, writers.history)
            return not problems

        try:
            yield eventually(converged, CONVERGENCE_WAIT, interval=0.5,
                             message="every replica holding what was acknowledged")
        except AssertionError as error:
            raise AssertionError("%s\n%s" % (error, "\n".join(problems[:10]))) from None
        # reads are served again
        client = yield _connect(rack3.client_port)
        self.assertEqual((yield client.execute_command("GET", "preloaded:7")), b"value-7")
        yield client.disconnect()

    @defer.inlineCallbacks
    def test_command_line_warm_up_from_a_named_source(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        """On a running node, by hand: the datastore to copy from named; reads are
        refused until it is done."""
        rack2, rack1 = self.member("rack2"), self.member("rack1")
        connection = yield _connect(rack1.redis.port)
        yield connection.execute_command("SET", "by-hand", "copied")
        yield connection.disconnect()
        argv = [sys.executable, "-m", "dynotwist.repair", "warm-up",
                "--admin", "%s:%d" % (rack2.host, rack2.stats_port),
                "--source", "127.0.0.1:%d" % rack1.redis.port, "--rate", "100000"]
        result = yield threads.deferToThread(
            subprocess.run, argv, capture_output=True, text=True, env=node_env(), timeout=60)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        self.assertIn('"state": "done"', result.stdout)
        connection = yield _connect(rack2.redis.port)
        self.assertEqual((yield connection.execute_command("GET", "by-hand")), b"copied")
        yield connection.disconnect()
        bad = yield threads.deferToThread(
            subprocess.run, [*argv[:6], "--source", "nowhere"], capture_output=True,
            text=True, env=node_env(), timeout=60)
        self.assertEqual(bad.returncode, 1, bad.stdout + bad.stderr)
        self.assertIn("the source is host:port", bad.stderr)

"""Read repair in a cluster of three racks, hinted handoff off (reference 3.6).

``read_repairs_enabled: true`` with DC_QUORUM reads and writes: writes keep their
timestamps in Dynomite's metadata (``._add-set``, ``._rem-set``) on every replica, a
repairable read answers the newest value and sends the replicas behind it a repair
write. Replicas are made stale for real (rack3's node killed while a write goes
through the others, then restarted) and by hand, as Dynomite's own functional test
does (a replica's value and timestamp written straight into its redis-server).
"""

from __future__ import annotations

from typing import Any, Generator, Optional

from twisted.internet import defer, threads

from dynotwist.testing import connect_redis
from dynotwist.testing.blocking import SOCKET_TIMEOUT
from tests.support.fixtures import ThreeRacksTestCase
from tests.support.waiting import eventually

REPAIR_WAIT = 10.0


class ReadRepairTest(ThreeRacksTestCase):
    extra_fields = {"read_repairs_enabled": True, "hinted_handoff": False}

    @defer.inlineCallbacks
    def call(self, port: int, *args: Any) -> Generator[defer.Deferred[Any], Any, Any]:
        # bytes as they are; a status reply is text with every interpreter's reader
        client = yield connect_redis(self, port, charset=None, convertNumbers=False,
                                     replyTimeout=SOCKET_TIMEOUT)
        try:
            return (yield client.execute_command(*args))
        finally:
            yield client.disconnect()

    def through(self, rack: str, *args: Any) -> defer.Deferred[Any]:
        return self.call(self.member(rack).client_port, *args)

    def direct(self, rack: str, *args: Any) -> defer.Deferred[Any]:
        return self.call(self.member(rack).redis.port, *args)

    @defer.inlineCallbacks
    def stamp(self, rack: str, key: str, metadata: str = "._add-set"
              ) -> Generator[defer.Deferred[Any], Any, Optional[int]]:
        score = yield self.direct(rack, "ZSCORE", metadata, key)
        return None if score is None else int(float(score))

    @defer.inlineCallbacks
    def repaired(self, rack: str, key: str, value: Optional[bytes]
                 ) -> Generator[defer.Deferred[Any], Any, None]:
        last = []

        @defer.inlineCallbacks
        def check() -> Generator[defer.Deferred[Any], Any, bool]:
            got = yield self.direct(rack, "GET", key)
            last[:] = [got]
            return got == value

        try:
            yield eventually(check, REPAIR_WAIT, interval=0.1,
                             message="%s's %s repaired to %r" % (rack, key, value))
        except AssertionError as error:
            raise AssertionError("%s (holds %r)" % (error, last)) from None

    @defer.inlineCallbacks
    def test_writes_keep_timestamps_on_every_replica(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        self.assertEqual((yield self.through("rack1", "SET", "stamped", "v")), "OK")
        stamps = []
        for rack in ("rack1", "rack2", "rack3"):
            yield self.repaired(rack, "stamped", b"v")
            stamps.append((yield self.stamp(rack, "stamped")))
        self.assertEqual(len(set(stamps)), 1, "one coordinator timestamp: %r" % stamps)
        self.assertGreater(stamps[0], 1600000000000, "milliseconds since the epoch")

    @defer.inlineCallbacks
    def test_stale_replica_is_repaired_on_read(self) -> Generator[defer.Deferred[Any], Any, None]:
        """As Dynomite's func_test: one replica made older by hand, then read."""
        self.assertEqual((yield self.through("rack1", "SET", "planted", "good")), "OK")
        yield self.repaired("rack3", "planted", b"good")
        ts = yield self.stamp("rack3", "planted")
        yield self.direct("rack3", "SET", "planted", "stale")
        yield self.direct("rack3", "ZADD", "._add-set", ts - 1000, "planted")
        self.assertEqual((yield self.through("rack2", "GET", "planted")), b"good")
        yield self.repaired("rack3", "planted", b"good")
        self.assertEqual((yield self.stamp("rack3", "planted")), ts)
        # a replica made newer by hand wins and repairs the others (the read itself may
        # be answered by the two older replicas, which agree: a quorum)
        yield self.direct("rack2", "SET", "planted", "REPAIRED_VALUE")
        yield self.direct("rack2", "ZADD", "._add-set", ts + 1, "planted")
        self.assertIn((yield self.through("rack1", "GET", "planted")),
                      (b"good", b"REPAIRED_VALUE"))
        for rack in ("rack1", "rack3"):
            yield self.repaired(rack, "planted", b"REPAIRED_VALUE")
        self.assertEqual((yield self.through("rack1", "GET", "planted")), b"REPAIRED_VALUE")

    @defer.inlineCallbacks
    def test_replica_that_missed_writes_is_repaired(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        """rack3's node is down while a key is overwritten, another created, a third
        deleted: nothing replays them (no hints); reads repair rack3."""
        for key in ("overwritten", "deleted"):
            self.assertEqual((yield self.through("rack1", "SET", key, "before")), "OK")
            yield self.repaired("rack3", key, b"before")
        rack3 = self.member("rack3")
        self.cluster.kill(rack3)
        self.assertEqual((yield self.through("rack1", "SET", "overwritten", "after")), "OK")
        self.assertEqual((yield self.through("rack2", "SET", "created", "new")), "OK")
        self.assertEqual((yield self.through("rack1", "DEL", "deleted")), 1)
        self.assertEqual((yield self.through("rack1", "HSET", "hash", "f", "h1")), 1)
        yield threads.deferToThread(self.cluster.restart, rack3)
        yield threads.deferToThread(self.cluster.wait_connected, 30.0)  # peers reconnected
        self.assertEqual((yield self.direct("rack3", "GET", "overwritten")), b"before")

        self.assertEqual((yield self.through("rack2", "GET", "overwritten")), b"after")
        yield self.repaired("rack3", "overwritten", b"after")
        self.assertEqual((yield self.through("rack1", "GET", "created")), b"new")
        yield self.repaired("rack3", "created", b"new")
        self.assertIsNone((yield self.through("rack1", "GET", "deleted")))
        yield self.repaired("rack3", "deleted", None)
        self.assertIsNotNone((yield self.stamp("rack3", "deleted", "._rem-set")),
                             "the tombstone repaired in")
        self.assertEqual((yield self.through("rack1", "HGET", "hash", "f")), b"h1")

        @defer.inlineCallbacks
        def field_repaired() -> Generator[defer.Deferred[Any], Any, bool]:
            return (yield self.direct("rack3", "HGET", "hash", "f")) == b"h1"

        yield eventually(field_repaired, REPAIR_WAIT, message="rack3's hash field repaired")

    @defer.inlineCallbacks
    def test_acknowledged_delete_leaves_no_tombstone(
        self,
    ) -> Generator[defer.Deferred[Any], Any, None]:
        self.assertEqual((yield self.through("rack1", "SET", "gone", "v")), "OK")
        self.assertEqual((yield self.through("rack1", "DEL", "gone")), 1)

        @defer.inlineCallbacks
        def cleaned() -> Generator[defer.Deferred[Any], Any, bool]:
            for rack in ("rack1", "rack2", "rack3"):
                if (yield self.stamp(rack, "gone", "._rem-set")) is not None:
                    return False
            return True

        yield eventually(cleaned, REPAIR_WAIT, message="tombstones of 'gone' cleaned")
        for rack in ("rack1", "rack2", "rack3"):
            self.assertIsNone((yield self.direct(rack, "GET", "gone")))

    @defer.inlineCallbacks
    def test_disabled_through_the_admin_port(self) -> Generator[defer.Deferred[Any], Any, None]:
        import treq

        rack1 = self.member("rack1")
        url = "http://%s:%d/read_repairs/" % (rack1.host, rack1.stats_port)
        response = yield treq.get(url + "disable", persistent=False)
        self.assertEqual((yield treq.content(response)), b"Read Repairs: DISABLED\r\n")
        try:
            self.assertEqual((yield self.through("rack1", "SET", "plain", "v")), "OK")
            yield self.repaired("rack2", "plain", b"v")
            self.assertIsNone((yield self.stamp("rack2", "plain")), "no metadata written")
        finally:
            response = yield treq.get(url + "enable", persistent=False)
            yield treq.content(response)

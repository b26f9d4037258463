"""Jepsen-style write histories: writers through some nodes of a cluster, each on keys
of its own, every reply recorded; then every replica checked key by key against what
was acknowledged.

Each writer SETs its keys in turn, one request at a time, with a value that names the
writer and the attempt. An OK acknowledges that value; an error or a lost reply leaves
it uncertain (it may have reached some replicas). After the run, a key's final value
must be its last acknowledged value, or one of the uncertain values written after it,
and every replica of the key must hold the same value.
"""

from __future__ import annotations

import itertools
from typing import Any, Dict, Generator, List, Optional, Sequence, Set

import treq
import txredisapi
from twisted.internet import defer, task

from dynotwist.testing import LOOPBACK
from dynotwist.testing.blocking import SOCKET_TIMEOUT
from dynotwist.testing.cluster import Cluster, ClusterNode


class History:
    """What the writers sent and what they were told, per key."""

    def __init__(self) -> None:
        self.acknowledged: Dict[bytes, bytes] = {}
        self.uncertain: Dict[bytes, Set[bytes]] = {}  # written after the last ack
        self.ok = 0
        self.failed = 0

    def record(self, key: bytes, value: bytes, ok: bool) -> None:
        if ok:
            self.acknowledged[key] = value
            self.uncertain[key] = set()
            self.ok += 1
        else:
            self.uncertain.setdefault(key, set()).add(value)
            self.failed += 1

    def allowed(self, key: bytes) -> Set[Optional[bytes]]:
        allowed: Set[Optional[bytes]] = set(self.uncertain.get(key, ()))
        allowed.add(self.acknowledged.get(key))
        return allowed

    def keys(self) -> List[bytes]:
        return sorted(set(self.acknowledged) | set(self.uncertain))


class Writers:
    """Writers through ``members`` (several per member), until :meth:`stop`."""

    def __init__(self, members: Sequence[ClusterNode], keys_per_writer: int = 50,
                 writers_per_member: int = 2, prefix: str = "history",
                 consistency: str = "DC_QUORUM") -> None:
        self.members = list(members)
        self.keys_per_writer = keys_per_writer
        self.writers_per_member = writers_per_member
        self.prefix = prefix
        self.consistency = consistency
        self.history = History()
        self._running = False
        self._loops: List[defer.Deferred[None]] = []

    @defer.inlineCallbacks
    def start(self) -> Generator[defer.Deferred[Any], Any, None]:
        self._running = True
        number = itertools.count(1)
        for member in self.members:
            for _ in range(self.writers_per_member):
                connection = yield _connect(member.client_port)
                yield connection.execute_command(
                    "DYNO_CONFIG:CONN_CONSISTENCY", self.consistency)
                name = "%s-w%d" % (self.prefix, next(number))
                self._loops.append(self._write(connection, name))

    @defer.inlineCallbacks
    def _write(self, connection: Any, name: str) -> Generator[defer.Deferred[Any], Any, None]:
        keys = [b"%s:%d" % (name.encode(), i) for i in range(self.keys_per_writer)]
        try:
            for attempt in itertools.count(1):
                if not self._running:
                    return
                key = keys[attempt % len(keys)]
                value = b"%s:%d" % (name.encode(), attempt)
                try:
                    reply = yield connection.set(key, value)
                    self.history.record(key, value, reply in (b"OK", "OK"))
                except Exception:
                    self.history.record(key, value, False)
                    yield task.deferLater(_reactor(), 0.01, lambda: None)
        finally:
            connection.disconnect()

    def stop(self) -> defer.Deferred[Any]:
        self._running = False
        return defer.gatherResults(self._loops, consumeErrors=True)


def _reactor() -> Any:
    from twisted.internet import reactor

    return reactor


def _connect(port: int) -> defer.Deferred[Any]:
    return txredisapi.Connection(LOOPBACK, port, reconnect=False, charset=None,
                                 convertNumbers=False, replyTimeout=SOCKET_TIMEOUT)


@defer.inlineCallbacks
def divergence(cluster: Cluster, history: History
               ) -> Generator[defer.Deferred[Any], Any, List[str]]:
    """Every key checked on every replica's redis-server: what is wrong, one line per
    key (a replica missing the acknowledged value, replicas that differ)."""
    keys = history.keys()
    by_replica: Dict[int, List[bytes]] = {}
    members: Dict[int, ClusterNode] = {}
    for key in keys:
        for member in cluster.replicas(key):
            by_replica.setdefault(member.redis.port, []).append(key)
            members[member.redis.port] = member
    held: Dict[bytes, Dict[str, Optional[bytes]]] = {key: {} for key in keys}
    for port, its_keys in by_replica.items():
        connection = yield _connect(port)
        try:
            for start in range(0, len(its_keys), 500):
                chunk = its_keys[start:start + 500]
                values = yield connection.mget(chunk)
                for key, value in zip(chunk, values):
                    held[key][members[port].name] = value
        finally:
            yield connection.disconnect()
    problems = []
    for key in keys:
        allowed = history.allowed(key)
        values = held[key]
        if len(set(values.values())) != 1 or next(iter(values.values())) not in allowed:
            problems.append("%s: replicas hold %r, acknowledged %r (uncertain %r)" % (
                key.decode(), values, history.acknowledged.get(key),
                sorted(history.uncertain.get(key, ()))))
    return problems


@defer.inlineCallbacks
def node_info(member: ClusterNode) -> Generator[defer.Deferred[Any], Any, Any]:
    """The node's /info, as JSON."""
    response = yield treq.get("http://%s:%d/info" % (member.host, member.stats_port),
                              timeout=SOCKET_TIMEOUT, persistent=False)
    return (yield treq.json_content(response))


@defer.inlineCallbacks
def hint_counts(cluster: Cluster) -> Generator[defer.Deferred[Any], Any, Dict[str, int]]:
    """The hint counters of every running node, summed over its peers."""
    totals = dict.fromkeys(("stored", "replayed", "expired", "dropped", "pending"), 0)
    for member in cluster.nodes:
        if not member.node.running:
            continue
        info = yield node_info(member)
        pool = next(value for value in info.values() if isinstance(value, dict))
        for counts in pool.get("hints", {}).values():
            for field in totals:
                totals[field] += counts[field]
    return totals

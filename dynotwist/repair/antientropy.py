"""Anti-entropy on demand: a token range compared between the racks of a DC, key by
key, and its differences reported and, if asked, fixed.

The racks are read straight from their datastores (the nodes' configuration files say
where each one is and which tokens it owns). Each rack's nodes are SCANned in turn;
a batch of keys of the range is then looked up on the key's owner in every rack —
DUMP (the digest of the value), PTTL, and read repair's timestamps (``ZSCORE
._add-set``/``._rem-set``) — and compared. A key is compared once: when the first
rack holding it is scanned.

A difference is fixed, with ``fix``, by the state of the rack that :func:`choose`
picks: the newest by read repair's timestamps where a replica has one; else the one
value if only one rack group holds a value (a missing key is never taken for a
delete without a tombstone); else the value most racks hold; else the value of the
``source_rack`` named. Anything else stays unresolved (reported). The fix writes the
chosen value with RESTORE ... REPLACE and its TTL (and its timestamp), or deletes the
key where a newer tombstone says it was deleted.
"""

from __future__ import annotations

import sys
import zlib
from collections import Counter
from typing import Any, Dict, Generator, List, NamedTuple, Optional, Sequence, TextIO

from twisted.internet import defer, task

from dynotwist.config import Config
from dynotwist.core.hashkit import get_hash
from dynotwist.core.membership import Membership, local_member, member_of
from dynotwist.core.ranges import WHOLE_RING, TokenRange, intersect, owned_ranges, span
from dynotwist.core.ring import Member, Topology
from dynotwist.repair.keys import (
    KeyFilter,
    Progress,
    Throttle,
    batches,
    connect,
    dump_all,
    scan_batches,
)

__all__ = ["Cluster", "Compare", "Holding", "choose", "cluster_from_configs"]

ADD_SET = b"._add-set"
REM_SET = b"._rem-set"


class Holding(NamedTuple):
    """One rack's copy of a key."""

    payload: Optional[bytes]  # DUMP; None: the key is not there
    ttl: int  # ms; 0: no expiry
    written: Optional[int]  # read repair's timestamp of its last write
    removed: Optional[int]  # ... of its delete (a tombstone)

    @property
    def newest(self) -> int:
        return max(self.written or -1, self.removed or -1)

    @property
    def deleted(self) -> bool:
        """The tombstone is newer than the last write."""
        return self.removed is not None and self.removed >= (self.written or -1)


class Choice(NamedTuple):
    rack: str  # whose state the others get
    reason: str  # "timestamp", "only value", "majority" or "source rack"


def choose(holdings: Dict[str, Holding], source_rack: Optional[str] = None) -> Optional[Choice]:
    """The rack whose copy wins (see the module's docstring); None: unresolved."""
    newest = max(h.newest for h in holdings.values()) if holdings else -1
    if newest >= 0:
        return Choice(min(r for r, h in holdings.items() if h.newest == newest), "timestamp")
    values = Counter(h.payload for h in holdings.values() if h.payload is not None)
    if len(values) == 1:
        value = next(iter(values))
        return Choice(min(r for r, h in holdings.items() if h.payload == value), "only value")
    if values:
        (first, count), (_, second) = values.most_common(2)
        if count > second:
            return Choice(min(r for r, h in holdings.items() if h.payload == first), "majority")
    if source_rack is not None and source_rack in holdings:
        return Choice(source_rack, "source rack")
    return None


# -- the cluster, from its configuration files -----------------------------------------------


class Replica(NamedTuple):
    member: Member
    host: str
    port: int  # of its datastore
    password: Optional[str]
    owned: List[TokenRange]


class Cluster:
    """The nodes of some configuration files: ring and datastores."""

    def __init__(self, topology: Topology, replicas: Dict[str, Replica], config: Config) -> None:
        self.topology = topology
        self.replicas = replicas  # by node name (host:port of dyn_listen)
        self.hash_fn = get_hash(config.hash)
        self.hash_tag = config.hash_tag.encode("latin-1") if config.hash_tag else None

    def racks(self, dc: str) -> List[str]:
        return self.topology.racks_of(dc)

    def owner(self, dc: str, rack: str, token: int) -> Replica:
        return self.replicas[self.topology.owner(dc, rack, token).name]

    def rack_replicas(self, dc: str, rack: str) -> List[Replica]:
        return [self.replicas[m.name] for m in self.topology.rack_nodes(dc, rack)]

    def unknown(self, dc: str) -> List[str]:
        """The nodes of ``dc`` whose configuration was not given."""
        return [m.name for rack in self.racks(dc) for m in self.topology.rack_nodes(dc, rack)
                if m.name not in self.replicas]


def topology_from_config(config: Config) -> Topology:
    """A node's view of the ring: itself and its ``dyn_seeds``."""
    seeds = [member_of(seed) for seed in config.dyn_seeds]
    return Membership(local_member(config), seeds).topology()


def cluster_from_configs(configs: Sequence[Config]) -> Cluster:
    """The cluster the configurations describe; ValueError (the reason) if they do not
    agree or a node of a compared DC has no configuration."""
    if not configs:
        raise ValueError("no configuration given")
    topology = topology_from_config(configs[0])
    first = configs[0]
    replicas: Dict[str, Replica] = {}
    for config in configs:
        mine = topology_from_config(config).local
        if (config.hash, config.hash_tag) != (first.hash, first.hash_tag):
            raise ValueError(
                "%s hashes keys differently from %s" % (mine.name, topology.local.name))
        if mine.name not in {m.name for m in topology.nodes}:
            raise ValueError("%s is not in %s's dyn_seeds" % (mine.name, topology.local.name))
        ring = topology.rack_ring(mine.dc, mine.rack)
        known = next(m for m in ring.nodes if m.name == mine.name)
        address = config.servers[0].address
        if address.path:
            raise ValueError("%s's datastore is a Unix socket (%s): use host:port"
                             % (mine.name, address.path))
        replicas[mine.name] = Replica(known, address.host, address.port,
                                      config.datastore_password, owned_ranges(ring, known))
    return Cluster(topology, replicas, first)


# -- the comparison -------------------------------------------------------------------------


class RackCounts:
    def __init__(self) -> None:
        self.scanned = 0  # keys of the range found on this rack
        self.missing = 0  # keys another rack holds, not this one
        self.differing = 0  # keys held here with another value
        self.fixed = 0  # keys written or deleted here by the fix


class Difference(NamedTuple):
    key: bytes
    holdings: Dict[str, Holding]
    choice: Optional[Choice]


class Compare:
    """One run: ``dc``'s racks over ``ranges``."""

    def __init__(self, cluster: Cluster, dc: str, ranges: Sequence[TokenRange] = WHOLE_RING,
                 fix: bool = False, source_rack: Optional[str] = None, rate: float = 0,
                 batch: int = 200, clock: Any = None, out: TextIO = sys.stderr,
                 progress: bool = False) -> None:
        if clock is None:
            from twisted.internet import reactor as clock
        self.cluster = cluster
        self.dc = dc
        self.ranges = list(ranges)
        self.fix = fix
        self.source_rack = source_rack
        self.batch = batch
        self.clock = clock
        self.throttle = Throttle(clock, rate)
        self.racks = cluster.racks(dc)
        self.counts = {rack: RackCounts() for rack in self.racks}
        self.differences: List[Difference] = []
        self.unresolved = 0
        self.progress = Progress(clock)
        self.out = out
        self.show_progress = progress
        self._connections: Dict[str, Any] = {}

    @defer.inlineCallbacks
    def run(self) -> Generator[defer.Deferred[Any], Any, None]:
        reporter = task.LoopingCall(self._report)
        reporter.clock = self.clock
        try:
            for replica in self.cluster.replicas.values():
                if replica.member.dc == self.dc:
                    self._connections[replica.member.name] = yield connect(
                        replica.host, replica.port, replica.password)
            total = 0
            for rack in self.racks:
                for replica in self.cluster.rack_replicas(self.dc, rack):
                    size = yield self._connection(replica).execute_command("DBSIZE")
                    share = span(intersect(replica.owned, self.ranges))
                    total += int(size) * share // max(span(replica.owned), 1)
            self.progress.expected = total
            if self.show_progress:
                reporter.start(0.5)
            for index, rack in enumerate(self.racks):
                for replica in self.cluster.rack_replicas(self.dc, rack):
                    wanted = intersect(replica.owned, self.ranges)
                    if wanted:
                        yield self._scan(index, replica, wanted)
            self.progress.finished = self.clock.seconds()
        finally:
            if reporter.running:
                reporter.stop()
                self._report()
                self.out.write("\n")
            for connection in self._connections.values():
                yield connection.disconnect()

    def _connection(self, replica: Replica) -> Any:
        return self._connections[replica.member.name]

    def _scan(self, index: int, replica: Replica, wanted: List[TokenRange]
              ) -> defer.Deferred[int]:
        filter_ = KeyFilter(self.cluster.hash_fn, self.cluster.hash_tag, wanted)
        rack = self.racks[index]

        @defer.inlineCallbacks
        def compare(keys: List[bytes]) -> Generator[defer.Deferred[Any], Any, None]:
            keys = [key for key in dict.fromkeys(keys) if filter_.wanted(key)]
            for chunk in batches(keys, self.batch):
                yield self.throttle.take(len(chunk))
                yield self._compare(index, rack, list(chunk), filter_)

        return scan_batches(self._connection(replica), self.batch, compare)

    @defer.inlineCallbacks
    def _compare(self, index: int, scanned_rack: str, keys: List[bytes], filter_: KeyFilter
                 ) -> Generator[defer.Deferred[Any], Any, None]:
        held: Dict[str, List[Holding]] = {}
        for rack in self.racks:
            held[rack] = yield self._holdings(rack, keys, filter_)
        self.progress.keys += len(keys)
        for position, key in enumerate(keys):
            holdings = {rack: held[rack][position] for rack in self.racks}
            if holdings[scanned_rack].payload is None:
                continue  # gone since the SCAN
            if any(holdings[r].payload is not None for r in self.racks[:index]):
                continue  # compared when an earlier rack was scanned
            self.counts[scanned_rack].scanned += 1
            if len({h.payload for h in holdings.values()}) == 1:
                continue
            choice = choose(holdings, self.source_rack)
            reference = holdings[choice.rack if choice else scanned_rack].payload
            for rack, holding in holdings.items():
                if holding.payload is None:
                    self.counts[rack].missing += 1
                elif reference is not None and holding.payload != reference:
                    self.counts[rack].differing += 1
            self.differences.append(Difference(key, holdings, choice))
            if choice is None:
                self.unresolved += 1
            elif self.fix:
                yield self._apply(key, holdings, choice, filter_)

    @defer.inlineCallbacks
    def _holdings(self, rack: str, keys: List[bytes], filter_: KeyFilter
                  ) -> Generator[defer.Deferred[Any], Any, List[Holding]]:
        """Each key as its owner in ``rack`` holds it."""
        by_owner: Dict[str, List[int]] = {}
        for position, key in enumerate(keys):
            owner = self.cluster.owner(self.dc, rack, filter_.token(key))
            by_owner.setdefault(owner.member.name, []).append(position)
        found: List[Optional[Holding]] = [None] * len(keys)
        for name, positions in by_owner.items():
            connection = self._connections[name]
            its_keys = [keys[p] for p in positions]
            stamps = [connection.execute_command("ZSCORE", metadata, key)
                      for key in its_keys for metadata in (ADD_SET, REM_SET)]
            dumped = yield dump_all(connection, its_keys)
            scores = yield defer.gatherResults(stamps, consumeErrors=True)
            for i, position in enumerate(positions):
                written, removed = scores[2 * i], scores[2 * i + 1]
                found[position] = Holding(
                    dumped[i].payload, dumped[i].ttl,
                    None if written is None else int(float(written)),
                    None if removed is None else int(float(removed)),
                )
        return [h for h in found if h is not None]

    @defer.inlineCallbacks
    def _apply(self, key: bytes, holdings: Dict[str, Holding], choice: Choice,
               filter_: KeyFilter) -> Generator[defer.Deferred[Any], Any, None]:
        winner = holdings[choice.rack]
        token = filter_.token(key)
        for rack, holding in holdings.items():
            if rack == choice.rack:
                continue
            connection = self._connections[self.cluster.owner(self.dc, rack, token).member.name]
            if winner.deleted or winner.payload is None:
                if holding.payload is None:
                    continue
                yield connection.execute_command("DEL", key)
                if winner.removed is not None:
                    yield connection.execute_command("ZADD", REM_SET, winner.removed, key)
                    yield connection.execute_command("ZREM", ADD_SET, key)
            else:
                if holding.payload == winner.payload:
                    continue
                yield connection.execute_command(
                    "RESTORE", key, winner.ttl, winner.payload, "REPLACE")
                if winner.written is not None:
                    yield connection.execute_command("ZADD", ADD_SET, winner.written, key)
                    yield connection.execute_command("ZREM", REM_SET, key)
            self.counts[rack].fixed += 1

    def _report(self) -> None:
        self.out.write("\r%s, %d differ" % (self.progress.line(), len(self.differences)))
        self.out.flush()

    # -- the summary --------------------------------------------------------------------------
    def summary(self, show: int = 10) -> str:
        rows = [("rack", "keys", "missing", "differing", "fixed")]
        for rack in self.racks:
            c = self.counts[rack]
            rows.append((rack, str(c.scanned), str(c.missing), str(c.differing), str(c.fixed)))
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(cell.rjust(w) if i else cell.ljust(w)
                           for i, (cell, w) in enumerate(zip(row, widths)))
                 for row in rows]
        fixed = len(self.differences) - self.unresolved if self.fix else 0
        lines.append(
            "%d keys compared in %.1f s (%d keys/s); %d differ: %d fixed, %d unresolved"
            % (self.progress.keys, self.progress.elapsed(), self.progress.rate(),
               len(self.differences), fixed, self.unresolved))
        for difference in self.differences[:show]:
            lines.append("  %s: %s -> %s" % (
                difference.key.decode("utf-8", "replace"),
                ", ".join("%s %s" % (rack, _describe(h))
                          for rack, h in difference.holdings.items()),
                "%s (%s)" % difference.choice if difference.choice else "unresolved"))
        if len(self.differences) > show:
            lines.append("  ... and %d more" % (len(self.differences) - show))
        return "\n".join(lines) + "\n"

    @property
    def clean(self) -> bool:
        """Nothing left different: none found, or every one fixed."""
        return not self.differences or (self.fix and not self.unresolved)


def _describe(holding: Holding) -> str:
    text = "missing" if holding.payload is None else "crc %08x" % zlib.crc32(holding.payload)
    if holding.newest >= 0:
        text += " @%d%s" % (holding.newest, " deleted" if holding.deleted else "")
    return text


"""Warm-up of a new or replaced node: its token range copied from another rack.

Dynomite left this to an external manager (Redis replication from a peer). Here the
node does it itself, with ``warm_up: true`` at startup or when asked on the admin port
(``/warm_up/start``, ``/warm_up/start/<host:port>``; ``python -m dynotwist.repair
warm-up`` asks for it):

1. the node goes to RESUMING: writes are served (replicas keep sending theirs), reads
   are refused (``dynotwist.core.states``);
2. the source: the nodes of another rack that own this node's ranges there (the other
   racks of its DC first, in name order, then other DCs), each one's datastore found
   by asking the node over the peer link for its port (``CONFIG GET port``, on its
   host), or the datastore the operator named;
3. SCAN of each source datastore; for each key of this node's ranges (read repair's
   metadata aside), DUMP and PTTL there, then RESTORE here with the TTL kept and
   without REPLACE: a key written here meanwhile (by a live write) wins, and a key
   any live write touched here since the warm-up started (a delete too) is skipped;
   at most ``rate`` keys a second;
4. progress (keys and bytes copied, rate, time left) in the log every few seconds and
   in /info (``warm_up_*``); at the end the node goes to NORMAL.
"""

from __future__ import annotations

from typing import Any, Dict, Generator, List, Optional, Sequence, Set, Tuple

import txredisapi
from twisted.internet import defer, task

from dynotwist.core import states
from dynotwist.core.coalesce import split_array
from dynotwist.core.ranges import TokenRange, intersect, owned_ranges, span
from dynotwist.core.ring import Member, Topology
from dynotwist.core.slots import Slot
from dynotwist.core.stats import Stats
from dynotwist.logs import logger, notice
from dynotwist.proto import commands
from dynotwist.proto.dnode import DMSG_REQ
from dynotwist.proto.resp import ProtocolError, RequestParser, encode_command
from dynotwist.repair.keys import KeyFilter, Progress, Throttle, connect, dump_all, scan_batches

__all__ = ["DEFAULT_RATE", "DONE", "FAILED", "IDLE", "RUNNING", "WarmUp", "WarmUpError"]

log = logger(__name__)

#: keys copied a second, at most, unless told otherwise
DEFAULT_RATE = 20000
#: keys per SCAN step and per DUMP batch
BATCH = 200
#: seconds between two progress lines in the log
REPORT_EVERY = 2.0
#: seconds to wait for a source node's peer link
PEER_WAIT = 30.0

# states, as /info's warm_up_state gauge gives them
IDLE, RUNNING, DONE, FAILED = 0, 1, 2, 3
_STATE_NAMES = {IDLE: "idle", RUNNING: "running", DONE: "done", FAILED: "failed"}


class WarmUpError(Exception):
    """Why a warm-up cannot go on (said in the log and /warm_up/status)."""


class Source:
    """A datastore holding part of this node's ranges."""

    def __init__(self, name: str, host: str, port: int, ranges: Sequence[TokenRange],
                 owned: Sequence[TokenRange]) -> None:
        self.name = name
        self.host = host
        self.port = port
        self.ranges = list(ranges)  # what is copied from it
        self.owned = list(owned)  # what it holds (to estimate the keys to copy)

    def __repr__(self) -> str:
        return "%s (datastore %s:%d)" % (self.name, self.host, self.port)


def source_racks(topology: Topology) -> List[Tuple[str, str]]:
    """The racks to copy from, in the order tried: the local DC's other racks, then
    every rack of the other DCs (names in order)."""
    local = topology.local
    racks = [(local.dc, rack) for rack in topology.racks_of(local.dc) if rack != local.rack]
    for dc in topology.datacenters():
        if dc != local.dc:
            racks.extend((dc, rack) for rack in topology.racks_of(dc))
    return racks


def rack_sources(topology: Topology, dc: str, rack: str, wanted: Sequence[TokenRange]
                 ) -> List[Tuple[Member, List[TokenRange], List[TokenRange]]]:
    """The nodes of ``dc``/``rack`` owning part of ``wanted``: each with that part and
    all it owns."""
    ring = topology.rack_ring(dc, rack)
    found = []
    for member in ring.nodes:
        owned = owned_ranges(ring, member)
        share = intersect(owned, wanted)
        if share:
            found.append((member, share, owned))
    return found


class _Reply:
    """The owner of one request's slot: its reply fires ``deferred``."""

    def __init__(self) -> None:
        self.deferred: defer.Deferred[bytes] = defer.Deferred()

    def complete(self, slot: Slot, reply: bytes) -> None:
        self.deferred.callback(reply)


class WarmUp:
    """One node's warm-up (see the module's docstring); ``node`` is the running node."""

    def __init__(self, node: Any, rate: int = DEFAULT_RATE) -> None:
        self.node = node
        self.reactor = node.reactor
        self.rate = rate
        self.state = IDLE
        self.error = ""
        self.progress = Progress(self.reactor)
        self.sources: List[Source] = []
        self.touched: Set[bytes] = set()  # keys live writes reached during the warm-up
        self.skipped = 0  # keys a live write reached first
        self.done: Optional[defer.Deferred[Any]] = None
        stats: Stats = node.stats
        stats.read_gauge("warm_up_state", lambda: self.state)
        stats.read_gauge("warm_up_keys", lambda: self.progress.copied)
        stats.read_gauge("warm_up_bytes", lambda: self.progress.bytes)
        stats.read_gauge("warm_up_keys_per_second",
                         lambda: round(self.progress.rate()) if self.state else 0)
        stats.read_gauge("warm_up_seconds_left", self._seconds_left)

    def _seconds_left(self) -> int:
        left = self.progress.seconds_left() if self.state == RUNNING else 0
        return -1 if left is None else round(left)

    # -- asked by the node and the admin port ----------------------------------------------
    def start(self, source: Optional[str] = None, rate: Optional[int] = None) -> str:
        """Start copying (``source``: ``host:port`` of the datastore to copy from);
        what happened, in a sentence."""
        if self.state == RUNNING:
            return "already running"
        address = None
        if source is not None:
            host, _, port = source.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                return "refused: the source is host:port, not %r" % source
            address = (host, int(port))
        if rate is not None:
            self.rate = rate
        self.state = RUNNING
        self.error = ""
        self.progress = Progress(self.reactor)
        self.touched = set()
        self.skipped = 0
        self.node.gate.write_observer = self.observe
        self.node.gate.set_state(states.RESUMING)
        self.done = self._run(address)
        return "started"

    def status(self) -> Dict[str, Any]:
        progress = self.progress
        left = progress.seconds_left()
        return {
            "state": _STATE_NAMES[self.state],
            "error": self.error,
            "sources": [repr(source) for source in self.sources],
            "keys_copied": progress.copied,
            "keys_seen": progress.keys,
            "keys_expected": progress.expected,
            "keys_skipped": self.skipped,
            "bytes_copied": progress.bytes,
            "keys_per_second": round(progress.rate()),
            "seconds": round(progress.elapsed(), 3),
            "seconds_left": None if left is None else round(left, 1),
        }

    def observe(self, raw: bytes) -> None:
        """A write reached this node's datastore while copying: its keys are left alone."""
        try:
            requests = RequestParser().feed(raw)
        except ProtocolError:
            return
        for args, _ in requests:
            spec = commands.lookup(args)
            if spec is None:
                continue
            command = commands.describe(spec, args)
            if not isinstance(command, bytes):
                self.touched.update(command.keys)

    # -- the copy ---------------------------------------------------------------------------
    @defer.inlineCallbacks
    def _run(self, address: Optional[Tuple[str, int]]) -> Generator[defer.Deferred[Any], Any, None]:
        node = self.node
        config = node.config
        topology: Topology = node.topology
        local = topology.local
        wanted = owned_ranges(topology.rack_ring(local.dc, local.rack), local)
        notice(log, "warm-up: copying token ranges {ranges} from another rack",
               ranges=_show(wanted))
        target = None
        reporter = task.LoopingCall(self._report)
        reporter.clock = self.reactor
        try:
            if address is not None:
                # a datastore the operator named: taken to hold the same ranges here
                name = "%s:%d" % address
                self.sources = [Source(name, address[0], address[1], wanted, wanted)]
            else:
                self.sources = yield self._find_sources(wanted)
            datastore = config.servers[0].address
            target = yield connect(datastore.host, datastore.port, config.datastore_password)
            filter_ = KeyFilter(node.router.hash_fn, node.router.hash_tag, [])
            throttle = Throttle(self.reactor, self.rate)
            self.progress.started = self.reactor.seconds()  # the rate: of the copy alone
            reporter.start(REPORT_EVERY, now=False)
            for source in self.sources:
                filter_.ranges = source.ranges
                yield self._copy(source, target, filter_, throttle)
        except Exception as error:
            self.state = FAILED
            self.error = str(error) if isinstance(error, WarmUpError) else repr(error)
            log.error("warm-up failed: {error}; the node still refuses reads (retry with"
                      " /warm_up/start, or /state/normal to serve as it is)", error=self.error)
        else:
            self.progress.finished = self.reactor.seconds()
            self.state = DONE
            if node.gate.state == states.RESUMING:
                node.gate.set_state(states.NORMAL)
            notice(
                log,
                "warm-up done: {keys} keys ({megabytes:.1f} MB) copied in {seconds:.1f} s"
                " ({rate:.0f} keys/s), {skipped} left to live writes; serving reads",
                keys=self.progress.copied, megabytes=self.progress.bytes / 1e6,
                seconds=self.progress.elapsed(), rate=self.progress.rate(),
                skipped=self.skipped,
            )
        finally:
            if reporter.running:
                reporter.stop()
            node.gate.write_observer = None
            self.touched = set()
            if target is not None:
                yield target.disconnect()

    @defer.inlineCallbacks
    def _find_sources(self, wanted: Sequence[TokenRange]
                      ) -> Generator[defer.Deferred[Any], Any, List[Source]]:
        topology: Topology = self.node.topology
        problems = []
        for dc, rack in source_racks(topology):
            found = []
            try:
                for member, share, owned in rack_sources(topology, dc, rack, wanted):
                    host, port = yield self._datastore_of(member)
                    found.append(Source(member.name, host, port, share, owned))
            except WarmUpError as error:
                problems.append("%s/%s: %s" % (dc, rack, error))
                continue
            notice(log, "warm-up: copying from {dc}/{rack}: {sources}", dc=dc, rack=rack,
                   sources=", ".join(map(repr, found)))
            return found
        raise WarmUpError("no rack to copy from (%s)" % ("; ".join(problems) or "no other rack"))

    @defer.inlineCallbacks
    def _datastore_of(self, member: Member) -> Generator[defer.Deferred[Any], Any, Tuple[str, int]]:
        """The datastore beside ``member``: its host, the port its node reports."""
        pool = self.node.peers[member.name]
        deadline = self.reactor.seconds() + PEER_WAIT
        request = encode_command([b"CONFIG", b"GET", b"port"])
        while True:
            answer = _Reply()
            if pool.send(request, Slot(answer), DMSG_REQ, False, 0):
                reply = yield answer.deferred
                elements = split_array(reply)
                if elements is None or len(elements) != 2:
                    raise WarmUpError("%s cannot tell its datastore's port: %r"
                                      % (member.name, reply[:80]))
                port = elements[1].split(b"\r\n")[1]
                return member.host, int(port)
            if self.reactor.seconds() > deadline:
                raise WarmUpError("%s is not connected" % member.name)
            yield task.deferLater(self.reactor, 0.2, lambda: None)

    @defer.inlineCallbacks
    def _copy(self, source: Source, target: Any, filter_: KeyFilter, throttle: Throttle
              ) -> Generator[defer.Deferred[Any], Any, None]:
        config = self.node.config
        origin = yield connect(source.host, source.port, config.datastore_password)
        try:
            size = yield origin.execute_command("DBSIZE")
            # the source holds its own ranges' keys: ours are about their share of them
            self.progress.expected += int(size) * span(source.ranges) // span(source.owned)
            progress = self.progress

            @defer.inlineCallbacks
            def copy_batch(keys: List[bytes]) -> Generator[defer.Deferred[Any], Any, None]:
                progress.keys += len(keys)
                keys = [key for key in keys if filter_.wanted(key)]
                if not keys:
                    return
                yield throttle.take(len(keys))
                dumped = yield dump_all(origin, keys)
                restores = []
                for key, item in zip(keys, dumped):
                    if item.payload is None:
                        continue  # gone since the SCAN
                    if key in self.touched:
                        self.skipped += 1
                        continue
                    restores.append((key, item, target.execute_command(
                        "RESTORE", key, item.ttl, item.payload)))
                for key, item, reply in restores:
                    try:
                        yield reply
                    except txredisapi.ResponseError as error:
                        if "BUSYKEY" not in str(error):
                            raise WarmUpError("RESTORE %r here: %s" % (key, error)) from None
                        self.skipped += 1  # written here meanwhile: the live write wins
                        continue
                    progress.copied += 1
                    progress.bytes += len(item.payload or b"")

            yield scan_batches(origin, BATCH, copy_batch)
        finally:
            yield origin.disconnect()

    def _report(self) -> None:
        notice(log, "warm-up: {line}", line=self.progress.line())


def _show(ranges: Sequence[TokenRange]) -> str:
    return ", ".join("%d-%d" % pair for pair in ranges)

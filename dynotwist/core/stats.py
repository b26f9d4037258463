"""Counters, gauges and histograms; the /info JSON, Prometheus text and ``-D`` renderers.

Pure logic: no Twisted, no I/O (time is passed in). Reference: sections 6.3 and 6.4.

:data:`METRICS` is the single table of every metric: its name, kind, scope, unit and
description. Everything else here (the :class:`Stats` attributes, the /info field order,
the Prometheus families, ``twistd dynomite -D``) follows from it.

Scopes:

- ``node``: /info's top level (uptime, Dynomite's allocator gauges, histograms);
- ``pool``: the object named after the YAML root key (Dynomite's pool metrics);
- ``server``: the object inside it named after the datastore (Dynomite's server metrics);
- ``peer``: dynotwist's per-peer metrics, one set per peer; they are only in /metrics
  (/info keeps Dynomite's layout exactly), as ``dynomite_peer_link_<name>``.

Hot path usage (one :class:`Stats` per node, built at startup)::

    stats = Stats("dyn_o_mite", "127.0.0.1:6379", "dc1", "rack1", started=now)
    stats.client_read_requests += 1            # counter: a slot attribute, integer add
    stats.latency.record(elapsed_us)           # histogram: one bisect + three adds
    stats.client_connections += 1              # a gauge may be kept by hand (+= / -=) ...
    stats.read_gauge("in_queue", pool.queued)  # ... or read from a callable when asked
    stats.server_ejected_at = int(now * 1000)  # timestamps: ms since the epoch (Dynomite's)

    link = stats.peer("10.0.0.2:8101", "dc1", "rack2")  # once, when the peer pool is built
    link.requests += 1                         # per-peer counter, same cost
    link.rtt.record(rtt_us)
    link.read_gauge("connections", pool.connected_count)

Attribute names are the metric names of the table (per-peer ones without their
``peer_link_`` prefix); a misspelt name raises ``AttributeError`` (the classes have
``__slots__``). Counters are never reset (Prometheus counters); histograms are reset
every :data:`HISTOGRAM_RESET_INTERVAL` seconds (checked at each :meth:`Stats.snapshot`
and by :meth:`Stats.maybe_reset_histograms`) and by /historeset.

The renderers take a :class:`Snapshot`, plain data, so that they are testable without
a node.
"""

from __future__ import annotations

import json
import math
import os
from bisect import bisect_right
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from dynotwist import __version__

__all__ = [
    "BUCKET_BOUNDS",
    "COUNTER",
    "GAUGE",
    "HISTOGRAM",
    "HISTOGRAM_RESET_INTERVAL",
    "METRICS",
    "NODE",
    "PEER",
    "POOL",
    "POOL_EXTRAS",
    "SERVER",
    "TIMESTAMP",
    "ClusterMember",
    "Histogram",
    "HistogramSnapshot",
    "Metric",
    "PeerSnapshot",
    "PeerStats",
    "Snapshot",
    "Stats",
    "describe",
    "metrics_of",
    "render_cluster_describe",
    "render_info",
    "render_prometheus",
]

# -- the table ------------------------------------------------------------------------

COUNTER = "counter"  # monotonic, only ever incremented
GAUGE = "gauge"  # a current level: kept with += / -=, or read from a callable when asked
TIMESTAMP = "timestamp"  # ms since the epoch, set when the event happens (0 = never)
HISTOGRAM = "histogram"  # Dynomite's 94-bucket histogram (section 6.4)

NODE = "node"
POOL = "pool"
SERVER = "server"
PEER = "peer"

#: prefix of the exported name (Prometheus, ``-D``) of a per-peer metric
PEER_PREFIX = "peer_link_"


# DYNOTWIST_STATS=off stubs the hot path's counting out (to measure what it costs)
ENABLED = os.environ.get("DYNOTWIST_STATS") != "off"


class Metric(NamedTuple):
    """One row of :data:`METRICS`."""

    name: str  # the attribute, the /info key (pool, server), the exported name's stem
    kind: str  # COUNTER, GAUGE, TIMESTAMP or HISTOGRAM
    scope: str  # NODE, POOL, SERVER or PEER
    description: str  # Dynomite's text for its metrics, byte for byte (typos included)
    unit: str = ""  # appended to the Prometheus name ("seconds", "microseconds", "bytes")

    @property
    def exported(self) -> str:
        """The name without ``dynomite_``: Prometheus family stem and ``-D`` name."""
        name = PEER_PREFIX + self.name if self.scope == PEER else self.name
        return name + "_" + self.unit if self.unit else name


def _m(name: str, kind: str, scope: str, description: str, unit: str = "") -> Metric:
    return Metric(name, kind, scope, description, unit)


C, G, T, H = COUNTER, GAUGE, TIMESTAMP, HISTOGRAM

#: Every metric, in /info order within each scope.
METRICS: Tuple[Metric, ...] = (
    # -- node: /info's top level (dynotwist's descriptions; Dynomite's -D omits them)
    _m("uptime", G, NODE, "seconds since the node started", "seconds"),
    _m("latency", H, NODE, "client request latency from receipt to reply, usec", "microseconds"),
    _m("payload_size", H, NODE, "size of client write requests, bytes", "bytes"),
    _m("cross_region_rtt", H, NODE, "round-trip time to peers in other DCs, usec", "microseconds"),
    _m("cross_zone_rtt", H, NODE, "round-trip time to peers in this DC, usec", "microseconds"),
    _m("server_rtt", H, NODE, "round-trip time to the datastore, usec", "microseconds"),
    _m(
        "cross_region_queue_wait",
        H,
        NODE,
        "time requests to peers in other DCs wait to be sent, usec",
        "microseconds",
    ),
    _m(
        "cross_zone_queue_wait",
        H,
        NODE,
        "time requests to peers in this DC wait to be sent, usec",
        "microseconds",
    ),
    _m(
        "server_queue_wait",
        H,
        NODE,
        "time requests to the datastore wait to be sent, usec",
        "microseconds",
    ),
    _m("client_out_queue_depth", H, NODE, "replies waiting to be written to a client"),
    _m("server_in_queue_depth", H, NODE, "requests waiting to be sent to the datastore"),
    _m("server_out_queue_depth", H, NODE, "requests sent to the datastore awaiting a reply"),
    _m("dnode_client_out_queue_depth", H, NODE, "replies waiting to be written to a peer"),
    _m("peer_in_queue_depth", H, NODE, "requests waiting to be sent to a peer in this DC"),
    _m("peer_out_queue_depth", H, NODE, "requests sent to a peer in this DC awaiting a reply"),
    _m(
        "remote_peer_out_queue_depth",
        H,
        NODE,
        "requests sent to a peer in another DC awaiting a reply",
    ),
    _m(
        "remote_peer_in_queue_depth", H, NODE, "requests waiting to be sent to a peer in another DC"
    ),
    _m("alloc_msgs", G, NODE, "requests in flight (Dynomite: messages allocated)"),
    _m("free_msgs", G, NODE, "always 0: dynotwist keeps no message pool"),
    _m("alloc_mbufs", G, NODE, "always 0: dynotwist keeps no buffer pool"),
    _m("free_mbufs", G, NODE, "always 0: dynotwist keeps no buffer pool"),
    _m("dyn_memory", G, NODE, "maximum resident set size, KB (ru_maxrss)"),
    # -- pool (Dynomite's STATS_POOL_CODEC, in its order)
    _m("client_eof", C, POOL, "# eof on client connections"),
    _m("client_err", C, POOL, "# errors on client connections"),
    _m("client_connections", G, POOL, "# active client connections"),
    _m("client_read_requests", C, POOL, "# client read requests"),
    _m("client_write_requests", C, POOL, "# client write responses"),
    _m("client_dropped_requests", C, POOL, "# client dropped requests"),
    _m("client_non_quorum_w_responses", C, POOL, "# client non quorum write responses"),
    _m("client_non_quorum_r_responses", C, POOL, "# client non quorum read responses"),
    _m("server_ejects", C, POOL, "# times backend server was ejected"),
    _m("dnode_client_eof", C, POOL, "# eof on dnode client connections"),
    _m("dnode_client_err", C, POOL, "# errors on dnode client connections"),
    _m("dnode_client_connections", G, POOL, "# active dnode client connections"),
    _m("dnode_client_in_queue", G, POOL, "# dnode client requests in incoming queue"),
    _m(
        "dnode_client_in_queue_bytes",
        G,
        POOL,
        "current dnode client request bytes in incoming queue",
    ),
    _m("dnode_client_out_queue", G, POOL, "# dnode client requests in outgoing queue"),
    _m(
        "dnode_client_out_queue_bytes",
        G,
        POOL,
        "current dnode client request bytes in outgoing queue",
    ),
    _m("peer_dropped_requests", C, POOL, "# local dc peer dropped requests"),
    _m("peer_timedout_requests", C, POOL, "# local dc peer timedout requests"),
    _m("remote_peer_dropped_requests", C, POOL, "# remote dc peer dropped requests"),
    _m("remote_peer_timedout_requests", C, POOL, "# remote dc peer timedout requests"),
    _m("remote_peer_failover_requests", C, POOL, "# remote dc peer failover requests"),
    _m("peer_eof", C, POOL, "# eof on peer connections"),
    _m("peer_err", C, POOL, "# errors on peer connections"),
    _m("peer_timedout", C, POOL, "# timeouts on local dc peer connections"),
    _m("remote_peer_timedout", C, POOL, "# timeouts on remote dc peer connections"),
    _m("peer_connections", G, POOL, "# active peer connections"),
    # a gauge in Dynomite, but only ever incremented: a counter here (Prometheus rate())
    _m("peer_forward_error", C, POOL, "# times we encountered a peer forwarding error"),
    _m("peer_requests", C, POOL, "# peer requests"),
    _m("peer_request_bytes", C, POOL, "total peer request bytes"),
    _m("peer_responses", C, POOL, "# peer respones"),
    _m("peer_response_bytes", C, POOL, "total peer response bytes"),
    _m("peer_ejected_at", T, POOL, "timestamp when peer was ejected"),
    _m("peer_ejects", C, POOL, "# times a peer was ejected"),
    _m("peer_in_queue", G, POOL, "# local dc peer requests in incoming queue"),
    _m("remote_peer_in_queue", G, POOL, "# remote dc peer requests in incoming queue"),
    _m("peer_in_queue_bytes", G, POOL, "current peer request bytes in incoming queue"),
    _m(
        "remote_peer_in_queue_bytes",
        G,
        POOL,
        "current peer request bytes in incoming queue to remote DC",
    ),
    _m("peer_out_queue", G, POOL, "# local dc peer requests in outgoing queue"),
    _m("remote_peer_out_queue", G, POOL, "# remote dc peer requests in outgoing queue"),
    _m("peer_out_queue_bytes", G, POOL, "current peer request bytes in outgoing queue"),
    _m(
        "remote_peer_out_queue_bytes",
        G,
        POOL,
        "current peer request bytes in outgoing queue to remote DC",
    ),
    _m("peer_mismatch_requests", C, POOL, "current dnode peer mismatched messages"),
    _m("forward_error", C, POOL, "# times we encountered a forwarding error"),
    _m("fragments", C, POOL, "# fragments created from a multi-vector request"),
    _m("stats_count", C, POOL, "# stats request"),
    # pool, dynotwist's own (POOL_EXTRAS): /info lists them after Dynomite's pool fields
    _m(
        "peer_plaintext_refused",
        C,
        POOL,
        "# plaintext peer connections refused where secure_server_option requires TLS",
    ),
    _m(
        "peer_tls_refused",
        C,
        POOL,
        "# peer connections refused for their certificate or a failed TLS handshake",
    ),
    # -- server (Dynomite's STATS_SERVER_CODEC, in its order). server_ejected_at holds ms
    # since the epoch, as Dynomite's values do, whatever its description says.
    _m("server_eof", C, SERVER, "# eof on server connections"),
    _m("server_err", C, SERVER, "# errors on server connections"),
    _m("server_timedout", C, SERVER, "# timeouts on server connections"),
    _m("server_ejected_at", T, SERVER, "timestamp when server was ejected in usec since epoch"),
    _m("server_dropped_requests", C, SERVER, "# server dropped requests"),
    _m("server_timedout_requests", C, SERVER, "# server timedout requests"),
    _m("read_requests", C, SERVER, "# read requests"),
    _m("read_request_bytes", C, SERVER, "total read request bytes"),
    _m("write_requests", C, SERVER, "# write requests"),
    _m("write_request_bytes", C, SERVER, "total write request bytes"),
    _m("read_responses", C, SERVER, "# read respones"),
    _m("read_response_bytes", C, SERVER, "total read response bytes"),
    _m("write_responses", C, SERVER, "# write respones"),
    _m("write_response_bytes", C, SERVER, "total write response bytes"),
    _m("in_queue", G, SERVER, "# requests in incoming queue"),
    _m("in_queue_bytes", G, SERVER, "current request bytes in incoming queue"),
    _m("out_queue", G, SERVER, "# requests in outgoing queue"),
    _m("out_queue_bytes", G, SERVER, "current request bytes in outgoing queue"),
    _m("redis_req_get", C, SERVER, "# Redis get"),
    _m("redis_req_set", C, SERVER, "# Redis set"),
    _m("redis_req_del", C, SERVER, "# Redis del"),
    _m("redis_req_incr_decr", C, SERVER, "# Redis incr or decr"),
    _m("redis_req_keys", C, SERVER, "# Redis keys"),
    _m("redis_req_mget", C, SERVER, "# Redis mget"),
    _m("redis_req_scan", C, SERVER, "# Redis scan"),
    _m("redis_req_sort", C, SERVER, "# Redis sort"),
    _m("redis_req_lreqm", C, SERVER, "# Redis lreqm"),
    _m("redis_req_sunion", C, SERVER, "# Redis sunion"),
    _m("redis_req_ping", C, SERVER, "# Redis ping"),
    _m("redis_req_lists", C, SERVER, "# Redis lists"),
    _m("redis_req_sets", C, SERVER, "# Redis sets"),
    _m("redis_req_hashes", C, SERVER, "# Redis hashes"),
    _m("redis_req_sortedsets", C, SERVER, "# Redis sortedsets"),
    _m("redis_req_other", C, SERVER, "# Redis other"),
    # -- per peer (dynotwist's): exported as peer_link_<name>, labelled with the peer
    _m("requests", C, PEER, "# requests sent to this peer"),
    _m("request_bytes", C, PEER, "total bytes of requests sent to this peer"),
    _m("responses", C, PEER, "# responses received from this peer"),
    _m("response_bytes", C, PEER, "total bytes of responses received from this peer"),
    _m("timedout_requests", C, PEER, "# requests to this peer that timed out"),
    _m("dropped_requests", C, PEER, "# requests to this peer failed without its reply"),
    _m("eof", C, PEER, "# eof on connections to this peer"),
    _m("err", C, PEER, "# errors on connections to this peer"),
    _m("resets", C, PEER, "# times this peer's connections were reset (/peer/reset)"),
    _m("connections", G, PEER, "# active connections to this peer"),
    _m("out_queue", G, PEER, "# requests sent to this peer awaiting a reply"),
    _m("rtt", H, PEER, "round-trip time of requests to this peer, usec", "microseconds"),
)

del C, G, T, H

#: pool metrics of dynotwist's own, after Dynomite's in /info (its clients read JSON
#: by key, so fields added at the end of the pool object change nothing for them)
POOL_EXTRAS = ("peer_plaintext_refused", "peer_tls_refused")


def metrics_of(scope: str, kind: Optional[str] = None) -> Tuple[Metric, ...]:
    """The rows of :data:`METRICS` of *scope* (and *kind*), in table order."""
    return tuple(m for m in METRICS if m.scope == scope and (kind is None or m.kind == kind))


_POOL = metrics_of(POOL)
_SERVER = metrics_of(SERVER)
_NODE_VALUES = tuple(m for m in metrics_of(NODE) if m.kind != HISTOGRAM and m.name != "uptime")
_NODE_HISTOGRAMS = metrics_of(NODE, HISTOGRAM)
_PEER_VALUES = tuple(m for m in metrics_of(PEER) if m.kind != HISTOGRAM)
_PEER_HISTOGRAMS = metrics_of(PEER, HISTOGRAM)

# -- histograms -----------------------------------------------------------------------


def _bucket_bounds(count: int = 94) -> Tuple[int, ...]:
    bounds = [1]
    while len(bounds) < count:
        last = bounds[-1]
        nxt = math.floor(last * 1.2)  # in doubles, as Dynomite's floor(last * 1.2)
        bounds.append(nxt + 1 if nxt == last else nxt)
    return tuple(bounds)


#: Dynomite's 94 bucket lower bounds: 1, 2, 3, ... 10, 12, 14, 16, 19, ... 36157192.
BUCKET_BOUNDS: Tuple[int, ...] = _bucket_bounds()

#: Buckets that can hold values. Dynomite's binary search never reaches the last one:
#: values from BUCKET_BOUNDS[92] up (and above the last bound) land in bucket 92, so
#: its "histogram overflowed!" state cannot happen. The same here: 93 buckets.
BUCKETS = len(BUCKET_BOUNDS) - 1

# bisect_right over bounds[1..92] gives the bucket directly: values below 2 (0 and 1)
# -> 0, bounds[i] <= v < bounds[i + 1] -> i, v >= bounds[92] -> 92
_SEARCH = BUCKET_BOUNDS[1:BUCKETS]

#: Prometheus ``le`` of each bucket (values are integers: bucket i holds
#: bounds[i] .. bounds[i + 1] - 1); the top bucket is +Inf
_LE: Tuple[str, ...] = (*(str(b - 1) for b in BUCKET_BOUNDS[1:BUCKETS]), "+Inf")

HISTOGRAM_RESET_INTERVAL = 300.0


class HistogramSnapshot:
    """A histogram's counts at one moment, and Dynomite's statistics over them."""

    __slots__ = ("buckets", "max", "sum")

    def __init__(self, buckets: Optional[Sequence[int]] = None, sum: int = 0, max: int = 0) -> None:
        self.buckets: Tuple[int, ...] = tuple(buckets) if buckets is not None else (0,) * BUCKETS
        if len(self.buckets) != BUCKETS:
            raise ValueError("a histogram has %d buckets, not %d" % (BUCKETS, len(self.buckets)))
        self.sum = sum
        self.max = max

    @property
    def count(self) -> int:
        return sum(self.buckets)

    def percentile(self, p: float) -> int:
        """Lower bound of the bucket where the cumulative count reaches ``floor(n * p)``.

        As Dynomite: an empty histogram gives 1 (the first bound), not 0.
        """
        wanted = math.floor(self.count * p)
        seen = 0
        for bound, n in zip(BUCKET_BOUNDS, self.buckets):
            seen += n
            if seen >= wanted:
                return bound
        return 0

    def mean(self) -> int:
        """``ceil(sum(count * lower bound) / count)``; 0 when empty (Dynomite's mean)."""
        n = self.count
        if not n:
            return 0
        weighted = sum(bound * c for bound, c in zip(BUCKET_BOUNDS, self.buckets))
        return math.ceil(weighted / n)  # a double division, as Dynomite's

    def summary(self) -> Dict[str, int]:
        """The values /info shows (and p50): mean, p50, p95, p99, p999, max."""
        return {
            "mean": self.mean(),
            "p50": self.percentile(0.5),
            "p95": self.percentile(0.95),
            "p99": self.percentile(0.99),
            "p999": self.percentile(0.999),
            "max": self.max,
        }

    def cumulative(self) -> List[Tuple[str, int]]:
        """Prometheus buckets: (``le``, values <= le), the last one ``+Inf``."""
        out = []
        seen = 0
        for le, n in zip(_LE, self.buckets):
            seen += n
            out.append((le, seen))
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HistogramSnapshot):
            return NotImplemented
        return (self.buckets, self.sum, self.max) == (other.buckets, other.sum, other.max)

    def __repr__(self) -> str:
        return "<HistogramSnapshot n=%d sum=%d max=%d>" % (self.count, self.sum, self.max)


class Histogram:
    """Dynomite's histogram (section 6.4): ``record`` is one bisect and three adds.

    Values are non-negative integers (microseconds, bytes, queue lengths).
    """

    __slots__ = ("buckets", "max", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * BUCKETS
        self.sum = 0
        self.max = 0

    def record(
        self,
        value: int,
        _bisect: Callable[[Sequence[int], int], int] = bisect_right,
        _search: Sequence[int] = _SEARCH,
    ) -> None:
        # (the defaults bind the search to locals: a quarter faster on CPython)
        self.buckets[_bisect(_search, value)] += 1
        self.sum += value
        if value > self.max:
            self.max = value

    def record_many(
        self,
        value: int,
        count: int,
        _bisect: Callable[[Sequence[int], int], int] = bisect_right,
        _search: Sequence[int] = _SEARCH,
    ) -> None:
        """``count`` samples of one value (replies of one pipeline, written together)."""
        self.buckets[_bisect(_search, value)] += count
        self.sum += value * count
        if value > self.max:
            self.max = value

    def reset(self) -> None:
        self.buckets = [0] * BUCKETS
        self.sum = 0
        self.max = 0

    def snapshot(self) -> HistogramSnapshot:
        return HistogramSnapshot(self.buckets, self.sum, self.max)

    # the statistics, straight from the live counts
    @property
    def count(self) -> int:
        return sum(self.buckets)

    def percentile(self, p: float) -> int:
        return self.snapshot().percentile(p)

    def mean(self) -> int:
        return self.snapshot().mean()

    def summary(self) -> Dict[str, int]:
        return self.snapshot().summary()


# -- the live objects ------------------------------------------------------------------


# Latency and payload sizes are sampled: the requests of one client read in this many
# are timed, and counted this many times over, so histogram counts still estimate
# totals while the hot path reads the clock once per SAMPLE_EVERY reads.
SAMPLE_EVERY = 16


class RoundTrips:
    """Round-trip times of a pipelined connection, one probe at a time.

    When no probe is out, ``sent(outstanding)`` — called after a write, with the
    number of requests now awaiting replies — makes the last request written the
    probe; replies come in order, so it is answered once that many replies have come
    (``answered(count)`` after each read). Two clock readings per round trip
    (``clock`` is injected), none per request; ``probing`` lets the hot path skip the
    call while a probe is out.
    """

    __slots__ = ("_clock", "_due", "_since", "histograms", "probing")

    def __init__(self, histograms: Sequence[Histogram], clock: Callable[[], float]) -> None:
        self.histograms = tuple(histograms)
        self._clock = clock
        self._due = 0  # replies still to come up to the probe's
        self._since = 0.0
        self.probing = False

    def sent(self, outstanding: int) -> None:
        if not self.probing:
            self.probing = True
            self._due = outstanding
            self._since = self._clock()

    def answered(self, count: int) -> None:
        if self.probing:
            self._due -= count
            if self._due <= 0:
                self.probing = False
                elapsed = int((self._clock() - self._since) * 1e6)
                for histogram in self.histograms:
                    histogram.record(elapsed)

    def clear(self) -> None:
        """The connection is gone: nothing in flight will be answered."""
        self.probing = False


class PeerStats:
    """One peer's counters and RTT histogram (attributes: the ``peer`` rows' names)."""

    __slots__ = (
        "_gauges",
        "connections",
        "dc",
        "dropped_requests",
        "eof",
        "err",
        "name",
        "out_queue",
        "rack",
        "request_bytes",
        "requests",
        "resets",
        "response_bytes",
        "responses",
        "rtt",
        "timedout_requests",
    )

    requests: int
    request_bytes: int
    responses: int
    response_bytes: int
    timedout_requests: int
    dropped_requests: int
    eof: int
    err: int
    resets: int
    connections: int
    out_queue: int
    rtt: Histogram

    def __init__(self, name: str, dc: str, rack: str) -> None:
        self.name = name
        self.dc = dc
        self.rack = rack
        for metric in _PEER_VALUES:
            setattr(self, metric.name, 0)
        for metric in _PEER_HISTOGRAMS:
            setattr(self, metric.name, Histogram())
        self._gauges: Dict[str, Callable[[], int]] = {}

    def read_gauge(self, name: str, source: Callable[[], int]) -> None:
        """Read gauge *name* from *source* at each snapshot (instead of the attribute)."""
        _check_gauge(name, _PEER_VALUES)
        self._gauges[name] = source

    def snapshot(self) -> PeerSnapshot:
        values = {m.name: getattr(self, m.name) for m in _PEER_VALUES}
        for name, source in self._gauges.items():
            values[name] = int(source())
        return PeerSnapshot(
            self.name,
            self.dc,
            self.rack,
            values,
            {m.name: getattr(self, m.name).snapshot() for m in _PEER_HISTOGRAMS},
        )

    def reset_histograms(self) -> None:
        for metric in _PEER_HISTOGRAMS:
            getattr(self, metric.name).reset()


def _check_gauge(name: str, rows: Iterable[Metric]) -> None:
    for metric in rows:
        if metric.name == name:
            if metric.kind != GAUGE:
                raise ValueError("%s is a %s, not a gauge" % (name, metric.kind))
            return
    raise ValueError("no gauge named %r" % name)


def max_rss_kb() -> int:
    """This process's maximum resident set size in KB (Dynomite's ``dyn_memory``)."""
    try:
        import resource
    except ImportError:  # not on this platform
        return 0
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


class Stats:
    """A node's metrics: one slot attribute per node gauge, pool and server metric.

    Histograms are attributes too (``stats.latency.record(us)``); per-peer metrics
    live in :class:`PeerStats` objects from :meth:`peer`.
    """

    # node
    alloc_msgs: int
    free_msgs: int
    alloc_mbufs: int
    free_mbufs: int
    dyn_memory: int
    latency: Histogram
    payload_size: Histogram
    cross_region_rtt: Histogram
    cross_zone_rtt: Histogram
    server_rtt: Histogram
    cross_region_queue_wait: Histogram
    cross_zone_queue_wait: Histogram
    server_queue_wait: Histogram
    client_out_queue_depth: Histogram
    server_in_queue_depth: Histogram
    server_out_queue_depth: Histogram
    dnode_client_out_queue_depth: Histogram
    peer_in_queue_depth: Histogram
    peer_out_queue_depth: Histogram
    remote_peer_out_queue_depth: Histogram
    remote_peer_in_queue_depth: Histogram
    # pool
    client_eof: int
    client_err: int
    client_connections: int
    client_read_requests: int
    client_write_requests: int
    client_dropped_requests: int
    client_non_quorum_w_responses: int
    client_non_quorum_r_responses: int
    server_ejects: int
    dnode_client_eof: int
    dnode_client_err: int
    dnode_client_connections: int
    dnode_client_in_queue: int
    dnode_client_in_queue_bytes: int
    dnode_client_out_queue: int
    dnode_client_out_queue_bytes: int
    peer_dropped_requests: int
    peer_timedout_requests: int
    remote_peer_dropped_requests: int
    remote_peer_timedout_requests: int
    remote_peer_failover_requests: int
    peer_eof: int
    peer_err: int
    peer_timedout: int
    remote_peer_timedout: int
    peer_connections: int
    peer_forward_error: int
    peer_requests: int
    peer_request_bytes: int
    peer_responses: int
    peer_response_bytes: int
    peer_ejected_at: int
    peer_ejects: int
    peer_in_queue: int
    remote_peer_in_queue: int
    peer_in_queue_bytes: int
    remote_peer_in_queue_bytes: int
    peer_out_queue: int
    remote_peer_out_queue: int
    peer_out_queue_bytes: int
    remote_peer_out_queue_bytes: int
    peer_mismatch_requests: int
    forward_error: int
    fragments: int
    stats_count: int
    peer_plaintext_refused: int
    peer_tls_refused: int
    # server
    server_eof: int
    server_err: int
    server_timedout: int
    server_ejected_at: int
    server_dropped_requests: int
    server_timedout_requests: int
    read_requests: int
    read_request_bytes: int
    write_requests: int
    write_request_bytes: int
    read_responses: int
    read_response_bytes: int
    write_responses: int
    write_response_bytes: int
    in_queue: int
    in_queue_bytes: int
    out_queue: int
    out_queue_bytes: int
    redis_req_get: int
    redis_req_set: int
    redis_req_del: int
    redis_req_incr_decr: int
    redis_req_keys: int
    redis_req_mget: int
    redis_req_scan: int
    redis_req_sort: int
    redis_req_lreqm: int
    redis_req_sunion: int
    redis_req_ping: int
    redis_req_lists: int
    redis_req_sets: int
    redis_req_hashes: int
    redis_req_sortedsets: int
    redis_req_other: int

    __slots__ = (
        *(m.name for m in METRICS if m.scope in (NODE, POOL, SERVER) and m.name != "uptime"),
        "_gauges",
        "_peers",
        "dc",
        "histograms_reset_at",
        "pool_name",
        "rack",
        "server_name",
        "source",
        "started",
        "version",
    )

    def __init__(
        self,
        pool_name: str,
        server_name: str,
        dc: str,
        rack: str,
        started: float,
        source: str = "",
        version: str = __version__,
    ) -> None:
        self.pool_name = pool_name
        self.server_name = server_name
        self.dc = dc
        self.rack = rack
        self.started = started
        self.source = source
        self.version = version
        self.histograms_reset_at = started
        for metric in (*_NODE_VALUES, *_POOL, *_SERVER):
            setattr(self, metric.name, 0)
        for metric in _NODE_HISTOGRAMS:
            setattr(self, metric.name, Histogram())
        self._gauges: Dict[str, Callable[[], int]] = {}
        self._peers: Dict[str, PeerStats] = {}

    def peer(self, name: str, dc: str, rack: str) -> PeerStats:
        """The per-peer stats of peer *name*, made on first use."""
        link = self._peers.get(name)
        if link is None:
            link = self._peers[name] = PeerStats(name, dc, rack)
        return link

    @property
    def peers(self) -> List[PeerStats]:
        return list(self._peers.values())

    def read_gauge(self, name: str, source: Callable[[], int]) -> None:
        """Read gauge *name* (node, pool or server) from *source* at each snapshot.

        ``dyn_memory`` is read with :func:`max_rss_kb` unless a source is given.
        """
        _check_gauge(name, (*_NODE_VALUES, *_POOL, *_SERVER))
        self._gauges[name] = source

    def histograms(self) -> Dict[str, Histogram]:
        return {m.name: getattr(self, m.name) for m in _NODE_HISTOGRAMS}

    def reset_histograms(self, now: float) -> None:
        """Empty every histogram (node and peers): /historeset, and every 5 minutes."""
        for metric in _NODE_HISTOGRAMS:
            getattr(self, metric.name).reset()
        for link in self._peers.values():
            link.reset_histograms()
        self.histograms_reset_at = now

    def maybe_reset_histograms(self, now: float) -> bool:
        """Reset the histograms if :data:`HISTOGRAM_RESET_INTERVAL` has passed."""
        if now - self.histograms_reset_at >= HISTOGRAM_RESET_INTERVAL:
            self.reset_histograms(now)
            return True
        return False

    def snapshot(self, now: float) -> Snapshot:
        """Every value at *now* (seconds since the epoch), gauges read from their sources."""
        self.maybe_reset_histograms(now)
        values = {m.name: getattr(self, m.name) for m in (*_NODE_VALUES, *_POOL, *_SERVER)}
        if "dyn_memory" not in self._gauges:
            values["dyn_memory"] = max_rss_kb()
        for name, source in self._gauges.items():
            values[name] = int(source())
        return Snapshot(
            pool_name=self.pool_name,
            server_name=self.server_name,
            source=self.source,
            version=self.version,
            dc=self.dc,
            rack=self.rack,
            uptime=max(0, int(now - self.started)),
            timestamp=int(now),
            node={m.name: values[m.name] for m in _NODE_VALUES},
            pool={m.name: values[m.name] for m in _POOL},
            server={m.name: values[m.name] for m in _SERVER},
            histograms={m.name: getattr(self, m.name).snapshot() for m in _NODE_HISTOGRAMS},
            peers=[link.snapshot() for link in self._peers.values()],
        )


def _check_stats_classes() -> None:
    """The annotated attributes of Stats and PeerStats are exactly the table's names."""
    expected = {m.name for m in METRICS if m.scope in (NODE, POOL, SERVER)} - {"uptime"}
    if set(Stats.__annotations__) != expected:
        raise RuntimeError(
            "Stats attributes differ from METRICS: %r" % (set(Stats.__annotations__) ^ expected,)
        )
    expected = {m.name for m in METRICS if m.scope == PEER}
    if set(PeerStats.__annotations__) != expected:
        raise RuntimeError(
            "PeerStats attributes differ from METRICS: %r"
            % (set(PeerStats.__annotations__) ^ expected,)
        )


_check_stats_classes()

# -- snapshots ---------------------------------------------------------------------------


@dataclass
class PeerSnapshot:
    name: str
    dc: str
    rack: str
    values: Dict[str, int]  # every non-histogram peer metric, by name
    histograms: Dict[str, HistogramSnapshot]  # "rtt"


@dataclass
class Snapshot:
    """Everything the renderers need, as plain data. Missing values render as 0."""

    pool_name: str  # the YAML root key: /info's pool object
    server_name: str  # the datastore's name (host:port): /info's server object
    source: str  # hostname
    version: str
    dc: str
    rack: str
    uptime: int  # seconds
    timestamp: int  # seconds since the epoch
    node: Dict[str, int] = field(default_factory=dict)  # alloc_msgs .. dyn_memory
    pool: Dict[str, int] = field(default_factory=dict)
    server: Dict[str, int] = field(default_factory=dict)
    histograms: Dict[str, HistogramSnapshot] = field(default_factory=dict)
    peers: List[PeerSnapshot] = field(default_factory=list)
    service: str = "dynomite"


# -- /info -------------------------------------------------------------------------------

# /info's top level after the strings: (key, histogram, statistic) or (key, None, node gauge)
_INFO_HEADER: Tuple[Tuple[str, Optional[str], str], ...] = (
    ("latency_max", "latency", "max"),
    ("latency_999th", "latency", "p999"),
    ("latency_99th", "latency", "p99"),
    ("latency_95th", "latency", "p95"),
    ("latency_mean", "latency", "mean"),
    ("payload_size_max", "payload_size", "max"),
    ("payload_size_999th", "payload_size", "p999"),
    ("payload_size_99th", "payload_size", "p99"),
    ("payload_size_95th", "payload_size", "p95"),
    ("payload_size_mean", "payload_size", "mean"),
    ("average_cross_region_rtt", "cross_region_rtt", "mean"),
    ("99_cross_region_rtt", "cross_region_rtt", "p99"),
    ("average_cross_zone_latency", "cross_zone_rtt", "mean"),
    ("99_cross_zone_latency", "cross_zone_rtt", "p99"),
    ("average_server_latency", "server_rtt", "mean"),
    ("99_server_latency", "server_rtt", "p99"),
    ("average_cross_region_queue_wait", "cross_region_queue_wait", "mean"),
    ("99_cross_region_queue_wait", "cross_region_queue_wait", "p99"),
    ("average_cross_zone_queue_wait", "cross_zone_queue_wait", "mean"),
    ("99_cross_zone_queue_wait", "cross_zone_queue_wait", "p99"),
    ("average_server_queue_wait", "server_queue_wait", "mean"),
    ("99_server_queue_wait", "server_queue_wait", "p99"),
    ("client_out_queue_99", "client_out_queue_depth", "p99"),
    ("server_in_queue_99", "server_in_queue_depth", "p99"),
    ("server_out_queue_99", "server_out_queue_depth", "p99"),
    ("dnode_client_out_queue_99", "dnode_client_out_queue_depth", "p99"),
    ("peer_in_queue_99", "peer_in_queue_depth", "p99"),
    ("peer_out_queue_99", "peer_out_queue_depth", "p99"),
    ("remote_peer_out_queue_99", "remote_peer_out_queue_depth", "p99"),
    ("remote_peer_in_queue_99", "remote_peer_in_queue_depth", "p99"),
    *((m.name, None, m.name) for m in _NODE_VALUES),
)

_EMPTY = HistogramSnapshot()


def _statistic(histogram: HistogramSnapshot, statistic: str) -> int:
    if statistic == "max":
        return histogram.max
    if statistic == "mean":
        return histogram.mean()
    return histogram.percentile({"p95": 0.95, "p99": 0.99, "p999": 0.999}[statistic])


def _json_string(text: str) -> str:
    # Dynomite writes the bytes unescaped; for ordinary names json.dumps is the same
    return json.dumps(text, ensure_ascii=False)


def render_info(snapshot: Snapshot) -> bytes:
    """/info as Dynomite writes it: its field order, newlines and nesting, byte for byte.

    Strings are ``"k":"v",`` (no newline), numbers ``"k":N,`` + LF; the pool object is
    named after the YAML root key and holds the server object, named after the
    datastore; the last server field has no comma; then ``}}}`` + LF.
    """
    out = ["{"]
    add = out.append

    def string(key: str, value: str) -> None:
        add('"%s":%s,' % (key, _json_string(value)))

    def number(key: str, value: int) -> None:
        add('"%s":%d,\n' % (key, value))

    string("service", snapshot.service)
    string("source", snapshot.source)
    string("version", snapshot.version)
    number("uptime", snapshot.uptime)
    number("timestamp", snapshot.timestamp)
    string("rack", snapshot.rack)
    string("dc", snapshot.dc)
    summaries: Dict[str, Dict[str, int]] = {}
    for key, histogram, statistic in _INFO_HEADER:
        if histogram is None:
            number(key, snapshot.node.get(statistic, 0))
            continue
        values = summaries.get(histogram)
        if values is None:
            values = summaries[histogram] = {}
        if statistic not in values:
            values[statistic] = _statistic(snapshot.histograms.get(histogram, _EMPTY), statistic)
        number(key, values[statistic])
    add("%s: {" % _json_string(snapshot.pool_name))
    for metric in _POOL:
        number(metric.name, snapshot.pool.get(metric.name, 0))
    add("%s: {" % _json_string(snapshot.server_name))
    for metric in _SERVER[:-1]:
        number(metric.name, snapshot.server.get(metric.name, 0))
    last = _SERVER[-1].name
    add('"%s":%d\n}}}\n' % (last, snapshot.server.get(last, 0)))
    return "".join(out).encode("utf-8")


# -- /cluster_describe -------------------------------------------------------------------


class ClusterMember(NamedTuple):
    """One node as /cluster_describe lists it."""

    dc: str
    rack: str
    name: str  # its IP (Dynomite: public IP env var or dyn_listen host for the local node)
    host: str  # its host name (or IP)
    port: int  # its dyn_listen port
    token: int  # its (first) token


def render_cluster_describe(members: Iterable[ClusterMember]) -> bytes:
    """/cluster_describe as Dynomite writes it (section 6.6), byte for byte.

    DCs, racks and nodes come in the order first seen in *members* (Dynomite: the
    local node, then ``dyn_seeds`` in file order).
    """
    dcs: Dict[str, Dict[str, List[ClusterMember]]] = {}
    for member in members:
        dcs.setdefault(member.dc, {}).setdefault(member.rack, []).append(member)
    dc_parts = []
    for dc, racks in dcs.items():
        rack_parts = []
        for rack, nodes in racks.items():
            node_parts = [
                '{"name":%s,"host":%s,"port":%d,\n"token":%d\n}'
                % (_json_string(n.name), _json_string(n.host), n.port, n.token)
                for n in nodes
            ]
            rack_parts.append(
                '{"name":%s,"servers": [%s]}' % (_json_string(rack), ",".join(node_parts))
            )
        dc_parts.append('{"name":%s,"racks": [%s]}' % (_json_string(dc), ",".join(rack_parts)))
    return ('{"dcs": [%s]}\n' % ",".join(dc_parts)).encode("utf-8")


# -- Prometheus ----------------------------------------------------------------------------

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(pairs: Sequence[Tuple[str, str]]) -> str:
    return ",".join('%s="%s"' % (k, _escape_label(v)) for k, v in pairs)


def render_prometheus(snapshot: Snapshot) -> str:
    """The snapshot in the Prometheus text format 0.0.4.

    Families are ``dynomite_`` + the metric's exported name (+ ``_total`` for counters);
    timestamps are gauges. Every series has the labels ``dc`` and ``rack`` of this
    node; per-peer series add ``peer``, ``peer_dc`` and ``peer_rack``. Histograms have
    one ``le`` bucket per Dynomite bucket (bucket i holds the integers from bound i to
    bound i + 1 - 1), then ``+Inf``, ``_sum`` and ``_count``.
    """
    base = [("dc", snapshot.dc), ("rack", snapshot.rack)]
    node_labels = _labels(base)
    peer_labels = [
        (
            peer,
            _labels([*base, ("peer", peer.name), ("peer_dc", peer.dc), ("peer_rack", peer.rack)]),
        )
        for peer in snapshot.peers
    ]
    lines: List[str] = []
    add = lines.append

    def header(family: str, metric: Metric, kind: str) -> None:
        add("# HELP %s %s" % (family, _escape_help(metric.description)))
        add("# TYPE %s %s" % (family, kind))

    def histogram(family: str, labels: str, data: HistogramSnapshot) -> None:
        for le, count in data.cumulative():
            add('%s_bucket{%s,le="%s"} %d' % (family, labels, le, count))
        add("%s_sum{%s} %d" % (family, labels, data.sum))
        add("%s_count{%s} %d" % (family, labels, data.count))

    for metric in METRICS:
        family = "dynomite_" + metric.exported
        if metric.kind == HISTOGRAM:
            header(family, metric, "histogram")
            if metric.scope == PEER:
                for peer, labels in peer_labels:
                    histogram(family, labels, peer.histograms.get(metric.name, _EMPTY))
            else:
                histogram(family, node_labels, snapshot.histograms.get(metric.name, _EMPTY))
            continue
        if metric.kind == COUNTER:
            family += "_total"
            header(family, metric, "counter")
        else:
            header(family, metric, "gauge")
        if metric.scope == PEER:
            for peer, labels in peer_labels:
                add("%s{%s} %d" % (family, labels, peer.values.get(metric.name, 0)))
            continue
        if metric.scope == NODE:
            if metric.name == "uptime":
                value = snapshot.uptime
            else:
                value = snapshot.node.get(metric.name, 0)
        elif metric.scope == POOL:
            value = snapshot.pool.get(metric.name, 0)
        else:
            value = snapshot.server.get(metric.name, 0)
        add("%s{%s} %d" % (family, node_labels, value))
    add("")
    return "\n".join(lines)


# -- -D / --describe-stats -----------------------------------------------------------------

_SECTIONS = (
    ("pool stats:", POOL),
    ("server stats:", SERVER),
    ("node stats (dynotwist: /info's top level):", NODE),
    ("peer stats (dynotwist: /metrics, per peer):", PEER),
)


def describe(version: str = __version__) -> str:
    """What ``twistd dynomite -D`` prints: Dynomite's ``--describe-stats`` layout.

    The version line, then ``pool stats:`` and ``server stats:`` with one
    ``  <name padded to 20>"<description>"`` line per metric, as Dynomite prints them;
    then dynotwist's node-level and per-peer metrics in the same form.
    """
    lines = ["This is dynotwist-%s" % version, ""]
    for i, (title, scope) in enumerate(_SECTIONS):
        if i:
            lines.append("")
        lines.append(title)
        for metric in metrics_of(scope):
            name = metric.exported if scope == PEER else metric.name
            lines.append('  %-20s"%s"' % (name, metric.description))
    return "\n".join(lines) + "\n"

"""The live counters of a node (:class:`Stats`, one per node; :class:`PeerStats`, one
per peer) and the plain-data :class:`Snapshot` the renderers read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List

from dynotwist import __version__
from dynotwist.core.stats.histograms import (
    HISTOGRAM_RESET_INTERVAL,
    Histogram,
    HistogramSnapshot,
)
from dynotwist.core.stats.table import (
    COUNTER,
    GAUGE,
    HISTOGRAM,
    METRICS,
    NODE,
    NODE_HISTOGRAMS,
    NODE_VALUES,
    PEER,
    PEER_HISTOGRAMS,
    PEER_VALUES,
    POOL,
    POOL_METRICS,
    REDIS_REQUESTS,
    SERVER,
    SERVER_METRICS,
    Metric,
)

# -- the live objects ------------------------------------------------------------------

# Stats' attributes: node, pool and server metrics but uptime (computed) and the
# redis_req_* counters (a list, indexed by a command's stat_class)
_STATS_ATTRIBUTES = tuple(
    m
    for m in METRICS
    if m.scope in (NODE, POOL, SERVER)
    and m.name != "uptime"
    and not m.name.startswith("redis_req_")
)


class PeerStats:
    """One peer's counters and RTT histogram (attributes: the ``peer`` rows' names)."""

    __slots__ = (
        "_gauges",
        "connections",
        "dc",
        "dropped_requests",
        "eof",
        "err",
        "hints_dropped",
        "hints_expired",
        "hints_pending",
        "hints_replayed",
        "hints_stored",
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
        "up",
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
    up: int
    rtt: Histogram
    hints_stored: int
    hints_replayed: int
    hints_expired: int
    hints_dropped: int
    hints_pending: int

    def __init__(self, name: str, dc: str, rack: str) -> None:
        self.name = name
        self.dc = dc
        self.rack = rack
        for metric in PEER_VALUES:
            setattr(self, metric.name, 0)
        for metric in PEER_HISTOGRAMS:
            setattr(self, metric.name, Histogram())
        self._gauges: Dict[str, Callable[[], int]] = {}

    def read_gauge(self, name: str, source: Callable[[], int]) -> None:
        """Read gauge *name* from *source* at each snapshot (instead of the attribute)."""
        _check_kind(name, PEER_VALUES, GAUGE)
        self._gauges[name] = source

    def snapshot(self) -> PeerSnapshot:
        values = {m.name: getattr(self, m.name) for m in PEER_VALUES}
        for name, source in self._gauges.items():
            values[name] = int(source())
        histograms = [getattr(self, m.name) for m in PEER_HISTOGRAMS]
        return PeerSnapshot(
            self.name,
            self.dc,
            self.rack,
            values,
            {m.name: h.snapshot() for m, h in zip(PEER_HISTOGRAMS, histograms)},
            {m.name: h.totals() for m, h in zip(PEER_HISTOGRAMS, histograms)},
        )

    def reset_histograms(self) -> None:
        for metric in PEER_HISTOGRAMS:
            getattr(self, metric.name).reset()


def _check_kind(name: str, rows: Iterable[Metric], kind: str) -> None:
    for metric in rows:
        if metric.name == name:
            if metric.kind != kind:
                raise ValueError("%s is a %s, not a %s" % (name, metric.kind, kind))
            return
    raise ValueError("no %s named %r" % (kind, name))


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
    datastore_up: int
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
    peer_failover_requests: int
    worker_restarts: int
    warm_up_state: int
    warm_up_keys: int
    warm_up_bytes: int
    warm_up_keys_per_second: int
    warm_up_seconds_left: int
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
    # Dynomite's redis_req_* counters, by a command's stat_class (index in REDIS_REQUESTS)
    redis_requests: List[int]

    __slots__ = (
        *(m.name for m in _STATS_ATTRIBUTES),
        "_counters",
        "_gauges",
        "_peers",
        "dc",
        "histograms_reset_at",
        "pool_name",
        "reads_to_sample",
        "rack",
        "redis_requests",
        "reset_interval",
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
        reset_interval: float = HISTOGRAM_RESET_INTERVAL,
    ) -> None:
        self.pool_name = pool_name
        self.reset_interval = reset_interval  # seconds between /info's histogram resets
        self.server_name = server_name
        self.dc = dc
        self.rack = rack
        self.started = started
        self.source = source
        self.version = version
        self.histograms_reset_at = started
        for metric in _STATS_ATTRIBUTES:
            setattr(self, metric.name, Histogram() if metric.kind == HISTOGRAM else 0)
        self.redis_requests = [0] * len(REDIS_REQUESTS)
        self.reads_to_sample = 1  # client reads until one is timed (SAMPLE_EVERY)
        self._gauges: Dict[str, Callable[[], int]] = {}
        self._counters: Dict[str, Callable[[], int]] = {}
        self._peers: Dict[str, PeerStats] = {}

    def peer(self, name: str, dc: str, rack: str) -> PeerStats:
        """The per-peer stats of peer *name*, made on first use."""
        link = self._peers.get(name)
        if link is None:
            link = self._peers[name] = PeerStats(name, dc, rack)
        return link

    def forget_peer(self, name: str) -> None:
        """Peer *name* left the ring: its series end."""
        self._peers.pop(name, None)

    @property
    def peers(self) -> List[PeerStats]:
        return list(self._peers.values())

    def read_gauge(self, name: str, source: Callable[[], int]) -> None:
        """Read gauge *name* (node, pool or server) from *source* at each snapshot.

        ``dyn_memory`` is read with :func:`max_rss_kb` unless a source is given.
        """
        _check_kind(name, (*NODE_VALUES, *POOL_METRICS, *SERVER_METRICS), GAUGE)
        self._gauges[name] = source

    def read_counter(self, name: str, source: Callable[[], int]) -> None:
        """Add what *source* says to counter *name* at each snapshot (a count kept
        elsewhere, which only grows)."""
        _check_kind(name, (*POOL_METRICS, *SERVER_METRICS), COUNTER)
        self._counters[name] = source

    def histograms(self) -> Dict[str, Histogram]:
        return {m.name: getattr(self, m.name) for m in NODE_HISTOGRAMS}

    def reset_histograms(self, now: float) -> None:
        """Empty every histogram (node and peers): /historeset, and every 5 minutes."""
        for metric in NODE_HISTOGRAMS:
            getattr(self, metric.name).reset()
        for link in self._peers.values():
            link.reset_histograms()
        self.histograms_reset_at = now

    def maybe_reset_histograms(self, now: float) -> bool:
        """Reset /info's histograms if ``reset_interval`` has passed."""
        if now - self.histograms_reset_at >= self.reset_interval:
            self.reset_histograms(now)
            return True
        return False

    def snapshot(self, now: float) -> Snapshot:
        """Every value at *now* (seconds since the epoch), gauges read from their sources."""
        self.maybe_reset_histograms(now)
        values = {
            m.name: getattr(self, m.name)
            for m in (*NODE_VALUES, *POOL_METRICS, *SERVER_METRICS)
            if not m.name.startswith("redis_req_")
        }
        values.update(_redis_request_values(self.redis_requests))
        if "dyn_memory" not in self._gauges:
            values["dyn_memory"] = max_rss_kb()
        for name, source in self._gauges.items():
            values[name] = int(source())
        for name, source in self._counters.items():
            values[name] += int(source())
        histograms = [getattr(self, m.name) for m in NODE_HISTOGRAMS]
        return Snapshot(
            pool_name=self.pool_name,
            server_name=self.server_name,
            source=self.source,
            version=self.version,
            dc=self.dc,
            rack=self.rack,
            uptime=max(0, int(now - self.started)),
            timestamp=int(now),
            node={m.name: values[m.name] for m in NODE_VALUES},
            pool={m.name: values[m.name] for m in POOL_METRICS},
            server={m.name: values[m.name] for m in SERVER_METRICS},
            histograms={m.name: h.snapshot() for m, h in zip(NODE_HISTOGRAMS, histograms)},
            totals={m.name: h.totals() for m, h in zip(NODE_HISTOGRAMS, histograms)},
            peers=[link.snapshot() for link in self._peers.values()],
        )


# LREM and SUNION count in their own counters and in their families' (as Dynomite)
_ALSO_COUNTED_IN = {"redis_req_lreqm": "redis_req_lists", "redis_req_sunion": "redis_req_sets"}


def _redis_request_values(counts: List[int]) -> Dict[str, int]:
    values = dict(zip(REDIS_REQUESTS, counts))
    for name, family in _ALSO_COUNTED_IN.items():
        values[family] += values[name]
    return values


def _check_stats_classes() -> None:
    """The annotated attributes of Stats and PeerStats are exactly the table's names."""
    expected = {m.name for m in _STATS_ATTRIBUTES} | {"redis_requests"}
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
    histograms: Dict[str, HistogramSnapshot]  # "rtt": since the last reset (/info)
    totals: Dict[str, HistogramSnapshot] = field(default_factory=dict)  # ever (/metrics)


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
    histograms: Dict[str, HistogramSnapshot] = field(default_factory=dict)  # /info's
    totals: Dict[str, HistogramSnapshot] = field(default_factory=dict)  # never reset
    peers: List[PeerSnapshot] = field(default_factory=list)
    service: str = "dynomite"


def detached_stats() -> Stats:
    """Counters that no node reports: for a pool or a link used on its own (tools,
    tests), so that code counting never checks whether anyone is listening."""
    return Stats("detached", "detached", "", "", started=0.0)

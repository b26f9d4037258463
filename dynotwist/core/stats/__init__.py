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
    stats.redis_requests[spec.stat_class] += 1  # Dynomite's redis_req_* counters
    stats.client_connections += 1              # a gauge may be kept by hand (+= / -=) ...
    stats.read_gauge("in_queue", pool.queued)  # ... or read from a callable when asked
    stats.server_ejected_at = int(now * 1000)  # timestamps: ms since the epoch (Dynomite's)

    link = stats.peer("10.0.0.2:8101", "dc1", "rack2")  # once, when the peer pool is built
    link.requests += 1                         # per-peer counter, same cost
    link.rtt.record(rtt_us)
    link.read_gauge("connections", pool.connected_count)

Attribute names are the metric names of the table (per-peer ones without their
``peer_link_`` prefix); a misspelt name raises ``AttributeError`` (the classes have
``__slots__``). Counters and histograms only grow, as Prometheus requires (/metrics).
What /info shows of the histograms starts afresh every :data:`HISTOGRAM_RESET_INTERVALS`
stats intervals — 5 minutes by default — (checked at each :meth:`Stats.snapshot` and by
:meth:`Stats.maybe_reset_histograms`) and on /historeset, as Dynomite's does.
Latency and write sizes are sampled node-wide: one client read in
:data:`SAMPLE_EVERY` is timed, and its requests count that many times.
Rows whose ``exported`` is False have nothing behind them in dynotwist (Dynomite's
message and buffer pools, send queues): /info shows them as 0 for its layout,
/metrics leaves them out, ``-D`` says so.

The renderers take a :class:`Snapshot`, plain data, so that they are testable without
a node.
"""

from __future__ import annotations

from dynotwist import __version__
from dynotwist.core.stats.counters import (
    PeerSnapshot,
    PeerStats,
    Snapshot,
    Stats,
    detached_stats,
    max_rss_kb,
)
from dynotwist.core.stats.histograms import (
    BUCKET_BOUNDS,
    BUCKETS,
    EXPORTED_BUCKETS,
    HISTOGRAM_RESET_INTERVAL,
    HISTOGRAM_RESET_INTERVALS,
    Histogram,
    HistogramSnapshot,
    RoundTrips,
)
from dynotwist.core.stats.renderers import (
    PROMETHEUS_CONTENT_TYPE,
    ClusterMember,
    describe,
    render_cluster_describe,
    render_info,
    render_prometheus,
)
from dynotwist.core.stats.table import (
    COUNTER,
    ENABLED,
    GAUGE,
    HISTOGRAM,
    METRICS,
    NODE,
    PEER,
    PEER_PREFIX,
    POOL,
    POOL_EXTRAS,
    PROMETHEUS_PREFIX,
    REDIS_REQUESTS,
    SAMPLE_EVERY,
    SERVER,
    TIMESTAMP,
    Metric,
    metrics_of,
)

__all__ = [
    "BUCKETS",
    "BUCKET_BOUNDS",
    "COUNTER",
    "ENABLED",
    "EXPORTED_BUCKETS",
    "GAUGE",
    "HISTOGRAM",
    "HISTOGRAM_RESET_INTERVAL",
    "HISTOGRAM_RESET_INTERVALS",
    "METRICS",
    "NODE",
    "PEER",
    "PEER_PREFIX",
    "POOL",
    "POOL_EXTRAS",
    "PROMETHEUS_CONTENT_TYPE",
    "PROMETHEUS_PREFIX",
    "REDIS_REQUESTS",
    "SAMPLE_EVERY",
    "SERVER",
    "TIMESTAMP",
    "ClusterMember",
    "Histogram",
    "HistogramSnapshot",
    "Metric",
    "PeerSnapshot",
    "PeerStats",
    "RoundTrips",
    "Snapshot",
    "Stats",
    "__version__",
    "describe",
    "detached_stats",
    "max_rss_kb",
    "metrics_of",
    "render_cluster_describe",
    "render_info",
    "render_prometheus",
]

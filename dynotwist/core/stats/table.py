"""The table of every metric: name, kind, scope, unit and description.

Everything else in :mod:`dynotwist.core.stats` (the :class:`Stats` attributes, the
/info field order, the Prometheus families, ``twistd dynomite -D``) follows from it.
"""

from __future__ import annotations

import os
from typing import NamedTuple, Optional, Tuple

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
    # warm-up (dynotwist.repair.warmup)
    _m("warm_up_state", G, POOL, "warm-up: 0 not run, 1 running, 2 done, 3 failed"),
    _m("warm_up_keys", G, POOL, "# keys the warm-up copied"),
    _m("warm_up_bytes", G, POOL, "bytes of values the warm-up copied"),
    _m("warm_up_keys_per_second", G, POOL, "keys the warm-up goes through a second"),
    _m("warm_up_seconds_left", G, POOL, "seconds the warm-up still needs (-1: unknown)"),
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
    # hinted handoff (dynotwist.net.handoff): /info's "hints" object, per peer
    _m("hints_stored", C, PEER, "# writes for this peer kept as hints"),
    _m("hints_replayed", C, PEER, "# hints replayed to this peer and answered"),
    _m("hints_expired", C, PEER, "# hints for this peer dropped past max_hint_window"),
    _m("hints_dropped", C, PEER, "# hints for this peer dropped: bounds or journal errors"),
    _m("hints_pending", G, PEER, "# hints for this peer not yet replayed"),
    _m("rtt", H, PEER, "round-trip time of requests to this peer, usec", "microseconds"),
)

del C, G, T, H

#: pool metrics of dynotwist's own, after Dynomite's in /info (its clients read JSON
#: by key, so fields added at the end of the pool object change nothing for them)
POOL_EXTRAS = (
    "peer_plaintext_refused",
    "peer_tls_refused",
    "warm_up_state",
    "warm_up_keys",
    "warm_up_bytes",
    "warm_up_keys_per_second",
    "warm_up_seconds_left",
)


def metrics_of(scope: str, kind: Optional[str] = None) -> Tuple[Metric, ...]:
    """The rows of :data:`METRICS` of *scope* (and *kind*), in table order."""
    return tuple(m for m in METRICS if m.scope == scope and (kind is None or m.kind == kind))


POOL_METRICS = metrics_of(POOL)
SERVER_METRICS = metrics_of(SERVER)
NODE_VALUES = tuple(m for m in metrics_of(NODE) if m.kind != HISTOGRAM and m.name != "uptime")
NODE_HISTOGRAMS = metrics_of(NODE, HISTOGRAM)
PEER_VALUES = tuple(m for m in metrics_of(PEER) if m.kind != HISTOGRAM)
PEER_HISTOGRAMS = metrics_of(PEER, HISTOGRAM)

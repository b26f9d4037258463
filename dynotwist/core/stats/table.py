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

#: Latency is timed for one client read in this many, counted over all the node's
#: clients; a timed read's requests count this many times, so that the histograms'
#: counts and sums stand for every request. Timing every request costs about 9% of
#: the CPU per request (benchmarks/path_cost.py, one request per read), sampling
#: under 1%. Queue depths after a read are recorded one read in this many too.
SAMPLE_EVERY = 16


class Metric(NamedTuple):
    """One row of :data:`METRICS`."""

    name: str  # the attribute, the /info key (pool, server), the exported name's stem
    kind: str  # COUNTER, GAUGE, TIMESTAMP or HISTOGRAM
    scope: str  # NODE, POOL, SERVER or PEER
    description: str  # what dynotwist counts (Dynomite's text where it is right)
    unit: str = ""  # Prometheus base unit, appended to the name ("seconds", "bytes")
    scale: float = 1.0  # kept value * scale = the value in ``unit`` (usec -> seconds: 1e-6)
    exported: bool = True  # False: nothing behind it in dynotwist (0 in /info, not in /metrics)
    in_info: bool = True  # False: dynotwist's own node gauge, only in /metrics

    @property
    def exported_name(self) -> str:
        """The name without the ``dynotwist_`` prefix (and ``_total``): ``-D``'s name for
        a per-peer metric, the Prometheus family's stem."""
        name = PEER_PREFIX + self.name if self.scope == PEER else self.name
        if not self.unit or name.endswith("_" + self.unit):
            return name
        return name + "_" + self.unit

    @property
    def family(self) -> str:
        """The Prometheus family: ``dynotwist_`` + name + unit (+ ``_total``)."""
        suffix = "_total" if self.kind == COUNTER else ""
        return PROMETHEUS_PREFIX + self.exported_name + suffix


#: every Prometheus family starts with it
PROMETHEUS_PREFIX = "dynotwist_"

_USEC = 1e-6
_MS = 1e-3
# why a metric Dynomite has is not exported: dynotwist has nothing behind it
_NO_POOL = "always 0: dynotwist keeps no message or buffer pool (not in /metrics)"
_NO_SEND_QUEUE = (
    "always 0: requests are written in the reactor iteration that reads them, with no"
    " send queue to wait in (not in /metrics)"
)
_NO_BYTES = "always 0: queued bytes are not tracked (not in /metrics)"
_NO_LOCAL_HOLD = (
    "always 0: requests to peers in this DC are written at once, never held (not in"
    " /metrics)"
)


def _m(
    name: str,
    kind: str,
    scope: str,
    description: str,
    unit: str = "",
    scale: float = 1.0,
    exported: bool = True,
    in_info: bool = True,
) -> Metric:
    return Metric(name, kind, scope, description, unit, scale, exported, in_info)


def _none(name: str, kind: str, scope: str, why: str) -> Metric:
    """A metric of Dynomite's /info with nothing behind it in dynotwist."""
    return Metric(name, kind, scope, why, exported=False)


C, G, T, H = COUNTER, GAUGE, TIMESTAMP, HISTOGRAM
S = "seconds"
B = "bytes"

#: Every metric, in /info order within each scope.
METRICS: Tuple[Metric, ...] = (
    # -- node: /info's top level (histograms: Dynomite's statistics over them)
    _m("uptime", G, NODE, "seconds since the node started", S),
    _m("latency", H, NODE, "client requests, from the read to the reply written (one client"
       " read in 16 is timed, its requests counted 16 times)", S, _USEC),
    _m("payload_size", H, NODE, "size of client write requests (those of one client read in"
       " 16, counted 16 times)", B),
    _m("cross_region_rtt", H, NODE, "round trips to peers in other DCs, one probe at a time"
       " per connection", S, _USEC),
    _m("cross_zone_rtt", H, NODE, "round trips to peers in this DC, one probe at a time per"
       " connection", S, _USEC),
    _m("server_rtt", H, NODE, "round trips to the datastore, one probe at a time per"
       " connection", S, _USEC),
    _none("cross_region_queue_wait", H, NODE, _NO_SEND_QUEUE),
    _none("cross_zone_queue_wait", H, NODE, _NO_SEND_QUEUE),
    _none("server_queue_wait", H, NODE, _NO_SEND_QUEUE),
    _m("client_out_queue_depth", H, NODE, "requests of a client awaiting their replies, after"
       " one read from it in 16"),
    _none("server_in_queue_depth", H, NODE, "always 0: not measured; in_queue counts the"
          " requests waiting (not in /metrics)"),
    _m("server_out_queue_depth", H, NODE, "requests sent to the datastore awaiting a reply,"
       " at one round-trip probe in 16"),
    _m("dnode_client_out_queue_depth", H, NODE, "requests of a peer awaiting their replies,"
       " after one read from it in 16"),
    _none("peer_in_queue_depth", H, NODE, _NO_LOCAL_HOLD),
    _m("peer_out_queue_depth", H, NODE, "requests sent to a peer in this DC awaiting a reply,"
       " at one round-trip probe in 16"),
    _m("remote_peer_out_queue_depth", H, NODE, "requests sent to a peer in another DC awaiting"
       " a reply, at one round-trip probe in 16"),
    _none("remote_peer_in_queue_depth", H, NODE, "always 0: not measured; remote_peer_in_queue"
          " counts the requests held (not in /metrics)"),
    _none("alloc_msgs", G, NODE, _NO_POOL),
    _none("free_msgs", G, NODE, _NO_POOL),
    _none("alloc_mbufs", G, NODE, _NO_POOL),
    _none("free_mbufs", G, NODE, _NO_POOL),
    _m("dyn_memory", G, NODE, "maximum resident set size (ru_maxrss)", B, 1024.0),
    # dynotwist's own, only in /metrics
    _m("datastore_up", G, NODE, "1 while a connection to the datastore is up, else 0",
       in_info=False),
    # -- pool (Dynomite's STATS_POOL_CODEC, in its order)
    _m("client_eof", C, POOL, "# client connections closed"),
    _m("client_err", C, POOL, "# client requests refused for a protocol error"),
    _m("client_connections", G, POOL, "# open client connections"),
    _m("client_read_requests", C, POOL, "# client read requests"),
    _m("client_write_requests", C, POOL, "# client write requests"),
    _m("client_dropped_requests", C, POOL, "# client requests unanswered when their client"
       " closed its connection"),
    _m("client_non_quorum_w_responses", C, POOL, "# client write requests answered that the"
       " quorum failed"),
    _m("client_non_quorum_r_responses", C, POOL, "# client read requests answered that the"
       " quorum failed"),
    _m("server_ejects", C, POOL, "# times the connection to the datastore was lost"),
    _m("dnode_client_eof", C, POOL, "# peer connections to this node closed"),
    _m("dnode_client_err", C, POOL, "# peer connections to this node closed for garbage or"
       " encrypted frames"),
    _m("dnode_client_connections", G, POOL, "# open peer connections to this node"),
    _none("dnode_client_in_queue", G, POOL, _NO_SEND_QUEUE),
    _none("dnode_client_in_queue_bytes", G, POOL, _NO_BYTES),
    _m("dnode_client_out_queue", G, POOL, "# requests from peers awaiting their replies"),
    _none("dnode_client_out_queue_bytes", G, POOL, _NO_BYTES),
    _m("peer_dropped_requests", C, POOL, "# requests to peers in this DC failed when their"
       " connection was lost"),
    _m("peer_timedout_requests", C, POOL, "# requests to peers in this DC that timed out"),
    _m("remote_peer_dropped_requests", C, POOL, "# requests to peers in other DCs failed when"
       " their connection was lost"),
    _m("remote_peer_timedout_requests", C, POOL, "# requests to peers in other DCs that timed"
       " out"),
    _m("remote_peer_failover_requests", C, POOL, "# requests to another DC sent to another"
       " rack because the chosen one was not connected"),
    _m("peer_eof", C, POOL, "# connections to peers lost"),
    _m("peer_err", C, POOL, "# failed connection attempts to peers and peers that sent"
       " garbage"),
    _m("peer_timedout", C, POOL, "# connections to peers in this DC dropped for not"
       " answering"),
    _m("remote_peer_timedout", C, POOL, "# connections to peers in other DCs dropped for not"
       " answering"),
    _m("peer_connections", G, POOL, "# open connections to peers"),
    # a gauge in Dynomite, but only ever incremented: a counter here (Prometheus rate())
    _m("peer_forward_error", C, POOL, "# requests that could not be sent to a peer (not"
       " connected, or marked down)"),
    _m("peer_requests", C, POOL, "# requests sent to peers"),
    _m("peer_request_bytes", C, POOL, "total bytes of requests sent to peers (frames)", B),
    _m("peer_responses", C, POOL, "# responses received from peers"),
    _m("peer_response_bytes", C, POOL, "total bytes received from peers", B),
    _m("peer_ejected_at", T, POOL, "when a connection to a peer was last lost",
       "timestamp_seconds", _MS),
    _m("peer_ejects", C, POOL, "# times a connection to a peer was lost"),
    _none("peer_in_queue", G, POOL, _NO_LOCAL_HOLD),
    _m("remote_peer_in_queue", G, POOL, "# requests to peers in other DCs held by"
       " conn_msg_rate"),
    _none("peer_in_queue_bytes", G, POOL, _NO_BYTES),
    _m("remote_peer_in_queue_bytes", G, POOL, "bytes of requests to peers in other DCs held"
       " by conn_msg_rate", B),
    _m("peer_out_queue", G, POOL, "# requests sent to peers in this DC awaiting a reply"),
    _m("remote_peer_out_queue", G, POOL, "# requests sent to peers in other DCs awaiting a"
       " reply"),
    _none("peer_out_queue_bytes", G, POOL, _NO_BYTES),
    _none("remote_peer_out_queue_bytes", G, POOL, _NO_BYTES),
    _m("peer_mismatch_requests", C, POOL, "# requests to peers failed because a reply skipped"
       " them"),
    _m("forward_error", C, POOL, "# requests for the datastore refused because no connection"
       " to it was up"),
    _m("fragments", C, POOL, "# parts of multi-key requests split by owner"),
    _m("stats_count", C, POOL, "# stats requests (/info, /metrics)"),
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
    _m(
        "peer_failover_requests",
        C,
        POOL,
        "# requests answered by another replica: the owner was ejected or not connected",
    ),
    _m("worker_restarts", C, POOL, "# worker processes started again after they ended"
       " (workers: N; counted by the node's parent process)"),
    # warm-up (dynotwist.repair.warmup)
    _m("warm_up_state", G, POOL, "warm-up: 0 not run, 1 running, 2 done, 3 failed"),
    _m("warm_up_keys", G, POOL, "# keys the warm-up copied"),
    _m("warm_up_bytes", G, POOL, "bytes of values the warm-up copied", B),
    _m("warm_up_keys_per_second", G, POOL, "keys the warm-up goes through a second"),
    _m("warm_up_seconds_left", G, POOL, "seconds the warm-up still needs (-1: unknown)"),
    # -- server (Dynomite's STATS_SERVER_CODEC, in its order)
    _m("server_eof", C, SERVER, "# connections to the datastore lost"),
    _m("server_err", C, SERVER, "# failed connection attempts to the datastore and garbage or"
       " refusals from it"),
    _m("server_timedout", C, SERVER, "# connections to the datastore dropped for not"
       " answering"),
    _m("server_ejected_at", T, SERVER, "when the connection to the datastore was last lost",
       "timestamp_seconds", _MS),
    _m("server_dropped_requests", C, SERVER, "# requests to the datastore failed when their"
       " connection was lost"),
    _m("server_timedout_requests", C, SERVER, "# requests to the datastore that timed out"),
    _m("read_requests", C, SERVER, "# read requests sent to the datastore"),
    _m("read_request_bytes", C, SERVER, "total bytes of read requests sent to the datastore", B),
    _m("write_requests", C, SERVER, "# write requests sent to the datastore"),
    _m("write_request_bytes", C, SERVER, "total bytes of write requests sent to the datastore",
       B),
    _m("read_responses", C, SERVER, "# replies of the datastore to read requests"),
    _m("read_response_bytes", C, SERVER, "total bytes of the datastore's replies to read"
       " requests", B),
    _m("write_responses", C, SERVER, "# replies of the datastore to write requests"),
    _m("write_response_bytes", C, SERVER, "total bytes of the datastore's replies to write"
       " requests", B),
    _m("in_queue", G, SERVER, "# requests waiting for a datastore connection or held by"
       " the node's state"),
    _m("in_queue_bytes", G, SERVER, "bytes of the requests waiting for a datastore connection"
       " or held by the node's state", B),
    _m("out_queue", G, SERVER, "# requests sent to the datastore awaiting a reply"),
    _none("out_queue_bytes", G, SERVER, _NO_BYTES),
    _m("redis_req_get", C, SERVER, "# Redis GET"),
    _m("redis_req_set", C, SERVER, "# Redis SET, SETEX, PSETEX, SETNX, SETRANGE, SETBIT"),
    _m("redis_req_del", C, SERVER, "# Redis DEL"),
    _m("redis_req_incr_decr", C, SERVER, "# Redis INCR, DECR, INCRBY, DECRBY, INCRBYFLOAT"),
    _m("redis_req_keys", C, SERVER, "# Redis KEYS"),
    _m("redis_req_mget", C, SERVER, "# Redis MGET"),
    _m("redis_req_scan", C, SERVER, "# Redis SCAN"),
    _m("redis_req_sort", C, SERVER, "# Redis SORT"),
    _m("redis_req_lreqm", C, SERVER, "# Redis LREM"),
    _m("redis_req_sunion", C, SERVER, "# Redis SUNION"),
    _m("redis_req_ping", C, SERVER, "# Redis PING"),
    _m("redis_req_lists", C, SERVER, "# Redis list commands (LREM included)"),
    _m("redis_req_sets", C, SERVER, "# Redis set commands (SUNION included)"),
    _m("redis_req_hashes", C, SERVER, "# Redis hash commands"),
    _m("redis_req_sortedsets", C, SERVER, "# Redis sorted set commands"),
    _m("redis_req_other", C, SERVER, "# other Redis commands"),
    # -- per peer (dynotwist's): exported as peer_link_<name>, labelled with the peer
    _m("requests", C, PEER, "# requests sent to this peer"),
    _m("request_bytes", C, PEER, "total bytes of requests sent to this peer (frames)", B),
    _m("responses", C, PEER, "# responses received from this peer"),
    _m("response_bytes", C, PEER, "total bytes received from this peer", B),
    _m("timedout_requests", C, PEER, "# requests to this peer that timed out"),
    _m("dropped_requests", C, PEER, "# requests to this peer failed when their connection was"
       " lost"),
    _m("eof", C, PEER, "# connections to this peer lost"),
    _m("err", C, PEER, "# failed connection attempts to this peer and garbage from it"),
    _m("resets", C, PEER, "# times this peer's connections were reset (/peer/reset)"),
    _m("connections", G, PEER, "# open connections to this peer"),
    _m("out_queue", G, PEER, "# requests sent to this peer awaiting a reply"),
    # hinted handoff (dynotwist.net.handoff): /info's "hints" object, per peer
    _m("hints_stored", C, PEER, "# writes for this peer kept as hints"),
    _m("hints_replayed", C, PEER, "# hints replayed to this peer and answered"),
    _m("hints_expired", C, PEER, "# hints for this peer dropped past max_hint_window"),
    _m("hints_dropped", C, PEER, "# hints for this peer dropped: bounds or journal errors"),
    _m("hints_pending", G, PEER, "# hints for this peer not yet replayed"),
    _m("up", G, PEER, "1 while a connection to this peer is up and it is not marked down,"
       " else 0"),
    _m("rtt", H, PEER, "round trips to this peer, one probe at a time per connection",
       S, _USEC),
)

del C, G, T, H, S, B

#: pool metrics of dynotwist's own, after Dynomite's in /info (its clients read JSON
#: by key, so fields added at the end of the pool object change nothing for them)
POOL_EXTRAS = (
    "peer_plaintext_refused",
    "peer_tls_refused",
    "peer_failover_requests",
    "worker_restarts",
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
#: the node values /info shows (Dynomite's), in its order
INFO_NODE_VALUES = tuple(m for m in NODE_VALUES if m.in_info)

#: Dynomite's redis_req_* counters: the index of each among :data:`REDIS_REQUESTS`
#: is what a command's ``stat_class`` holds (``proto.commands``)
REDIS_REQUESTS = tuple(m.name for m in SERVER_METRICS if m.name.startswith("redis_req_"))
NODE_HISTOGRAMS = metrics_of(NODE, HISTOGRAM)
PEER_VALUES = tuple(m for m in metrics_of(PEER) if m.kind != HISTOGRAM)
PEER_HISTOGRAMS = metrics_of(PEER, HISTOGRAM)

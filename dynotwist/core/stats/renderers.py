"""What the admin port shows: /info's JSON (Dynomite's layout), /cluster_describe,
Prometheus text, and ``twistd dynomite -D``. Each renders a plain :class:`Snapshot`."""

from __future__ import annotations

import json
import platform
from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence, Tuple

from dynotwist import __version__
from dynotwist.core.stats.counters import PeerSnapshot, Snapshot
from dynotwist.core.stats.histograms import HistogramSnapshot
from dynotwist.core.stats.table import (
    COUNTER,
    HISTOGRAM,
    INFO_NODE_VALUES,
    METRICS,
    NODE,
    PEER,
    POOL,
    POOL_METRICS,
    PROMETHEUS_PREFIX,
    SERVER,
    SERVER_METRICS,
    Metric,
    metrics_of,
)

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
    *((m.name, None, m.name) for m in INFO_NODE_VALUES),
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
    datastore; the last server field has no comma; then ``}}}`` + LF. A node with
    peers also lists, after the server object, each peer's hinted handoff counters
    (``"hints": {"<peer>": {"stored":N,...}}``).
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
    for metric in POOL_METRICS:
        number(metric.name, snapshot.pool.get(metric.name, 0))
    add("%s: {" % _json_string(snapshot.server_name))
    for metric in SERVER_METRICS[:-1]:
        number(metric.name, snapshot.server.get(metric.name, 0))
    last = SERVER_METRICS[-1].name
    add('"%s":%d\n}' % (last, snapshot.server.get(last, 0)))
    if snapshot.peers:  # after the server object, which readers take as the first
        add(',\n"hints": {%s}' % ",".join(_peer_hints(peer) for peer in snapshot.peers))
    add("}}\n")
    return "".join(out).encode("utf-8")


_HINT_FIELDS = ("stored", "replayed", "expired", "dropped", "pending")


def _peer_hints(peer: PeerSnapshot) -> str:
    """One peer's hint counters (dynotwist's, in the pool object: clients read by key)."""
    return "%s: {%s}" % (
        _json_string(peer.name),
        ",".join('"%s":%d' % (f, peer.values.get("hints_" + f, 0)) for f in _HINT_FIELDS),
    )


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


def _number(value: float) -> str:
    """A sample value: integers as such, others with 12 significant digits (enough for
    microseconds; no trace of binary rounding: 311 usec is 0.000311)."""
    if isinstance(value, int) or value.is_integer():
        return "%d" % value
    return "%.12g" % value


def render_prometheus(snapshot: Snapshot) -> str:
    """The snapshot in the Prometheus text format 0.0.4.

    Families are ``dynotwist_`` + the metric's name + its base unit (``_seconds``,
    ``_bytes``; timestamps ``_timestamp_seconds``) + ``_total`` for counters; metrics
    with nothing behind them in dynotwist are left out. Every series has the labels
    ``dc`` and ``rack`` of this node; per-peer series add ``peer``, ``peer_dc`` and
    ``peer_rack``. Histograms never reset (``totals``): their buckets are the upper
    edges of Dynomite's buckets in :data:`EXPORTED_BUCKETS`, in the base unit, then
    ``+Inf``, ``_sum`` and ``_count``. ``dynotwist_build_info`` is 1, labelled with the
    version.
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

    def header(family: str, description: str, kind: str) -> None:
        add("# HELP %s %s" % (family, _escape_help(description)))
        add("# TYPE %s %s" % (family, kind))

    def histogram(family: str, labels: str, data: HistogramSnapshot, scale: float) -> None:
        for le, count in data.cumulative():
            edge = "+Inf" if le is None else _number(le * scale)
            add('%s_bucket{%s,le="%s"} %d' % (family, labels, edge, count))
        add("%s_sum{%s} %s" % (family, labels, _number(data.sum * scale)))
        add("%s_count{%s} %d" % (family, labels, data.count))

    header(PROMETHEUS_PREFIX + "build_info", "1, labelled with the version running", "gauge")
    build = _labels([
        *base,
        ("version", snapshot.version),
        ("python", "%s %s" % (platform.python_implementation(), platform.python_version())),
    ])
    add("%sbuild_info{%s} 1" % (PROMETHEUS_PREFIX, build))
    for metric in METRICS:
        if not metric.exported:
            continue
        family = metric.family
        description = metric.description
        scale = metric.scale
        if metric.kind == HISTOGRAM:
            header(family, description, "histogram")
            if metric.scope == PEER:
                for peer, labels in peer_labels:
                    histogram(family, labels, peer.totals.get(metric.name, _EMPTY), scale)
            else:
                histogram(family, node_labels, snapshot.totals.get(metric.name, _EMPTY), scale)
            continue
        header(family, description, "counter" if metric.kind == COUNTER else "gauge")
        if metric.scope == PEER:
            for peer, labels in peer_labels:
                value = peer.values.get(metric.name, 0) * scale
                add("%s{%s} %s" % (family, labels, _number(value)))
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
        add("%s{%s} %s" % (family, node_labels, _number(value * scale)))
    add("")
    return "\n".join(lines)


# -- -D / --describe-stats -----------------------------------------------------------------

_SECTIONS = (
    ("pool stats:", POOL),
    ("server stats:", SERVER),
    ("node stats (dynotwist: /info's top level):", NODE),
    ("peer stats (dynotwist: /metrics, per peer):", PEER),
)


_INFO_UNITS = {1e-6: "usec", 1e-3: "ms since the epoch", 1024.0: "KB"}


def _info_unit(metric: Metric) -> str:
    """How /info writes a value /metrics scales to seconds or bytes."""
    unit = _INFO_UNITS.get(metric.scale)
    return " (%s in /info)" % unit if unit else ""


def describe(version: str = __version__) -> str:
    """What ``twistd dynomite -D`` prints: Dynomite's ``--describe-stats`` layout.

    The version line, then ``pool stats:`` and ``server stats:`` with one
    ``  <name padded to 20>"<description>"`` line per metric, as Dynomite prints them;
    then dynotwist's node-level and per-peer metrics in the same form. A metric with
    nothing behind it in dynotwist says so, and that /metrics leaves it out.
    """
    lines = ["This is dynotwist-%s" % version, ""]
    for i, (title, scope) in enumerate(_SECTIONS):
        if i:
            lines.append("")
        lines.append(title)
        for metric in metrics_of(scope):
            name = metric.exported_name if scope == PEER else metric.name
            lines.append('  %-20s"%s"' % (name, metric.description + _info_unit(metric)))
    lines += ["", "In /metrics: dynotwist_<name>[_<unit>][_total] (-D's name, in seconds and"
              " bytes), and dynotwist_build_info."]
    return "\n".join(lines) + "\n"

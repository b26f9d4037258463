"""Dynomite's REST samples (tests/vectors/rest-samples) and Prometheus text, read back
for assertions: a recorded /info body as a stats Snapshot, exposition text as metric
families (checked as Prometheus requires)."""

from __future__ import annotations

import json
import math
import os
import re
from typing import Dict, List, Optional, Tuple

from dynotwist.core import stats
from dynotwist.core.stats import HistogramSnapshot, Snapshot

SAMPLES = os.path.join(os.path.dirname(__file__), os.pardir, "vectors", "rest-samples")


def load_sample(name: str) -> Tuple[bytes, bytes]:
    """(header block, body) of a raw Dynomite response; checks its Content-Length."""
    with open(os.path.join(SAMPLES, name), "rb") as f:
        raw = f.read()
    head, _, body = raw.partition(b"\r\n\r\n")
    length = re.search(rb"Content-Length: (\d+)", head)
    assert length is not None and int(length.group(1)) == len(body), name
    return head, body


# /info's top level: key -> (histogram, statistic)
_HISTOGRAM_KEYS = {
    "latency_max": ("latency", "max"),
    "latency_999th": ("latency", "p999"),
    "latency_99th": ("latency", "p99"),
    "latency_95th": ("latency", "p95"),
    "latency_mean": ("latency", "mean"),
    "payload_size_max": ("payload_size", "max"),
    "payload_size_999th": ("payload_size", "p999"),
    "payload_size_99th": ("payload_size", "p99"),
    "payload_size_95th": ("payload_size", "p95"),
    "payload_size_mean": ("payload_size", "mean"),
    "average_cross_region_rtt": ("cross_region_rtt", "mean"),
    "99_cross_region_rtt": ("cross_region_rtt", "p99"),
    "average_cross_zone_latency": ("cross_zone_rtt", "mean"),
    "99_cross_zone_latency": ("cross_zone_rtt", "p99"),
    "average_server_latency": ("server_rtt", "mean"),
    "99_server_latency": ("server_rtt", "p99"),
    "average_cross_region_queue_wait": ("cross_region_queue_wait", "mean"),
    "99_cross_region_queue_wait": ("cross_region_queue_wait", "p99"),
    "average_cross_zone_queue_wait": ("cross_zone_queue_wait", "mean"),
    "99_cross_zone_queue_wait": ("cross_zone_queue_wait", "p99"),
    "average_server_queue_wait": ("server_queue_wait", "mean"),
    "99_server_queue_wait": ("server_queue_wait", "p99"),
    "client_out_queue_99": ("client_out_queue_depth", "p99"),
    "server_in_queue_99": ("server_in_queue_depth", "p99"),
    "server_out_queue_99": ("server_out_queue_depth", "p99"),
    "dnode_client_out_queue_99": ("dnode_client_out_queue_depth", "p99"),
    "peer_in_queue_99": ("peer_in_queue_depth", "p99"),
    "peer_out_queue_99": ("peer_out_queue_depth", "p99"),
    "remote_peer_out_queue_99": ("remote_peer_out_queue_depth", "p99"),
    "remote_peer_in_queue_99": ("remote_peer_in_queue_depth", "p99"),
}


def snapshot_from_info(body: bytes) -> Snapshot:
    """The snapshot a node would hold to answer *body* (a Dynomite /info JSON).

    The samples' histograms are empty (percentiles 1, means 0: Dynomite's empty
    histogram) but for their maximum, which is all a snapshot needs to carry.
    """
    info = json.loads(body)
    histograms: Dict[str, HistogramSnapshot] = {}
    for key, (name, statistic) in _HISTOGRAM_KEYS.items():
        value = info.pop(key)
        if statistic == "max":
            histograms[name] = HistogramSnapshot(max=value)
        else:
            assert value == (0 if statistic == "mean" else 1), (key, value)
    pool_name = next(k for k, v in info.items() if isinstance(v, dict))
    pool = info.pop(pool_name)
    server_name = next(k for k, v in pool.items() if isinstance(v, dict))
    server = pool.pop(server_name)
    node = {k: info.pop(k) for k in ("alloc_msgs", "free_msgs", "alloc_mbufs", "free_mbufs")}
    node["dyn_memory"] = info.pop("dyn_memory")
    snapshot = Snapshot(
        pool_name=pool_name,
        server_name=server_name,
        source=info.pop("source"),
        version=info.pop("version"),
        dc=info.pop("dc"),
        rack=info.pop("rack"),
        uptime=info.pop("uptime"),
        timestamp=info.pop("timestamp"),
        node=node,
        pool=pool,
        server=server,
        histograms=histograms,
        service=info.pop("service"),
    )
    assert not info, info
    return snapshot


def metric_names(scope: str) -> List[str]:
    return [m.name for m in stats.metrics_of(scope)]


SAMPLE_SERVER = b'"127.0.0.61:30900": {'


def with_extras(sample: bytes) -> bytes:
    """A Dynomite /info body as dynotwist writes it: its own pool fields (zero) after
    Dynomite's, before the server object."""
    extras = b"".join(b'"%s":0,\n' % name.encode() for name in stats.POOL_EXTRAS)
    return sample.replace(SAMPLE_SERVER, extras + SAMPLE_SERVER, 1)


# -- a strict parser of the Prometheus text format 0.0.4 ------------------------------

_METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(r"(%s)(?:\{(.*)\})? (\S+)\Z" % _METRIC_NAME)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|\Z)')
_HELP = re.compile(r"# HELP (%s) (.*)\Z" % _METRIC_NAME)
_TYPE = re.compile(r"# TYPE (%s) (counter|gauge|histogram|summary|untyped)\Z" % _METRIC_NAME)


def _unescape(value: str) -> str:
    return re.sub(r"\\(.)", lambda m: {"n": "\n"}.get(m.group(1), m.group(1)), value)


def _parse_labels(text: Optional[str]) -> Dict[str, str]:
    labels: Dict[str, str] = {}
    if not text:
        return labels
    pos = 0
    while pos < len(text):
        match = _LABEL.match(text, pos)
        if match is None:
            raise ValueError("bad labels: %r" % text)
        name, value = match.group(1), _unescape(match.group(2))
        if name in labels:
            raise ValueError("label %s twice" % name)
        labels[name] = value
        pos = match.end()
        if match.group(3) == "" and pos != len(text):
            raise ValueError("bad labels: %r" % text)
    return labels


def parse_prometheus(text: str) -> Dict[str, dict]:
    """family -> {"type", "help", "samples": [(name, labels, value)]}; raises on any slip."""
    if not text.endswith("\n"):
        raise ValueError("the text must end with a newline")
    families: Dict[str, dict] = {}
    current: Optional[str] = None
    for line in text[:-1].split("\n"):
        if not line:
            raise ValueError("blank line")
        if line.startswith("# HELP "):
            match = _HELP.match(line)
            if match is None:
                raise ValueError("bad HELP: %r" % line)
            name = match.group(1)
            if name in families:
                raise ValueError("family %s declared twice" % name)
            families[name] = {"help": match.group(2), "type": None, "samples": []}
            current = name
            continue
        if line.startswith("# TYPE "):
            match = _TYPE.match(line)
            if match is None or match.group(1) != current:
                raise ValueError("TYPE without its HELP: %r" % line)
            family = families[current]
            if family["type"] is not None or family["samples"]:
                raise ValueError("TYPE twice or after samples: %r" % line)
            family["type"] = match.group(2)
            continue
        if line.startswith("#"):
            raise ValueError("unexpected comment: %r" % line)
        match = _SAMPLE.match(line)
        if match is None or current is None:
            raise ValueError("bad sample: %r" % line)
        name = match.group(1)
        family = families[current]
        kind = family["type"]
        allowed = {current}
        if kind == "histogram":
            allowed = {current + "_bucket", current + "_sum", current + "_count"}
        if name not in allowed:
            raise ValueError("sample %s outside its family %s" % (name, current))
        if kind == "counter" and not current.endswith("_total"):
            raise ValueError("counter %s without _total" % current)
        value = float(match.group(3))  # accepts +Inf, NaN
        family["samples"].append((name, _parse_labels(match.group(2)), value))
    for name, family in families.items():
        if family["type"] == "histogram":
            _check_histogram(name, family["samples"])
    return families


def _check_histogram(name: str, samples: list) -> None:
    series: Dict[tuple, dict] = {}
    for sample_name, labels, value in samples:
        le = labels.get("le")
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        entry = series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sample_name.endswith("_bucket"):
            if le is None:
                raise ValueError("bucket without le in %s" % name)
            entry["buckets"].append((float(le), value))
        elif sample_name.endswith("_sum"):
            entry["sum"] = value
        else:
            entry["count"] = value
    for key, entry in series.items():
        buckets = entry["buckets"]
        if not buckets or buckets[-1][0] != math.inf:
            raise ValueError("%s%r: no +Inf bucket" % (name, key))
        bounds = [b for b, _ in buckets]
        counts = [c for _, c in buckets]
        if bounds != sorted(set(bounds)) or counts != sorted(counts):
            raise ValueError("%s%r: buckets not cumulative" % (name, key))
        if entry["count"] != counts[-1] or entry["sum"] is None:
            raise ValueError("%s%r: _count differs from +Inf or no _sum" % (name, key))

"""One node's stats from its worker processes' (``workers: N``). Pure logic.

Each worker sends its :class:`Snapshot` as plain JSON data (:func:`snapshot_to_data`,
:func:`snapshot_from_data`); :func:`merge_snapshots` makes the node's from them:

- counters: the sum;
- gauges: the sum (connections, queues, memory of every process), but the ``up``
  flags (``datastore_up``, a peer's ``up``), which are the minimum (up in every
  worker), and the warm-up's, which are worker 0's (the only one that warms up);
- timestamps (``*_ejected_at``): the latest;
- histograms: exact, bucket by bucket (counts and sums added, the largest ``max``),
  so that /info's percentiles are those of every request of the node;
- uptime: the longest; the names (pool, DC, rack...): worker 0's.

A worker that is restarted starts its counters from 0, as a restarted node does.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, Callable, Dict, List, Sequence

from dynotwist.core.stats.counters import PeerSnapshot, Snapshot
from dynotwist.core.stats.histograms import HistogramSnapshot
from dynotwist.core.stats.table import METRICS, PEER, TIMESTAMP

__all__ = ["merge_snapshots", "snapshot_from_data", "snapshot_to_data"]

_LOWEST_WINS = frozenset(("datastore_up", "up"))


def _combiner(name: str, kind: str) -> Callable[[List[int]], int]:
    if name in _LOWEST_WINS:
        return min
    if name.startswith("warm_up_"):
        return _first
    if kind == TIMESTAMP:
        return max
    return sum


def _first(values: List[int]) -> int:
    return values[0]


_NODE_RULES = {m.name: _combiner(m.name, m.kind) for m in METRICS if m.scope != PEER}
_PEER_RULES = {m.name: _combiner(m.name, m.kind) for m in METRICS if m.scope == PEER}


def _values(
    dicts: Sequence[Dict[str, int]], rules: Dict[str, Callable[[List[int]], int]]
) -> Dict[str, int]:
    names: Dict[str, None] = {}
    for values in dicts:
        names.update(dict.fromkeys(values))
    return {
        name: rules.get(name, sum)([values.get(name, 0) for values in dicts]) for name in names
    }


def _histograms(dicts: Sequence[Dict[str, HistogramSnapshot]]) -> Dict[str, HistogramSnapshot]:
    merged: Dict[str, HistogramSnapshot] = {}
    for histograms in dicts:
        for name, histogram in histograms.items():
            seen = merged.get(name)
            if seen is None:
                merged[name] = histogram
                continue
            merged[name] = HistogramSnapshot(
                [a + b for a, b in zip(seen.buckets, histogram.buckets)],
                seen.sum + histogram.sum,
                max(seen.max, histogram.max),
            )
    return merged


def _peers(snapshots: Sequence[Snapshot]) -> List[PeerSnapshot]:
    by_name: Dict[str, List[PeerSnapshot]] = {}
    for snapshot in snapshots:
        for peer in snapshot.peers:
            by_name.setdefault(peer.name, []).append(peer)
    return [
        PeerSnapshot(
            links[0].name,
            links[0].dc,
            links[0].rack,
            _values([link.values for link in links], _PEER_RULES),
            _histograms([link.histograms for link in links]),
            _histograms([link.totals for link in links]),
        )
        for links in by_name.values()
    ]


def merge_snapshots(snapshots: Sequence[Snapshot]) -> Snapshot:
    """The node's snapshot from its workers' (worker 0 first)."""
    if not snapshots:
        raise ValueError("no worker snapshot to merge")
    return replace(
        snapshots[0],
        uptime=max(s.uptime for s in snapshots),
        timestamp=max(s.timestamp for s in snapshots),
        node=_values([s.node for s in snapshots], _NODE_RULES),
        pool=_values([s.pool for s in snapshots], _NODE_RULES),
        server=_values([s.server for s in snapshots], _NODE_RULES),
        histograms=_histograms([s.histograms for s in snapshots]),
        totals=_histograms([s.totals for s in snapshots]),
        peers=_peers(snapshots),
    )


# -- as JSON data ------------------------------------------------------------------------


def _histogram_data(histograms: Dict[str, HistogramSnapshot]) -> Dict[str, Any]:
    return {
        name: {"buckets": list(h.buckets), "sum": h.sum, "max": h.max}
        for name, h in histograms.items()
    }


def _histograms_from(data: Dict[str, Any]) -> Dict[str, HistogramSnapshot]:
    return {
        name: HistogramSnapshot(h["buckets"], int(h["sum"]), int(h["max"]))
        for name, h in data.items()
    }


_STRINGS = ("pool_name", "server_name", "source", "version", "dc", "rack", "service")
_NUMBERS = ("uptime", "timestamp")
_VALUES = ("node", "pool", "server")


def snapshot_to_data(snapshot: Snapshot) -> Dict[str, Any]:
    """``snapshot`` as JSON-able data (lists, dicts, strings, integers)."""
    data: Dict[str, Any] = {key: getattr(snapshot, key) for key in (*_STRINGS, *_NUMBERS)}
    for key in _VALUES:
        data[key] = dict(getattr(snapshot, key))
    data["histograms"] = _histogram_data(snapshot.histograms)
    data["totals"] = _histogram_data(snapshot.totals)
    data["peers"] = [
        {
            "name": peer.name,
            "dc": peer.dc,
            "rack": peer.rack,
            "values": dict(peer.values),
            "histograms": _histogram_data(peer.histograms),
            "totals": _histogram_data(peer.totals),
        }
        for peer in snapshot.peers
    ]
    return data


def snapshot_from_data(data: Dict[str, Any]) -> Snapshot:
    """The :class:`Snapshot` :func:`snapshot_to_data` made (``KeyError``,
    ``TypeError`` or ``ValueError`` if ``data`` is not one)."""
    fields: Dict[str, Any] = {key: str(data[key]) for key in _STRINGS}
    fields.update({key: int(data[key]) for key in _NUMBERS})
    for key in _VALUES:
        fields[key] = {str(name): int(value) for name, value in data[key].items()}
    return Snapshot(
        histograms=_histograms_from(data["histograms"]),
        totals=_histograms_from(data["totals"]),
        peers=[
            PeerSnapshot(
                str(peer["name"]),
                str(peer["dc"]),
                str(peer["rack"]),
                {str(name): int(value) for name, value in peer["values"].items()},
                _histograms_from(peer["histograms"]),
                _histograms_from(peer["totals"]),
            )
            for peer in data["peers"]
        ],
        **fields,
    )

"""Dynomite's histograms (reference 6.4) and round-trip probes. Pure logic."""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Callable, Dict, List, Optional, Sequence, Tuple

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


def _export_edges() -> Tuple[int, ...]:
    """The buckets whose upper edges /metrics shows: each edge at least three times
    the one before (1, 3, 9, 30 ... 36 million: 16 of them). Prometheus buckets are
    cumulative, so any subset of the edges is exact; all 93 would make an idle node's
    /metrics over a hundred KB."""
    edges: List[int] = []
    last = 0
    for index in range(BUCKETS - 1):
        edge = BUCKET_BOUNDS[index + 1] - 1  # bucket i holds bounds[i] .. bounds[i + 1] - 1
        if edge >= 3 * last:
            edges.append(index)
            last = edge
    return tuple(edges)


#: indexes of the buckets whose upper edge is a Prometheus ``le`` (then ``+Inf``)
EXPORTED_BUCKETS: Tuple[int, ...] = _export_edges()

#: /info's histograms start afresh every this many stats intervals (``stats_interval``):
#: every 5 minutes with Dynomite's default 30 s, as Dynomite's; /metrics' never do
HISTOGRAM_RESET_INTERVALS = 10

#: the reset period with the default stats_interval, in seconds
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

    def cumulative(self) -> List[Tuple[Optional[int], int]]:
        """Prometheus buckets: (``le``, how many values are <= le) at the upper edges
        of :data:`EXPORTED_BUCKETS`, then (None, all of them) for ``+Inf``."""
        out: List[Tuple[Optional[int], int]] = []
        seen = 0
        start = 0
        buckets = self.buckets
        for index in EXPORTED_BUCKETS:
            seen += sum(buckets[start : index + 1])
            start = index + 1
            out.append((BUCKET_BOUNDS[index + 1] - 1, seen))
        out.append((None, seen + sum(buckets[start:])))
        return out

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, HistogramSnapshot):
            return NotImplemented
        return (self.buckets, self.sum, self.max) == (other.buckets, other.sum, other.max)

    def __repr__(self) -> str:
        return "<HistogramSnapshot n=%d sum=%d max=%d>" % (self.count, self.sum, self.max)


class Histogram:
    """Dynomite's histogram (section 6.4): ``record`` is one bisect and three adds.

    Values are non-negative integers (microseconds, bytes, queue lengths). The counts
    only grow (:meth:`totals`, what /metrics shows: Prometheus requires it);
    :meth:`reset` starts what /info shows (:meth:`snapshot`) afresh, as Dynomite's
    /historeset and its periodic reset do.
    """

    __slots__ = ("_base", "_base_sum", "buckets", "max", "sum")

    def __init__(self) -> None:
        self.buckets = [0] * BUCKETS
        self.sum = 0
        self.max = 0  # since the last reset
        self._base: Tuple[int, ...] = (0,) * BUCKETS  # the counts at the last reset
        self._base_sum = 0

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
        """What /info shows starts afresh; the totals go on."""
        self._base = tuple(self.buckets)
        self._base_sum = self.sum
        self.max = 0

    def snapshot(self) -> HistogramSnapshot:
        """The values recorded since the last reset (/info)."""
        base = self._base
        return HistogramSnapshot(
            [n - b for n, b in zip(self.buckets, base)], self.sum - self._base_sum, self.max
        )

    def totals(self) -> HistogramSnapshot:
        """Every value ever recorded (/metrics); ``max`` is the one since the reset."""
        return HistogramSnapshot(self.buckets, self.sum, self.max)

    # the statistics, straight from the live counts
    @property
    def count(self) -> int:
        """Values recorded since the last reset."""
        return sum(self.buckets) - sum(self._base)

    def percentile(self, p: float) -> int:
        return self.snapshot().percentile(p)

    def mean(self) -> int:
        return self.snapshot().mean()

    def summary(self) -> Dict[str, int]:
        return self.snapshot().summary()


class RoundTrips:
    """Round-trip times of a pipelined connection, one probe at a time.

    When no probe is out, ``sent(outstanding)`` — called after a write, with the
    number of requests now awaiting replies — makes the last request written the
    probe; replies come in order, so it is answered once that many replies have come
    (``answered(count)`` after each read). Two clock readings per round trip
    (``clock`` is injected), none per request; ``probing`` lets the hot path skip the
    call while a probe is out.
    """

    __slots__ = ("_clock", "_depth", "_due", "_probes_to_depth", "_since", "histograms", "probing")

    def __init__(
        self,
        histograms: Sequence[Histogram],
        clock: Callable[[], float],
        depth: Optional[Histogram] = None,
    ) -> None:
        self.histograms = tuple(histograms)
        self._clock = clock
        self._depth = depth  # where one probe in 16 records the requests outstanding
        self._probes_to_depth = 1
        self._due = 0  # replies still to come up to the probe's
        self._since = 0.0
        self.probing = False

    def sent(self, outstanding: int) -> None:
        if not self.probing:
            self.probing = True
            self._due = outstanding
            self._since = self._clock()
            if self._depth is not None:
                self._probes_to_depth -= 1
                if not self._probes_to_depth:
                    self._probes_to_depth = 16
                    self._depth.record(outstanding)

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

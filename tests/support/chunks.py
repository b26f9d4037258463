"""Inputs cut into pieces, as the network may deliver them, and a counter of the bytes a
parser scans."""

from __future__ import annotations

from typing import Iterable, Iterator, List, Sequence


def pieces(data: bytes, cuts: Iterable[int]) -> List[bytes]:
    """``data`` cut at the given offsets (taken modulo ``len(data) + 1``)."""
    bounds = [0, *sorted({cut % (len(data) + 1) for cut in cuts}), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def chunked(data: bytes, size: int) -> List[bytes]:
    """``data`` in pieces of ``size`` bytes (the last one shorter)."""
    return [data[i : i + size] for i in range(0, len(data), size)] or [b""]


def split_offsets(length: int, limit: int = 4096) -> Sequence[int]:
    """Every offset of a short input; for a long one, its ends and a stride between."""
    if length <= limit:
        return range(length + 1)
    edge = limit // 2
    return sorted({*range(edge), *range(length - edge, length + 1), *range(0, length, 997)})


def splits(data: bytes) -> Iterator[List[bytes]]:
    """``data`` whole, in two at every offset, and one byte at a time."""
    yield [data]
    for i in range(1, len(data)):
        yield [data[:i], data[i:]]
    yield chunked(data, 1)


class ScanCounted(bytes):
    """A read that counts, in ``ScanCounted.scanned``, the bytes its ``find`` looks at:
    the work of a parser that scans only what it is fed."""

    scanned = 0

    def find(self, sub, start=0, end=None):  # type: ignore[no-untyped-def,override]
        stop = len(self) if end is None else min(end, len(self))
        ScanCounted.scanned += max(0, stop - start)
        return bytes.find(self, sub, start, stop)

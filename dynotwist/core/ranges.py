"""Token ranges: the part of the ring a node owns, for the tools that copy or compare it
(warm-up, anti-entropy). Pure.

A range is ``(low, high)``, both included, within ``0..MAX_TOKEN``. A node owns
``(previous token, own token]`` on its rack's ring; the lowest token also owns what is
above the highest one (the wrap).
"""

from __future__ import annotations

from typing import Iterable, List, Sequence, Tuple

from dynotwist.core.ring import MAX_TOKEN, Member, RackRing

__all__ = ["TokenRange", "contains", "intersect", "owned_ranges", "parse_range", "span"]

TokenRange = Tuple[int, int]

WHOLE_RING: List[TokenRange] = [(0, MAX_TOKEN)]


def owned_ranges(ring: RackRing, member: Member) -> List[TokenRange]:
    """The ranges ``member`` owns on ``ring`` (its rack's)."""
    tokens = ring.tokens
    found: List[TokenRange] = []
    for index, (token, owner) in enumerate(zip(tokens, ring.owners)):
        if owner.name != member.name:
            continue
        if index:
            found.append((tokens[index - 1] + 1, token))
            continue
        if len(tokens) == 1:
            return list(WHOLE_RING)
        found.append((0, token))
        if tokens[-1] < MAX_TOKEN:
            found.append((tokens[-1] + 1, MAX_TOKEN))
    return _merged(found)


def _merged(ranges: Iterable[TokenRange]) -> List[TokenRange]:
    merged: List[TokenRange] = []
    for low, high in sorted(ranges):
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(high, merged[-1][1]))
        else:
            merged.append((low, high))
    return merged


def contains(ranges: Sequence[TokenRange], token: int) -> bool:
    return any(low <= token <= high for low, high in ranges)


def intersect(first: Sequence[TokenRange], second: Sequence[TokenRange]) -> List[TokenRange]:
    """The tokens in both."""
    found = []
    for low, high in first:
        for other_low, other_high in second:
            start, end = max(low, other_low), min(high, other_high)
            if start <= end:
                found.append((start, end))
    return _merged(found)


def span(ranges: Sequence[TokenRange]) -> int:
    """How many tokens ``ranges`` hold."""
    return sum(high - low + 1 for low, high in ranges)


def parse_range(text: str) -> List[TokenRange]:
    """``low:high`` (both included; ``high < low`` wraps past MAX_TOKEN) -> ranges;
    ValueError with the reason."""
    low_text, colon, high_text = text.partition(":")
    try:
        low, high = int(low_text), int(high_text)
    except ValueError:
        raise ValueError("a token range is low:high, two integers: %r" % text) from None
    if not colon or not (0 <= low <= MAX_TOKEN and 0 <= high <= MAX_TOKEN):
        raise ValueError("a token range is low:high within 0:%d: %r" % (MAX_TOKEN, text))
    if low <= high:
        return [(low, high)]
    return _merged([(0, high), (low, MAX_TOKEN)])

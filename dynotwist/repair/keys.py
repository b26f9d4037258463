"""What warm-up and anti-entropy share: keys of a token range read from a datastore,
their dumps, a throttle and the progress of a run.

Every datastore is reached with txredisapi (``charset=None``: keys and values are
bytes), pipelined: a batch of DUMP/PTTL requests is written at once and read back in
order.
"""

from __future__ import annotations

from typing import Any, Callable, Generator, List, NamedTuple, Optional, Sequence, Tuple

import txredisapi
from twisted.internet import defer, task

from dynotwist.core.hashkit import NO_TOKEN, HashFunction, hash_key
from dynotwist.core.ranges import TokenRange, contains

__all__ = [
    "METADATA_PREFIXES",
    "Dumped",
    "KeyFilter",
    "Progress",
    "Throttle",
    "connect",
    "dump_all",
    "scan_batches",
]

#: read repair's metadata keys (``._add-set``, ``._rem-set`` and their per-key sets):
#: kept by each replica for itself, never copied or compared as data
METADATA_PREFIXES = (b"._add-set", b"._rem-set")


def connect(host: str, port: int, password: Optional[str] = None,
            timeout: float = 30.0) -> defer.Deferred[Any]:
    """A txredisapi connection whose replies are bytes."""
    return txredisapi.Connection(
        host, port, reconnect=False, charset=None, convertNumbers=False,
        password=password, replyTimeout=timeout,
    )


class KeyFilter:
    """The keys of ``ranges`` (as a ring with ``hash_fn`` and ``hash_tag`` places them),
    metadata aside."""

    def __init__(self, hash_fn: HashFunction, hash_tag: Optional[bytes],
                 ranges: Sequence[TokenRange]) -> None:
        self.hash_fn = hash_fn
        self.hash_tag = hash_tag
        self.ranges = list(ranges)

    def token(self, key: bytes) -> int:
        return hash_key(key, self.hash_fn, self.hash_tag)

    def wanted(self, key: bytes) -> bool:
        if key.startswith(METADATA_PREFIXES):
            return False
        token = self.token(key)
        return token != NO_TOKEN and contains(self.ranges, token)


@defer.inlineCallbacks
def scan_batches(
    connection: Any, count: int, each: Callable[[List[bytes]], Any]
) -> Generator[defer.Deferred[Any], Any, int]:
    """SCAN the whole keyspace of ``connection``, ``count`` keys a step; ``each(keys)``
    (its Deferred waited for) for every non-empty batch. Returns how many keys came.
    SCAN may return a key twice; callers tolerate it."""
    cursor = b"0"
    seen = 0
    while True:
        cursor, keys = yield connection.execute_command("SCAN", cursor, "COUNT", count)
        if keys:
            seen += len(keys)
            yield each(list(keys))
        if cursor in (b"0", 0, "0"):
            return seen


class Dumped(NamedTuple):
    """A key as DUMP and PTTL see it: ``payload`` None if the key does not exist."""

    payload: Optional[bytes]
    ttl: int  # ms; 0: no expiry


@defer.inlineCallbacks
def dump_all(connection: Any, keys: Sequence[bytes]
             ) -> Generator[defer.Deferred[Any], Any, List[Dumped]]:
    """DUMP and PTTL of every key, written at once."""
    requests = []
    for key in keys:
        requests.append(connection.execute_command("DUMP", key))
        requests.append(connection.execute_command("PTTL", key))
    replies = yield defer.gatherResults(requests, consumeErrors=True)
    dumped = []
    for payload, ttl in zip(replies[0::2], replies[1::2]):
        ttl = int(ttl)
        dumped.append(Dumped(payload, ttl if ttl > 0 else 0))
    return dumped


class Throttle:
    """At most ``rate`` units a second (0: no limit), on ``clock``."""

    def __init__(self, clock: Any, rate: float) -> None:
        self.clock = clock
        self.rate = rate
        self._start = clock.seconds()
        self._spent = 0.0

    def take(self, units: float) -> defer.Deferred[None]:
        """Fires when ``units`` more may go."""
        self._spent += units
        if self.rate <= 0:
            return defer.succeed(None)
        due = self._start + self._spent / self.rate
        delay = due - self.clock.seconds()
        if delay <= 0:
            if delay < -1.0:  # idle for a while: no burst to make up for it
                self._start, self._spent = self.clock.seconds(), 0.0
            return defer.succeed(None)
        return task.deferLater(self.clock, delay, lambda: None)


class Progress:
    """Keys and bytes done, the rate, and the time left once the total is estimated."""

    def __init__(self, clock: Any, expected: int = 0) -> None:
        self.clock = clock
        self.started = clock.seconds()
        self.expected = expected  # an estimate of the keys to go through (0: unknown)
        self.keys = 0  # keys gone through
        self.copied = 0  # keys written
        self.bytes = 0  # payload bytes written
        self.finished: Optional[float] = None

    def elapsed(self) -> float:
        end = self.finished if self.finished is not None else self.clock.seconds()
        return max(end - self.started, 1e-9)

    def rate(self) -> float:
        """Keys a second."""
        return self.keys / self.elapsed()

    def seconds_left(self) -> Optional[float]:
        if self.finished is not None:
            return 0.0
        rate = self.rate()
        if not self.expected or not rate:
            return None
        return max(self.expected - self.keys, 0) / rate

    def fraction(self) -> Optional[float]:
        if self.finished is not None:
            return 1.0
        if not self.expected:
            return None
        return min(self.keys / self.expected, 0.99)

    def line(self, width: int = 30) -> str:
        """A progress bar: ``[#####.....]  52% 1234 keys 10.2 MB 3456 keys/s ETA 4 s``."""
        fraction = self.fraction()
        if fraction is None:
            bar = "[%s]  ?%%" % ("?" * width)
        else:
            done = int(fraction * width)
            bar = "[%s%s] %3d%%" % ("#" * done, "." * (width - done), fraction * 100)
        left = self.seconds_left()
        return "%s %d keys %.1f MB %d keys/s ETA %s" % (
            bar, self.keys, self.bytes / 1e6, self.rate(),
            "?" if left is None else "%d s" % round(left),
        )


def batches(items: Sequence[Any], size: int) -> List[Sequence[Any]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def key_range_share(ranges: Sequence[TokenRange], of: Sequence[TokenRange]) -> Tuple[int, int]:
    """(tokens of ``ranges`` within ``of``, tokens of ``of``): to scale a key count."""
    from dynotwist.core.ranges import intersect, span

    return span(intersect(ranges, of)), span(of)

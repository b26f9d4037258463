"""In-memory transports for a node's connections, flushed by the test."""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock, StringTransport


class BatchedTransport(StringTransport):
    """A StringTransport under a node that joins the writes of one reactor iteration
    (``net.batch.WriteBatch``): they reach the transport when the iteration ends.
    ``flush()`` ends it — the fake clock advances by 0 — and returns the transport, so
    that ``flush().value()`` is everything written so far and ``flush().disconnecting``
    whether the node has closed it; ``value()`` alone changes nothing."""

    def __init__(self, reactor: MemoryReactorClock) -> None:
        super().__init__()
        self.reactor = reactor

    def flush(self) -> BatchedTransport:
        self.reactor.advance(0)
        return self

    def take(self) -> bytes:
        """Flush, then what was written since the last ``take``."""
        data = self.flush().value()
        self.clear()
        return data

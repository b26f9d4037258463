"""One ``transport.write`` per connection per reactor iteration.

A pipelined client sends many requests in one read, and one datastore read carries
replies for many clients. Writing each request or reply on its own costs a Twisted
``write`` call apiece (buffer bookkeeping, producer checks, reactor registration);
here they are gathered and handed over together at the start of the next reactor
iteration — which is when Twisted would have sent them anyway, so nothing waits
longer than it would have.

Every write of a protocol that uses the batch must go through it, or bytes would be
reordered; closing goes through it too, so that a hang-up follows its last bytes.
When nothing waits in a TCP transport the bytes go to the kernel at once
(``net.directsend``); an iteration's writes that begin with a large buffer (big
values) are handed over as they are, gathered by the kernel, instead of joined.
"""

from __future__ import annotations

from typing import Any, List, Optional

from dynotwist.net.directsend import GATHER_MAX_BUFFERS, write_all_now, write_now

#: a connection's writes of one iteration that begin with a buffer this large are not
#: joined (a copy of them all) but gathered by the kernel: sendmsg costs more than a
#: join of small buffers, less than a copy of large ones
GATHER_FROM = 8192


class Batched:
    """Mixed into a protocol whose writes go through a ``WriteBatch``."""

    transport: Any
    _out: Optional[List[bytes]] = None
    _hang_up = False

    def flushed(self, size: int) -> None:
        """Called once this iteration's ``size`` bytes are handed to the transport."""

    def hanging_up(self) -> None:
        """Called just before the batch closes the transport (after its last bytes)."""


class WriteBatch:
    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self._dirty: List[Batched] = []
        self._call: Any = None

    def write(self, protocol: Batched, data: bytes) -> None:
        out = protocol._out
        if out is None:
            protocol._out = [data]
            self._mark(protocol)
        else:
            out.append(data)

    def close(self, protocol: Batched) -> None:
        """Hang up once the bytes written so far are handed to the transport."""
        protocol._hang_up = True
        if protocol._out is None:
            protocol._out = []
            self._mark(protocol)

    def _mark(self, protocol: Batched) -> None:
        self._dirty.append(protocol)
        if self._call is None:
            self._call = self.reactor.callLater(0, self.flush)

    def flush(self) -> None:
        self._call = None
        dirty, self._dirty = self._dirty, []
        for protocol in dirty:
            out = protocol._out
            protocol._out = None
            transport = protocol.transport
            if transport is None:
                continue
            size = 0
            if out:
                if len(out) > 1 and len(out[0]) >= GATHER_FROM and len(out) <= GATHER_MAX_BUFFERS:
                    size = sum(map(len, out))
                    write_all_now(transport, out)
                else:
                    data = out[0] if len(out) == 1 else b"".join(out)
                    size = len(data)
                    write_now(transport, data)
            protocol.flushed(size)
            if protocol._hang_up:
                protocol.hanging_up()
                transport.loseConnection()

"""Sending a write batch to the kernel at once, when the transport holds nothing.

Why: Twisted's TCP transport buffers every ``write`` until the reactor reports the
socket writable: two epoll registrations and one more reactor event per write. The
node writes once per connection per reactor iteration (``net.batch``), so on a
request-reply connection that costs a third of the node's CPU. Measured on one node
in front of Redis (``benchmarks/redis_bench.py``, SET and GET at P=1, CPython 3.11),
CPU per request: 19.5 µs with ``transport.write``, 16.4 µs with ``transport.write``
followed by the transport's ``doWrite()`` (both public), 13.9 µs with this module.

How: when the transport is a plain TCP socket holding no earlier bytes, the data goes
to the transport's socket (``getHandle()``) with one ``send``, as the transport's own
``writeSomeData`` would send it less a memoryview and two Python calls (Python retries
a send that a signal interrupts by itself); whatever the kernel does not take, and any
error other than a full buffer, goes the usual way through ``transport.write``, behind
which Twisted keeps the order and meets and reports the error on its own next send.

Large values: a batch of several buffers (requests or replies carrying big values) is
sent as it is, with one ``sendmsg`` on the transport's socket (``getHandle()``), the
kernel gathering the buffers: no bytes join copying them first (:func:`write_all_now`).
What the kernel does not take goes to ``transport.writeSequence``; an error other than
a full buffer too, so that Twisted meets and reports it on its own next send.

What it reads of Twisted that is not an interface: whether the transport holds
unsent bytes (``FileDescriptor.dataBuffer``, ``offset`` and ``_tempDataLen``) and
whether it is being aborted (``_aborting``). ``tests/integration/test_directsend.py`` checks
them on real socket pairs, so that a Twisted release that changes them fails the
suite instead of the order of bytes. Never used for TLS (the bytes must be encrypted
first): a TLS transport is not a ``FileDescriptor``, nor is a TCP transport after
``startTLS`` (``TLS`` set).
"""

from __future__ import annotations

import errno
from typing import Any, List

from twisted.internet.abstract import FileDescriptor

__all__ = ["GATHER_MAX_BUFFERS", "holds_nothing", "write_all_now", "write_now"]

#: the most buffers one ``sendmsg`` is given (the kernel refuses more than IOV_MAX, 1024)
GATHER_MAX_BUFFERS = 1024
_FULL = (errno.EAGAIN, errno.EWOULDBLOCK, errno.ENOBUFS)


def holds_nothing(transport: Any) -> bool:
    """True if ``transport`` is a plain socket, open, holding no unsent bytes."""
    return bool(
        isinstance(transport, FileDescriptor)
        and not getattr(transport, "TLS", False)
        and transport.connected
        and not transport.disconnecting
        and not getattr(transport, "_aborting", False)
        and len(transport.dataBuffer) == transport.offset
        and not transport._tempDataLen
    )


def write_now(transport: Any, data: bytes) -> None:
    """``transport.write(data)``, sent to the kernel at once where that is safe."""
    if holds_nothing(transport):
        try:
            sent = transport.getHandle().send(data)
        except OSError as error:
            if error.errno not in _FULL:
                transport.write(data)
                return
            sent = 0
        if sent == len(data):
            return
        data = data[sent:]
    transport.write(data)


def write_all_now(transport: Any, buffers: List[bytes]) -> None:
    """``transport.writeSequence(buffers)``, sent to the kernel at once where that is
    safe, in one gathering ``sendmsg`` (at most :data:`GATHER_MAX_BUFFERS` buffers)."""
    if not holds_nothing(transport):
        transport.writeSequence(buffers)
        return
    try:
        sent = transport.getHandle().sendmsg(buffers)
    except OSError as error:
        if error.errno not in _FULL:  # Twisted's own send meets it again and reports it
            transport.writeSequence(buffers)
            return
        sent = 0
    for index, buffer in enumerate(buffers):
        if sent < len(buffer):
            # the rest: the first buffer not sent whole (its unsent part), and the others
            transport.writeSequence([buffer[sent:] if sent else buffer, *buffers[index + 1 :]])
            return
        sent -= len(buffer)

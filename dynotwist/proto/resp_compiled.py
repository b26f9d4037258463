"""Optional accelerators for the RESP codec: its per-element loops in C.

A reply of many elements (LRANGE, HGETALL, SMEMBERS...) costs the pure framer a few
Python steps per element; ``_respscan.scan`` (``_respscan.c``, built at install on
CPython when a C compiler is there) walks the same bytes in C and hands back the
complete replies, so that Python's work is per read, not per element. The pure
framer stays the reference: the compiled scan reads lengths only in their canonical
form and gives up on anything else (returning None, with the framer's state
untouched), and the pure loop then scans the same bytes and decides, errors included.
The framer's state between reads (the bytes held, the open aggregates, a blob body
still due) is the pure framer's own.

``_respscan.one_request`` is :func:`dynotwist.proto.resp.one_request` (a peer frame's
request, read as exactly one multibulk request) step for step in C: a relayed copy of
a write costs its peer a third of what the pure function does on CPython.
"""

from __future__ import annotations

from typing import List

from dynotwist.proto._respscan import one_request, scan  # ImportError where not built
from dynotwist.proto.resp import ReplyFramer

__all__ = ["CompiledReplyFramer", "one_request"]


class CompiledReplyFramer(ReplyFramer):
    def _scan(self, buf: bytes, out: List[bytes]) -> None:
        scanned = scan(buf, self._stack)
        if scanned is None:
            ReplyFramer._scan(self, buf, out)
            return
        replies, start, pos, skip = scanned
        if replies:
            parts = self._parts
            if parts:  # the first reply began in an earlier read
                parts.append(replies[0])
                replies[0] = b"".join(parts)
                self._parts = []
            out += replies
        if skip:
            self._skip = skip
            self._parts.append(buf[start:])
            return
        if start < pos:
            self._parts.append(buf[start:pos])
        self._tail = buf[pos:]

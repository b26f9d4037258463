"""An optional accelerator for the RESP request parser, on hiredis.

hiredis reads a chunk of multibulk requests in C. It is trusted only when the
result proves itself: every argument a bulk string and the chunk exactly the size
of the canonical encodings of the requests read from it (hiredis refuses
non-canonical lengths, so no other bytes can hide in between). The canonical sizes
also give each request's raw bytes. Anything else — an inline command, a request
cut by the end of the chunk, a request spanning reads, any malformed input — goes
to the pure-Python parser, which stays the reference for what is accepted and for
every error text.
"""

from __future__ import annotations

from typing import List, Optional

import hiredis

from dynotwist.proto.resp import DEFAULT_MAX_BULK, Request, RequestParser

# decimal digits of the numbers below 10000: most lengths, without a str() per length
_DIGITS = [len(str(i)) for i in range(10000)]
_digits = _DIGITS.__getitem__

# chunks larger than this are left to the pure parser, which refuses oversized
# bulks at their header instead of letting hiredis gather them
_FAST_LIMIT = 1 << 20


class AcceleratedRequestParser(RequestParser):
    def __init__(self, max_bulk_len: int = DEFAULT_MAX_BULK) -> None:
        super().__init__(max_bulk_len)
        self._reader = hiredis.Reader()
        self._fast_limit = min(_FAST_LIMIT, max_bulk_len)

    def feed(self, data: bytes) -> List[Request]:
        if (
            data[:1] == b"*"
            and len(data) <= self._fast_limit
            and not self._buf
            and self._args is None
            and self._failed is None
        ):
            requests = self._read(data)
            if requests is not None:
                return requests
        return super().feed(data)

    def _read(self, data: bytes) -> Optional[List[Request]]:
        reader = self._reader
        out: List[Request] = []
        offset = 0
        try:
            reader.feed(data)
            gets = reader.gets
            while True:
                args = gets()
                if args is False:
                    break
                if list in map(type, args):
                    raise TypeError("nested array")
                lengths = list(map(len, args))
                count = len(lengths)
                try:
                    digits = sum(map(_digits, lengths))
                except IndexError:
                    digits = sum(len(str(n)) for n in lengths)
                size = 3 + _DIGITS[count] + sum(lengths) + digits + 5 * count
                if count:  # Redis ignores an empty multibulk
                    out.append((args, data[offset : offset + size]))
                offset += size
        except (hiredis.ProtocolError, TypeError, IndexError):
            offset = -1
        if offset != len(data):
            self._reader = hiredis.Reader()  # it may hold a partial request
            return None
        return out

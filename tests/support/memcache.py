"""memcached text requests in tests: parsed as the client port parses them, and the
bytes tests append to a client's to end an exchange."""

from __future__ import annotations

from typing import List, Sequence

from dynotwist.proto.memcache import (
    DEFAULT_ITEM_SIZE_MAX,
    Item,
    MemcacheRequest,
    MemcacheRequestParser,
)

# what the tests append to a client's bytes: a liveness probe (MN if the connection is
# still open) and an end (memcached, or the node, closes the connection)
PROBE = b"mn\r\n"
TAIL = PROBE + b"quit\r\n"


def parse(chunks: Sequence[bytes], item_size_max: int = DEFAULT_ITEM_SIZE_MAX) -> List[Item]:
    parser = MemcacheRequestParser(item_size_max)
    items: List[Item] = []
    for chunk in chunks:
        items.extend(parser.feed(chunk))
    return items


def requests_only(items: Sequence[Item]) -> List[MemcacheRequest]:
    assert all(isinstance(i, MemcacheRequest) for i in items), items
    return [i for i in items if isinstance(i, MemcacheRequest)]

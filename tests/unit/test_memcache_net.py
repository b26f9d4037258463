"""The memcached datastore connection's reading of relayed requests."""

from __future__ import annotations

import ast
import os

from twisted.trial import unittest

from dynotwist.net.memcache import expected_reply
from dynotwist.proto.memcache import MemcacheRequest, MemcacheRequestParser

VECTORS = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "vectors", "memcache-requests.txt"
)


def relayed_requests():
    """Every request the client port's parser accepts in the recorded vectors."""
    with open(VECTORS) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            request = ast.literal_eval(line.split("\t")[1])
            for item in MemcacheRequestParser().feed(request):
                if isinstance(item, MemcacheRequest) and not item.local:
                    yield item


class ExpectedReplyTests(unittest.TestCase):
    def test_the_first_line_tells_what_the_parser_knows(self) -> None:
        count = 0
        for request in relayed_requests():
            self.assertEqual(
                expected_reply(request.raw_with_fence), request.expect, request.raw[:80]
            )
            count += 1
        self.assertGreater(count, 150)

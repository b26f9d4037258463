"""data_store: 0, 1 or a dotted path to a Datastore subclass."""

from __future__ import annotations

from twisted.trial import unittest

from dynotwist import datastores, errors
from dynotwist.net.memcache import REPLIES


class ResolveTests(unittest.TestCase):
    def test_numbers(self) -> None:
        self.assertEqual(datastores.resolve(0).name, "redis")
        self.assertEqual(datastores.resolve(1).name, "memcache")
        self.assertIs(datastores.resolve(0).replies, errors.RESP)
        self.assertIs(datastores.resolve(1).replies, REPLIES)

    def test_dotted_paths(self) -> None:
        for path in ("dynotwist.datastores:Memcache", "dynotwist.datastores.Memcache"):
            self.assertEqual(datastores.resolve(path).name, "memcache")

    def test_bad_paths_say_why(self) -> None:
        for path, reason in [
            ("nosuchmodule:Kind", "cannot be loaded"),
            ("dynotwist.datastores:Nope", "cannot be loaded"),
            ("dynotwist.errors:Replies", "is not a dynotwist.datastores.Datastore"),
        ]:
            with self.assertRaises(ValueError) as caught:
                datastores.resolve(path)
            self.assertIn(reason, str(caught.exception))

    def test_memcache_errors_are_server_errors_with_dynomites_texts(self) -> None:
        self.assertEqual(
            REPLIES.datastore_refused, b"SERVER_ERROR Storage: Datastore refused connection\r\n"
        )
        self.assertTrue(REPLIES.is_error(b"CLIENT_ERROR bad data chunk\r\n"))
        self.assertFalse(REPLIES.is_error(b"STORED\r\n"))

    def test_inspect_reads_keys_and_writes(self) -> None:
        redis, memcache = datastores.resolve(0), datastores.resolve(1)
        self.assertEqual(redis.inspect(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"), ([b"k"], False))
        self.assertEqual(redis.inspect(b"garbage"), ([], True))
        self.assertEqual(memcache.inspect(b"set k 0 0 1\r\nx\r\n"), ([b"k"], True))
        self.assertEqual(memcache.inspect(b"get a b\r\n"), ([b"a", b"b"], False))

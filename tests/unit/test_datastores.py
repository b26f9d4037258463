"""data_store: 0, 1 or a dotted path to a Datastore subclass."""

from __future__ import annotations

from twisted.trial import unittest

from dynotwist import datastores, errors
from dynotwist.datastores import Relayed
from dynotwist.net.memcache import REPLIES
from tests.support.configs import node_config

CONFIG = node_config()
NOT_ONE = b"-ERR Protocol error: a peer frame must carry exactly one request\r\n"


class ResolveTests(unittest.TestCase):
    def test_numbers(self) -> None:
        self.assertEqual(datastores.resolve(0).name, "redis")
        self.assertEqual(datastores.resolve(1).name, "memcache")
        self.assertIs(datastores.resolve(0).replies, errors.RESP)
        self.assertIs(datastores.resolve(1).replies, REPLIES)

    def test_dotted_paths(self) -> None:
        for path in ("dynotwist.datastores:MemcacheKind", "dynotwist.datastores.MemcacheKind"):
            self.assertEqual(datastores.resolve(path).name, "memcache")

    def test_bad_paths_say_why(self) -> None:
        for path, reason in [
            ("nosuchmodule:Kind", "cannot be loaded"),
            ("dynotwist.datastores:Nope", "cannot be loaded"),
            ("dynotwist.errors:Replies", "is not a dynotwist.datastores.IDatastoreKind"),
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

    def test_relayed_requests_are_parsed_with_their_keys(self) -> None:
        redis, memcache = datastores.resolve(0), datastores.resolve(1)
        get = b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"
        self.assertEqual(redis.admit_relayed(get, CONFIG), Relayed(get, False, [b"k"]))
        self.assertEqual(
            redis.admit_relayed(b"del a b\r\n", CONFIG),
            Relayed(b"*3\r\n$3\r\ndel\r\n$1\r\na\r\n$1\r\nb\r\n", True, [b"a", b"b"]),
        )
        self.assertEqual(redis.admit_relayed(b"garbage", CONFIG), NOT_ONE)
        store = b"set k 0 0 1\r\nx\r\n"
        self.assertEqual(memcache.admit_relayed(store, CONFIG), Relayed(store, True, [b"k"]))
        get = b"get a b\r\n"
        self.assertEqual(memcache.admit_relayed(get, CONFIG), Relayed(get, False, [b"a", b"b"]))

    def test_relayed_memcached_noreply_requests_travel_fenced(self) -> None:
        memcache = datastores.resolve(1)
        request = b"set k 0 0 1 noreply\r\nx\r\n"
        fenced = Relayed(request + b"mn\r\n", True, [b"k"])
        # from a dynotwist peer (with its fence) and from a C Dynomite peer (without)
        self.assertEqual(memcache.admit_relayed(request + b"mn\r\n", CONFIG), fenced)
        self.assertEqual(memcache.admit_relayed(request, CONFIG), fenced)

    def test_relayed_memcached_requests_are_refused_as_clients_are(self) -> None:
        memcache = datastores.resolve(1)
        not_one = b"SERVER_ERROR Protocol error: a peer frame must carry exactly one request\r\n"
        for payload, reply in [
            (b"get a\r\nget b\r\n", not_one),
            (b"get a\r\nmn\r\n", not_one),  # a fence after a request that has none
            (b"", not_one),
            (b"get a", not_one),
            (b"set k 0 0 5\r\nx\r\n", not_one),
            (b"bogus\r\n", b"ERROR\r\n"),
            (b"set k 0 0 x\r\n", b"CLIENT_ERROR bad command line format\r\n"),
        ]:
            self.assertEqual(memcache.admit_relayed(payload, CONFIG), reply, payload)
        for command in (b"flush_all", b"stats", b"version", b"quit"):
            reply = memcache.admit_relayed(command + b"\r\n", CONFIG)
            assert isinstance(reply, bytes)
            self.assertTrue(reply.startswith(b"SERVER_ERROR '%s' is answered by" % command))


class PluginTests(unittest.TestCase):
    def test_built_in_kinds_are_plugins(self) -> None:
        self.assertIsInstance(datastores.resolve("redis"), datastores.RedisKind)
        self.assertIsInstance(datastores.resolve("memcache"), datastores.MemcacheKind)

    def test_an_unknown_plugin_says_which_are_installed(self) -> None:
        with self.assertRaises(ValueError) as caught:
            datastores.resolve("nosuchkind")
        self.assertIn("installed: memcache, redis", str(caught.exception))

    def test_kinds_provide_the_interface(self) -> None:
        from zope.interface.verify import verifyObject

        for kind in (datastores.RedisKind(), datastores.MemcacheKind()):
            self.assertTrue(verifyObject(datastores.IDatastoreKind, kind))

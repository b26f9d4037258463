"""The Redis command table against the real thing: a live redis-server's COMMAND,
COMMAND DOCS, COMMAND GETKEYS and error texts; and redis-cli 7 reading the table's own
COMMAND replies from a stub server in the reactor."""

from __future__ import annotations

from typing import Any, Generator, List

from twisted.internet import defer, utils
from twisted.internet.protocol import Factory, Protocol
from twisted.trial import unittest

from dynotwist.proto import commands as c
from dynotwist.proto.commands import KeySpecError, arity_ok, key_indexes, keys, lookup
from dynotwist.testing import LOOPBACK
from dynotwist.testing.blocking import RespClient
from dynotwist.testing.processes import RedisServer, find_program
from tests.support.fixtures import Processes, ProcessTestCase
from tests.support.resp import as_dict, parse_all, parse_resp
from tests.support.resp import command_args as a
from tests.support.vectors import NUMKEYS_ERRORS


class Redis:
    """A live redis-server's replies as Python values."""

    def __init__(self, port: int) -> None:
        self.client = RespClient(port)

    def call(self, args: List[bytes]) -> Any:
        return parse_all(self.client.call(*args))

    def close(self) -> None:
        self.client.close()


class LiveRedisTests(ProcessTestCase):
    """The table matches a live redis-server's own description of its commands."""

    redis: RedisServer

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.redis = processes.redis()

    def test_table_matches_live_redis(self) -> None:
        redis = Redis(self.redis.port)
        self.addCleanup(redis.close)
        version = self._info(redis).get("redis_version", "")
        self.assertTrue(version.startswith("7."), version)
        live = {e[0].decode(): e for e in redis.call(a("COMMAND"))}
        docs = as_dict(redis.call(a("COMMAND DOCS")))
        self._check_specs(live, docs)
        self._check_keys(redis)
        self._check_error_texts(redis)
        self._check_info_bytes(redis)

    def _info(self, redis: Redis) -> dict:
        text = redis.call(a("INFO server")).decode()
        return dict(line.split(":", 1) for line in text.splitlines() if ":" in line)

    def _check_specs(self, live: dict, docs: dict) -> None:
        """Arity, flags, first/last/step, ACL categories and docs group of every spec;
        every Redis command (and every subcommand of a container we route) is in the
        table."""
        extras = {"dyno_config:conn_consistency", "client|setinfo"}  # not in Redis 7.0
        checked = set()

        def compare(entry: list, doc: dict) -> None:
            name = entry[0].decode()
            spec = c.SPECS.get(name)
            self.assertIsNotNone(spec, "%s is missing from the table" % name)
            assert spec is not None
            got = (spec.arity, list(spec.flags), spec.first_key, spec.last_key,
                   spec.key_step, list(spec.acl_categories), spec.group)
            want = (entry[1], list(entry[2]), entry[3], entry[4], entry[5],
                    list(entry[6]), doc[b"group"].decode())
            self.assertEqual(got, want, name)
            if spec.listed:
                self.assertEqual(spec.since, doc[b"since"].decode(), name)
                self.assertEqual(spec.summary, doc[b"summary"].decode(), name)
            checked.add(name)

        for name, entry in live.items():
            doc = as_dict(docs[name.encode()])
            compare(entry, doc)
            spec = c.SPECS[name]
            if spec.subcommands is None:
                continue  # a wholly refused container lists no subcommands
            subdocs = as_dict(doc[b"subcommands"])
            for sub in entry[9]:
                compare(sub, as_dict(subdocs[sub[0]]))
        self.assertEqual(set(c.SPECS) - checked, extras)

    # requests whose keys Redis's COMMAND GETKEYS must agree with
    GETKEYS_SAMPLES = [
        "GET k", "SET k v", "DEL a b c", "MSET a 1 b 2", "MSETNX a 1 b 2", "RENAME a b",
        "COPY a b", "BITOP OR d a b c", "LMOVE a b LEFT LEFT", "RPOPLPUSH a b",
        "LMPOP 2 a b LEFT", "SMOVE a b m", "SINTERSTORE d a b", "SINTERCARD 2 a b",
        "ZUNIONSTORE d 2 a b", "ZINTER 2 a b", "ZDIFFSTORE d 1 a", "ZRANGESTORE d s 0 1",
        "ZMPOP 2 a b MAX", "ZINTERCARD 2 a b", "PFCOUNT a b", "PFMERGE d a b", "EVAL s 2 a b c",
        "EVALSHA_RO s 1 a", "FCALL f 2 a b c", "SORT k LIMIT 0 1 STORE d",
        "GEORADIUS g 0 0 1 km STORE d", "GEORADIUSBYMEMBER g m 1 km STOREDIST d",
        "GEOSEARCHSTORE d g FROMMEMBER m BYRADIUS 1 km", "XREAD COUNT 1 STREAMS a b 0 0",
        "XREADGROUP GROUP g c STREAMS a >", "OBJECT ENCODING k", "MEMORY USAGE k",
        "XINFO STREAM s", "XGROUP CREATE s g $", "LCS a b", "BLPOP a b 0", "HGETALL h",
        "TOUCH a b", "UNLINK a", "EXISTS a b", "XADD s * f v", "BITFIELD k GET u8 0",
    ]

    def _check_keys(self, redis: Redis) -> None:
        for request in self.GETKEYS_SAMPLES:
            args = a(request)
            want = redis.call(a("COMMAND GETKEYS") + args)
            spec = lookup(args)
            assert spec is not None, request
            self.assertTrue(arity_ok(spec, len(args)), request)
            self.assertEqual(keys(spec, args), want, request)
            if spec.listed:
                self.assertEqual(
                    parse_all(c.command_reply(a("COMMAND GETKEYS") + args, False)),
                    want, request)

    def _check_error_texts(self, redis: Redis) -> None:
        sha = redis.call([*a("SCRIPT LOAD"), b"return 1"])
        redis.call([b"FUNCTION", b"LOAD", b"REPLACE",
                    b"#!lua name=t\nredis.register_function{function_name='f',"
                    b" callback=function() return 1 end, flags={'no-writes'}}"])
        for request, _ in NUMKEYS_ERRORS:
            args = a(request)
            if args[0].upper() == b"EVAL":
                args[1] = b"return 1"
            elif args[0].upper().startswith(b"EVALSHA"):
                args[1] = sha
            spec = lookup(args)
            assert spec is not None
            with self.assertRaises(KeySpecError) as cm:
                key_indexes(spec, args)
            self.assertEqual(redis.call(args), "ERR " + cm.exception.message, request)
        for request in ("XREAD STREAMS a b c", "XREAD COUNT 1 a 0", "MSET a 1 b"):
            args = a(request)
            spec = lookup(args)
            assert spec is not None
            with self.assertRaises(KeySpecError) as cm:
                key_indexes(spec, args)
            self.assertEqual(redis.call(args), "ERR " + cm.exception.message, request)
        # arity, unknown command, unknown subcommand
        for request in ("GET", "CONFIG GET", "FOO a b", "FOO", "CONFIG FOO", "OBJECT nosuch k"):
            args = a(request)
            spec = lookup(args)
            if spec is None:
                mine = c.unknown_command_error(args)
            elif not arity_ok(spec, len(args)):
                mine = c.arity_error(spec)
            else:
                mine = c.unsupported_error(spec, args)
            self.assertEqual(mine, b"-" + redis.call(args).encode() + b"\r\n", request)

    def _check_info_bytes(self, redis: Redis) -> None:
        """Our COMMAND INFO entry equals Redis's except for tips and key specs."""
        for name in ("get", "mset", "zunionstore", "object", "xinfo|stream", "eval"):
            mine = parse_all(c.command_info_reply(c.SPECS[name], False))
            theirs = redis.call([*a("COMMAND INFO"), name.encode()])[0]
            self.assertEqual(mine[:7], theirs[:7], name)
            self.assertEqual(mine[7:9], [[], []], name)
            self.assertEqual({s[0] for s in mine[9]}, {s[0] for s in theirs[9]
                                                        if c.SPECS[s[0].decode()].listed})


class CommandStub(Protocol):
    """Answers HELLO, and every other request with the table's ``command_reply``."""

    def __init__(self) -> None:
        self.buffer = b""
        self.resp3 = False

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while True:
            try:
                request, pos = parse_resp(self.buffer)
            except (ValueError, IndexError):
                return  # not whole yet
            self.buffer = self.buffer[pos:]
            assert self.transport is not None
            if request[0].upper() == b"HELLO":
                self.resp3 = request[1:2] == [b"3"]
                self.transport.write(b"%1\r\n$5\r\nproto\r\n:3\r\n" if self.resp3
                                     else b"*2\r\n$5\r\nproto\r\n:2\r\n")
            else:
                self.transport.write(c.command_reply(request, self.resp3))


class RedisCliTests(unittest.TestCase):
    @defer.inlineCallbacks
    def test_redis_cli(self) -> Generator[defer.Deferred[Any], Any, None]:
        """redis-cli 7 against a stub server that answers with command_reply()."""
        from twisted.internet import reactor

        binary = find_program("redis-cli")
        port = reactor.listenTCP(0, Factory.forProtocol(CommandStub), interface=LOOPBACK)
        self.addCleanup(port.stopListening)

        @defer.inlineCallbacks
        def run(*argv: str) -> Generator[defer.Deferred[Any], Any, str]:
            out, err, code = yield utils.getProcessOutputAndValue(
                binary, ["-p", str(port.getHost().port), *argv], env={})
            self.assertEqual(code, 0, err)
            return out.decode()

        self.assertEqual((yield run("COMMAND", "COUNT")), "%d\n" % c.command_count())
        info = yield run("-3", "COMMAND", "INFO", "get")
        self.assertIn("readonly", info)
        self.assertIn("@string", info)
        docs = yield run("COMMAND", "DOCS", "config")
        self.assertIn("config|get", docs)
        self.assertNotIn("config|set", docs)
        everything = yield run("--no-raw", "COMMAND")
        self.assertIn('"zunionstore"', everything)

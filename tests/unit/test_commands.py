"""Tests for dynotwist.proto.commands: the Redis command table.

The table is cross-checked against a live redis-server, and its COMMAND replies read by
redis-cli, in tests/integration/test_commands_redis.py.
"""

from __future__ import annotations

import sys
from typing import Any, Tuple

from twisted.trial import unittest

from dynotwist.proto import commands as c
from dynotwist.proto.commands import (
    ALL_NODES,
    LOCAL_DATASTORE,
    LOCAL_RACK_ALL,
    LOCAL_RACK_OWNER,
    MULTI_COLOCATED,
    MULTI_FRAGMENT,
    NODE,
    SINGLE,
    UNSUPPORTED,
    KeySpecError,
    arity_ok,
    key_indexes,
    keys,
    lookup,
)
from tests.support.resp import RespSet, RespStatus, as_dict, parse_all
from tests.support.resp import command_args as a
from tests.support.vectors import NUMKEYS_ERRORS


class RespCheckerTests(unittest.TestCase):
    def test_checker_rejects_bad_framing(self) -> None:
        self.assertEqual(parse_all(b"*2\r\n$1\r\na\r\n:1\r\n"), [b"a", 1])
        for bad in (b"*2\r\n$1\r\na\r\n", b"$3\r\nab\r\n", b"?x\r\n", b":1\r\n:2\r\n",
                    b"%1\r\n+a\r\n"):
            self.assertRaises((ValueError, IndexError), parse_all, bad)


# -- the table itself ---------------------------------------------------------------------

class TableTests(unittest.TestCase):
    def test_routes_are_known_constants(self) -> None:
        for spec in c.SPECS.values():
            self.assertIn(spec.route, c.ROUTES, spec.name)

    def test_names_lower_case_and_keyed_both_ways(self) -> None:
        for name, spec in c.COMMANDS_BY_NAME.items():
            self.assertEqual(name, spec.name)
            self.assertEqual(name, name.lower())
            self.assertIs(c.COMMANDS[name.encode()], spec)
            self.assertIs(c.COMMANDS[name.upper().encode()], spec)
        self.assertEqual(len(c.COMMANDS), 2 * len(c.COMMANDS_BY_NAME))

    def test_every_unsupported_has_a_reason(self) -> None:
        for spec in c.SPECS.values():
            if spec.route == UNSUPPORTED:
                self.assertTrue(spec.reason, spec.name)
                self.assertNotIn("\n", spec.reason or "")
            else:
                self.assertIsNone(spec.reason, spec.name)
        for (name, _), spec in c._VARIANTS.items():
            if spec.route == UNSUPPORTED:
                self.assertTrue(spec.reason, name)

    def test_immutable(self) -> None:
        spec = c.COMMANDS[b"get"]
        self.assertRaises(AttributeError, setattr, spec, "write", True)
        self.assertFalse(hasattr(spec, "__dict__"))

    def test_listed_specs_have_docs(self) -> None:
        """redis-cli 7 reads summary, since and group of every COMMAND DOCS entry."""
        for spec in c.SPECS.values():
            if spec.listed:
                self.assertTrue(spec.summary and spec.since and spec.group, spec.name)

    def test_fragment_and_rack_classes(self) -> None:
        def names(route: str) -> set:
            return {s.name for s in c.SPECS.values() if s.route == route}
        self.assertEqual(names(MULTI_FRAGMENT),
                         {"mget", "del", "unlink", "exists", "touch", "mset"})
        self.assertEqual(names(LOCAL_RACK_OWNER),
                         {"hgetall", "hkeys", "hvals", "hscan", "sscan", "zscan"})
        self.assertEqual(names(ALL_NODES), {"script|load", "script|exists", "script|flush",
                                            "script|kill", "function|kill"})

    def test_brief_classes(self) -> None:
        expected = {
            NODE: "ping echo quit command command|count command|info command|docs hello "
                  "client|setname client|getname client|setinfo client|id client|info select "
                  "auth reset dyno_config:conn_consistency info multi exec discard unwatch "
                  "client|list",
            LOCAL_DATASTORE: "config|get time lastsave slowlog|get latency|latest memory|stats",
            LOCAL_RACK_ALL: "keys scan dbsize randomkey",
            MULTI_COLOCATED: "sinterstore smove rpoplpush lmove rename renamenx copy sdiff "
                             "sinter sunion sdiffstore sunionstore zunionstore zinterstore "
                             "zdiffstore zrangestore zunion zinter zdiff pfmerge pfcount bitop "
                             "msetnx lmpop zmpop sintercard zintercard geosearchstore eval "
                             "evalsha eval_ro evalsha_ro fcall fcall_ro lcs xread xreadgroup",
            SINGLE: "get set object|encoding object|freq memory|usage xinfo|stream "
                    "xgroup|create sort georadius bitfield xadd xrange xrevrange xlen xdel "
                    "xtrim xack xclaim xautoclaim xpending xsetid bitpos bitfield_ro",
            UNSUPPORTED: "watch subscribe psubscribe ssubscribe "
                         "unsubscribe punsubscribe sunsubscribe publish spublish pubsub blpop "
                         "brpop blmove brpoplpush bzpopmin bzpopmax blmpop bzmpop wait move "
                         "migrate swapdb flushall flushdb shutdown debug monitor sync psync "
                         "replicaof slaveof cluster failover bgsave save bgrewriteaof "
                         "config|set config|rewrite config|resetstat acl module "
                         "function|load function|delete function|flush function|restore "
                         "client|kill client|pause client|unpause client|tracking "
                         "script|debug asking readonly readwrite",
        }
        for route, names in expected.items():
            for name in names.split():
                self.assertEqual(c.SPECS[name].route, route, name)

    def test_write_classification(self) -> None:
        reads = ("get ttl pttl pfcount touch exists type dump sort georadius "
                 "georadiusbymember eval_ro evalsha_ro fcall_ro xread xrange lcs "
                 "object|encoding memory|usage xinfo|stream sdiff sunion zunion bitfield_ro")
        writes = ("set del unlink mset msetnx sunionstore sdiffstore sinterstore zunionstore "
                  "zinterstore zdiffstore zrangestore geosearchstore bitop pfmerge pfadd "
                  "eval evalsha fcall bitfield xadd xreadgroup xgroup|create expire persist "
                  "copy rename lmpop zmpop getdel getex restore")
        for name in reads.split():
            self.assertFalse(c.SPECS[name].write, name)
        for name in writes.split():
            self.assertTrue(c.SPECS[name].write, name)

    def test_write_follows_redis_flag_except_documented_overrides(self) -> None:
        overrides = {"sort", "georadius", "georadiusbymember", "eval", "evalsha", "fcall"}
        for spec in c.SPECS.values():
            if spec.name in overrides:
                self.assertNotEqual(spec.write, "write" in spec.flags, spec.name)
            else:
                self.assertEqual(spec.write, "write" in spec.flags, spec.name)

    def test_no_keyless_single(self) -> None:
        for spec in c.SPECS.values():
            if spec.route in (SINGLE, MULTI_FRAGMENT, LOCAL_RACK_OWNER):
                self.assertGreater(spec.first_key, 0, spec.name)
                self.assertEqual(spec.numkeys_index, 0, spec.name)
            if spec.route == MULTI_COLOCATED:
                self.assertTrue(spec.first_key or spec.numkeys_index or spec.keys_fn,
                                spec.name)


# -- representative commands of every group -------------------------------------------------

# (request, full name, route, write, key indexes)
REPRESENTATIVES = [
    # generic
    ("DEL a b c", "del", MULTI_FRAGMENT, True, [1, 2, 3]),
    ("EXISTS a", "exists", MULTI_FRAGMENT, False, [1]),
    ("EXPIRE k 10", "expire", SINGLE, True, [1]),
    ("TTL k", "ttl", SINGLE, False, [1]),
    ("RENAME a b", "rename", MULTI_COLOCATED, True, [1, 2]),
    ("COPY a b REPLACE", "copy", MULTI_COLOCATED, True, [1, 2]),
    ("OBJECT ENCODING k", "object|encoding", SINGLE, False, [2]),
    ("SORT k LIMIT 0 1 BY w_* GET o_* ALPHA", "sort", SINGLE, False, [1]),
    ("SORT k BY store STORE d", "sort", MULTI_COLOCATED, True, [1, 5]),
    ("SCAN 0 MATCH x*", "scan", LOCAL_RACK_ALL, False, []),
    ("KEYS *", "keys", LOCAL_RACK_ALL, False, []),
    # string
    ("GET k", "get", SINGLE, False, [1]),
    ("SET k v EX 10", "set", SINGLE, True, [1]),
    ("MGET a b", "mget", MULTI_FRAGMENT, False, [1, 2]),
    ("MSET a 1 b 2 c 3", "mset", MULTI_FRAGMENT, True, [1, 3, 5]),
    ("MSETNX a 1 b 2", "msetnx", MULTI_COLOCATED, True, [1, 3]),
    ("LCS a b", "lcs", MULTI_COLOCATED, False, [1, 2]),
    # bitmap
    ("SETBIT k 7 1", "setbit", SINGLE, True, [1]),
    ("BITOP AND d a b", "bitop", MULTI_COLOCATED, True, [2, 3, 4]),
    ("BITFIELD k GET u8 0 OVERFLOW SAT", "bitfield", SINGLE, False, [1]),
    ("BITFIELD k GET u8 0 INCRBY u8 0 1", "bitfield", SINGLE, True, [1]),
    ("BITFIELD_RO k GET u8 0", "bitfield_ro", SINGLE, False, [1]),
    ("BITPOS k 1", "bitpos", SINGLE, False, [1]),
    # hash
    ("HSET h f v", "hset", SINGLE, True, [1]),
    ("HGETALL h", "hgetall", LOCAL_RACK_OWNER, False, [1]),
    ("HSCAN h 0", "hscan", LOCAL_RACK_OWNER, False, [1]),
    ("HSTRLEN h f", "hstrlen", SINGLE, False, [1]),
    # list
    ("LPUSH l a b", "lpush", SINGLE, True, [1]),
    ("RPOPLPUSH a b", "rpoplpush", MULTI_COLOCATED, True, [1, 2]),
    ("LMOVE a b LEFT RIGHT", "lmove", MULTI_COLOCATED, True, [1, 2]),
    ("LMPOP 2 a b LEFT COUNT 2", "lmpop", MULTI_COLOCATED, True, [2, 3]),
    ("BLPOP a b 0", "blpop", UNSUPPORTED, True, [1, 2]),
    # set
    ("SADD s m", "sadd", SINGLE, True, [1]),
    ("SMOVE a b m", "smove", MULTI_COLOCATED, True, [1, 2]),
    ("SUNIONSTORE d a b", "sunionstore", MULTI_COLOCATED, True, [1, 2, 3]),
    ("SINTERCARD 2 a b LIMIT 1", "sintercard", MULTI_COLOCATED, False, [2, 3]),
    ("SSCAN s 0", "sscan", LOCAL_RACK_OWNER, False, [1]),
    # sorted set
    ("ZADD z 1 m", "zadd", SINGLE, True, [1]),
    ("ZUNIONSTORE d 2 a b WEIGHTS 1 2", "zunionstore", MULTI_COLOCATED, True, [1, 3, 4]),
    ("ZINTER 2 a b WITHSCORES", "zinter", MULTI_COLOCATED, False, [2, 3]),
    ("ZRANGESTORE d s 0 -1", "zrangestore", MULTI_COLOCATED, True, [1, 2]),
    ("ZMPOP 1 z MIN", "zmpop", MULTI_COLOCATED, True, [2]),
    ("ZSCAN z 0", "zscan", LOCAL_RACK_OWNER, False, [1]),
    ("BZPOPMIN a b 0", "bzpopmin", UNSUPPORTED, True, [1, 2]),
    # hyperloglog
    ("PFADD h a b", "pfadd", SINGLE, True, [1]),
    ("PFCOUNT h", "pfcount", SINGLE, False, [1]),
    ("PFCOUNT a b", "pfcount", MULTI_COLOCATED, False, [1, 2]),
    ("PFMERGE d a b", "pfmerge", MULTI_COLOCATED, True, [1, 2, 3]),
    # geo
    ("GEOADD g 13.3 38.1 p", "geoadd", SINGLE, True, [1]),
    ("GEORADIUS g 15 37 200 km WITHDIST", "georadius", SINGLE, False, [1]),
    ("GEORADIUS g 15 37 200 km STORE d", "georadius", MULTI_COLOCATED, True, [1, 7]),
    ("GEORADIUSBYMEMBER g p 200 km STOREDIST d", "georadiusbymember", MULTI_COLOCATED,
     True, [1, 6]),
    ("GEOSEARCHSTORE d g FROMMEMBER p BYRADIUS 1 km", "geosearchstore", MULTI_COLOCATED,
     True, [1, 2]),
    # stream
    ("XADD s * f v", "xadd", SINGLE, True, [1]),
    ("XRANGE s - +", "xrange", SINGLE, False, [1]),
    ("XGROUP CREATE s g $ MKSTREAM", "xgroup|create", SINGLE, True, [2]),
    ("XINFO STREAM s FULL", "xinfo|stream", SINGLE, False, [2]),
    ("XREAD COUNT 2 STREAMS a b 0 0", "xread", MULTI_COLOCATED, False, [4, 5]),
    ("XREADGROUP GROUP g c NOACK STREAMS a >", "xreadgroup", MULTI_COLOCATED, True, [6]),
    ("XAUTOCLAIM s g c 10 0", "xautoclaim", SINGLE, True, [1]),
    # scripting
    ("EVAL s 2 a b x", "eval", MULTI_COLOCATED, True, [3, 4]),
    ("EVALSHA_RO s 1 a", "evalsha_ro", MULTI_COLOCATED, False, [3]),
    ("FCALL f 0", "fcall", MULTI_COLOCATED, True, []),
    ("SCRIPT LOAD s", "script|load", ALL_NODES, False, []),
    ("FUNCTION LIST", "function|list", LOCAL_DATASTORE, False, []),
    # connection
    ("PING", "ping", NODE, False, []),
    ("HELLO 3", "hello", NODE, False, []),
    ("CLIENT SETNAME x", "client|setname", NODE, False, []),
    ("DYNO_CONFIG:CONN_CONSISTENCY DC_QUORUM", "dyno_config:conn_consistency", NODE, False,
     []),
    # server
    ("INFO keyspace", "info", NODE, False, []),
    ("CONFIG GET maxmemory", "config|get", LOCAL_DATASTORE, False, []),
    ("MEMORY USAGE k", "memory|usage", SINGLE, False, [2]),
    ("COMMAND DOCS get", "command|docs", NODE, False, []),
    # transactions, pubsub, cluster
    ("MULTI", "multi", NODE, False, []),
    ("WATCH k", "watch", UNSUPPORTED, False, [1]),
    ("PUBLISH ch m", "publish", UNSUPPORTED, False, []),
    ("CLUSTER INFO", "cluster", UNSUPPORTED, False, []),
]


class RepresentativeTests(unittest.TestCase):
    def test_representatives(self) -> None:
        for request, name, route, write, indexes in REPRESENTATIVES:
            args = a(request)
            spec = lookup(args)
            assert spec is not None, request
            self.assertEqual(spec.name, name, request)
            self.assertEqual(spec.route, route, request)
            self.assertEqual(spec.write, write, request)
            self.assertTrue(arity_ok(spec, len(args)), request)
            self.assertEqual(key_indexes(spec, args), indexes, request)
            self.assertEqual(keys(spec, args), [args[i] for i in indexes], request)

    def test_every_group_represented(self) -> None:
        groups = {c.SPECS[name].group for _, name, _, _, _ in REPRESENTATIVES}
        self.assertEqual(groups, {s.group for s in c.SPECS.values()})

    def test_arity(self) -> None:
        get, mset, config_get = c.SPECS["get"], c.SPECS["mset"], c.SPECS["config|get"]
        self.assertEqual((get.arity, mset.arity, config_get.arity), (2, -3, -3))
        self.assertTrue(arity_ok(get, 2))
        self.assertFalse(arity_ok(get, 1))
        self.assertFalse(arity_ok(get, 3))
        self.assertFalse(arity_ok(mset, 2))
        self.assertTrue(arity_ok(mset, 3))
        self.assertTrue(arity_ok(mset, 9))
        self.assertFalse(arity_ok(config_get, 2))
        self.assertTrue(arity_ok(config_get, 4))

    def test_negative_last_key(self) -> None:
        spec = c.SPECS["blpop"]
        self.assertEqual(key_indexes(spec, a("BLPOP a b c 0")), [1, 2, 3])
        spec = c.SPECS["bitop"]
        self.assertEqual(key_indexes(spec, a("BITOP NOT d s")), [2, 3])

    def test_mset_without_last_value(self) -> None:
        for name in ("mset", "msetnx"):
            spec = c.SPECS[name]
            with self.assertRaises(KeySpecError) as cm:
                key_indexes(spec, a(name + " a 1 b"))
            self.assertEqual(cm.exception.message,
                             "wrong number of arguments for '%s' command" % name)


class NumkeysTests(unittest.TestCase):
    def test_bad_numkeys(self) -> None:
        for request, message in NUMKEYS_ERRORS:
            args = a(request)
            spec = lookup(args)
            assert spec is not None
            with self.assertRaises(KeySpecError) as cm:
                key_indexes(spec, args)
            self.assertEqual(cm.exception.message, message, request)
            self.assertEqual(cm.exception.reply, b"-ERR " + message.encode() + b"\r\n")

    def test_numkeys_indexes(self) -> None:
        expected = {"eval": 2, "evalsha": 2, "eval_ro": 2, "evalsha_ro": 2, "fcall": 2,
                    "fcall_ro": 2, "zunionstore": 2, "zinterstore": 2, "zdiffstore": 2,
                    "zunion": 1, "zinter": 1, "zdiff": 1, "zintercard": 1, "sintercard": 1,
                    "lmpop": 1, "zmpop": 1, "blmpop": 2, "bzmpop": 2}
        got = {s.name: s.numkeys_index for s in c.SPECS.values() if s.numkeys_index}
        self.assertEqual(got, expected)

    def test_zero_keys_for_eval(self) -> None:
        self.assertEqual(keys(c.SPECS["eval"], a("EVAL s 0 x y")), [])

    def test_xread_errors(self) -> None:
        spec = c.SPECS["xread"]
        with self.assertRaises(KeySpecError) as cm:
            key_indexes(spec, a("XREAD STREAMS a b c"))
        self.assertIn("Unbalanced XREAD list of streams", cm.exception.message)
        with self.assertRaises(KeySpecError) as cm:
            key_indexes(spec, a("XREAD COUNT 1 a 0"))
        self.assertEqual(cm.exception.message, "syntax error")


class LookupTests(unittest.TestCase):
    def test_case_insensitive(self) -> None:
        spec = c.SPECS["get"]
        for name in (b"get", b"GET", b"Get", b"gEt"):
            self.assertIs(lookup([name, b"k"]), spec)
        self.assertIs(lookup(a("config GET x")), c.SPECS["config|get"])
        self.assertIs(lookup(a("Config Get x")), c.SPECS["config|get"])
        self.assertIs(lookup(a("xgroup CreateConsumer s g c")), c.SPECS["xgroup|createconsumer"])
        self.assertEqual(lookup(a("sort k store d")).route, MULTI_COLOCATED)  # type: ignore
        self.assertEqual(lookup(a("xread Block 0 streams a 0")).route,  # type: ignore
                         UNSUPPORTED)

    def test_subcommands(self) -> None:
        for request, name in [("SCRIPT LOAD x", "script|load"), ("SCRIPT FLUSH", "script|flush"),
                              ("OBJECT FREQ k", "object|freq"), ("MEMORY STATS", "memory|stats"),
                              ("CLIENT ID", "client|id"), ("COMMAND COUNT", "command|count"),
                              ("XINFO GROUPS s", "xinfo|groups"), ("SLOWLOG GET 10", "slowlog|get"),
                              ("FUNCTION KILL", "function|kill")]:
            self.assertIs(lookup(a(request)), c.SPECS[name], request)
        config = c.COMMANDS[b"config"]
        self.assertIsNotNone(config.subcommands)
        self.assertIn(b"GET", config.subcommands or {})

    def test_missing_and_unknown_subcommand(self) -> None:
        config = c.COMMANDS[b"config"]
        spec = lookup(a("CONFIG"))
        self.assertIs(spec, config)
        self.assertFalse(arity_ok(config, 1))
        self.assertEqual(c.arity_error(config),
                         b"-ERR wrong number of arguments for 'config' command\r\n")
        spec = lookup(a("config nosuch x"))
        self.assertIs(spec, config)
        self.assertEqual(config.route, UNSUPPORTED)
        self.assertEqual(c.unsupported_error(config, a("config nosuch x")),
                         b"-ERR unknown subcommand 'nosuch'. Try CONFIG HELP.\r\n")
        # COMMAND itself is valid bare; its unknown subcommands are answered by command_reply
        self.assertEqual(lookup(a("COMMAND")).route, NODE)  # type: ignore
        self.assertEqual(c.command_reply(a("COMMAND nosuch"), False),
                         b"-ERR unknown subcommand 'nosuch'. Try COMMAND HELP.\r\n")

    def test_unknown_names(self) -> None:
        for name in (b"nosuch", b"", b"GETX", b"get\x00", b"config|get", b"dyno_config"):
            self.assertIsNone(lookup([name, b"x"]), name)
        self.assertEqual(c.unknown_command_error(a("foo a b")),
                         b"-ERR unknown command 'foo', with args beginning with: 'a' 'b' \r\n")
        self.assertEqual(c.unknown_command_error(a("foo")),
                         b"-ERR unknown command 'foo', with args beginning with: \r\n")
        self.assertEqual(c.unknown_command_error([b"f\r\no"]),
                         b"-ERR unknown command 'f  o', with args beginning with: \r\n")

    def test_unsupported_error_names_command_and_reason(self) -> None:
        self.assertEqual(c.unsupported_error(lookup(a("WATCH k")), a("WATCH k")),  # type: ignore
                         b"-ERR WATCH is not supported: optimistic locking would need every"
                         b" replica's view of the keys; MULTI/EXEC runs a transaction whose"
                         b" keys share one hash tag\r\n")
        reply = c.unsupported_error(lookup(a("config set x y")), a("config set x y"))  # type: ignore
        self.assertTrue(reply.startswith(b"-ERR CONFIG SET is not supported: "), reply)
        for spec in c.SPECS.values():
            if spec.route == UNSUPPORTED and spec.subcommands is None:
                reply = c.unsupported_error(spec, [spec.name.encode()])
                self.assertTrue(reply.startswith(b"-ERR ") and reply.endswith(b"\r\n"))
                self.assertEqual(reply.count(b"\r\n"), 1)

    def test_refined_variants(self) -> None:
        def route_write(request: str) -> Tuple[str, bool]:
            spec = lookup(a(request))
            assert spec is not None
            return spec.route, spec.write
        self.assertEqual(route_write("COPY a b DB 0"), (MULTI_COLOCATED, True))
        self.assertEqual(route_write("COPY a b DB 1 REPLACE"), (UNSUPPORTED, True))
        self.assertEqual(route_write("XREADGROUP GROUP g c BLOCK 10 STREAMS a >"),
                         (UNSUPPORTED, True))
        self.assertEqual(route_write("XREAD STREAMS block 0"), (MULTI_COLOCATED, False))
        self.assertEqual(route_write("BITFIELD k"), (SINGLE, False))
        self.assertEqual(route_write("BITFIELD k SET u8 0 1"), (SINGLE, True))
        self.assertEqual(route_write("SORT k STORE"), (SINGLE, False))
        self.assertEqual(route_write("SORT k BY store"), (SINGLE, False))
        # the variants keep the base spec's name and Redis data
        self.assertEqual(lookup(a("SORT k STORE d")).arity, -2)  # type: ignore
        xread_block = lookup(a("XREAD BLOCK 1 STREAMS a 0"))
        assert xread_block is not None
        self.assertIn(b"XREAD is not supported: blocking commands",
                      c.unsupported_error(xread_block, a("XREAD BLOCK 1 STREAMS a 0")))


# -- COMMAND replies ------------------------------------------------------------------------

class CommandReplyTests(unittest.TestCase):
    def test_list_parses_and_counts(self) -> None:
        for resp3 in (False, True):
            entries = parse_all(c.command_list_reply(resp3))
            self.assertEqual(len(entries), c.command_count())
            names = [e[0].decode() for e in entries]
            self.assertEqual(len(set(names)), len(names))
            for name in names:
                spec = c.SPECS[name]
                self.assertTrue(spec.route != UNSUPPORTED or spec.subcommands is not None,
                                name)
            self.assertNotIn("watch", names)
            self.assertNotIn("flushall", names)
            self.assertIn("get", names)
            self.assertIn("config", names)  # partly supported container

    def test_count_is_commands_listed(self) -> None:
        reply = parse_all(c.command_reply(a("COMMAND COUNT"), False))
        self.assertEqual(reply, c.command_count())
        listed = [s for s in c.COMMANDS_BY_NAME.values()
                  if s.route != UNSUPPORTED or s.subcommands is not None]
        self.assertEqual(reply, len(listed))
        self.assertEqual(c.command_reply(a("command count"), True),
                         b":%d\r\n" % c.command_count())

    def test_info_entry_layout(self) -> None:
        for resp3 in (False, True):
            entry = parse_all(c.command_info_reply(c.SPECS["get"], resp3))
            self.assertEqual(entry[:2], [b"get", 2])
            self.assertEqual(list(entry[2]), ["readonly", "fast"])
            self.assertEqual(entry[3:6], [1, 1, 1])
            self.assertEqual(list(entry[6]), ["@read", "@string", "@fast"])
            self.assertEqual(list(entry[7]), [])
            self.assertEqual(list(entry[8]), [])
            self.assertEqual(list(entry[9]), [])
            self.assertEqual(isinstance(entry[2], RespSet), resp3)
            self.assertEqual(isinstance(entry[6], RespSet), resp3)
            for flag in entry[2]:
                self.assertIsInstance(flag, RespStatus)

    def test_container_lists_supported_subcommands_only(self) -> None:
        entry = parse_all(c.command_info_reply(c.COMMANDS[b"config"], False))
        self.assertEqual(entry[0], b"config")
        self.assertEqual([sub[0] for sub in entry[9]], [b"config|get", b"config|help"])
        names = parse_all(c.command_reply(a("COMMAND LIST"), False))
        self.assertIn(b"config|get", names)
        self.assertNotIn(b"config|set", names)

    def test_info_for_names(self) -> None:
        reply = parse_all(c.command_reply(a("COMMAND INFO get WATCH nosuch config|get"), True))
        self.assertEqual(reply[0][0], b"get")
        self.assertIsNone(reply[1])
        self.assertIsNone(reply[2])
        self.assertEqual(reply[3][0], b"config|get")
        self.assertEqual(c.command_reply(a("COMMAND INFO nosuch"), False), b"*1\r\n$-1\r\n")
        self.assertEqual(c.command_reply(a("COMMAND INFO nosuch"), True), b"*1\r\n_\r\n")
        self.assertEqual(c.command_reply(a("COMMAND INFO"), False), c.command_list_reply(False))

    def test_docs(self) -> None:
        for resp3 in (False, True):
            raw = c.command_reply(a("COMMAND DOCS"), resp3)
            self.assertEqual(raw[:1], b"%" if resp3 else b"*")
            docs = as_dict(parse_all(raw))
            self.assertEqual(len(docs), c.command_count())
            for name, doc in docs.items():
                doc = as_dict(doc)
                for field in (b"summary", b"since", b"group"):
                    self.assertIsInstance(doc[field], bytes, (name, field))
                for sub, subdoc in as_dict(doc.get(b"subcommands", [])).items():
                    self.assertTrue(sub.startswith(name + b"|"))
                    self.assertIn(b"summary", as_dict(subdoc))
            get = as_dict(docs[b"get"])
            self.assertEqual(get[b"group"], b"string")
            self.assertEqual(get[b"since"], b"1.0.0")
        one = as_dict(parse_all(c.command_reply(a("COMMAND DOCS GET nosuch watch"), False)))
        self.assertEqual(list(one), [b"get"])

    def test_getkeys(self) -> None:
        def getkeys(request: str) -> Any:
            return parse_all(c.command_reply(a("COMMAND GETKEYS " + request), False))
        self.assertEqual(getkeys("MSET a 1 b 2"), [b"a", b"b"])
        self.assertEqual(getkeys("EVAL s 2 x y z"), [b"x", b"y"])
        self.assertEqual(getkeys("SORT k STORE d"), [b"k", b"d"])
        self.assertEqual(getkeys("EVAL s 0"), [])
        self.assertEqual(getkeys("PING x"), "ERR The command has no key arguments")
        self.assertEqual(getkeys("GET a b"),
                         "ERR Invalid number of arguments specified for command")
        self.assertEqual(getkeys("NOSUCH a"), "ERR Invalid command specified")
        self.assertEqual(getkeys("EVAL s x a"), "ERR Invalid arguments specified for command")
        self.assertEqual(c.command_reply(a("COMMAND GETKEYS get"), False),
                         b"-ERR wrong number of arguments for 'command|getkeys' command\r\n")
        flagged = parse_all(c.command_reply(a("COMMAND GETKEYSANDFLAGS SET k v"), True))
        self.assertEqual(flagged[0][0], b"k")
        self.assertIsInstance(flagged[0][1], RespSet)

    def test_list_filters_and_help(self) -> None:
        names = parse_all(c.command_reply(a("COMMAND LIST FILTERBY PATTERN xinfo*"), False))
        self.assertEqual(set(names), {b"xinfo", b"xinfo|consumers", b"xinfo|groups",
                                      b"xinfo|help", b"xinfo|stream"})
        geo = parse_all(c.command_reply(a("COMMAND LIST FILTERBY ACLCAT geo"), False))
        self.assertIn(b"geoadd", geo)
        self.assertNotIn(b"get", geo)
        self.assertEqual(parse_all(c.command_reply(a("COMMAND LIST FILTERBY MODULE x"), False)),
                         [])
        self.assertEqual(c.command_reply(a("COMMAND LIST FILTERBY"), False),
                         b"-ERR syntax error\r\n")
        help_lines = parse_all(c.command_reply(a("COMMAND HELP"), True))
        self.assertTrue(all(isinstance(line, RespStatus) for line in help_lines))
        self.assertEqual(c.command_reply(a("COMMAND COUNT x"), False),
                         b"-ERR wrong number of arguments for 'command|count' command\r\n")

    def test_every_reply_is_valid_resp(self) -> None:
        for spec in c.SPECS.values():
            for resp3 in (False, True):
                parse_all(c.command_info_reply(spec, resp3))
        for request in ("COMMAND", "COMMAND DOCS", "COMMAND LIST", "COMMAND HELP",
                        "COMMAND INFO get set", "COMMAND GETKEYSANDFLAGS MSET a 1 b 2",
                        "COMMAND DOCS client script"):
            for resp3 in (False, True):
                parse_all(c.command_reply(a(request), resp3))


class ClientParsingTests(unittest.TestCase):
    """The COMMAND replies as redis-py and redis-cli 7 read them."""

    def test_redis_py_parse_command(self) -> None:
        from redis._parsers.helpers import parse_command, parse_command_resp3

        for resp3, parse in ((False, parse_command), (True, parse_command_resp3)):
            table = parse(parse_all(c.command_list_reply(resp3)))
            self.assertEqual(len(table), c.command_count())
            mset = table["mset"]
            self.assertEqual((mset["arity"], mset["first_key_pos"], mset["last_key_pos"],
                              mset["step_count"]), (-3, 1, -1, 2))
            self.assertIn("movablekeys", table["eval"]["flags"])
            subs = [s[0] for s in table["object"]["subcommands"]]
            self.assertIn(b"object|encoding", subs)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("run with: python -m twisted.trial tests.unit.test_commands")

"""Seeded random Redis commands, and their replies compared between a dynotwist node and
a reference redis-server: byte for byte, or as multisets where the order depends on a
hash table. Set DYNOTWIST_DIFF_SEED to replay another sequence."""

from __future__ import annotations

import hashlib
import os
import random
from collections import Counter
from typing import Any, Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple, TypeVar

from twisted.trial import unittest

from dynotwist.testing.blocking import RespClient, to_bytes
from tests.support.resp import split_aggregate

SEED = int(os.environ.get("DYNOTWIST_DIFF_SEED", "20240611"))
COMMANDS_PER_RUN = 5000
MAX_BATCH = 50
KEYS_PER_RUN = 40

# How two replies are compared.
EXACT = "exact"
TTL = "ttl"  # integers: equal when negative (-1, -2), else both positive
UNORDERED = "unordered"  # aggregate: same header, same elements in any order
UNORDERED_PAIRS = "unordered-pairs"  # map or flat array of pairs, pairs in any order

Command = Tuple[List[bytes], str]
Generated = Tuple[List[Any], str]  # arguments (str, bytes or int) and comparison kind
T = TypeVar("T")

# Key classes. Each key of the run belongs to one class, and commands of a class
# mostly pick keys of it (sometimes another class's, to get WRONGTYPE).
STRING, BITMAP, HASH, LIST, SET, ZSET, HLL, GEO, STREAM = (
    "string", "bitmap", "hash", "list", "set", "zset", "hll", "geo", "stream",
)
CLASSES = (STRING, BITMAP, HASH, LIST, SET, ZSET, HLL, GEO, STREAM)

SCRIPTS = [
    "return redis.call('GET', KEYS[1])",
    "return redis.call('INCRBY', KEYS[1], ARGV[1])",
    "return {KEYS[1], ARGV[1], 42, redis.call('EXISTS', KEYS[1])}",
    "redis.call('SET', KEYS[1], ARGV[1]); return redis.status_reply('DONE')",
    "return redis.pcall('LPUSH', KEYS[1], ARGV[1])",
    "return redis.error_reply('MYERR custom failure')",
    "return {1, 2.5, 'x', false, true, {KEYS[1]}}",
    "return redis.call('STRLEN', KEYS[1]) * 2",
]

VALUES: List[object] = ["", "a", "b", "hello", "world", "12", "-7", "0", "3.5", "1e3", "xyzzy" * 4,
          b"zbin\x00\xff\xfe", "10000000000000000000", "spaced value", "\r\n", "Ünïcødé"]
FIELDS = ["f%d" % i for i in range(8)] + ["field with space", ""]
MEMBERS = ["1", "2", "3", "7", "11", "20", "-4", "a", "b", "c", "apple", "pear", "zz"]
SCORES = ["0", "1", "2", "2.5", "-1", "10", "-3.25", "100", "1e2", "+inf", "-inf", "7"]
FLOATS = ["1.5", "-0.25", "2e2", "3", "0", "10.125", "-7.5", "abc", "5.0e-1"]
PLACES = [  # member, longitude, latitude
    ("Palermo", "13.361389", "38.115556"), ("Catania", "15.087269", "37.502669"),
    ("Rome", "12.496366", "41.902782"), ("Milan", "9.189982", "45.464204"),
    ("Naples", "14.268124", "40.851775"), ("Bari", "16.871871", "41.117143"),
    ("Turin", "7.686864", "45.070339"), ("Nowhere", "0", "0"),
]
STREAM_FIELDS = ["temp", "hum", "name", "x"]

BIG_EXPIRY = [5000, 86400, 100000, 3600 * 24 * 30]  # seconds: nothing expires in a run


class CommandGenerator:
    """A reproducible sequence of commands over a small key space."""

    def __init__(self, seed: int, prefix: str) -> None:
        self.rng = random.Random(seed)
        self.prefix = prefix
        self.keys: Dict[str, List[str]] = {c: [] for c in CLASSES}
        for i in range(KEYS_PER_RUN):
            cls = CLASSES[i % len(CLASSES)]
            self.keys[cls].append(self.key_name(cls, i))
        self.all_keys = [k for c in CLASSES for k in self.keys[c]]
        self.plain_keys = [k for c in CLASSES if c != HLL for k in self.keys[c]]
        self.stream_ms = 1000
        self.stream_ids: List[str] = ["0-1", "1000-0"]
        self.families: List[Tuple[int, Callable[[], Generated]]] = []
        for weight, family in (
            (14, self.string_command), (9, self.key_command), (9, self.hash_command),
            (10, self.list_command), (9, self.set_command), (11, self.zset_command),
            (4, self.hll_command), (5, self.geo_command), (6, self.bitmap_command),
            (6, self.stream_command), (4, self.script_command), (4, self.error_command),
            (1, self.server_command),
        ):
            self.families.append((weight, family))
        self.total_weight = sum(w for w, _ in self.families)

    def key_name(self, cls: str, index: int) -> str:
        """The name of the run's key number ``index``, of class ``cls``."""
        return "%s:%s:%d" % (self.prefix, cls, index)

    # -- picking --------------------------------------------------------------------
    def pick(self, seq: Sequence[T]) -> T:
        return seq[self.rng.randrange(len(seq))]

    def key(self, cls: str) -> str:
        """Mostly a key of ``cls``; sometimes a key of another class (WRONGTYPE)."""
        if self.rng.random() < 0.07:
            # string mutations never reach HyperLogLog values (they would corrupt them)
            pool = self.all_keys if cls in (HLL, HASH, LIST, SET, ZSET, GEO, STREAM) \
                else self.plain_keys
            return str(self.pick(pool))
        return str(self.pick(self.keys[cls]))

    def same_class_keys(self, cls: str, count: int) -> List[str]:
        return [str(self.pick(self.keys[cls])) for _ in range(count)]

    def value(self) -> Any:
        return self.pick(VALUES)

    def num(self, low: int = -5, high: int = 30) -> str:
        return str(self.rng.randint(low, high))

    def next_command(self) -> Command:
        choice = self.rng.randrange(self.total_weight)
        for weight, family in self.families:
            if choice < weight:
                args, kind = family()
                break
            choice -= weight
        if self.rng.random() < 0.08:  # command names are case-insensitive
            name = "".join(c.upper() if self.rng.random() < 0.5 else c.lower()
                           for c in str(args[0]))
            args = [name, *args[1:]]
        return [to_bytes(a) for a in args], kind

    def preamble(self) -> List[Command]:
        return [([b"SCRIPT", b"LOAD", s.encode()], EXACT) for s in SCRIPTS]

    # -- families ---------------------------------------------------------------------
    def string_command(self) -> Generated:
        r = self.rng
        k = self.key(STRING)
        n = r.randrange(24)
        if n == 0:
            args = ["SET", k, self.value()]
            if r.random() < 0.4:
                args += self.pick([["EX", self.pick(BIG_EXPIRY)], ["PX", 86400000],
                                   ["EXAT", 4102444800], ["KEEPTTL"]])
            if r.random() < 0.3:
                args.append(self.pick(["NX", "XX"]))
            if r.random() < 0.3:
                args.append("GET")
            if r.random() < 0.03:
                args += ["NX", "XX"]  # syntax error
            return args, EXACT
        if n == 1:
            return ["GET", k], EXACT
        if n == 2:
            opt: List[Any] = self.pick([[], ["EX", self.pick(BIG_EXPIRY)], ["PERSIST"],
                             ["PXAT", 4102444800000], ["EX", 0]])
            return ["GETEX", k, *opt], EXACT
        if n == 3:
            return ["GETDEL", k], EXACT
        if n == 4:
            return ["APPEND", k, self.value()], EXACT
        if n == 5:
            return [self.pick(["INCR", "DECR"]), k], EXACT
        if n == 6:
            amount = self.num() if r.random() < 0.9 else self.pick(["x", "1.5"])
            return [self.pick(["INCRBY", "DECRBY"]), k, amount], EXACT
        if n == 7:
            return ["INCRBYFLOAT", k, self.pick(FLOATS)], EXACT
        if n == 8:
            return ["SETRANGE", k, self.num(0, 40), self.value()], EXACT
        if n == 9:
            return ["GETRANGE", k, self.num(-10, 10), self.num(-10, 30)], EXACT
        if n == 10:
            return ["STRLEN", k], EXACT
        if n == 11:
            args = ["MSET"]
            for key in self.same_class_keys(STRING, r.randint(1, 4)):
                args += [key, self.value()]
            return args, EXACT
        if n == 12:
            keys = [self.key(self.pick([STRING, STRING, HASH, BITMAP]))
                    for _ in range(r.randint(1, 5))]
            return ["MGET", *keys], EXACT
        if n == 13:
            return ["SETNX", k, self.value()], EXACT
        if n == 14:
            return ["SETEX", k, self.pick([*BIG_EXPIRY, 0, -5]), self.value()], EXACT
        if n == 15:
            return ["GETSET", k, self.value()], EXACT
        if n == 16:
            return ["PSETEX", k, 90000000, self.value()], EXACT
        if n == 17:
            k2 = self.key(STRING)
            return ["LCS", k, k2, *self.pick([[], ["LEN"], ["IDX", "MINMATCHLEN", "1"]])], EXACT
        if n == 21:
            return ["SET", k, self.pick(FLOATS)], EXACT
        return ["SET", k, self.num(-20, 20)], EXACT

    def key_command(self) -> Generated:
        r = self.rng
        k = str(self.pick(self.all_keys))
        n = r.randrange(17)
        if n == 0:
            return ["DEL", *[self.pick(self.all_keys) for _ in range(r.randint(1, 3))]], EXACT
        if n == 1:
            return ["EXISTS", *[self.pick(self.all_keys) for _ in range(r.randint(1, 4))]], EXACT
        if n == 2:
            seconds = self.pick([*BIG_EXPIRY, -1] if r.random() < 0.1 else BIG_EXPIRY)
            # GT/LT would compare now+seconds with now'+seconds: only with EXPIREAT
            opt = [self.pick(["NX", "XX"])] if r.random() < 0.3 else []
            return ["EXPIRE", k, seconds, *opt], EXACT
        if n == 3:
            return ["PERSIST", k], EXACT
        if n == 4:
            return [self.pick(["TTL", "PTTL"]), k], TTL
        if n == 5:
            return ["TYPE", k], EXACT
        if n in (6, 7):
            cls = self.pick(CLASSES)
            src, dst = self.same_class_keys(str(cls), 2)
            if n == 6:
                return [self.pick(["RENAME", "RENAMENX"]), src, dst], EXACT
            return ["COPY", src, dst, *(["REPLACE"] if r.random() < 0.5 else [])], EXACT
        if n == 8:
            return ["UNLINK", *[self.pick(self.all_keys) for _ in range(r.randint(1, 3))]], EXACT
        if n == 9:
            return ["TOUCH", *[self.pick(self.all_keys) for _ in range(r.randint(1, 3))]], EXACT
        if n == 10:
            return ["PEXPIRE", k, self.pick([86400000, 5000000])], EXACT
        if n == 11:
            opt = [self.pick(["NX", "XX", "GT", "LT"])] if r.random() < 0.4 else []
            return ["EXPIREAT", k, self.pick([4102444800, 4102444801, 4200000000]), *opt], EXACT
        if n == 12:
            return ["PEXPIREAT", k, 4102444800000], EXACT
        if n == 13:
            return ["EXISTS", k], EXACT
        if n == 14:
            return ["TYPE", self.key(self.pick(CLASSES))], EXACT
        if n == 15:
            return ["SORT", str(self.pick(self.keys[LIST] + self.keys[SET])),
                    *self.pick([["ALPHA"], ["ALPHA", "DESC"], ["LIMIT", "0", "3", "ALPHA"],
                                []])], EXACT
        return ["DEL", k], EXACT

    def hash_command(self) -> Generated:
        r = self.rng
        k = self.key(HASH)
        f = str(self.pick(FIELDS))
        n = r.randrange(15)
        if n in (0, 1):
            args = ["HSET", k]
            for _ in range(r.randint(1, 3)):
                args += [self.pick(FIELDS), self.value()]
            return args, EXACT
        if n == 2:
            return ["HGET", k, f], EXACT
        if n == 3:
            return ["HMGET", k, *[self.pick(FIELDS) for _ in range(r.randint(1, 4))]], EXACT
        if n == 4:
            return ["HDEL", k, *[self.pick(FIELDS) for _ in range(r.randint(1, 2))]], EXACT
        if n == 5:
            return ["HEXISTS", k, f], EXACT
        if n == 6:
            return ["HLEN", k], EXACT
        if n == 7:
            return [self.pick(["HKEYS", "HVALS"]), k], UNORDERED
        if n == 8:
            return ["HGETALL", k], UNORDERED_PAIRS
        if n == 9:
            return ["HINCRBY", k, f, self.num()], EXACT
        if n == 10:
            return ["HINCRBYFLOAT", k, f, self.pick(FLOATS)], EXACT
        if n == 11:
            return ["HSETNX", k, f, self.value()], EXACT
        if n == 12:
            return ["HSTRLEN", k, f], EXACT
        if n == 13:
            return ["HMSET", k, f, self.value(), str(self.pick(FIELDS)), self.value()], EXACT
        return ["HSET", k, f, self.num()], EXACT

    def list_command(self) -> Generated:
        r = self.rng
        k = self.key(LIST)
        n = r.randrange(18)
        if n in (0, 1):
            return [self.pick(["LPUSH", "RPUSH"]), k,
                    *[self.pick(MEMBERS) for _ in range(r.randint(1, 4))]], EXACT
        if n == 2:
            return [self.pick(["LPUSHX", "RPUSHX"]), k, self.pick(MEMBERS)], EXACT
        if n == 3:
            return [self.pick(["LPOP", "RPOP"]), k,
                    *([self.num(0, 4)] if r.random() < 0.4 else [])], EXACT
        if n == 4:
            return ["LRANGE", k, self.num(-6, 3), self.num(-3, 20)], EXACT
        if n == 5:
            return ["LINDEX", k, self.num(-5, 8)], EXACT
        if n == 6:
            return ["LSET", k, self.num(-2, 2), self.pick(MEMBERS)], EXACT
        if n == 7:
            return ["LREM", k, self.num(-2, 2), self.pick(MEMBERS)], EXACT
        if n == 8:
            return ["LTRIM", k, self.num(0, 2), self.num(10, 30)], EXACT
        if n == 9:
            return ["LLEN", k], EXACT
        if n in (10, 11):
            args = ["LPOS", k, self.pick(MEMBERS)]
            if r.random() < 0.5:
                args += ["RANK", self.pick(["1", "-1", "2", "-2", "0"])]
            if r.random() < 0.5:
                args += ["COUNT", self.num(0, 3)]
            if r.random() < 0.3:
                args += ["MAXLEN", self.num(0, 10)]
            return args, EXACT
        if n == 12:
            src = self.key(LIST)
            dst = self.key(LIST)
            return ["LMOVE", src, dst, self.pick(["LEFT", "RIGHT"]),
                    self.pick(["LEFT", "RIGHT"])], EXACT
        if n == 13:
            return ["RPOPLPUSH", self.key(LIST), self.key(LIST)], EXACT
        if n == 14:
            return ["LINSERT", k, self.pick(["BEFORE", "AFTER"]), self.pick(MEMBERS),
                    self.pick(MEMBERS)], EXACT
        if n == 15:
            return ["LRANGE", k, "0", "-1"], EXACT
        if n == 16:
            return ["LMPOP", "2", self.key(LIST), self.key(LIST), self.pick(["LEFT", "RIGHT"]),
                    "COUNT", self.num(1, 3)], EXACT
        return ["RPUSH", k, self.value()], EXACT

    def set_command(self) -> Generated:
        r = self.rng
        k = self.key(SET)
        n = r.randrange(15)
        if n in (0, 1, 2):
            return ["SADD", k, *[self.pick(MEMBERS) for _ in range(r.randint(1, 5))]], EXACT
        if n == 3:
            return ["SREM", k, *[self.pick(MEMBERS) for _ in range(r.randint(1, 3))]], EXACT
        if n == 4:
            return ["SMEMBERS", k], UNORDERED
        if n == 5:
            return ["SISMEMBER", k, self.pick(MEMBERS)], EXACT
        if n == 6:
            return ["SMISMEMBER", k, *[self.pick(MEMBERS) for _ in range(r.randint(1, 4))]], EXACT
        if n == 7:
            return ["SCARD", k], EXACT
        if n in (8, 9):
            return [self.pick(["SINTER", "SUNION", "SDIFF"]),
                    *[self.key(SET) for _ in range(r.randint(1, 3))]], UNORDERED
        if n in (10, 11):
            return [self.pick(["SINTERSTORE", "SUNIONSTORE", "SDIFFSTORE"]), self.key(SET),
                    *[self.key(SET) for _ in range(r.randint(1, 3))]], EXACT
        if n == 12:
            return ["SMOVE", self.key(SET), self.key(SET), self.pick(MEMBERS)], EXACT
        if n == 13:
            keys = [self.key(SET) for _ in range(r.randint(1, 3))]
            limit = ["LIMIT", self.num(0, 3)] if r.random() < 0.4 else []
            return ["SINTERCARD", len(keys), *keys, *limit], EXACT
        return ["SADD", k, self.value()], EXACT

    def zset_command(self) -> Generated:
        r = self.rng
        k = self.key(self.pick([ZSET, ZSET, ZSET, GEO]))
        n = r.randrange(22)
        if n in (0, 1, 2):
            args = ["ZADD", k]
            if r.random() < 0.3:
                args.append(self.pick(["NX", "XX"]))
            if r.random() < 0.2:
                args.append(self.pick(["GT", "LT"]))
            if r.random() < 0.3:
                args.append("CH")
            if r.random() < 0.1:
                args += ["INCR", self.pick(SCORES), self.pick(MEMBERS)]
                return args, EXACT
            for _ in range(r.randint(1, 3)):
                args += [self.pick(SCORES), self.pick(MEMBERS)]
            return args, EXACT
        if n == 3:
            return ["ZINCRBY", k, self.pick([*SCORES, "x"]), self.pick(MEMBERS)], EXACT
        if n == 4:
            return ["ZSCORE", k, self.pick(MEMBERS)], EXACT
        if n == 5:
            return ["ZMSCORE", k, *[self.pick(MEMBERS) for _ in range(r.randint(1, 3))]], EXACT
        if n == 6:
            return [self.pick(["ZRANK", "ZREVRANK"]), k, self.pick(MEMBERS)], EXACT
        if n == 7:
            return ["ZCARD", k], EXACT
        if n == 8:
            return ["ZCOUNT", k, self.pick(["-inf", "(1", "0", "2"]),
                    self.pick(["+inf", "(10", "10", "2.5"])], EXACT
        if n in (9, 10, 11):
            variant = r.randrange(3)
            if variant == 0:
                args = ["ZRANGE", k, self.num(-5, 2), self.num(-3, 10)]
            elif variant == 1:
                lo, hi = self.pick(["-inf", "(0", "1", "-1"]), self.pick(["+inf", "(10", "7"])
                args = ["ZRANGE", k, *((hi, lo) if r.random() < 0.3 else (lo, hi)), "BYSCORE"]
                if r.random() < 0.3:
                    args = [*args[:2], hi, lo, *args[4:], "REV"]
            else:
                args = ["ZRANGE", k, self.pick(["-", "[a", "(b"]), self.pick(["+", "[c", "(zz"]),
                        "BYLEX"]
            if variant and r.random() < 0.4:
                args += ["LIMIT", self.num(0, 2), self.num(-1, 4)]
            if variant != 2 and r.random() < 0.5:
                args.append("WITHSCORES")
            return args, EXACT
        if n == 12:
            return ["ZRANGEBYSCORE", k, self.pick(["-inf", "0", "(1"]), self.pick(["+inf", "5"]),
                    *(["WITHSCORES"] if r.random() < 0.5 else []),
                    *(["LIMIT", "1", "2"] if r.random() < 0.3 else [])], EXACT
        if n == 13:
            return ["ZREVRANGE", k, "0", self.num(-1, 5),
                    *(["WITHSCORES"] if r.random() < 0.5 else [])], EXACT
        if n == 14:
            return ["ZRANGEBYLEX", k, self.pick(["-", "[a"]), self.pick(["+", "(p"])], EXACT
        if n == 15:
            return ["ZREM", k, *[self.pick(MEMBERS) for _ in range(r.randint(1, 2))]], EXACT
        if n == 16:
            return ["ZRANGESTORE", self.key(ZSET), self.key(ZSET), "0", self.num(-1, 5),
                    *self.pick([[], ["REV"]])], EXACT
        if n == 17:
            return [self.pick(["ZPOPMIN", "ZPOPMAX"]), k,
                    *([self.num(1, 3)] if r.random() < 0.5 else [])], EXACT
        if n == 18:
            keys = [self.key(ZSET) for _ in range(r.randint(1, 3))]
            opts = self.pick([[], ["AGGREGATE", "MAX"], ["WEIGHTS", *["2"] * len(keys)]])
            return [self.pick(["ZUNIONSTORE", "ZINTERSTORE"]), self.key(ZSET), len(keys), *keys,
                    *opts], EXACT
        if n == 19:
            keys = [self.key(ZSET) for _ in range(r.randint(1, 3))]
            return [self.pick(["ZUNION", "ZINTER", "ZDIFF"]), len(keys), *keys,
                    *(["WITHSCORES"] if r.random() < 0.5 else [])], EXACT
        if n == 20:
            return [self.pick(["ZREMRANGEBYRANK", "ZREMRANGEBYSCORE"]), k, "0", "1"], EXACT
        return ["ZLEXCOUNT", k, "-", "+"], EXACT

    def hll_command(self) -> Generated:
        r = self.rng
        n = r.randrange(4)
        if n in (0, 1):
            return ["PFADD", self.key(HLL),
                    *["e%d" % r.randrange(300) for _ in range(r.randint(0, 20))]], EXACT
        if n == 2:
            return ["PFCOUNT", *[self.key(HLL) for _ in range(r.randint(1, 2))]], EXACT
        return ["PFMERGE", *self.same_class_keys(HLL, r.randint(1, 3))], EXACT

    def geo_command(self) -> Generated:
        r = self.rng
        k = self.key(GEO)
        place = self.pick(PLACES)
        n = r.randrange(9)
        if n in (0, 1):
            args = ["GEOADD", k]
            if r.random() < 0.2:
                args.append(self.pick(["NX", "XX"]))
            if r.random() < 0.2:
                args.append("CH")
            for member, lon, lat in r.sample(PLACES, r.randint(1, 3)):
                args += [lon, lat, member]
            if r.random() < 0.03:
                args += ["200", "100", "bad"]  # out of range coordinates
            return args, EXACT
        if n == 2:
            return ["GEOPOS", k, *[self.pick(PLACES)[0] for _ in range(r.randint(1, 3))]], EXACT
        if n == 3:
            return ["GEODIST", k, place[0], self.pick(PLACES)[0],
                    *self.pick([[], ["km"], ["mi"], ["m"]])], EXACT
        if n == 4:
            return ["GEOHASH", k, place[0], self.pick(PLACES)[0]], EXACT
        if n in (5, 6):
            args = ["GEOSEARCH", k]
            if r.random() < 0.5:
                args += ["FROMMEMBER", place[0]]
            else:
                args += ["FROMLONLAT", place[1], place[2]]
            if r.random() < 0.5:
                args += ["BYRADIUS", self.pick(["100", "300", "1000"]), "km"]
            else:
                args += ["BYBOX", "400", "600", "km"]
            args.append(self.pick(["ASC", "DESC"]))
            if r.random() < 0.5:
                args += ["COUNT", self.num(1, 4)]
            if r.random() < 0.5:
                args.append("WITHDIST")
            if r.random() < 0.3:
                args.append("WITHCOORD")
            return args, EXACT
        if n == 7:
            return ["GEORADIUS", k, place[1], place[2], "500", "km", "WITHDIST", "ASC"], EXACT
        return ["GEOSEARCHSTORE", self.key(GEO), k, "FROMLONLAT", place[1], place[2],
                "BYRADIUS", "800", "km", "ASC", *(["STOREDIST"] if r.random() < 0.5 else [])], EXACT

    def bitmap_command(self) -> Generated:
        r = self.rng
        k = self.key(BITMAP)
        n = r.randrange(10)
        if n in (0, 1):
            return ["SETBIT", k, self.num(0, 300), self.pick(["0", "1", "1"])], EXACT
        if n == 2:
            return ["GETBIT", k, self.num(0, 300)], EXACT
        if n == 3:
            args = ["BITCOUNT", k]
            if r.random() < 0.6:
                args += [self.num(-5, 3), self.num(-1, 40)]
                if r.random() < 0.5:
                    args.append(self.pick(["BYTE", "BIT"]))
            return args, EXACT
        if n == 4:
            args = ["BITPOS", k, self.pick(["0", "1"])]
            if r.random() < 0.6:
                args.append(self.num(-3, 5))
                if r.random() < 0.5:
                    args.append(self.num(-1, 60))
                    if r.random() < 0.5:
                        args.append(self.pick(["BYTE", "BIT"]))
            return args, EXACT
        if n in (5, 6):
            args = ["BITFIELD", k]
            for _ in range(r.randint(1, 3)):
                if r.random() < 0.2:
                    args += ["OVERFLOW", self.pick(["WRAP", "SAT", "FAIL"])]
                typ = self.pick(["u8", "i8", "u4", "i16", "u1", "i5"])
                offset = self.pick([self.num(0, 64), "#%d" % r.randrange(8)])
                op = r.randrange(3)
                if op == 0:
                    args += ["GET", typ, offset]
                elif op == 1:
                    args += ["SET", typ, offset, self.num(-200, 300)]
                else:
                    args += ["INCRBY", typ, offset, self.num(-100, 100)]
            return args, EXACT
        if n == 7:
            return ["BITFIELD_RO", k, "GET", self.pick(["u8", "i8", "u16"]), self.num(0, 32)], EXACT
        if n == 8:
            srcs = [self.key(self.pick([BITMAP, STRING])) for _ in range(r.randint(1, 3))]
            bitop = self.pick(["AND", "OR", "XOR", "NOT"])
            if bitop == "NOT":
                srcs = srcs[:1]
            return ["BITOP", bitop, self.key(BITMAP), *srcs], EXACT
        return ["SETBIT", k, self.num(0, 40), "1"], EXACT

    def stream_command(self) -> Generated:
        r = self.rng
        k = self.key(STREAM)
        n = r.randrange(10)
        if n in (0, 1, 2, 3):
            self.stream_ms += r.randint(0, 3)
            roll = r.random()
            if roll < 0.05:
                stream_id = "1-1"  # at or below the top item: an error
            elif roll < 0.15:
                stream_id = "%d-*" % self.stream_ms
            else:
                stream_id = "%d-%d" % (self.stream_ms, r.randint(0, 5))
            self.stream_ids.append(stream_id.replace("*", "0"))
            args = ["XADD", k]
            if r.random() < 0.1:
                args.append("NOMKSTREAM")
            if r.random() < 0.2:
                args += ["MAXLEN", *(["~"] if r.random() < 0.3 else []), self.num(2, 10)]
            args.append(stream_id)
            for _ in range(r.randint(1, 3)):
                args += [self.pick(STREAM_FIELDS), self.value()]
            return args, EXACT
        if n == 4:
            args = ["XRANGE", k, self.pick(["-", self.pick(self.stream_ids)]),
                    self.pick(["+", self.pick(self.stream_ids)])]
            if r.random() < 0.5:
                args += ["COUNT", self.num(0, 5)]
            return args, EXACT
        if n == 5:
            return ["XREVRANGE", k, "+", "-", *(["COUNT", self.num(1, 4)]
                                                if r.random() < 0.5 else [])], EXACT
        if n == 6:
            return ["XLEN", k], EXACT
        if n == 7:
            return ["XDEL", k, *[self.pick(self.stream_ids) for _ in range(r.randint(1, 3))]], EXACT
        if n == 8:
            if r.random() < 0.5:
                return ["XTRIM", k, "MAXLEN", self.num(3, 15)], EXACT
            return ["XTRIM", k, "MINID", self.pick(self.stream_ids)], EXACT
        return ["XRANGE", k, "-", "+"], EXACT

    def script_command(self) -> Generated:
        r = self.rng
        index = r.randrange(len(SCRIPTS))
        k = self.key(self.pick([STRING, STRING, LIST]))
        argv = [self.pick(["5", "x", "-2", "hello"])]
        if r.random() < 0.5:
            return ["EVAL", SCRIPTS[index], "1", k, *argv], EXACT
        if r.random() < 0.05:
            return ["EVALSHA", "0" * 40, "1", k, *argv], EXACT  # NOSCRIPT
        sha = hashlib.sha1(SCRIPTS[index].encode()).hexdigest()
        return ["EVALSHA", self.pick([sha, sha.upper()]), "1", k, *argv], EXACT

    def error_command(self) -> Generated:
        r = self.rng
        k = self.key(self.pick(CLASSES))
        n = r.randrange(3)
        if n == 0:  # wrong arity
            return self.pick([
                ["GET"], ["GET", k, "extra"], ["SET", k], ["HSET", k, "f"], ["LPUSH", k],
                ["EXPIRE"], ["ZADD", k, "1"], ["INCRBY", k], ["MGET"], ["DEL"], ["EXISTS"],
                ["XADD", k, "5-5"], ["SADD", k], ["GETRANGE", k, "0"], ["PFADD"],
                ["MSET", k], ["MSET", k, "v", k], ["TYPE"], ["STRLEN", k, k],
            ]), EXACT
        if n == 1:  # unknown command: Redis echoes the first 128 characters of the args
            return self.pick([
                ["FOOBAR"], ["FOOBAR", "a", "b c"], ["notacommand", k, "x" * 200],
                ["Hgetx", k], ["GETT", k, *["arg%d" % i for i in range(40)]], ["X"],
            ]), EXACT
        return self.pick([  # errors Redis reports after parsing the arguments
            ["SET", k, "v", "NX", "XX"], ["SET", k, "v", "EX", "0"], ["SET", k, "v", "EX", "x"],
            ["ZADD", k, "NX", "XX", "1", "m"], ["ZADD", k, "nan", "m"],
            ["LPOS", k, "a", "RANK", "0"], ["EXPIRE", k, "10", "NX", "XX"],
            ["BITFIELD", k, "GET", "x8", "0"], ["INCRBY", k, "1.5"],
            ["GEOADD", k, "200", "100", "m"], ["XADD", k, "0-0", "f", "v"],
            ["LRANGE", k, "a", "b"], ["SINTERCARD", "0", k], ["ZRANGE", k, "0", "1", "BYLEX"],
        ]), EXACT

    def server_command(self) -> Generated:
        return self.pick([
            ["PING"], ["PING", "hello"], ["ECHO", "echo me"], ["DBSIZE"],
        ]), EXACT


# -- comparison ---------------------------------------------------------------------------
def same(kind: str, node: bytes, ref: bytes) -> bool:
    if node == ref:
        return True
    if kind == TTL:
        if node[:1] == ref[:1] == b":":
            got, want = int(node[1:-2]), int(ref[1:-2])
            return (got > 0 and want > 0) or got == want
        return False
    if kind in (UNORDERED, UNORDERED_PAIRS):
        a, b = split_aggregate(node), split_aggregate(ref)
        if a is None or b is None or a[0] != b[0]:
            return False
        if kind == UNORDERED:
            return sorted(a[1]) == sorted(b[1])
        return sorted(_pairs(a[1])) == sorted(_pairs(b[1]))
    return False


def _pairs(elements: List[bytes]) -> List[Tuple[bytes, bytes]]:
    return list(zip(elements[0::2], elements[1::2]))


def show(data: bytes, limit: int = 300) -> str:
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + "... (%d bytes)" % len(data)


def compare_sequence(
    test: unittest.TestCase,
    node_port: int,
    ref_port: int,
    generator: CommandGenerator,
    label: str,
    batches: random.Random,
    resp3: bool,
    pipelined: bool,
    count: int = COMMANDS_PER_RUN,
    covered: Optional[FrozenSet[str]] = None,
) -> None:
    """Send the generator's preamble and ``count`` commands to the node and to the
    reference, one at a time or pipelined in batches of 1..MAX_BATCH (sizes drawn from
    ``batches``). Fail ``test`` if replies differ (``label`` says how to replay the
    run), then if a name of ``covered`` (default COVERED) never succeeded."""
    node = RespClient(node_port)
    ref = RespClient(ref_port)
    try:
        if resp3:
            for client in (node, ref):
                reply = client.call("HELLO", "3")
                test.assertEqual(reply[:1], b"%", "HELLO 3 on port %d: %r"
                                 % (client.port, reply[:200]))
        commands = generator.preamble()
        commands += [generator.next_command() for _ in range(count)]
        node_replies: List[bytes] = []
        ref_replies: List[bytes] = []
        i = 0
        while i < len(commands):
            size = batches.randint(1, MAX_BATCH) if pipelined else 1
            batch = [args for args, _ in commands[i : i + size]]
            node_replies += node.pipeline(batch)
            ref_replies += ref.pipeline(batch)
            i += size
    finally:
        node.close()
        ref.close()
    mismatches = []
    sent: Counter = Counter()
    succeeded: Counter = Counter()
    for index, ((args, kind), got, want) in enumerate(
        zip(commands, node_replies, ref_replies)
    ):
        name = args[0].upper().decode("latin-1")
        sent[name] += 1
        if want[:1] not in (b"-", b"!"):
            succeeded[name] += 1
        if not same(kind, got, want):
            mismatches.append((index, args, got, want))
    if mismatches:
        lines = ["%d of %d replies differ (%s); by command: %s; the first ones:"
                 % (len(mismatches), len(commands), label,
                    ", ".join("%s x%d" % item for item in Counter(
                        args[0].upper().decode("latin-1") for _, args, _, _ in mismatches
                    ).most_common()))]
        for index, args, got, want in mismatches[:12]:
            lines.append("#%d %s\n    node:  %s\n    redis: %s"
                         % (index, show(b" ".join(args), 200), show(got), show(want)))
        test.fail("\n".join(lines))
    # the sequence exercised what it claims to: each command worked at least once
    never = sorted(name for name in (COVERED if covered is None else covered)
                   if succeeded[name] == 0)
    test.assertEqual(never, [], "commands that never succeeded on the reference "
                                "(sent: %s)" % {n: sent[n] for n in never})


_COVERED_NAMES = """
SET GET GETEX GETDEL APPEND INCR INCRBY INCRBYFLOAT SETRANGE GETRANGE STRLEN MSET MGET
SETNX SETEX GETSET LCS DEL EXISTS EXPIRE PERSIST TTL PTTL TYPE RENAME COPY UNLINK TOUCH
EXPIREAT SORT HSET HGET HMGET HDEL HEXISTS HLEN HKEYS HVALS HGETALL HINCRBY HINCRBYFLOAT
HSETNX HSTRLEN LPUSH RPUSH LPOP RPOP LRANGE LINDEX LSET LREM LTRIM LLEN LPOS LMOVE
RPOPLPUSH LINSERT LMPOP SADD SREM SMEMBERS SISMEMBER SMISMEMBER SCARD SINTER SUNION SDIFF
SINTERSTORE SUNIONSTORE SDIFFSTORE SMOVE SINTERCARD ZADD ZINCRBY ZSCORE ZMSCORE ZRANK ZCARD
ZCOUNT ZRANGE ZRANGEBYSCORE ZREVRANGE ZRANGEBYLEX ZREM ZRANGESTORE ZPOPMIN ZUNIONSTORE
ZUNION PFADD PFCOUNT PFMERGE GEOADD GEOPOS GEODIST GEOHASH GEOSEARCH GEORADIUS
GEOSEARCHSTORE SETBIT GETBIT BITCOUNT BITPOS BITFIELD BITFIELD_RO BITOP XADD XRANGE
XREVRANGE XLEN XDEL XTRIM EVAL EVALSHA SCRIPT PING ECHO DBSIZE
"""
COVERED = frozenset(_COVERED_NAMES.split())


"""Test vectors shared by the codec tests and their comparisons with real servers:
requests with what the parsers must make of them, bad requests with Redis's error
texts, memcached requests with the bytes memcached 1.6.18 answered."""

from __future__ import annotations

import ast
import os
from typing import Any, List, Tuple

from dynotwist.proto.resp import encode_command

VECTORS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "vectors")

KiB = 1024
MiB = 1024 * KiB

# The redis-servers the comparisons start refuse bulks above this (the smallest value
# Redis accepts for proto-max-bulk-len), and so do the parsers compared with them.
MAX_BULK = 1 * MiB


# -- RESP requests ------------------------------------------------------------------------
Expected = List[Tuple[str, List[bytes]]]  # (kind, args): kind "*" multibulk, "i" inline


def _rows(filename: str) -> List[Tuple[str, Any, Any]]:
    """A vector file's rows: a name, then two Python literals, tab-separated."""
    rows = []
    with open(os.path.join(VECTORS, filename), encoding="ascii") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            name, first, second = line.split("\t")
            rows.append((name, ast.literal_eval(first), ast.literal_eval(second)))
    return rows


def load_request_vectors() -> List[Tuple[str, bytes, Expected]]:
    """(name, request bytes, what the parser makes of them)."""
    return _rows("resp-requests.txt")


def generated_request_vectors() -> List[Tuple[str, bytes, Expected]]:
    """Vectors too big to write out: large and many arguments."""
    pattern = bytes(range(256))
    vectors = []
    for name, size in [
        ("mb-20KiB-with-crlfs", 20 * KiB),
        ("mb-64KiB-less-1", 64 * KiB - 1),
        ("mb-64KiB", 64 * KiB),
        ("mb-100KiB", 100 * KiB),
    ]:
        value = (pattern * (size // 256 + 1))[:size]
        args = [b"SET", name.encode(), value]
        vectors.append((name, encode_command(args), [("*", args)]))
    many = [b"RPUSH", b"many"] + [b"%d" % i * (i % 7) for i in range(1000)]
    vectors.append(("mb-1000-args", encode_command(many), [("*", many)]))
    pipeline = b""
    expected: Expected = []
    for i in range(100):
        if i % 3:
            args = [b"ECHO", b"x\r\n" * i]
            pipeline += encode_command(args)
            expected.append(("*", args))
        else:
            pipeline += b"ECHO %d\r\n" % i
            expected.append(("i", [b"ECHO", b"%d" % i]))
    vectors.append(("mix-100-requests", pipeline, expected))
    return vectors


REQUEST_VECTORS = load_request_vectors()
GENERATED_VECTORS = generated_request_vectors()


# -- RESP protocol errors -----------------------------------------------------------------
PING_INLINE = b"PING\r\n"
PING_MB = encode_command([b"PING"])

BULK_LEN = "Protocol error: invalid bulk length"
MBULK_LEN = "Protocol error: invalid multibulk length"
QUOTES = "Protocol error: unbalanced quotes in request"


def dollar(got: str) -> str:
    return f"Protocol error: expected '$', got '{got}'"


# (name, bytes, requests before the error, Redis's error text)
BAD_REQUESTS: List[Tuple[str, bytes, List[List[bytes]], str]] = [
    ("expected-dollar", b"*1\r\nx\r\n", [], dollar("x")),
    ("expected-dollar-2nd", b"*2\r\n$4\r\nECHO\r\n:1\r\n", [], dollar(":")),
    ("expected-dollar-cr", b"*1\r\n\r\n", [], dollar(" ")),
    ("expected-dollar-lf", b"*1\r\n\n\r\n", [], dollar(" ")),
    ("expected-dollar-8bit", b"*1\r\n\xff\r\n", [], dollar("\xff")),
    (
        "expected-dollar-after-good",
        PING_INLINE + PING_MB + b"*1\r\n+PING\r\n",
        [[b"PING"], [b"PING"]],
        dollar("+"),
    ),
    ("bulk-negative", b"*1\r\n$-1\r\n", [], BULK_LEN),
    ("bulk-minus-zero", b"*1\r\n$-0\r\n\r\n", [], BULK_LEN),
    ("bulk-leading-zero", b"*1\r\n$04\r\nPING\r\n", [], BULK_LEN),
    ("bulk-non-numeric", b"*1\r\n$abc\r\n", [], BULK_LEN),
    ("bulk-empty", b"*1\r\n$\r\n", [], BULK_LEN),
    ("bulk-space", b"*1\r\n$ 4\r\n", [], BULK_LEN),
    ("bulk-plus", b"*1\r\n$+4\r\n", [], BULK_LEN),
    ("bulk-fraction", b"*1\r\n$4.0\r\n", [], BULK_LEN),
    ("bulk-overflow", b"*1\r\n$99999999999999999999\r\n", [], BULK_LEN),
    ("bulk-21-chars", b"*1\r\n$100000000000000000000\r\n", [], BULK_LEN),
    (
        "bulk-too-big",  # refused on its header: no body is sent
        b"*2\r\n$4\r\nECHO\r\n$%d\r\n" % (MAX_BULK + 1),
        [],
        BULK_LEN,
    ),
    (
        "bulk-too-big-after-good",
        PING_MB + b"*1\r\n$%d\r\n" % (MAX_BULK * 2),
        [[b"PING"]],
        BULK_LEN,
    ),
    ("mbulk-non-numeric", b"*abc\r\n", [], MBULK_LEN),
    ("mbulk-leading-zero", b"*01\r\n", [], MBULK_LEN),
    ("mbulk-minus-zero", b"*-0\r\n", [], MBULK_LEN),
    ("mbulk-plus", b"*+1\r\n", [], MBULK_LEN),
    ("mbulk-empty", b"*\r\n", [], MBULK_LEN),
    ("mbulk-space", b"*1 \r\n", [], MBULK_LEN),
    ("mbulk-over-int-max", b"*2147483648\r\n", [], MBULK_LEN),
    (
        "mbulk-negative-overflow",
        b"*-9999999999999999999\r\n",
        [],
        MBULK_LEN,
    ),
    (
        "mbulk-after-good",
        PING_INLINE + b"*x\r\n",
        [[b"PING"]],
        MBULK_LEN,
    ),
    ("inline-too-big", b"a" * 70000, [], "Protocol error: too big inline request"),
    (
        "inline-too-big-after-good",
        PING_MB + b"ECHO " * 14000,
        [[b"PING"]],
        "Protocol error: too big inline request",
    ),
    ("mbulk-count-too-big", b"*" + b"1" * 70000, [], "Protocol error: too big mbulk count string"),
    (
        "bulk-count-too-big",
        b"*1\r\n$" + b"1" * 70000,
        [],
        "Protocol error: too big bulk count string",
    ),
    (
        "bulk-count-too-big-2nd",
        b"*2\r\n$4\r\nECHO\r\n$" + b"1" * 70000,
        [],
        "Protocol error: too big bulk count string",
    ),
    ("unbalanced-double", b'SET a "b\r\n', [], QUOTES),
    ("unbalanced-single", b"SET a 'b\r\n", [], QUOTES),
    ("closing-double-then-char", b'SET a "b"c\r\n', [], QUOTES),
    ("closing-single-then-char", b"SET a 'b'c\r\n", [], QUOTES),
    ("escaped-closing-quote", b'SET a "b\\"\r\n', [], QUOTES),
    ("backslash-at-end", b'SET a "b\\\r\n', [], QUOTES),
    ("quote-at-end", b'SET a "\n', [], QUOTES),
    (
        "unbalanced-after-good",
        PING_INLINE + PING_MB + b"ECHO 'x\r\nPING\r\n",
        [[b"PING"], [b"PING"]],
        QUOTES,
    ),
]

# Redis skips multibulk headers of a negative count, whatever their size
NEGATIVE_MULTIBULKS = b"*-5\r\n*-9223372036854775808\r\n*0\r\n*-1\r\nPING\r\n"


# requests Redis refuses from a client that has not authenticated (but not after AUTH)
AUTH = encode_command([b"AUTH", b"secret"])
BIG_VALUE = b"v" * 20000
BIG_SET = encode_command([b"SET", b"k", BIG_VALUE])
MANY_ARGS = encode_command([b"DEL"] + [b"k%d" % i for i in range(11)])
PING = encode_command([b"PING"])


# requests whose numkeys argument Redis 7.0 refuses, with its error text
NUMKEYS_ERRORS = [
    # (request, expected error text) -- Redis 7.0's own texts
    ("EVAL s x a", "value is not an integer or out of range"),
    ("EVAL s -1 a", "Number of keys can't be negative"),
    ("EVAL s 3 a b", "Number of keys can't be greater than number of args"),
    ("EVAL s 01 a", "value is not an integer or out of range"),
    ("EVAL s +1 a", "value is not an integer or out of range"),
    ("EVALSHA_RO s 2 a", "Number of keys can't be greater than number of args"),
    ("EVALSHA s 1x a", "value is not an integer or out of range"),
    ("FCALL f x a", "Bad number of keys provided"),
    ("FCALL_RO f 99999999999999999999 a", "Bad number of keys provided"),
    ("FCALL f -1 a", "Number of keys can't be negative"),
    ("ZUNIONSTORE d x a", "value is not an integer or out of range"),
    ("ZUNIONSTORE d 0 a", "at least 1 input key is needed for 'zunionstore' command"),
    ("ZINTER -1 a", "at least 1 input key is needed for 'zinter' command"),
    ("ZDIFF 5 a b", "syntax error"),
    ("LMPOP x a LEFT", "numkeys should be greater than 0"),
    ("ZMPOP 0 a MIN", "numkeys should be greater than 0"),
    ("LMPOP 3 a LEFT", "syntax error"),
    ("BLMPOP 0 x a LEFT", "numkeys should be greater than 0"),
    ("SINTERCARD 0 a", "numkeys should be greater than 0"),
    ("SINTERCARD 3 a b", "Number of keys can't be greater than number of args"),
]


# -- memcached requests and memcached's replies ---------------------------------------------
def load_memcache_vectors() -> List[Tuple[str, bytes, bytes]]:
    """(name, request bytes, the bytes memcached 1.6.18 answered)."""
    return _rows("memcache-requests.txt")

"""Dynomite's key hash functions, bit-exact (sans-I/O, no Twisted).

Every name the ``hash:`` configuration key accepts maps to a function
``bytes -> int`` returning the unsigned 32-bit token Dynomite's router compares
against the configured tokens.  The values reproduce Dynomite (twemproxy's
hashkit as compiled into Dynomite), quirks included:

- ``one_at_a_time`` reads every byte as a *signed* char (bytes >= 0x80 are
  sign-extended before being added);
- ``crc16`` never masks its running value to 16 bits;
- ``crc32`` is libmemcached's ``(crc32 >> 16) & 0x7fff`` (15-bit result);
- ``fnv1a_64`` is FNV-1a in 32-bit arithmetic with the low halves of the
  64-bit constants; ``fnv1_64`` is the real 64-bit FNV-1 truncated to 32 bits;
- ``hsieh`` starts from 0 instead of the key length;
- ``jenkins`` is lookup3 ``hashlittle`` with initval 13;
- ``murmur`` (the default) is MurmurHash2 seeded with ``0xdeadbeef * len``.

Deliberate difference: Dynomite's ``murmur3`` never writes its result (every
key lands on the lowest token of the rack); here ``murmur3`` is a correct
MurmurHash3 x86_32 with seed 0.

For ``hsieh`` and ``jenkins`` Dynomite leaves the token unwritten for the
empty key; here they return what the algorithm gives (0 and 0xdeadbefc).
Dynomite never hashes an empty key when routing (see :func:`hash_key`).
"""

from __future__ import annotations

import hashlib
import struct
import zlib
from typing import Callable, Dict, List, Tuple

__all__ = [
    "DEFAULT_HASH",
    "HASH_FUNCTIONS",
    "NO_TOKEN",
    "crc16",
    "crc32",
    "crc32a",
    "fnv1_32",
    "fnv1_64",
    "fnv1a_32",
    "fnv1a_64",
    "get_hash",
    "hash_key",
    "hashed_part",
    "hsieh",
    "jenkins",
    "md5",
    "murmur",
    "murmur3",
    "murmur3_32",
    "one_at_a_time",
]

HashFunction = Callable[[bytes], int]

_M32 = 0xFFFFFFFF

#: Returned by :func:`hash_key` when there is nothing to hash (empty key, or an
#: empty hash-tag part such as ``foo{}bar``).  Dynomite then routes the request to
#: peer index 0, i.e. the node that received it.  Never a valid token.
NO_TOKEN = -1

DEFAULT_HASH = "murmur"


# --------------------------------------------------------------------------
# one_at_a_time (Bob Jenkins), signed chars


def one_at_a_time(key: bytes) -> int:
    value = 0
    for byte in key:
        if byte & 0x80:
            byte += 0xFFFFFF00  # (uint32_t)(signed char)byte
        value = (value + byte) & _M32
        value = (value + (value << 10)) & _M32
        value ^= value >> 6
    value = (value + (value << 3)) & _M32
    value ^= value >> 11
    return (value + (value << 15)) & _M32


# --------------------------------------------------------------------------
# md5: first four digest bytes, little endian


def md5(key: bytes) -> int:
    return int.from_bytes(hashlib.md5(key).digest()[:4], "little")


# --------------------------------------------------------------------------
# crc16: XMODEM table (poly 0x1021), running value kept in 32 bits, unmasked


def _crc16_table() -> List[int]:
    table = []
    for i in range(256):
        crc = i << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        table.append(crc & 0xFFFF)
    return table


_CRC16_TABLE = _crc16_table()


def crc16(key: bytes) -> int:
    table = _CRC16_TABLE
    crc = 0
    for byte in key:
        crc = ((crc << 8) ^ table[((crc >> 8) ^ byte) & 0xFF]) & _M32
    return crc


# --------------------------------------------------------------------------
# crc32 (libmemcached flavour) and crc32a (plain CRC-32)


def crc32(key: bytes) -> int:
    return (zlib.crc32(key) >> 16) & 0x7FFF


def crc32a(key: bytes) -> int:
    return zlib.crc32(key) & _M32


# --------------------------------------------------------------------------
# FNV family

_FNV_64_INIT = 0xCBF29CE484222325
_FNV_64_PRIME = 0x100000001B3
_FNV_32_INIT = 2166136261
_FNV_32_PRIME = 16777619
_M64 = 0xFFFFFFFFFFFFFFFF


def fnv1_64(key: bytes) -> int:
    # Only the low 32 bits are returned, and they depend only on the low 32
    # bits of the running value, so 32-bit arithmetic gives the same result.
    h = _FNV_64_INIT & _M32
    prime = _FNV_64_PRIME & _M32
    for byte in key:
        h = ((h * prime) & _M32) ^ byte
    return h


def fnv1a_64(key: bytes) -> int:
    # Dynomite's quirk: 32-bit arithmetic with the low halves of the 64-bit
    # constants (which fnv1_64 happens to share, see above).
    h = _FNV_64_INIT & _M32
    prime = _FNV_64_PRIME & _M32
    for byte in key:
        h = ((h ^ byte) * prime) & _M32
    return h


def fnv1_32(key: bytes) -> int:
    h = _FNV_32_INIT
    for byte in key:
        h = ((h * _FNV_32_PRIME) & _M32) ^ byte
    return h


def fnv1a_32(key: bytes) -> int:
    h = _FNV_32_INIT
    for byte in key:
        h = ((h ^ byte) * _FNV_32_PRIME) & _M32
    return h


# --------------------------------------------------------------------------
# hsieh: Paul Hsieh's SuperFastHash with an initial hash of 0


def hsieh(key: bytes) -> int:
    n = len(key)
    h = 0
    rem = n & 3
    nw = n >> 2
    if nw:
        halves = struct.unpack_from(f"<{2 * nw}H", key)
        for i in range(0, 2 * nw, 2):
            h = (h + halves[i]) & _M32
            hi = halves[i + 1]
            tmp = ((hi << 11) & _M32) ^ h
            h = ((h << 16) & _M32) ^ tmp
            h = (h + (h >> 11)) & _M32
    tail = nw * 4
    if rem == 3:
        h = (h + key[tail] + (key[tail + 1] << 8)) & _M32
        h ^= (h << 16) & _M32
        h ^= (key[tail + 2] << 18) & _M32
        h = (h + (h >> 11)) & _M32
    elif rem == 2:
        h = (h + key[tail] + (key[tail + 1] << 8)) & _M32
        h ^= (h << 11) & _M32
        h = (h + (h >> 17)) & _M32
    elif rem == 1:
        h = (h + key[tail]) & _M32
        h ^= (h << 10) & _M32
        h = (h + (h >> 1)) & _M32
    h ^= (h << 3) & _M32
    h = (h + (h >> 5)) & _M32
    h ^= (h << 4) & _M32
    h = (h + (h >> 17)) & _M32
    h ^= (h << 25) & _M32
    return (h + (h >> 6)) & _M32


# --------------------------------------------------------------------------
# jenkins: lookup3 hashlittle(key, len, 13)


def _rot(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & _M32


def jenkins(key: bytes) -> int:
    n = len(key)
    a = b = c = (0xDEADBEEF + n + 13) & _M32
    if n == 0:
        return c
    # Pad the last block with zeros to 12 bytes: on little endian this is what
    # hashlittle's masked word reads and byte-wise tail cases amount to.
    nblocks = (n + 11) // 12
    words = struct.unpack(f"<{3 * nblocks}I", key + b"\x00" * (nblocks * 12 - n))
    last = 3 * (nblocks - 1)
    for i in range(0, last, 3):
        a = (a + words[i]) & _M32
        b = (b + words[i + 1]) & _M32
        c = (c + words[i + 2]) & _M32
        # mix(a, b, c)
        a = (a - c) & _M32
        a ^= _rot(c, 4)
        c = (c + b) & _M32
        b = (b - a) & _M32
        b ^= _rot(a, 6)
        a = (a + c) & _M32
        c = (c - b) & _M32
        c ^= _rot(b, 8)
        b = (b + a) & _M32
        a = (a - c) & _M32
        a ^= _rot(c, 16)
        c = (c + b) & _M32
        b = (b - a) & _M32
        b ^= _rot(a, 19)
        a = (a + c) & _M32
        c = (c - b) & _M32
        c ^= _rot(b, 4)
        b = (b + a) & _M32
    a = (a + words[last]) & _M32
    b = (b + words[last + 1]) & _M32
    c = (c + words[last + 2]) & _M32
    # final(a, b, c)
    c ^= b
    c = (c - _rot(b, 14)) & _M32
    a ^= c
    a = (a - _rot(c, 11)) & _M32
    b ^= a
    b = (b - _rot(a, 25)) & _M32
    c ^= b
    c = (c - _rot(b, 16)) & _M32
    a ^= c
    a = (a - _rot(c, 4)) & _M32
    b ^= a
    b = (b - _rot(a, 14)) & _M32
    c ^= b
    return (c - _rot(b, 24)) & _M32


# --------------------------------------------------------------------------
# murmur (default): twemproxy's MurmurHash2 with seed 0xdeadbeef * len.
# This one runs once per request: keep it tight.

_WORDS: List[Callable[[bytes], Tuple[int, ...]]] = [
    struct.Struct(f"<{i}I").unpack_from for i in range(65)
]


def murmur(key: bytes) -> int:
    n = len(key)
    h = ((0xDEADBEEF * n) ^ n) & 0xFFFFFFFF
    nw = n >> 2
    if nw:
        words = _WORDS[nw](key) if nw <= 64 else struct.unpack_from(f"<{nw}I", key)
        for k in words:
            k = (k * 0x5BD1E995) & 0xFFFFFFFF
            h = ((h * 0x5BD1E995) ^ ((k ^ (k >> 24)) * 0x5BD1E995)) & 0xFFFFFFFF
    if n & 3:
        h = ((h ^ int.from_bytes(key[nw << 2 :], "little")) * 0x5BD1E995) & 0xFFFFFFFF
    h = ((h ^ (h >> 13)) * 0x5BD1E995) & 0xFFFFFFFF
    return h ^ (h >> 15)


# --------------------------------------------------------------------------
# murmur3: MurmurHash3 x86_32 (a deliberate fix of Dynomite's broken murmur3)

_C1 = 0xCC9E2D51
_C2 = 0x1B873593


def murmur3_32(key: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86_32 of *key* with *seed*."""
    n = len(key)
    h = seed & 0xFFFFFFFF
    nw = n >> 2
    if nw:
        words = _WORDS[nw](key) if nw <= 64 else struct.unpack_from(f"<{nw}I", key)
        for k in words:
            k = (k * _C1) & 0xFFFFFFFF
            k = ((k << 15) | (k >> 17)) & 0xFFFFFFFF
            h ^= (k * _C2) & 0xFFFFFFFF
            h = ((h << 13) | (h >> 19)) & 0xFFFFFFFF
            h = (h * 5 + 0xE6546B64) & 0xFFFFFFFF
    if n & 3:
        k = int.from_bytes(key[nw << 2 :], "little")
        k = (k * _C1) & 0xFFFFFFFF
        k = ((k << 15) | (k >> 17)) & 0xFFFFFFFF
        h ^= (k * _C2) & 0xFFFFFFFF
    h ^= n & 0xFFFFFFFF
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


def murmur3(key: bytes) -> int:
    return murmur3_32(key, 0)


# --------------------------------------------------------------------------
# registry

HASH_FUNCTIONS: Dict[str, HashFunction] = {
    "one_at_a_time": one_at_a_time,
    "md5": md5,
    "crc16": crc16,
    "crc32": crc32,
    "crc32a": crc32a,
    "fnv1_64": fnv1_64,
    "fnv1a_64": fnv1a_64,
    "fnv1_32": fnv1_32,
    "fnv1a_32": fnv1a_32,
    "hsieh": hsieh,
    "murmur": murmur,
    "jenkins": jenkins,
    "murmur3": murmur3,
}


def get_hash(name: str) -> HashFunction:
    """The hash function the ``hash:`` setting *name* selects.

    Raises ``KeyError`` (naming the accepted values) for an unknown name.
    """
    try:
        return HASH_FUNCTIONS[name]
    except KeyError:
        expected = ", ".join(HASH_FUNCTIONS)
        raise KeyError(f"unknown hash {name!r} (expected one of: {expected})") from None


def hashed_part(key: bytes, hash_tag: bytes | None) -> bytes:
    """The bytes of *key* Dynomite hashes under *hash_tag* (e.g. ``b"{}"``).

    With a tag: find the first tag[0]; then the first tag[1] after it; if both
    exist, only the bytes strictly between them; otherwise the whole key.
    """
    if not hash_tag:
        return key
    if len(hash_tag) != 2:
        raise ValueError(f"hash_tag must be exactly 2 bytes, got {hash_tag!r}")
    start = key.find(hash_tag[0])
    if start < 0:
        return key
    end = key.find(hash_tag[1], start + 1)
    if end < 0:
        return key
    return key[start + 1 : end]


def hash_key(key: bytes, hash_fn: HashFunction, hash_tag: bytes | None = None) -> int:
    """The token of *key*, as Dynomite's router computes it.

    Returns :data:`NO_TOKEN` (-1) when there is nothing to hash: the empty key, or
    an empty tagged part (``foo{}bar``, ``{}``).  Dynomite then uses peer index 0,
    the node that received the request (and refuses the empty key itself
    before routing).
    """
    if hash_tag:
        key = hashed_part(key, hash_tag)
    if not key:
        return NO_TOKEN
    return hash_fn(key)

"""Tests for dynotwist.core.hashkit against values produced by the real Dynomite."""

from __future__ import annotations

import os
import struct

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from dynotwist.core import hashkit
from dynotwist.core.hashkit import (
    DEFAULT_HASH,
    HASH_FUNCTIONS,
    NO_TOKEN,
    get_hash,
    hash_key,
    hashed_part,
    murmur,
    murmur3,
    murmur3_32,
)

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "vectors")

DYNOMITE_NAMES = {
    "one_at_a_time",
    "md5",
    "crc16",
    "crc32",
    "crc32a",
    "fnv1_64",
    "fnv1a_64",
    "fnv1_32",
    "fnv1a_32",
    "hsieh",
    "murmur",
    "jenkins",
    "murmur3",
}


def load_hash_vectors() -> list[tuple[str, bytes, int]]:
    """Rows of hash-vectors.tsv: (function, key, token)."""
    with open(os.path.join(VECTORS, "hash-vectors.tsv")) as f:
        lines = f.read().splitlines()
    assert lines[0].split("\t") == ["function", "key_hex", "hash_uint32"], lines[0]
    rows = []
    for line in lines[1:]:
        name, key_hex, value = line.split("\t")
        rows.append((name, bytes.fromhex(key_hex), int(value)))
    return rows


def load_placement_rows() -> list[dict[str, str]]:
    with open(os.path.join(VECTORS, "placement-vectors.tsv")) as f:
        lines = f.read().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, line.split("\t"))) for line in lines[1:]]


# Straightforward re-statements of the two murmurs (byte by byte), to check the
# word-at-a-time implementations on arbitrary input.


def reference_murmur(key: bytes) -> int:
    m, n = 0x5BD1E995, len(key)
    h = ((0xDEADBEEF * n) & 0xFFFFFFFF) ^ n
    i = 0
    while n - i >= 4:
        k = key[i] | key[i + 1] << 8 | key[i + 2] << 16 | key[i + 3] << 24
        k = (k * m) & 0xFFFFFFFF
        k ^= k >> 24
        k = (k * m) & 0xFFFFFFFF
        h = (h * m) & 0xFFFFFFFF
        h ^= k
        i += 4
    rest = n - i
    if rest == 3:
        h ^= key[i + 2] << 16
    if rest >= 2:
        h ^= key[i + 1] << 8
    if rest >= 1:
        h ^= key[i]
        h = (h * m) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * m) & 0xFFFFFFFF
    h ^= h >> 15
    return h


def reference_murmur3(key: bytes, seed: int) -> int:
    def rotl(x: int, r: int) -> int:
        return ((x << r) | (x >> (32 - r))) & 0xFFFFFFFF

    c1, c2, n = 0xCC9E2D51, 0x1B873593, len(key)
    h = seed
    i = 0
    while n - i >= 4:
        (k,) = struct.unpack("<I", key[i : i + 4])
        k = rotl((k * c1) & 0xFFFFFFFF, 15)
        h ^= (k * c2) & 0xFFFFFFFF
        h = (rotl(h, 13) * 5 + 0xE6546B64) & 0xFFFFFFFF
        i += 4
    k = 0
    for j, byte in enumerate(key[i:]):
        k |= byte << (8 * j)
    if k or n - i:
        k = rotl((k * c1) & 0xFFFFFFFF, 15)
        h ^= (k * c2) & 0xFFFFFFFF
    h ^= n
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & 0xFFFFFFFF
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & 0xFFFFFFFF
    return h ^ (h >> 16)


class HashVectorsTests(unittest.TestCase):
    """Every row of hash-vectors.tsv (Dynomite's own hash functions)."""

    rows = load_hash_vectors()

    def test_vector_file(self) -> None:
        counts: dict[str, int] = {}
        for name, _, _ in self.rows:
            counts[name] = counts.get(name, 0) + 1
        self.assertEqual(len(self.rows), 2230)
        self.assertEqual(set(counts), DYNOMITE_NAMES - {"murmur3"})
        for name, count in counts.items():
            self.assertEqual(count, 185 if name in ("hsieh", "jenkins") else 186, name)

    def test_every_vector(self) -> None:
        mismatches = []
        for name, key, expected in self.rows:
            got = HASH_FUNCTIONS[name](key)
            if got != expected:
                mismatches.append((name, key.hex(), expected, got))
        self.assertEqual(mismatches, [])

    def test_through_get_hash(self) -> None:
        for name, key, expected in self.rows[::7]:
            self.assertEqual(get_hash(name)(key), expected)

    def _rows(self, name: str) -> list[tuple[bytes, int]]:
        return [(key, value) for fn, key, value in self.rows if fn == name]

    def test_one_at_a_time_signed_bytes(self) -> None:
        """Bytes >= 0x80 are sign-extended: an unsigned implementation differs."""

        def unsigned_oaat(key: bytes) -> int:
            value = 0
            for byte in key:
                value = (value + byte) & 0xFFFFFFFF
                value = (value + (value << 10)) & 0xFFFFFFFF
                value ^= value >> 6
            value = (value + (value << 3)) & 0xFFFFFFFF
            value ^= value >> 11
            return (value + (value << 15)) & 0xFFFFFFFF

        rows = self._rows("one_at_a_time")
        high = [(k, v) for k, v in rows if any(b >= 0x80 for b in k)]
        self.assertTrue(high)
        for key, value in high:
            self.assertNotEqual(unsigned_oaat(key), value, key.hex())
        for key, value in rows:
            if all(b < 0x80 for b in key):
                self.assertEqual(unsigned_oaat(key), value)
        self.assertEqual(hashkit.one_at_a_time(b""), 0)

    def test_crc16_unmasked(self) -> None:
        values = [v for k, v in self._rows("crc16")]
        self.assertTrue(any(v > 0xFFFF for v in values))
        self.assertTrue(any(v > 0xFFFFFF for v in values))

    def test_crc32_is_15_bits(self) -> None:
        self.assertTrue(all(0 <= v <= 0x7FFF for _, v in self._rows("crc32")))
        self.assertTrue(any(v > 0x7FFF for _, v in self._rows("crc32a")))

    def test_empty_key_of_unwritten_functions(self) -> None:
        """hsieh/jenkins leave Dynomite's token unwritten for b"" (no vector);
        here they return the algorithm's natural value."""
        self.assertEqual(hashkit.hsieh(b""), 0)
        self.assertEqual(hashkit.jenkins(b""), 0xDEADBEEF + 13)


class RegistryTests(unittest.TestCase):
    def test_names(self) -> None:
        self.assertEqual(set(HASH_FUNCTIONS), DYNOMITE_NAMES)
        for name in DYNOMITE_NAMES:
            self.assertIs(get_hash(name), HASH_FUNCTIONS[name])

    def test_default_is_murmur(self) -> None:
        self.assertEqual(DEFAULT_HASH, "murmur")
        self.assertIs(get_hash(DEFAULT_HASH), murmur)

    def test_unknown(self) -> None:
        e = self.assertRaises(KeyError, get_hash, "sha1")
        self.assertIn("sha1", str(e))
        self.assertIn("murmur", str(e))

    @given(st.binary(max_size=300))
    @settings(max_examples=300, deadline=None)
    def test_range(self, key: bytes) -> None:
        for name, fn in HASH_FUNCTIONS.items():
            value = fn(key)
            self.assertIsInstance(value, int)
            self.assertTrue(0 <= value <= 0xFFFFFFFF, (name, value))


class MurmurTests(unittest.TestCase):
    @given(st.binary(max_size=600))
    @settings(max_examples=400, deadline=None)
    def test_murmur_matches_reference(self, key: bytes) -> None:
        self.assertEqual(murmur(key), reference_murmur(key))

    def test_murmur_long_keys(self) -> None:
        # beyond the cached word unpackers (64 words)
        for n in (255, 256, 257, 258, 259, 260, 1000, 4099):
            key = bytes((i * 7 + n) & 0xFF for i in range(n))
            self.assertEqual(murmur(key), reference_murmur(key), n)
            self.assertEqual(murmur3(key), reference_murmur3(key, 0), n)


class Murmur3Tests(unittest.TestCase):
    """murmur3 is a correct MurmurHash3 x86_32 (Dynomite's never writes a value)."""

    # Public MurmurHash3_x86_32 test vectors (SMHasher reference implementation).
    KNOWN = [
        (b"", 0, 0x00000000),
        (b"", 1, 0x514E28B7),
        (b"", 0xFFFFFFFF, 0x81F16F39),
        (b"\x00\x00\x00\x00", 0, 0x2362F9DE),
        (b"\x00\x00\x00", 0, 0x85F0B427),
        (b"\x00\x00", 0, 0x30F4C306),
        (b"\x00", 0, 0x514E28B7),
        (b"\xff\xff\xff\xff", 0, 0x76293B50),
        (b"\x21\x43\x65\x87", 0, 0xF55B516B),
        (b"\x21\x43\x65\x87", 0x5082EDEE, 0x2362F9DE),
        (b"\x21\x43\x65", 0, 0x7E4A8634),
        (b"\x21\x43", 0, 0xA0F7B07A),
        (b"\x21", 0, 0x72661CF4),
        (b"aaaa", 0x9747B28C, 0x5A97808A),
        (b"aaa", 0x9747B28C, 0x283E0130),
        (b"aa", 0x9747B28C, 0x5D211726),
        (b"a", 0x9747B28C, 0x7FA09EA6),
        (b"abcd", 0x9747B28C, 0xF0478627),
        (b"abc", 0x9747B28C, 0xC84A62DD),
        (b"ab", 0x9747B28C, 0x74875592),
        (b"Hello, world!", 0x9747B28C, 0x24884CBA),
        (b"The quick brown fox jumps over the lazy dog", 0x9747B28C, 0x2FA826CD),
    ]

    def test_known_vectors(self) -> None:
        for key, seed, expected in self.KNOWN:
            self.assertEqual(murmur3_32(key, seed), expected, (key, hex(seed)))
            if seed == 0:
                self.assertEqual(murmur3(key), expected, key)

    @given(st.binary(max_size=300), st.integers(0, 0xFFFFFFFF))
    @settings(max_examples=300, deadline=None)
    def test_matches_reference(self, key: bytes, seed: int) -> None:
        self.assertEqual(murmur3_32(key, seed), reference_murmur3(key, seed))

    def test_registry_uses_seed_zero(self) -> None:
        self.assertEqual(get_hash("murmur3")(b"foo"), murmur3_32(b"foo", 0))


class HashTagTests(unittest.TestCase):
    TAG = b"{}"

    def test_examples(self) -> None:
        cases = [
            (b"user:{42}:name", b"42"),
            (b"{user1000}.following", b"user1000"),
            (b"a{b}c{d}e", b"b"),
            (b"{abc", b"{abc"),
            (b"abc}", b"abc}"),
            (b"x}y{z", b"x}y{z"),
            (b"}{a}", b"a"),
            (b"{{a}}", b"{a"),
            (b"foo{}bar", b""),
            (b"{}", b""),
            (b"plain", b"plain"),
        ]
        for key, part in cases:
            self.assertEqual(hashed_part(key, self.TAG), part, key)

    def test_other_tag(self) -> None:
        self.assertEqual(hashed_part(b"a:b:c", b"::"), b"b")
        self.assertEqual(hashed_part(b"a[x]b", b"[]"), b"x")

    def test_no_tag(self) -> None:
        for tag in (None, b""):
            self.assertEqual(hashed_part(b"a{b}c", tag), b"a{b}c")
            self.assertEqual(hash_key(b"a{b}c", murmur, tag), murmur(b"a{b}c"))

    def test_bad_tag(self) -> None:
        self.assertRaises(ValueError, hashed_part, b"key", b"{")
        self.assertRaises(ValueError, hash_key, b"key", murmur, b"{}}")

    def test_nothing_to_hash(self) -> None:
        """Empty key or empty tagged part: Dynomite routes to the receiving node."""
        self.assertEqual(hash_key(b"", murmur), NO_TOKEN)
        self.assertEqual(hash_key(b"", murmur, self.TAG), NO_TOKEN)
        self.assertEqual(hash_key(b"foo{}bar", murmur, self.TAG), NO_TOKEN)
        self.assertEqual(hash_key(b"foo{}bar", murmur), murmur(b"foo{}bar"))
        self.assertEqual(NO_TOKEN, -1)

    def test_placement_vector_parts(self) -> None:
        """The hashed part and token of every key of placement-vectors.tsv."""
        checked = 0
        for row in load_placement_rows():
            key = bytes.fromhex(row["key_hex"])
            tag = row["hash_tag"].encode() or None
            fn = get_hash(row["hash"])
            token = hash_key(key, fn, tag)
            if row["owner_index"] in ("rejected", "coordinator"):
                self.assertEqual(token, NO_TOKEN, row)
                continue
            self.assertEqual(hashed_part(key, tag).hex(), row["hashed_part_hex"], row)
            if row["hash_uint32"] != "-":
                self.assertEqual(token, int(row["hash_uint32"]), row)
                checked += 1
        self.assertEqual(checked, 8 * 100 - 4)

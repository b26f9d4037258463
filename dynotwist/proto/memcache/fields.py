"""Request fields as memcached reads them: numbers (safe_strto*), base64 keys, the
meta commands' flags."""

from __future__ import annotations

from typing import List, NamedTuple, Optional, Set

from dynotwist.proto.memcache.wire import (
    META_BAD_TOKEN,
    META_DECODE,
    META_DELTA,
    META_DUPLICATE,
    META_INITIAL,
    META_INVALID,
    META_M_LENGTH,
    OPAQUE_MAX,
)

# -- numbers as memcached's safe_strto* read them ---------------------------------------
_C_SPACE = frozenset(b" \t\n\v\f\r")
_ULONG_MAX = 2**64 - 1
_LONG_MIN, _LONG_MAX = -(2**63), 2**63 - 1


def _c_strto(token: bytes, unsigned: bool) -> Optional[int]:
    """C's strtol/strtoul in base 10 on a 64-bit ``long``, with memcached's checks: the
    value (strtoul's negation modulo 2**64 included), or None for no digits, a
    non-blank after them, or an out-of-range value (ERANGE)."""
    i, n = 0, len(token)
    while i < n and token[i] in _C_SPACE:
        i += 1
    negative = False
    if i < n and token[i] in b"+-":
        negative = token[i] == 0x2D
        i += 1
    start = i
    while i < n and 0x30 <= token[i] <= 0x39:
        i += 1
    if i == start or (i < n and token[i] not in _C_SPACE):
        return None
    magnitude = int(token[start:i])
    if unsigned:
        if magnitude > _ULONG_MAX:
            return None
        return (-magnitude) & _ULONG_MAX if negative else magnitude
    value = -magnitude if negative else magnitude
    if not _LONG_MIN <= value <= _LONG_MAX:
        return None
    return value


def strtol32(token: bytes) -> Optional[int]:
    """memcached's safe_strtol: a long, truncated to int32_t."""
    if token.isdigit() and len(token) < 10:  # the common case
        return int(token)
    value = _c_strto(token, unsigned=False)
    if value is None:
        return None
    return ((value + 2**31) & 0xFFFFFFFF) - 2**31


def strtoull(token: bytes) -> Optional[int]:
    """memcached's safe_strtoull (and safe_strtoul before its truncation)."""
    if token.isdigit() and len(token) < 19:
        return int(token)
    value = _c_strto(token, unsigned=True)
    if value is None or (value > _LONG_MAX and b"-" in token):
        return None
    return value


def strtoul32(token: bytes) -> Optional[int]:
    """memcached's safe_strtoul: an unsigned long, truncated to uint32_t."""
    value = strtoull(token)
    return None if value is None else value & 0xFFFFFFFF


# -- base64 keys of the meta commands, decoded as memcached's base64.c does ---------------
_B64_ALPHABET = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
_B64_VALUES = {c: i for i, c in enumerate(_B64_ALPHABET)}
_B64_VALUES[0x3D] = 0  # '=' counts as a digit of value 0


def b64_decode_key(token: bytes) -> Optional[bytes]:
    """A meta command's ``b`` key decoded as memcached decodes it (bytes outside the
    alphabet skipped, a multiple of four digits required); None where memcached fails."""
    digits = [c for c in token if c in _B64_VALUES]
    if not digits or len(digits) % 4:
        return None
    out = bytearray()
    pad = 0
    for i in range(0, len(digits), 4):
        block = digits[i : i + 4]
        pad += block.count(0x3D)
        a, b, c, d = (_B64_VALUES[x] for x in block)
        out += bytes(((a << 2 | b >> 4) & 0xFF, (b << 4 | c >> 2) & 0xFF, (c << 6 | d) & 0xFF))
        if pad:
            if pad > 2:
                return None
            del out[-pad:]
            break
    return bytes(out) if out else None


# -- meta flags ----------------------------------------------------------------------------
_META_PLAIN_FLAGS = frozenset(b"lOPLkstcfvhuqI")
_META_INT_FLAGS = frozenset(b"NTR")
MS_MODES = frozenset(b"EAPRS")
MA_MODES = frozenset(b"I+D-")


class MetaFlags(NamedTuple):
    error: Optional[bytes]  # None: well-formed; else memcached's text (or b"" for default)
    key: bytes  # the key, decoded if ``b`` was given
    seen: Set[int]
    mode: int


def meta_flags(tokens: List[bytes], start: int) -> MetaFlags:
    """memcached's _meta_flag_preparse: the flags from ``tokens[start]`` on.

    ``error`` is b"" when a flag was bad without a text of its own (``F``): the caller
    uses its default text then.
    """
    seen: Set[int] = set()
    key = tokens[1]
    mode = 0
    error: Optional[bytes] = None
    for token in tokens[start:]:
        flag = token[0]
        if flag >= 127 or flag in seen:
            return MetaFlags(META_DUPLICATE, key, seen, mode)
        seen.add(flag)
        if flag in _META_PLAIN_FLAGS:
            continue
        if flag in _META_INT_FLAGS:
            if strtol32(token[1:]) is None:
                error = META_BAD_TOKEN
        elif flag == 0x62:  # b
            decoded = b64_decode_key(key)
            if decoded is None:
                error = META_DECODE
                key = b""
            else:
                key = decoded
        elif flag == 0x46:  # F
            if strtoul32(token[1:]) is None and error is None:
                error = b""
        elif flag == 0x43:  # C
            if strtoull(token[1:]) is None:
                error = META_BAD_TOKEN
        elif flag == 0x4D:  # M
            if len(token) != 2:
                error = META_M_LENGTH
            else:
                mode = token[1]
        elif flag == 0x4A:  # J
            if strtoull(token[1:]) is None:
                error = META_INITIAL
        elif flag == 0x44:  # D
            if strtoull(token[1:]) is None:
                error = META_DELTA
        else:
            return MetaFlags(META_INVALID, key, seen, mode)
    return MetaFlags(error, key, seen, mode)


def opaque_too_long(tokens: List[bytes]) -> bool:
    return any(t[0] == 0x4F and len(t) > OPAQUE_MAX for t in tokens[2:])

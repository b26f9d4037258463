"""Memcached ASCII protocol codec, sans-I/O: a request parser and a reply framer.

Same shape as :mod:`dynotwist.proto.resp`, so the network layer treats both alike.

Request parser
==============

``MemcacheRequestParser(item_size_max).feed(data)`` returns, in order, the items that
``data`` completes: a :class:`MemcacheRequest` for every well-formed request and a
:class:`ClientError` wherever memcached itself would answer with an error or close the
connection. It never raises: the network layer writes ``ClientError.reply`` in its turn
among the replies (it may be ``b""``: memcached says nothing for an erroneous
``noreply`` request) and closes the connection after it when ``ClientError.close`` is
set. Each request carries:

- ``command``: its name as sent (memcached only knows lower-case names);
- ``keys``: the keys it addresses (several for get, gets, gat, gats and bget; for meta
  commands with the ``b`` flag, the base64-decoded key, which is what memcached stores);
- ``raw``: its exact bytes, line and data block, to relay untouched;
- ``write``: it changes data (set & co, delete, incr, decr, touch, gat, gats, ms, md,
  ma, mg with ``T`` or ``N``, flush_all);
- ``noreply``: classic ``noreply``: memcached sends the client nothing at all for it,
  not even an error, so neither must the node;
- ``quiet``: meta ``q`` flag: memcached drops only the nominal reply (``HD``, ``EN``...)
  and still sends the others; the node relays whatever the datastore answered;
- ``local``: no key to route by (version, verbosity, quit, flush_all, stats, mn, a
  gat/gats without keys): the node answers it, relays it to its local datastore, or for
  ``quit`` closes the connection once the earlier replies are written;
- ``expect``: the reply kind to give :meth:`MemcacheReplyFramer.expect` when the
  request is sent to a datastore;
- ``raw_with_fence``: the bytes to send to the datastore (see "Fences" below);
- ``with_keys(keys)``: the request line for a subset of the keys of a get, gets, gat,
  gats or bget, for fragmenting a multi-key request by owner.

The parser follows memcached 1.6's ``proto_text.c`` to the byte, so that a client sees
what memcached itself would show it (checked against a real memcached 1.6.18 by
``tests/unit/test_memcache.py``):

- A line ends at ``\\n``; a ``\\r`` before it is dropped; a NUL ends the line early
  (memcached reads it as a C string); tokens are separated by spaces only (a tab is
  part of a key); leading spaces are allowed. Names are case-sensitive.
- Keys: 1 to 250 bytes without a space or newline. Memcached refuses nothing else in a
  text-protocol key (a tab, a CR or another control byte inside a token is part of
  the key and is stored so), and neither does the parser: a key memcached serves must
  be routable through the node.
- A line longer than 2048 bytes is refused by closing the connection silently (memcached
  closes when it has buffered more than 2048 bytes without a newline), except for
  ``get``/``gets`` lines (after at most 100 spaces), which are unbounded. Memcached
  still serves a longer line that arrives in one read; the parser closes whatever the
  chunking, so that its result never depends on how the bytes were split.
- Arity, numbers and keys are checked as memcached checks them, with its error texts:
  ``ERROR`` for an unknown command or a wrong number of tokens; ``CLIENT_ERROR bad
  command line format`` for a key over 250 bytes or a bad number in a storage line;
  ``CLIENT_ERROR invalid exptime argument``, ``CLIENT_ERROR invalid numeric delta
  argument``, ``CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]``;
  numbers parse as C's strtol/strtoul do (leading blanks and a sign accepted, values
  truncated to 32 bits where memcached truncates them). The meta commands' flags get
  memcached's own texts (``CLIENT_ERROR invalid flag``, ``duplicate flag``, ``bad token
  in command line format``, ``options flags are too long``...).
- After a malformed storage line memcached does not read a data block: the bytes that
  follow are parsed as commands (typically one more ``ERROR``). So does the parser.
- A data block not followed by ``\\r\\n`` gives ``CLIENT_ERROR bad data chunk``; the
  ``<bytes>+2`` bytes are consumed whatever they are and parsing goes on after them.
- A value larger than ``item_size_max`` gives ``SERVER_ERROR object too large for
  cache`` at once, and its ``<bytes>+2`` bytes are then skipped as they stream in,
  never buffered. (Memcached's own limit counts its item header and the key too, so it
  refuses values slightly below ``-I``; those reach it and it answers the same text.)
- With classic ``noreply`` memcached sends none of these errors (``ClientError(b"")``),
  except ``ERROR`` for a wrong number of tokens, found before ``noreply`` is looked at.
  Meta commands always show their errors, ``q`` or not.
- ``quit`` is returned as a local request; the parser ignores everything after it.
- ``GET / HTTP/1.1`` and other unknown commands whose last token starts with ``HTTP/``
  close the connection silently, as memcached does.
- A connection whose first byte is 0x80 speaks the binary protocol, which the node does
  not: it is closed (memcached would switch to binary).
- Admin commands (shutdown, slabs, lru, lru_crawler, watch, cache_memlimit, extstore,
  refresh_certs...) get ``ERROR``: they are not relayed through a proxy.
- A few memcached errors come after a side effect (``mg``/``ma`` with an opaque token
  longer than 32 bytes: the touch or increment is done, then the error is sent); those
  requests are relayed so that the datastore does both, as it would.

Deliberate differences, where memcached's behaviour depends on chance or breaks its own
pipelining: a get whose key list holds a key over 250 bytes is refused before anything
is read or touched (memcached 1.6.18 touches the keys before it for gat, and drops the
not yet sent replies of the *earlier* pipelined requests of the connection along with
the VALUE lines: ``set a 0 0 1\\r\\nx\\r\\nget a <251 bytes>\\r\\n`` gets only the
``CLIENT_ERROR``); over-long lines are refused whatever the chunking (above).

Reply framer
============

The framer splits a datastore's reply stream into whole replies, as raw bytes, without
building objects. A memcached reply's end depends on the request it answers (``END``
closes a get reply, ``VA <size>`` is followed by a data block, ``MN`` answers a fence),
so the datastore connection tells the framer, in the order it sends requests, what to
expect: ``framer.expect(request.expect)`` for each request written (FIFO). ``feed``
then returns exactly one reply per expectation, in order:

- ``EXPECT_LINE``: one line (STORED, DELETED, a number, HD/NS/EX/NF, ME, MN, an error);
- ``EXPECT_VALUES``: ``VALUE`` blocks up to and including ``END`` (or an error line);
- ``EXPECT_META``: ``VA <size> <flags>\\r\\n<data>\\r\\n`` or one line (mg, ma);
- ``EXPECT_STATS``: ``STAT``/``ITEM``/``PREFIX`` lines up to ``END``, or one line;
- any of them or'ed with ``EXPECT_FENCED``: see below.

Bytes that arrive with nothing expected, or that are not memcached replies, raise
:class:`ReplyError`: that connection can no longer be trusted.

Fences
------

A ``noreply`` or ``q`` request may or may not be answered: memcached answers a ``q``
request that fails (a hit of ``mg ... q``, ``NS`` of ``ms ... q``...) and answers some
malformed ``noreply`` requests (``set k 0 0 1 noreply extra`` gets ``ERROR``). A node
that guessed would shift the FIFO of a shared datastore connection and hand every later
reply to the wrong client. So such a request is sent followed by ``mn\\r\\n`` (the meta
no-op, which memcached answers ``MN\\r\\n`` in order): ``request.raw_with_fence``, with
``request.expect`` including ``EXPECT_FENCED``. The framer then returns, for that one
expectation, everything the datastore sent before ``MN`` — the reply of the quiet
request, or ``b""`` when it sent none — and drops the ``MN`` itself. The node relays a
non-empty fenced reply of a ``quiet`` request and nothing for a ``noreply`` one; its
own errors (``SERVER_ERROR Storage: ...``) follow the same rule, as memcached shows a
``q`` request's errors and hides a ``noreply`` one's. This needs memcached 1.6 or later
(``mn``); checked against a real memcached by the tests. A client's own ``mn`` is a
local request: the node answers ``MN`` once the replies before it are written.
"""

from __future__ import annotations

from collections import deque
from typing import Callable, Deque, Dict, List, NamedTuple, Optional, Sequence, Set, Tuple, Union

CRLF = b"\r\n"

KEY_MAX_LENGTH = 250
"""Longest key memcached accepts (bytes, as sent: base64 for meta ``b`` keys)."""

MAX_LINE = 2048
"""Longest request line memcached buffers without a newline before closing."""

DEFAULT_ITEM_SIZE_MAX = 1024 * 1024

_MAX_TOKENS = 23  # memcached's tokenizer stops after this many tokens (MAX_TOKENS - 1)
_META_MAX_TOKENS = 19  # meta commands refuse 20 tokens or more (ntokens > 20)
_OPAQUE_MAX = 32
_INT_MAX = 2**31 - 1
_LEADING_SPACES_MAX = 100

# -- memcached's replies ---------------------------------------------------------------
ERROR = b"ERROR\r\n"
BAD_FORMAT = b"CLIENT_ERROR bad command line format\r\n"
BAD_DATA_CHUNK = b"CLIENT_ERROR bad data chunk\r\n"
TOO_LARGE = b"SERVER_ERROR object too large for cache\r\n"
BAD_EXPTIME = b"CLIENT_ERROR invalid exptime argument\r\n"
BAD_DELTA = b"CLIENT_ERROR invalid numeric delta argument\r\n"
DELETE_USAGE = b"CLIENT_ERROR bad command line format.  Usage: delete <key> [noreply]\r\n"
META_TOO_LONG_MG = b"CLIENT_ERROR options flags are too long\r\n"
META_TOO_LONG = b"CLIENT_ERROR options flags too long\r\n"
META_DUPLICATE = b"CLIENT_ERROR duplicate flag\r\n"
META_INVALID = b"CLIENT_ERROR invalid flag\r\n"
META_BAD_TOKEN = b"CLIENT_ERROR bad token in command line format\r\n"
META_DECODE = b"CLIENT_ERROR error decoding key\r\n"
META_M_LENGTH = b"CLIENT_ERROR incorrect length for M token\r\n"
META_INITIAL = b"CLIENT_ERROR invalid numeric initial value\r\n"
META_DELTA = b"CLIENT_ERROR invalid numeric delta value\r\n"
META_OPAQUE = b"CLIENT_ERROR opaque token too long\r\n"
META_INVALID_OR_DUPLICATE = b"CLIENT_ERROR invalid or duplicate flag\r\n"
MS_BAD_MODE = b"CLIENT_ERROR invalid mode for ms M token\r\n"
MA_BAD_MODE = b"CLIENT_ERROR invalid mode for ma M token\r\n"
END = b"END\r\n"
FENCE = b"mn\r\n"
FENCE_REPLY = b"MN\r\n"

# -- reply kinds for MemcacheReplyFramer.expect -----------------------------------------
EXPECT_LINE = 1
EXPECT_VALUES = 2
EXPECT_META = 3
EXPECT_STATS = 4
EXPECT_FENCED = 0x10
_KIND_MASK = 0x0F


class ClientError(NamedTuple):
    """Memcached's answer to malformed input: write ``reply`` (possibly empty) in turn,
    then close the connection if ``close``."""

    reply: bytes
    close: bool = False


class MemcacheRequest(NamedTuple):
    """One parsed request; see the module docstring for the fields."""

    command: bytes
    keys: List[bytes]
    raw: bytes
    write: bool
    noreply: bool = False
    quiet: bool = False
    local: bool = False
    expect: int = EXPECT_LINE
    prefix: bytes = b""  # get-likes: the line up to the keys ("get", "gat 100")

    @property
    def fenced(self) -> bool:
        """Sent with a trailing ``mn`` whose ``MN`` the framer removes."""
        return bool(self.expect & EXPECT_FENCED)

    @property
    def raw_with_fence(self) -> bytes:
        """The bytes to send to the datastore: ``raw``, plus ``mn\\r\\n`` if fenced."""
        if self.expect & EXPECT_FENCED:
            return self.raw + FENCE
        return self.raw

    def with_keys(self, keys: Sequence[bytes]) -> bytes:
        """This get/gets/gat/gats/bget request's line for ``keys`` only (not empty)."""
        if not self.prefix:
            raise ValueError("%r requests have no key list" % self.command)
        return self.prefix + b" " + b" ".join(keys) + CRLF


Item = Union[MemcacheRequest, ClientError]


class ReplyError(Exception):
    """The datastore sent bytes that are not the expected memcached replies."""


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


def _strtol32(token: bytes) -> Optional[int]:
    """memcached's safe_strtol: a long, truncated to int32_t."""
    if token.isdigit() and len(token) < 10:  # the common case
        return int(token)
    value = _c_strto(token, unsigned=False)
    if value is None:
        return None
    return ((value + 2**31) & 0xFFFFFFFF) - 2**31


def _strtoull(token: bytes) -> Optional[int]:
    """memcached's safe_strtoull (and safe_strtoul before its truncation)."""
    if token.isdigit() and len(token) < 19:
        return int(token)
    value = _c_strto(token, unsigned=True)
    if value is None or (value > _LONG_MAX and b"-" in token):
        return None
    return value


def _strtoul32(token: bytes) -> Optional[int]:
    """memcached's safe_strtoul: an unsigned long, truncated to uint32_t."""
    value = _strtoull(token)
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
_MS_MODES = frozenset(b"EAPRS")
_MA_MODES = frozenset(b"I+D-")


class _MetaFlags(NamedTuple):
    error: Optional[bytes]  # None: well-formed; else memcached's text (or b"" for default)
    key: bytes  # the key, decoded if ``b`` was given
    seen: Set[int]
    mode: int


def _meta_flags(tokens: List[bytes], start: int) -> _MetaFlags:
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
            return _MetaFlags(META_DUPLICATE, key, seen, mode)
        seen.add(flag)
        if flag in _META_PLAIN_FLAGS:
            continue
        if flag in _META_INT_FLAGS:
            if _strtol32(token[1:]) is None:
                error = META_BAD_TOKEN
        elif flag == 0x62:  # b
            decoded = b64_decode_key(key)
            if decoded is None:
                error = META_DECODE
                key = b""
            else:
                key = decoded
        elif flag == 0x46:  # F
            if _strtoul32(token[1:]) is None and error is None:
                error = b""
        elif flag == 0x43:  # C
            if _strtoull(token[1:]) is None:
                error = META_BAD_TOKEN
        elif flag == 0x4D:  # M
            if len(token) != 2:
                error = META_M_LENGTH
            else:
                mode = token[1]
        elif flag == 0x4A:  # J
            if _strtoull(token[1:]) is None:
                error = META_INITIAL
        elif flag == 0x44:  # D
            if _strtoull(token[1:]) is None:
                error = META_DELTA
        else:
            return _MetaFlags(META_INVALID, key, seen, mode)
    return _MetaFlags(error, key, seen, mode)


def _opaque_too_long(tokens: List[bytes]) -> bool:
    return any(t[0] == 0x4F and len(t) > _OPAQUE_MAX for t in tokens[2:])


# -- the request parser --------------------------------------------------------------------
_GET_LIKE = frozenset((b"get", b"gets", b"bget", b"gat", b"gats"))
_STORAGE = frozenset((b"set", b"add", b"replace", b"append", b"prepend", b"cas"))
# names memcached dispatches on before its final "unknown command" branch: an unknown
# command in one of these gets ERROR, never the silent close of the HTTP/ check
_KNOWN_NAMES = frozenset(
    (
        b"replace", b"prepend", b"bget", b"flush_all", b"version", b"quit", b"lru_crawler",
        b"watch", b"verbosity", b"lru", b"extstore", b"refresh_certs",
    )
)  # fmt: skip
_DISPATCH_FIRST = frozenset(b"gsacidt")


class _Pending(NamedTuple):
    """A storage request whose data block is awaited."""

    line: bytes
    command: bytes
    key: bytes
    noreply: bool  # classic noreply: errors are silent
    quiet: bool  # meta q
    meta: bool  # ms: errors are always shown


class MemcacheRequestParser:
    """Incremental parser of a client's memcached ASCII requests."""

    def __init__(self, item_size_max: int = DEFAULT_ITEM_SIZE_MAX) -> None:
        self.item_size_max = item_size_max
        self._line: List[bytes] = []  # an incomplete line, in pieces
        self._line_len = 0
        self._long_get = False  # the incomplete line is an unbounded get/gets
        self._pending: Optional[_Pending] = None
        self._need = 0  # bytes of the pending data block (with its CRLF) still due
        self._parts: List[bytes] = []  # the pending data block's bytes so far
        self._parts_len = 0
        self._swallow = 0  # bytes of a refused data block still to skip
        self._started = False
        self._closed = False
        self._handlers = {
            b"get": self._get,
            b"gets": self._get,
            b"bget": self._get,
            b"gat": self._get,
            b"gats": self._get,
            b"set": self._storage,
            b"add": self._storage,
            b"replace": self._storage,
            b"append": self._storage,
            b"prepend": self._storage,
            b"cas": self._storage,
            b"delete": self._delete,
            b"incr": self._arithmetic,
            b"decr": self._arithmetic,
            b"touch": self._touch,
            b"mg": self._mg,
            b"ms": self._ms,
            b"md": self._md,
            b"ma": self._ma,
            b"mn": self._mn,
            b"me": self._me,
            b"version": self._version,
            b"verbosity": self._verbosity,
            b"flush_all": self._flush_all,
            b"stats": self._stats,
            b"quit": self._quit,
        }

    @property
    def closed(self) -> bool:
        """True after ``quit`` or an error that closes: later bytes are ignored."""
        return self._closed

    @property
    def buffered(self) -> int:
        """Bytes held for an incomplete line or data block, the block's command line
        included (never a refused block: it is skipped as it arrives)."""
        if self._pending is None:
            return self._line_len
        return self._line_len + len(self._pending.line) + self._parts_len

    def feed(self, data: bytes) -> List[Item]:
        """The requests and errors that ``data`` completes, in order."""
        out: List[Item] = []
        if self._closed or not data:
            return out
        if not self._started:
            self._started = True
            if data[0] == 0x80:  # the binary protocol's request magic
                self._close(out, b"")
                return out
        pos = 0
        n = len(data)
        find = data.find
        while pos < n:
            if self._swallow:
                take = min(self._swallow, n - pos)
                self._swallow -= take
                pos += take
                continue
            if self._need:
                pos = self._take_block(data, pos, out)
                continue
            nl = find(b"\n", pos)
            if nl < 0:
                self._keep_partial(data[pos:], out)
                break
            if self._line:
                self._line.append(data[pos : nl + 1])
                line = b"".join(self._line)
                self._line = []
                self._line_len = 0
                long_get = self._long_get
                self._long_get = False
            else:
                line = data[pos : nl + 1]
                long_get = False
            pos = nl + 1
            if len(line) - 1 > MAX_LINE and not (long_get or _is_long_get(line)):
                self._close(out, b"")
                break
            self._on_line(line, out)
            if self._closed:
                break
        return out

    # -- lines ---------------------------------------------------------------------------
    def _keep_partial(self, rest: bytes, out: List[Item]) -> None:
        self._line.append(rest)
        self._line_len += len(rest)
        if self._line_len > MAX_LINE and not self._long_get:
            if _is_long_get(b"".join(self._line)):
                self._long_get = True
            else:
                self._close(out, b"")

    def _close(self, out: List[Item], reply: bytes) -> None:
        out.append(ClientError(reply, True))
        self._closed = True
        self._line = []
        self._line_len = 0
        self._parts = []
        self._parts_len = 0

    def _on_line(self, line: bytes, out: List[Item]) -> None:
        end = len(line) - 1  # the newline
        if end > 1 and line[end - 1] == 0x0D:
            end -= 1
        text = line[:end]
        nul = text.find(b"\0")
        if nul >= 0:
            text = text[:nul]
        tokens = [t for t in text.split(b" ") if t]
        if not tokens or len(tokens[0]) < 2:
            out.append(ClientError(ERROR))
            return
        handler = self._handlers.get(tokens[0])
        if handler is not None:
            handler(tokens, line, out)
            return
        name = tokens[0]
        dispatched = (name[0] == 0x6D and len(name) == 2) or name[0] in _DISPATCH_FIRST
        if dispatched or name in _KNOWN_NAMES:
            out.append(ClientError(ERROR))
        elif tokens[min(len(tokens), _MAX_TOKENS) - 1].startswith(b"HTTP/"):
            self._close(out, b"")
        else:
            out.append(ClientError(ERROR))

    # -- data blocks -----------------------------------------------------------------------
    def _take_block(self, data: bytes, pos: int, out: List[Item]) -> int:
        need = self._need
        available = len(data) - pos
        if not self._parts and available >= need:
            self._need = 0
            end = pos + need
            self._end_block(data[pos:end], out)
            return end
        take = min(need, available)
        self._parts.append(data[pos : pos + take])
        self._parts_len += take
        self._need -= take
        if self._need == 0:
            block = b"".join(self._parts)
            self._parts = []
            self._parts_len = 0
            self._end_block(block, out)
        return pos + take

    def _end_block(self, block: bytes, out: List[Item]) -> None:
        pending = self._pending
        assert pending is not None
        self._pending = None
        if block[-2:] != CRLF:
            out.append(ClientError(b"" if pending.noreply else BAD_DATA_CHUNK))
            return
        fenced = pending.noreply or pending.quiet
        out.append(
            MemcacheRequest(
                pending.command,
                [pending.key],
                pending.line + block,
                True,
                pending.noreply,
                pending.quiet,
                False,
                EXPECT_LINE | EXPECT_FENCED if fenced else EXPECT_LINE,
            )
        )

    def _await_block(self, size: int, pending: _Pending, out: List[Item]) -> None:
        """Read ``size`` value bytes and CRLF next, or skip them if too large."""
        if size > self.item_size_max:
            out.append(ClientError(b"" if pending.noreply else TOO_LARGE))
            self._swallow = size + 2
            return
        self._pending = pending
        self._need = size + 2

    # -- classic commands -------------------------------------------------------------------
    def _get(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        if len(tokens) < 2:
            out.append(ClientError(ERROR))
            return
        command = tokens[0]
        touch = command in (b"gat", b"gats")
        if touch:
            if _strtol32(tokens[1]) is None:
                out.append(ClientError(BAD_EXPTIME))
                return
            keys = tokens[2:]
            prefix = command + b" " + tokens[1]
        else:
            keys = tokens[1:]
            prefix = command
        for key in keys:
            if len(key) > KEY_MAX_LENGTH:
                out.append(ClientError(BAD_FORMAT))
                return
        out.append(
            MemcacheRequest(
                command, keys, line, touch, False, False, not keys, EXPECT_VALUES, prefix
            )
        )

    def _storage(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        cas = tokens[0] == b"cas"
        count = len(tokens)
        if count != 6 + cas and count != 5 + cas:
            out.append(ClientError(ERROR))
            return
        noreply = tokens[-1] == b"noreply"
        key = tokens[1]
        size = _strtol32(tokens[4])
        if (
            len(key) > KEY_MAX_LENGTH
            or _strtoul32(tokens[2]) is None
            or _strtol32(tokens[3]) is None
            or size is None
            or (cas and _strtoull(tokens[5]) is None)
            or size < 0
            or size > _INT_MAX - 2
        ):
            out.append(ClientError(b"" if noreply else BAD_FORMAT))
            return
        self._await_block(size, _Pending(line, tokens[0], key, noreply, False, False), out)

    def _delete(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        count = len(tokens)
        if not 2 <= count <= 4:
            out.append(ClientError(ERROR))
            return
        noreply = False
        if count > 2:
            hold_is_zero = tokens[2] == b"0"
            noreply = tokens[-1] == b"noreply"
            if not (
                (count == 3 and (hold_is_zero or noreply))
                or (count == 4 and hold_is_zero and noreply)
            ):
                out.append(ClientError(b"" if noreply else DELETE_USAGE))
                return
        if len(tokens[1]) > KEY_MAX_LENGTH:
            out.append(ClientError(b"" if noreply else BAD_FORMAT))
            return
        out.append(_keyed(tokens[0], tokens[1], line, noreply))

    def _arithmetic(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        self._key_and_number(tokens, line, out, _strtoull, BAD_DELTA)

    def _touch(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        self._key_and_number(tokens, line, out, _strtol32, BAD_EXPTIME)

    def _key_and_number(
        self,
        tokens: List[bytes],
        line: bytes,
        out: List[Item],
        number: Callable[[bytes], Optional[int]],
        bad_number: bytes,
    ) -> None:
        """``<command> <key> <number> [noreply]``: incr, decr, touch."""
        if len(tokens) not in (3, 4):
            out.append(ClientError(ERROR))
            return
        noreply = tokens[-1] == b"noreply"
        if len(tokens[1]) > KEY_MAX_LENGTH:
            out.append(ClientError(b"" if noreply else BAD_FORMAT))
        elif number(tokens[2]) is None:
            out.append(ClientError(b"" if noreply else bad_number))
        else:
            out.append(_keyed(tokens[0], tokens[1], line, noreply))

    # -- commands without a key ------------------------------------------------------------
    def _version(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        out.append(MemcacheRequest(tokens[0], [], line, False, local=True))

    def _mn(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        out.append(MemcacheRequest(tokens[0], [], line, False, local=True))

    def _stats(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        out.append(MemcacheRequest(tokens[0], [], line, False, local=True, expect=EXPECT_STATS))

    def _quit(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        out.append(MemcacheRequest(tokens[0], [], line, False, local=True))
        self._closed = True

    def _verbosity(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        if len(tokens) not in (2, 3):
            out.append(ClientError(ERROR))
            return
        noreply = tokens[-1] == b"noreply"
        if _strtoul32(tokens[1]) is None:
            out.append(ClientError(b"" if noreply else BAD_FORMAT))
            return
        out.append(_local(tokens[0], line, False, noreply))

    def _flush_all(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        count = len(tokens)
        if count > 3:
            out.append(ClientError(ERROR))
            return
        noreply = tokens[-1] == b"noreply"
        if count != 1 + noreply and _strtol32(tokens[1]) is None:
            out.append(ClientError(b"" if noreply else BAD_EXPTIME))
            return
        out.append(_local(tokens[0], line, True, noreply))

    # -- meta commands ---------------------------------------------------------------------
    def _mg(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        if len(tokens) < 2:
            out.append(ClientError(ERROR))
        elif len(tokens[1]) > KEY_MAX_LENGTH:
            out.append(ClientError(BAD_FORMAT))
        elif len(tokens) > _META_MAX_TOKENS:
            out.append(ClientError(META_TOO_LONG_MG))
        else:
            flags = _meta_flags(tokens, 2)
            if flags.error is not None:
                out.append(ClientError(flags.error or BAD_FORMAT))
                return
            # an over-long opaque is left to memcached: it reports it after a touch
            write = 0x54 in flags.seen or 0x4E in flags.seen  # T, N
            out.append(_meta(tokens[0], flags, line, write, EXPECT_META))

    def _md(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        flags = self._delete_or_arithmetic_flags(tokens, out)
        if flags is None:
            return
        if _opaque_too_long(tokens):
            out.append(ClientError(META_OPAQUE))
        else:
            out.append(_meta(tokens[0], flags, line, True, EXPECT_LINE))

    def _ma(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        flags = self._delete_or_arithmetic_flags(tokens, out)
        if flags is None:
            return
        if flags.mode and flags.mode not in _MA_MODES:
            out.append(ClientError(MA_BAD_MODE))
        else:
            # an over-long opaque is left to memcached: it reports it after the change
            out.append(_meta(tokens[0], flags, line, True, EXPECT_META))

    @staticmethod
    def _delete_or_arithmetic_flags(tokens: List[bytes], out: List[Item]) -> Optional[_MetaFlags]:
        """md's and ma's common checks: the flags, or None once the error is out."""
        if len(tokens) < 2:
            out.append(ClientError(ERROR))
        elif len(tokens[1]) > KEY_MAX_LENGTH:
            out.append(ClientError(BAD_FORMAT))
        elif len(tokens) > _META_MAX_TOKENS:
            out.append(ClientError(META_TOO_LONG))
        else:
            flags = _meta_flags(tokens, 2)
            if flags.error is None:
                return flags
            # md and ma fold every flag error into one text
            out.append(ClientError(META_INVALID_OR_DUPLICATE))
        return None

    def _ms(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        count = len(tokens)
        if count < 2:
            out.append(ClientError(ERROR))
            return
        if len(tokens[1]) > KEY_MAX_LENGTH or count == 2:
            out.append(ClientError(BAD_FORMAT))
            return
        if count > _META_MAX_TOKENS:
            out.append(ClientError(META_TOO_LONG))
            return
        size = _strtol32(tokens[2])
        if size is None or size < 0 or size > _INT_MAX - 2:
            out.append(ClientError(BAD_FORMAT))
            return
        # from here on memcached skips the data block after an error
        flags = _meta_flags(tokens, 3)
        error: Optional[bytes] = None
        if flags.error is not None:
            error = flags.error or BAD_FORMAT
        elif flags.mode and flags.mode not in _MS_MODES:
            error = MS_BAD_MODE
        elif _opaque_too_long(tokens):
            error = META_OPAQUE
        elif size > self.item_size_max:
            error = TOO_LARGE
        if error is not None:
            out.append(ClientError(error))
            self._swallow = size + 2
            return
        quiet = 0x71 in flags.seen  # q
        self._await_block(size, _Pending(line, tokens[0], flags.key, False, quiet, True), out)

    def _me(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        if len(tokens) < 2 or len(tokens[1]) > KEY_MAX_LENGTH:
            out.append(ClientError(BAD_FORMAT))
            return
        key = tokens[1]
        if len(tokens) > 2 and tokens[2] == b"b":
            decoded = b64_decode_key(key)
            if decoded is None:
                out.append(ClientError(BAD_FORMAT))
                return
            key = decoded
        out.append(MemcacheRequest(tokens[0], [key], line, False))


def _is_long_get(line: bytes) -> bool:
    """memcached's exception to its line limit: get/gets after at most 100 spaces."""
    i = 0
    n = len(line)
    while i < n and line[i] == 0x20:
        i += 1
    if i > _LEADING_SPACES_MAX:
        return False
    return line.startswith(b"get ", i) or line.startswith(b"gets ", i)


def _keyed(command: bytes, key: bytes, line: bytes, noreply: bool) -> MemcacheRequest:
    """delete, incr, decr, touch."""
    expect = EXPECT_LINE | EXPECT_FENCED if noreply else EXPECT_LINE
    return MemcacheRequest(command, [key], line, True, noreply, False, False, expect)


def _local(command: bytes, line: bytes, write: bool, noreply: bool) -> MemcacheRequest:
    """verbosity, flush_all."""
    expect = EXPECT_LINE | EXPECT_FENCED if noreply else EXPECT_LINE
    return MemcacheRequest(command, [], line, write, noreply, False, True, expect)


def _meta(
    command: bytes, flags: _MetaFlags, line: bytes, write: bool, expect: int
) -> MemcacheRequest:
    quiet = 0x71 in flags.seen  # q
    if quiet:
        expect |= EXPECT_FENCED
    return MemcacheRequest(command, [flags.key], line, write, False, quiet, False, expect)


# -- the reply framer -----------------------------------------------------------------------
MAX_REPLY_LINE = 64 * 1024
"""A reply line longer than this (memcached's are far shorter) is a broken stream."""

_STATS_LINES = (b"STAT ", b"ITEM ", b"PREFIX ")


class MemcacheReplyFramer:
    """Splits a memcached reply stream into whole replies, one per expectation.

    Call :meth:`expect` with a request's ``expect`` each time one is sent (FIFO); see
    the module docstring.
    """

    def __init__(self) -> None:
        self._expected: Deque[int] = deque()
        self._line: List[bytes] = []  # an incomplete line, in pieces
        self._line_len = 0
        self._parts: List[bytes] = []  # bytes of the reply under way
        self._skip = 0  # bytes of a data block (with its CRLF) still to pass
        self._more = False  # the reply goes on after the current line or block
        self._inner = False  # fenced: the request's own reply is under way

    def expect(self, kind: int) -> None:
        """Queue the reply kind of a request just sent (``MemcacheRequest.expect``)."""
        if kind & _KIND_MASK not in (EXPECT_LINE, EXPECT_VALUES, EXPECT_META, EXPECT_STATS):
            raise ValueError("unknown reply kind %r" % kind)
        self._expected.append(kind)

    @property
    def pending(self) -> int:
        """Replies expected and not yet complete."""
        return len(self._expected)

    def feed(self, data: bytes) -> List[bytes]:
        """The whole replies that ``data`` completes; raise ReplyError on bad bytes."""
        out: List[bytes] = []
        pos = 0
        n = len(data)
        find = data.find
        while pos < n:
            if self._skip:
                take = min(self._skip, n - pos)
                self._parts.append(data[pos : pos + take])
                self._skip -= take
                pos += take
                if self._skip == 0:
                    self._end_block(out)
                continue
            if not self._expected:
                raise ReplyError("reply bytes with no request waiting: %r" % data[pos : pos + 64])
            nl = find(b"\n", pos)
            if nl < 0:
                self._line.append(data[pos:])
                self._line_len += n - pos
                if self._line_len > MAX_REPLY_LINE:
                    raise ReplyError("reply line too long")
                break
            if self._line:
                self._line.append(data[pos : nl + 1])
                line = b"".join(self._line)
                self._line = []
                self._line_len = 0
            else:
                line = data[pos : nl + 1]
            pos = nl + 1
            self._on_line(line, out)
        return out

    def _on_line(self, line: bytes, out: List[bytes]) -> None:
        if line[-2:-1] != b"\r":
            raise ReplyError("reply line without CRLF: %r" % line[:64])
        kind = self._expected[0]
        base = kind & _KIND_MASK
        if kind & EXPECT_FENCED and not self._inner:
            if line == FENCE_REPLY:
                out.append(b"".join(self._parts))
                self._parts = []
                self._expected.popleft()
                return
            self._inner = True
        elif base == EXPECT_LINE and not self._parts:  # the common case
            out.append(line)
            self._expected.popleft()
            return
        self._parts.append(line)
        if base == EXPECT_LINE:
            self._end_reply(out)
        elif base == EXPECT_META:
            if line.startswith(b"VA "):
                self._skip = _size_field(line, 1) + 2
            else:
                self._end_reply(out)
        elif base == EXPECT_VALUES:
            if line.startswith(b"VALUE "):
                self._skip = _size_field(line, 3) + 2
                self._more = True
            else:  # END, or an error
                self._end_reply(out)
        elif line == END:
            self._end_reply(out)
        elif self._more or line.startswith(_STATS_LINES):
            self._more = True
        else:  # a one-line stats reply: RESET, OK, an error
            self._end_reply(out)

    def _end_block(self, out: List[bytes]) -> None:
        last = self._parts[-1]
        tail = last[-2:] if len(last) >= 2 else self._parts[-2][-1:] + last
        if tail != CRLF:
            raise ReplyError("data block not followed by CRLF")
        if not self._more:
            self._end_reply(out)

    def _end_reply(self, out: List[bytes]) -> None:
        self._more = False
        if self._expected[0] & EXPECT_FENCED:
            self._inner = False  # the MN follows
            return
        out.append(b"".join(self._parts))
        self._parts = []
        self._expected.popleft()


def _size_field(line: bytes, index: int) -> int:
    fields = line[:-2].split(b" ")
    if len(fields) <= index or not fields[index].isdigit():
        raise ReplyError("bad size in %r" % line[:64])
    return int(fields[index])


# -- helpers for the node ---------------------------------------------------------------------
def is_error_reply(reply: bytes) -> bool:
    """True for ``ERROR``, ``CLIENT_ERROR ...`` and ``SERVER_ERROR ...`` replies."""
    return reply.startswith((b"ERROR", b"CLIENT_ERROR ", b"SERVER_ERROR "))


def server_error(message: str) -> bytes:
    """``SERVER_ERROR <message>\\r\\n`` (the node's own errors, e.g. Dynomite's
    ``Storage: Datastore refused connection``); CR and LF become spaces."""
    data = message.encode("latin-1", "replace").replace(b"\r", b" ").replace(b"\n", b" ")
    return b"SERVER_ERROR " + data + CRLF


def value_blocks(reply: bytes) -> Optional[List[Tuple[bytes, bytes]]]:
    """The ``(key, block)`` pairs of a get-like reply, each block a whole ``VALUE``
    line and its data; None if ``reply`` is not VALUE blocks followed by ``END``."""
    blocks: List[Tuple[bytes, bytes]] = []
    pos = 0
    n = len(reply)
    while True:
        nl = reply.find(b"\r\n", pos)
        if nl < 0:
            return None
        if nl + 2 == n and reply[pos:nl] == b"END":
            return blocks
        if not reply.startswith(b"VALUE ", pos):
            return None
        fields = reply[pos:nl].split(b" ")
        if len(fields) not in (4, 5) or not fields[3].isdigit():
            return None
        end = nl + 2 + int(fields[3]) + 2
        if end > n or reply[end - 2 : end] != CRLF:
            return None
        blocks.append((fields[1], reply[pos:end]))
        pos = end


def merge_get_replies(replies: Sequence[bytes], keys: Optional[Sequence[bytes]] = None) -> bytes:
    """One get/gets/gat/gats reply from the replies of its fragments.

    The VALUE blocks of every fragment, without their ``END``, then one ``END``. With
    ``keys`` (the original request's keys) the blocks are put in that order, as
    memcached would return them, a key asked twice returning its value twice even if
    the fragment asked it once. The first fragment reply that is not VALUE blocks and
    ``END`` (an error) is returned instead, as is.
    """
    parsed: List[List[Tuple[bytes, bytes]]] = []
    for reply in replies:
        blocks = value_blocks(reply)
        if blocks is None:
            return reply
        parsed.append(blocks)
    if keys is None:
        return b"".join(block for blocks in parsed for _, block in blocks) + END
    by_key: Dict[bytes, Deque[bytes]] = {}
    for blocks in parsed:
        for key, block in blocks:
            by_key.setdefault(key, deque()).append(block)
    out: List[bytes] = []
    for key in keys:
        found = by_key.get(key)
        if found:
            out.append(found.popleft() if len(found) > 1 else found[0])
    out.append(END)
    return b"".join(out)

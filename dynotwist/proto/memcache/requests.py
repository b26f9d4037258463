"""The request parser: client bytes to requests and memcached's own errors, as
memcached 1.6's proto_text.c reads them (see the package docstring)."""

from __future__ import annotations

from typing import Callable, List, NamedTuple, Optional

from dynotwist.proto.memcache.fields import (
    MA_MODES,
    MS_MODES,
    MetaFlags,
    b64_decode_key,
    meta_flags,
    opaque_too_long,
    strtol32,
    strtoul32,
    strtoull,
)
from dynotwist.proto.memcache.wire import (
    BAD_DATA_CHUNK,
    BAD_DELTA,
    BAD_EXPTIME,
    BAD_FORMAT,
    CRLF,
    DEFAULT_ITEM_SIZE_MAX,
    DELETE_USAGE,
    ERROR,
    EXPECT_FENCED,
    EXPECT_LINE,
    EXPECT_META,
    EXPECT_STATS,
    EXPECT_VALUES,
    INT_MAX,
    KEY_MAX_LENGTH,
    LEADING_SPACES_MAX,
    MA_BAD_MODE,
    MAX_LINE,
    MAX_TOKENS,
    META_INVALID_OR_DUPLICATE,
    META_MAX_TOKENS,
    META_OPAQUE,
    META_TOO_LONG,
    META_TOO_LONG_MG,
    MS_BAD_MODE,
    TOO_LARGE,
    ClientError,
    Item,
    MemcacheRequest,
)

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
        # where the pending block's command line begins in the bytes being fed, -1 if it
        # came in an earlier feed or in pieces: a block that follows it in the same feed
        # is then taken with its line in one slice
        self._line_at = -1
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
                self._line_at = -1
            else:
                line = data[pos : nl + 1]
                long_get = False
                self._line_at = pos
            pos = nl + 1
            if len(line) - 1 > MAX_LINE and not (long_get or _is_long_get(line)):
                self._close(out, b"")
                break
            self._on_line(line, out)
            if self._closed:
                break
        self._line_at = -1
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
        tokens = text.split(b" ")
        if b"" in tokens:  # runs of spaces
            tokens = [t for t in tokens if t]
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
        elif tokens[min(len(tokens), MAX_TOKENS) - 1].startswith(b"HTTP/"):
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
            pending = self._pending
            assert pending is not None
            if self._line_at >= 0:  # the line just before, in this feed: one slice
                self._end_block(data[self._line_at : end], out)
            else:
                self._end_block(pending.line + data[pos:end], out)
            return end
        take = min(need, available)
        self._parts.append(data[pos : pos + take])
        self._parts_len += take
        self._need -= take
        if self._need == 0:
            pending = self._pending
            assert pending is not None
            raw = b"".join([pending.line, *self._parts])
            self._parts = []
            self._parts_len = 0
            self._end_block(raw, out)
        return pos + take

    def _end_block(self, raw: bytes, out: List[Item]) -> None:
        """The pending request complete: ``raw`` is its line and its data block."""
        pending = self._pending
        assert pending is not None
        self._pending = None
        if raw[-2:] != CRLF:
            out.append(ClientError(b"" if pending.noreply else BAD_DATA_CHUNK))
            return
        fenced = pending.noreply or pending.quiet
        out.append(
            MemcacheRequest(
                pending.command,
                [pending.key],
                raw,
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
            if strtol32(tokens[1]) is None:
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
        size = strtol32(tokens[4])
        if (
            len(key) > KEY_MAX_LENGTH
            or strtoul32(tokens[2]) is None
            or strtol32(tokens[3]) is None
            or size is None
            or (cas and strtoull(tokens[5]) is None)
            or size < 0
            or size > INT_MAX - 2
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
        self._key_and_number(tokens, line, out, strtoull, BAD_DELTA)

    def _touch(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        self._key_and_number(tokens, line, out, strtol32, BAD_EXPTIME)

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
        if strtoul32(tokens[1]) is None:
            out.append(ClientError(b"" if noreply else BAD_FORMAT))
            return
        out.append(_local(tokens[0], line, False, noreply))

    def _flush_all(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        count = len(tokens)
        if count > 3:
            out.append(ClientError(ERROR))
            return
        noreply = tokens[-1] == b"noreply"
        if count != 1 + noreply and strtol32(tokens[1]) is None:
            out.append(ClientError(b"" if noreply else BAD_EXPTIME))
            return
        out.append(_local(tokens[0], line, True, noreply))

    # -- meta commands ---------------------------------------------------------------------
    def _mg(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        if len(tokens) < 2:
            out.append(ClientError(ERROR))
        elif len(tokens[1]) > KEY_MAX_LENGTH:
            out.append(ClientError(BAD_FORMAT))
        elif len(tokens) > META_MAX_TOKENS:
            out.append(ClientError(META_TOO_LONG_MG))
        else:
            flags = meta_flags(tokens, 2)
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
        if opaque_too_long(tokens):
            out.append(ClientError(META_OPAQUE))
        else:
            out.append(_meta(tokens[0], flags, line, True, EXPECT_LINE))

    def _ma(self, tokens: List[bytes], line: bytes, out: List[Item]) -> None:
        flags = self._delete_or_arithmetic_flags(tokens, out)
        if flags is None:
            return
        if flags.mode and flags.mode not in MA_MODES:
            out.append(ClientError(MA_BAD_MODE))
        else:
            # an over-long opaque is left to memcached: it reports it after the change
            out.append(_meta(tokens[0], flags, line, True, EXPECT_META))

    @staticmethod
    def _delete_or_arithmetic_flags(tokens: List[bytes], out: List[Item]) -> Optional[MetaFlags]:
        """md's and ma's common checks: the flags, or None once the error is out."""
        if len(tokens) < 2:
            out.append(ClientError(ERROR))
        elif len(tokens[1]) > KEY_MAX_LENGTH:
            out.append(ClientError(BAD_FORMAT))
        elif len(tokens) > META_MAX_TOKENS:
            out.append(ClientError(META_TOO_LONG))
        else:
            flags = meta_flags(tokens, 2)
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
        if count > META_MAX_TOKENS:
            out.append(ClientError(META_TOO_LONG))
            return
        size = strtol32(tokens[2])
        if size is None or size < 0 or size > INT_MAX - 2:
            out.append(ClientError(BAD_FORMAT))
            return
        # from here on memcached skips the data block after an error
        flags = meta_flags(tokens, 3)
        error: Optional[bytes] = None
        if flags.error is not None:
            error = flags.error or BAD_FORMAT
        elif flags.mode and flags.mode not in MS_MODES:
            error = MS_BAD_MODE
        elif opaque_too_long(tokens):
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
    if i > LEADING_SPACES_MAX:
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
    command: bytes, flags: MetaFlags, line: bytes, write: bool, expect: int
) -> MemcacheRequest:
    quiet = 0x71 in flags.seen  # q
    if quiet:
        expect |= EXPECT_FENCED
    return MemcacheRequest(command, [flags.key], line, write, False, quiet, False, expect)

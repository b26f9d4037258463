"""Memcached's text protocol: its limits, the replies it sends on its own, the reply
kinds a framer expects, and the request and error items the parser yields."""

from __future__ import annotations

from typing import List, NamedTuple, Sequence, Union

from dynotwist.core.command import MULTI_FRAGMENT, SINGLE, Command

CRLF = b"\r\n"

KEY_MAX_LENGTH = 250
"""Longest key memcached accepts (bytes, as sent: base64 for meta ``b`` keys)."""

MAX_LINE = 2048
"""Longest request line memcached buffers without a newline before closing."""

DEFAULT_ITEM_SIZE_MAX = 1024 * 1024

MAX_TOKENS = 23  # memcached's tokenizer stops after this many tokens (MAX_TOKENS - 1)
META_MAX_TOKENS = 19  # meta commands refuse 20 tokens or more (ntokens > 20)
OPAQUE_MAX = 32
INT_MAX = 2**31 - 1
LEADING_SPACES_MAX = 100

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
KIND_MASK = 0x0F


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


def describe(request: MemcacheRequest) -> Command:
    """A forwarded request as routing sees it: a get over several keys is split by
    owner (:meth:`MemcacheRequest.with_keys` builds the parts), the rest go to the
    owner of their key."""
    keys = request.keys
    return Command(MULTI_FRAGMENT if len(keys) > 1 else SINGLE, request.write, keys)


class ReplyError(Exception):
    """The datastore sent bytes that are not the expected memcached replies."""

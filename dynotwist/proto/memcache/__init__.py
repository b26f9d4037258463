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

from dynotwist.proto.memcache.fields import b64_decode_key
from dynotwist.proto.memcache.replies import (
    MAX_REPLY_LINE,
    MemcacheReplyFramer,
    expected_reply,
    is_error_reply,
    merge_get_replies,
    server_error,
    value_blocks,
)
from dynotwist.proto.memcache.requests import MemcacheRequestParser
from dynotwist.proto.memcache.wire import (
    BAD_DATA_CHUNK,
    BAD_FORMAT,
    CRLF,
    DEFAULT_ITEM_SIZE_MAX,
    END,
    ERROR,
    EXPECT_FENCED,
    EXPECT_LINE,
    EXPECT_META,
    EXPECT_STATS,
    EXPECT_VALUES,
    FENCE,
    FENCE_REPLY,
    KEY_MAX_LENGTH,
    MAX_LINE,
    TOO_LARGE,
    ClientError,
    Item,
    MemcacheRequest,
    ReplyError,
    describe,
)

__all__ = [
    "BAD_DATA_CHUNK",
    "BAD_FORMAT",
    "CRLF",
    "DEFAULT_ITEM_SIZE_MAX",
    "END",
    "ERROR",
    "EXPECT_FENCED",
    "EXPECT_LINE",
    "EXPECT_META",
    "EXPECT_STATS",
    "EXPECT_VALUES",
    "FENCE",
    "FENCE_REPLY",
    "KEY_MAX_LENGTH",
    "MAX_LINE",
    "MAX_REPLY_LINE",
    "TOO_LARGE",
    "ClientError",
    "Item",
    "MemcacheReplyFramer",
    "MemcacheRequest",
    "MemcacheRequestParser",
    "ReplyError",
    "b64_decode_key",
    "describe",
    "expected_reply",
    "is_error_reply",
    "merge_get_replies",
    "server_error",
    "value_blocks",
]

"""The dnode peer framing of Dynomite (sans-I/O, no Twisted).

Every message between peers is an ASCII header followed by a payload (one
RESP or memcache message, or a gossip body)::

    b"   $2014$ " id b" " type b" " flags b" " version b" " same_dc
    b" *" data_len b" " data b" *" payload_len b"\\r\\n" payload

e.g. ``b"   $2014$ 5 3 0 1 1 *1 d *22\\r\\n*2\\r\\n$3\\r\\nget\\r\\n$3\\r\\nfoo\\r\\n"``.

``flags`` and ``same_dc`` are one digit each (Dynomite's parser reads exactly
one).  ``data`` is ``d`` on plaintext requests and responses, ``a`` on gossip,
or an RSA-wrapped key on a secured connection's first frame.

:class:`DnodeParser` is incremental: feed it bytes as they arrive, it returns
the complete frames and keeps the rest.  Like Dynomite, it skips anything
before the magic ``$2014$`` and, when a header turns out malformed, discards
it and looks for the next magic.  Only input it cannot recover from (a length
beyond the configured limits) raises :class:`DnodeError`.
"""

from __future__ import annotations

import re
from typing import List, NamedTuple, Pattern, Tuple, Union

__all__ = [
    "CRYPTO_HANDSHAKE",
    "DATA_GOSSIP",
    "DATA_PLAIN",
    "DEFAULT_MAX_DATA_LEN",
    "DEFAULT_MAX_PAYLOAD_LEN",
    "DMSG_DEBUG",
    "DMSG_PARSE_ERROR",
    "DMSG_REQ",
    "DMSG_REQ_FORWARD",
    "DMSG_RES",
    "DMSG_UNKNOWN",
    "FLAG_COMPRESSED",
    "FLAG_ENCRYPTED",
    "FLAG_RESP3",
    "GOSSIP_ACK",
    "GOSSIP_DIGEST_ACK",
    "GOSSIP_DIGEST_ACK2",
    "GOSSIP_DIGEST_SYN",
    "GOSSIP_SHUTDOWN",
    "GOSSIP_SYN",
    "GOSSIP_SYN_REPLY",
    "MAGIC",
    "VERSION",
    "DnodeError",
    "DnodeParser",
    "Frame",
    "Framed",
    "encode_frame",
    "encode_header",
    "request_frame",
    "response_frame",
]

# -- message types (dmsg_type_t)
DMSG_UNKNOWN = 0
DMSG_DEBUG = 1
DMSG_PARSE_ERROR = 2
DMSG_REQ = 3  # request to a peer of the same DC
DMSG_REQ_FORWARD = 4  # request to a peer of another DC, which fans it out to its racks
DMSG_RES = 5  # response; carries the id of the request it answers
CRYPTO_HANDSHAKE = 6
# gossip: only GOSSIP_SYN is used by Dynomite; the others are reserved
GOSSIP_SYN = 7
GOSSIP_SYN_REPLY = 8
GOSSIP_ACK = 9
GOSSIP_DIGEST_SYN = 10
GOSSIP_DIGEST_ACK = 11
GOSSIP_DIGEST_ACK2 = 12
GOSSIP_SHUTDOWN = 13

# -- flags (one decimal digit on the wire)
FLAG_ENCRYPTED = 1  # payload encrypted (Dynomite's AES scheme)
FLAG_COMPRESSED = 2  # reserved, never used by Dynomite
FLAG_RESP3 = 4  # dynotwist: the client speaks RESP3 (Dynomite ignores the bit)

VERSION = 1  # VERSION_10, the only version there is
DATA_PLAIN = b"d"
DATA_GOSSIP = b"a"

MAGIC = b"   $2014$ "

DEFAULT_MAX_PAYLOAD_LEN = 1 << 30
DEFAULT_MAX_DATA_LEN = 4096

_HEADER_FMT = b"   $2014$ %d %d %d %d %d *%d %b *%d\r\n"


class DnodeError(Exception):
    """Unrecoverable dnode input: the connection should be closed.

    :attr:`frames` holds the complete frames that preceded the bad input in the
    ``feed()`` call that raised (they are valid and may still be processed).
    """

    def __init__(self, message: str, frames: list[Frame] | None = None) -> None:
        super().__init__(message)
        self.frames: list[Frame] = frames if frames is not None else []


class Frame(NamedTuple):
    """One dnode message."""

    msg_id: int
    msg_type: int
    flags: int
    version: int
    same_dc: int
    payload: bytes
    data: bytes = DATA_PLAIN


#: a request frame made once for the copies of a request, and its message id
Framed = Tuple[int, bytes]


def encode_header(
    msg_id: int,
    msg_type: int,
    flags: int,
    same_dc: int,
    payload_len: int,
    version: int = VERSION,
    data: bytes = DATA_PLAIN,
) -> bytes:
    """The header preceding a payload of *payload_len* bytes."""
    if not 0 <= flags <= 9:
        raise ValueError(f"dnode flags are one digit (0..9), got {flags!r}")
    if not 0 <= same_dc <= 9:
        raise ValueError(f"dnode same_dc is one digit, got {same_dc!r}")
    if msg_id < 0 or msg_type < 0 or version < 0 or payload_len < 0:
        raise ValueError("dnode header fields cannot be negative")
    return _HEADER_FMT % (msg_id, msg_type, flags, version, same_dc, len(data), data, payload_len)


def encode_frame(
    msg_id: int,
    msg_type: int,
    flags: int,
    same_dc: int,
    payload: bytes,
    version: int = VERSION,
    data: bytes = DATA_PLAIN,
) -> bytes:
    """Header and payload in one bytes object."""
    return encode_header(msg_id, msg_type, flags, same_dc, len(payload), version, data) + payload


# The node's own frames, built in one formatting step each: their fields are known good
# (flags and same_dc one digit, echoed from a parsed header or chosen by the node), so
# these skip encode_header's checks. Plaintext frames, version 1, data "d".
_REQUEST = b"   $2014$ %d %d %d 1 %d *1 d *%d\r\n%b"
_RESPONSE = b"   $2014$ %d 5 %d 1 %d *1 d *%d\r\n%b"


def request_frame(msg_id: int, msg_type: int, flags: int, same_dc: int, payload: bytes) -> bytes:
    """A request frame (DMSG_REQ or DMSG_REQ_FORWARD), unchecked (see above)."""
    return _REQUEST % (msg_id, msg_type, flags, same_dc, len(payload), payload)


def response_frame(msg_id: int, flags: int, same_dc: int, payload: bytes) -> bytes:
    """A DMSG_RES frame answering request ``msg_id``, unchecked (see above)."""
    return _RESPONSE % (msg_id, flags, same_dc, len(payload), payload)


# -- header grammar, after the magic "$2014$":
#    " " id " " type " " flags " " version " " same_dc " *" data_len " "
#    <data> " *" payload_len "\r\n"
_FIELDS1 = [b" ", rb"\d{1,20}", b" ", rb"\d{1,20}", b" ", rb"\d", b" ", rb"\d{1,20}", b" ", rb"\d"]
_FIELDS1 += [b" ", rb"\*", rb"\d{1,20}", b" "]
_FIELDS2 = [b" ", rb"\*", rb"\d{1,20}", b"\r", b"\n"]


def _prefix_pattern(tokens: List[bytes]) -> Pattern[bytes]:
    """A regex matching the longest prefix of the token sequence.

    Every token is either one character or a run of digits, so any prefix of
    a token's match is empty or itself a match of that token.
    """
    pattern = b""
    for token in reversed(tokens):
        pattern = b"(?:" + token + pattern + b")?"
    return re.compile(pattern)


_PART1 = re.compile(rb"\$2014\$ (\d{1,20}) (\d{1,20}) (\d) (\d{1,20}) (\d) \*(\d{1,20}) ")
_PART1_PREFIX = _prefix_pattern(_FIELDS1)
# the usual whole header: three spaces, a one-byte data field
_FAST = re.compile(
    rb"   \$2014\$ (\d{1,20}) (\d{1,20}) (\d) (\d{1,20}) (\d) \*1 (.) \*(\d{1,20})\r\n", re.DOTALL
)
_PART2 = re.compile(rb" \*(\d{1,20})\r\n")
_PART2_PREFIX = _prefix_pattern(_FIELDS2)

_SCAN, _HEADER, _TRAILER, _PAYLOAD, _BROKEN = range(5)
_tuple_new = tuple.__new__


class DnodeParser:
    """Incremental dnode frame parser.

    ``feed(data)`` returns the frames completed by *data* (possibly none).
    State is kept between calls; every byte is examined a bounded number of
    times, whatever the chunking.  Bytes that are not part of a frame
    (garbage before a magic, a malformed header) are dropped and counted in
    :attr:`skipped`.
    """

    def __init__(
        self,
        max_payload_len: int = DEFAULT_MAX_PAYLOAD_LEN,
        max_data_len: int = DEFAULT_MAX_DATA_LEN,
    ) -> None:
        self.max_payload_len = max_payload_len
        self.max_data_len = max_data_len
        #: bytes discarded so far while resynchronising
        self.skipped = 0
        self._buf = bytearray()
        self._pos = 0  # start of unconsumed input in _buf
        self._state = _SCAN
        self._lead = 0  # spaces before the magic, kept with the frame
        self._fields: Tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
        self._data = b""
        self._data_len = 0
        self._header_len = 0  # header bytes before the data field
        self._payload_len = 0
        self._error: DnodeError | None = None

    @property
    def buffered(self) -> int:
        """Bytes held, waiting for the rest of a frame."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> List[Frame]:
        if self._error is not None:
            raise DnodeError(str(self._error))
        held = self._buf
        if held:
            held += data
            buf: Union[bytes, bytearray] = held
        else:
            buf = data  # nothing held: frames are cut from the bytes read, one copy each
        frames: List[Frame] = []
        try:
            self._run(frames, buf)
        except DnodeError as e:
            e.frames = frames
            raise
        finally:
            pos = self._pos
            self._pos = 0
            if buf is held:
                del held[:pos]  # compact: drop what was consumed
            elif pos < len(buf):
                held += memoryview(buf)[pos:]  # the start of a frame, kept for later
        return frames

    def _fail(self, message: str) -> None:
        self._state = _BROKEN
        self._error = DnodeError(message)
        raise self._error

    def _skip_to(self, pos: int) -> None:
        self.skipped += pos - self._pos
        self._pos = pos
        self._state = _SCAN

    def _run(self, frames: List[Frame], buf: Union[bytes, bytearray]) -> None:
        """Frames from ``buf`` (the bytes held, or those just read if none were) from
        ``_pos`` on; ``_pos`` is left where the unconsumed input starts."""
        end = len(buf)
        while True:
            pos = self._pos
            state = self._state
            if state == _PAYLOAD:
                stop = pos + self._payload_len
                if stop > end:
                    return
                msg_id, msg_type, flags, version, same_dc = self._fields
                payload = bytes(buf[pos:stop])
                frames.append(Frame(msg_id, msg_type, flags, version, same_dc, payload, self._data))
                self._pos = stop
                self._state = _SCAN
                continue
            if state == _SCAN:
                fast = _FAST.match
                m = fast(buf, pos) if self.max_data_len else None
                # whole frames in a row (the usual read) in this loop, then what follows
                while m is not None:
                    id_field, type_field, flags_field, version_field, dc_field, data, length = (
                        m.groups()
                    )
                    payload_len = int(length)
                    if payload_len > self.max_payload_len:
                        self._fail(
                            f"dnode payload length {payload_len} exceeds the limit of"
                            f" {self.max_payload_len}"
                        )
                    start = m.end()
                    stop = start + payload_len
                    fields = (
                        int(id_field),
                        int(type_field),
                        flags_field[0] - 48,
                        int(version_field),
                        dc_field[0] - 48,
                    )
                    if stop > end:
                        self._fields = fields
                        self._data = data
                        self._payload_len = payload_len
                        self._pos = start
                        self._state = _PAYLOAD
                        return
                    # Frame(*fields, payload, data) without its Python-level __new__
                    frames.append(_tuple_new(Frame, (*fields, bytes(buf[start:stop]), data)))
                    pos = self._pos = stop
                    m = fast(buf, pos)
                if pos == end:
                    return
                found = buf.find(b"$2014$", pos)
                if found < 0:
                    # keep what may be the start of a frame ("   $2014")
                    self._skip_to(max(pos, end - 8))
                    return
                lead = 0
                while lead < 3 and found - lead > pos and buf[found - lead - 1] == 32:
                    lead += 1
                self._skip_to(found - lead)
                self._lead = lead
                self._state = _HEADER
                continue
            if state == _HEADER:
                magic = pos + self._lead
                m = _PART1.match(buf, magic)
                if m is None:
                    prefix = _PART1_PREFIX.match(buf, magic + 6)
                    assert prefix is not None  # every token is optional
                    if prefix.end() == end:
                        return  # a valid header so far: wait for more
                    # malformed: resume scanning at the offending byte
                    self._skip_to(prefix.end())
                    continue
                data_len = int(m.group(6))
                if data_len > self.max_data_len:
                    self._fail(
                        f"dnode data length {data_len} exceeds the limit of {self.max_data_len}"
                    )
                self._fields = (
                    int(m.group(1)),
                    int(m.group(2)),
                    int(m.group(3)),
                    int(m.group(4)),
                    int(m.group(5)),
                )
                self._data_len = data_len
                # _pos stays at the header start until the header is complete,
                # so that a malformed trailer drops the whole header
                self._header_len = m.end() - pos
                self._state = _TRAILER
                continue
            if state == _TRAILER:
                data_start = pos + self._header_len
                data_end = data_start + self._data_len
                if data_end > end:
                    return
                m = _PART2.match(buf, data_end)
                if m is None:
                    prefix = _PART2_PREFIX.match(buf, data_end)
                    assert prefix is not None
                    if prefix.end() == end:
                        return
                    self._skip_to(prefix.end())
                    continue
                payload_len = int(m.group(1))
                if payload_len > self.max_payload_len:
                    self._fail(
                        f"dnode payload length {payload_len} exceeds the limit of"
                        f" {self.max_payload_len}"
                    )
                self._data = bytes(buf[data_start:data_end])
                self._payload_len = payload_len
                self._pos = m.end()
                self._state = _PAYLOAD
                continue
            raise AssertionError(f"bad parser state {state!r}")  # pragma: no cover

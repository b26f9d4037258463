"""Tests for dynotwist.proto.dnode against peer frames captured from Dynomite."""

from __future__ import annotations

import ast
import itertools
import os
import re
from typing import NamedTuple

from hypothesis import assume, given, settings
from hypothesis import strategies as st
from twisted.trial import unittest

from dynotwist.proto import dnode
from dynotwist.proto.dnode import (
    DATA_GOSSIP,
    DATA_PLAIN,
    DMSG_REQ,
    DMSG_REQ_FORWARD,
    DMSG_RES,
    FLAG_ENCRYPTED,
    FLAG_RESP3,
    GOSSIP_SYN,
    MAGIC,
    DnodeError,
    DnodeParser,
    Frame,
    encode_frame,
    encode_header,
)

VECTORS = os.path.join(os.path.dirname(os.path.abspath(__file__)), os.pardir, "vectors")

_DESCRIPTION = re.compile(
    r"^\[(?P<src>\w+) -> (?P<dst>\w+)\] dnode .*: msg_id=(?P<msg_id>\d+) type=(?P<type>\d+)"
    r" flags=(?P<flags>\d+) version=(?P<version>\d+) same_dc=(?P<same_dc>\d+)"
    r" data_len=(?P<data_len>\d+) data='(?P<data>[^']*)' payload_len=(?P<payload_len>\d+);"
    r" header=(?P<header>\d+) bytes, total=(?P<total>\d+) bytes"
)


class Captured(NamedTuple):
    description: str
    raw: bytes
    expected: Frame
    header_len: int


def load_frames() -> list[Captured]:
    """Every peer frame of dnode-frames.txt with its decoded description."""
    with open(os.path.join(VECTORS, "dnode-frames.txt"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("# dnode-frames.txt"), lines[0]
    frames = []
    for i, line in enumerate(lines):
        if not line.startswith("[") or " dnode " not in line:
            continue
        m = _DESCRIPTION.match(line)
        assert m is not None, line
        raw = ast.literal_eval(lines[i + 1])
        assert isinstance(raw, bytes)
        assert len(raw) == int(m["total"]), line
        header_len = int(m["header"])
        payload = raw[header_len:]
        assert len(payload) == int(m["payload_len"]), line
        assert len(m["data"]) == int(m["data_len"])
        expected = Frame(
            int(m["msg_id"]),
            int(m["type"]),
            int(m["flags"]),
            int(m["version"]),
            int(m["same_dc"]),
            payload,
            m["data"].encode(),
        )
        frames.append(Captured(line, raw, expected, header_len))
    return frames


CAPTURED = load_frames()
STREAM = b"".join(c.raw for c in CAPTURED)
ALL_EXPECTED = [c.expected for c in CAPTURED]

SMALL = 256  # frames up to this size are split at every offset


def split_offsets(captured: Captured) -> list[int]:
    n = len(captured.raw)
    if n <= SMALL:
        return list(range(n + 1))
    near = set(range(0, captured.header_len + 64)) | set(range(n - 64, n + 1))
    return sorted(near | set(range(0, n, 397)))


def parse_all(chunks: list[bytes], **kwargs: int) -> list[Frame]:
    parser = DnodeParser(**kwargs)
    frames: list[Frame] = []
    for chunk in chunks:
        frames.extend(parser.feed(chunk))
    return frames


class CapturedFramesTests(unittest.TestCase):
    """Every frame of dnode-frames.txt (real Dynomite peer traffic)."""

    def test_capture_file(self) -> None:
        self.assertEqual(len(CAPTURED), 186)
        types = {c.expected.msg_type for c in CAPTURED}
        self.assertEqual(types, {DMSG_REQ, DMSG_REQ_FORWARD, DMSG_RES})
        self.assertTrue(any(len(c.raw) > 20000 for c in CAPTURED))
        for c in CAPTURED:
            self.assertTrue(c.raw.startswith(MAGIC), c.description)
            self.assertEqual(c.raw[c.header_len - 2 : c.header_len], b"\r\n")

    def test_whole(self) -> None:
        for c in CAPTURED:
            parser = DnodeParser()
            self.assertEqual(parser.feed(c.raw), [c.expected], c.description)
            self.assertEqual(parser.buffered, 0)
            self.assertEqual(parser.skipped, 0)

    def test_reencode(self) -> None:
        for c in CAPTURED:
            f = c.expected
            header = encode_header(f.msg_id, f.msg_type, f.flags, f.same_dc, len(f.payload))
            self.assertEqual(header, c.raw[: c.header_len], c.description)
            self.assertEqual(header + f.payload, c.raw)
            self.assertEqual(
                encode_frame(
                    f.msg_id, f.msg_type, f.flags, f.same_dc, f.payload, f.version, f.data
                ),
                c.raw,
            )
            # the parsed frame re-encodes byte for byte as well
            (parsed,) = DnodeParser().feed(c.raw)
            self.assertEqual(
                encode_frame(
                    parsed.msg_id,
                    parsed.msg_type,
                    parsed.flags,
                    parsed.same_dc,
                    parsed.payload,
                    parsed.version,
                    parsed.data,
                ),
                c.raw,
            )

    def test_split_at_every_offset(self) -> None:
        for c in CAPTURED:
            for offset in split_offsets(c):
                parser = DnodeParser()
                first = parser.feed(c.raw[:offset])
                second = parser.feed(c.raw[offset:])
                self.assertEqual(first + second, [c.expected], (c.description, offset))
                self.assertEqual(first, [c.expected] if offset == len(c.raw) else [])
                self.assertEqual(parser.buffered, 0)

    def test_split_in_three(self) -> None:
        for c in CAPTURED[:40]:
            n = len(c.raw)
            for i in range(0, n, 3):
                for j in range(i, min(n, i + 12)):
                    frames = parse_all([c.raw[:i], c.raw[i:j], c.raw[j:]])
                    self.assertEqual(frames, [c.expected], (c.description, i, j))

    def test_one_byte_at_a_time(self) -> None:
        for c in CAPTURED:
            parser = DnodeParser()
            frames: list[Frame] = []
            for i in range(len(c.raw)):
                frames.extend(parser.feed(c.raw[i : i + 1]))
            self.assertEqual(frames, [c.expected], c.description)

    def test_concatenation(self) -> None:
        self.assertEqual(parse_all([STREAM]), ALL_EXPECTED)
        pieces = [STREAM[i : i + 1000] for i in range(0, len(STREAM), 1000)]
        self.assertEqual(parse_all(pieces), ALL_EXPECTED)
        # each frame followed by the next one's first bytes
        pieces = [STREAM[i : i + 37] for i in range(0, len(STREAM), 37)]
        self.assertEqual(parse_all(pieces), ALL_EXPECTED)

    def test_whole_frames_then_a_partial_one(self) -> None:
        """Frames read whole are cut from the bytes read; only the start of the next
        one is held, and it completes with the following read."""
        first, second = CAPTURED[0].raw, CAPTURED[1].raw
        parser = DnodeParser()
        frames = parser.feed(first + second[:10])
        self.assertEqual(frames, [CAPTURED[0].expected])
        self.assertIs(type(frames[0].payload), bytes)
        self.assertEqual(parser.buffered, 10)
        self.assertEqual(
            parser.feed(second[10:] + first), [CAPTURED[1].expected, CAPTURED[0].expected]
        )
        self.assertEqual(parser.buffered, 0)

    def test_large_frame_one_byte_at_a_time_is_linear(self) -> None:
        """A 20 KB frame byte by byte does not re-parse what it already holds."""
        big = max(CAPTURED, key=lambda c: len(c.raw))
        parser = DnodeParser()
        frames: list[Frame] = []
        for i in range(len(big.raw)):
            frames.extend(parser.feed(big.raw[i : i + 1]))
            if frames:
                self.assertEqual(parser.buffered, 0)
            else:
                # the header is consumed once complete; the payload accumulates
                held = i + 1 - (big.header_len if i + 1 >= big.header_len else 0)
                self.assertEqual(parser.buffered, held)
        self.assertEqual(frames, [big.expected])

    @given(st.data())
    @settings(max_examples=150, deadline=None)
    def test_arbitrary_chunking(self, data: st.DataObject) -> None:
        start = data.draw(st.integers(0, len(CAPTURED) - 1))
        count = data.draw(st.integers(1, 8))
        chosen = CAPTURED[start : start + count]
        stream = b"".join(c.raw for c in chosen)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=30), label="cuts"))
        bounds = [0, *cuts, len(stream)]
        chunks = [stream[a:b] for a, b in zip(bounds, bounds[1:])]
        self.assertEqual(parse_all(chunks), [c.expected for c in chosen])


class NodeFramesTests(unittest.TestCase):
    """The node's unchecked encoders write what the checked one writes."""

    def test_request_and_response_frames(self) -> None:
        payload = b"*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n"
        for msg_id, msg_type, flags, same_dc in itertools.product(
            (0, 7, 2**40), (DMSG_REQ, DMSG_REQ_FORWARD), (0, 4), (0, 1)
        ):
            self.assertEqual(
                dnode.request_frame(msg_id, msg_type, flags, same_dc, payload),
                encode_frame(msg_id, msg_type, flags, same_dc, payload),
            )
            self.assertEqual(
                dnode.response_frame(msg_id, flags, same_dc, payload),
                encode_frame(msg_id, DMSG_RES, flags, same_dc, payload),
            )


class ExamplesTests(unittest.TestCase):
    def test_reference_example(self) -> None:
        raw = b"   $2014$ 5 3 0 1 1 *1 d *22\r\n*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n"
        (frame,) = DnodeParser().feed(raw)
        self.assertEqual(
            frame, Frame(5, DMSG_REQ, 0, 1, 1, b"*2\r\n$3\r\nget\r\n$3\r\nfoo\r\n", DATA_PLAIN)
        )
        self.assertEqual(encode_frame(5, DMSG_REQ, 0, 1, frame.payload), raw)

    def test_gossip_header(self) -> None:
        body = b"dc1$rack1$0,1445912180,4,192.168.2.178:8101:rack1:dc1:0"
        body += b"|" * (76 - len(body))
        raw = encode_frame(0, GOSSIP_SYN, 0, 1, body, data=DATA_GOSSIP)
        self.assertTrue(raw.startswith(b"   $2014$ 0 7 0 1 1 *1 a *76\r\n"))
        (frame,) = DnodeParser().feed(raw)
        self.assertEqual((frame.msg_type, frame.data, frame.payload), (GOSSIP_SYN, b"a", body))

    def test_resp3_flag(self) -> None:
        self.assertEqual(FLAG_RESP3, 4)
        raw = encode_frame(9, DMSG_REQ, FLAG_RESP3, 1, b"*1\r\n$4\r\nPING\r\n")
        self.assertTrue(raw.startswith(b"   $2014$ 9 3 4 1 1 *1 d *14\r\n"))
        (frame,) = DnodeParser().feed(raw)
        self.assertEqual(frame.flags & FLAG_RESP3, FLAG_RESP3)
        self.assertEqual(frame.flags & FLAG_ENCRYPTED, 0)

    def test_binary_data_field(self) -> None:
        """The data field (an RSA block on secured links) is taken by length,
        even when it holds the magic or CRLF."""
        data = b"\x00$2014$ 1 3 0 1 1 *1 d *5\r\n+OK\r\n" + bytes(range(256))[:100]
        raw = encode_frame(7, DMSG_REQ, FLAG_ENCRYPTED, 0, b"ciphertext", data=data)
        for chunks in ([raw], [raw[i : i + 1] for i in range(len(raw))]):
            (frame,) = parse_all(chunks)
            self.assertEqual(frame.data, data)
            self.assertEqual(frame.payload, b"ciphertext")

    def test_empty_data_and_payload(self) -> None:
        raw = encode_frame(1, DMSG_RES, 0, 1, b"", data=b"")
        self.assertEqual(raw, b"   $2014$ 1 5 0 1 1 *0  *0\r\n")
        self.assertEqual(parse_all([raw]), [Frame(1, DMSG_RES, 0, 1, 1, b"", b"")])

    def test_large_ids(self) -> None:
        raw = encode_frame(2**64 - 1, DMSG_RES, 0, 0, b"+OK\r\n")
        (frame,) = DnodeParser().feed(raw)
        self.assertEqual(frame.msg_id, 2**64 - 1)

    def test_magic_without_leading_spaces(self) -> None:
        """Dynomite looks for "$2014$"; the three spaces are not required."""
        frames = parse_all([b"$2014$ 4 5 0 1 1 *1 d *5\r\n+OK\r\n"])
        self.assertEqual(frames, [Frame(4, DMSG_RES, 0, 1, 1, b"+OK\r\n")])

    def test_encode_header_checks(self) -> None:
        self.assertRaises(ValueError, encode_header, 1, 3, 10, 1, 5)  # flags: one digit
        self.assertRaises(ValueError, encode_header, 1, 3, -1, 1, 5)
        self.assertRaises(ValueError, encode_header, 1, 3, 0, 10, 5)
        self.assertRaises(ValueError, encode_header, -1, 3, 0, 1, 5)
        self.assertRaises(ValueError, encode_header, 1, 3, 0, 1, -5)

    def test_constants(self) -> None:
        self.assertEqual((DMSG_REQ, DMSG_REQ_FORWARD, DMSG_RES, GOSSIP_SYN), (3, 4, 5, 7))
        self.assertEqual(dnode.GOSSIP_SHUTDOWN, 13)
        self.assertEqual(dnode.VERSION, 1)
        self.assertEqual(MAGIC, b"   $2014$ ")



OK_FRAME = encode_frame(42, DMSG_RES, 0, 1, b"+OK\r\n")
OK = Frame(42, DMSG_RES, 0, 1, 1, b"+OK\r\n")


class ResyncTests(unittest.TestCase):
    """Junk and malformed headers are skipped, as Dynomite skips them."""

    def check(self, junk: bytes, skipped: int | None = None) -> None:
        for chunks in (
            [junk + OK_FRAME],
            [junk, OK_FRAME],
            [bytes([b]) for b in junk + OK_FRAME],
        ):
            parser = DnodeParser()
            frames: list[Frame] = []
            for chunk in chunks:
                frames.extend(parser.feed(chunk))
            self.assertEqual(frames, [OK], junk)
            self.assertEqual(parser.skipped, len(junk) if skipped is None else skipped)

    def test_junk_before(self) -> None:
        self.check(b"hello world\r\n")
        self.check(b"\x00" * 1000)
        self.check(b"$$$$2014")
        self.check(b"$201")

    def test_malformed_headers(self) -> None:
        self.check(b"   $2014$x")
        self.check(b"   $2014$ 1 3 10 1 1 *1 d *5\r\n+OK\r\n")  # two-digit flags
        self.check(b"   $2014$ 1 3 0 1 12 *1 d *5\r\n")  # two-digit same_dc
        self.check(b"   $2014$ 1 3 0 1 1 *1 d *5\n")  # no CR
        self.check(b"   $2014$ 1 3 0 1 1 *1 d *5\r")
        self.check(b"   $2014$ 1 3 0 1 1 *1 dd*5\r\n")  # data longer than announced
        self.check(b"   $2014$ 1 3 0 1 1 1 d *5\r\n")  # no star
        self.check(b"   $2014$  3 0 1 1 *1 d *5\r\n")  # missing id
        self.check(b"   $2014$ " + b"1" * 21 + b" 3 0 1 1 *1 d *5\r\n")  # id too long
        self.check(b"   $2014$ 1 3 0 1 1 *1 d *" + b"9" * 21 + b"\r\n")

    def test_header_interrupted_by_next_frame(self) -> None:
        # the byte that breaks the header (a space of the next frame) is dropped
        self.check(b"   $2014$ 1 3 0 1", 17 + 1)
        self.check(b"   $2014$ 1 3 0 1 1 *1 d", 24 + 1)
        self.check(b"   $2014$ 1 3 0 1 1 *1 d *")

    def test_magic_overlap(self) -> None:
        """After "$2014$" comes a space; "$2014$2014$ ..." is no frame (Dynomite
        does not re-read the shared "$")."""
        parser = DnodeParser()
        self.assertEqual(parser.feed(b"$2014$2014$ 4 5 0 1 1 *1 d *5\r\n+OK\r\n"), [])
        self.assertEqual(parser.feed(OK_FRAME), [OK])

    def test_garbage_is_not_kept(self) -> None:
        parser = DnodeParser()
        for _ in range(200):
            self.assertEqual(parser.feed(b"x" * 997 + b"$201"), [])
            self.assertLessEqual(parser.buffered, 8)
        # the kept "$201" completes a magic
        self.assertEqual(
            parser.feed(b"4$ 1 5 0 1 1 *1 d *5\r\n+OK\r\n"),
            [Frame(1, DMSG_RES, 0, 1, 1, b"+OK\r\n")],
        )
        self.assertEqual(parser.feed(OK_FRAME), [OK])


class LimitTests(unittest.TestCase):
    def test_payload_limit(self) -> None:
        parser = DnodeParser(max_payload_len=5)
        self.assertEqual(parser.feed(OK_FRAME), [OK])  # exactly the limit
        big = encode_frame(43, DMSG_RES, 0, 1, b"+OKOK\r\n")
        e = self.assertRaises(DnodeError, parser.feed, OK_FRAME + big)
        self.assertEqual(e.frames, [OK])
        self.assertIn("payload length 7", str(e))
        # the parser stays broken
        self.assertRaises(DnodeError, parser.feed, OK_FRAME)

    def test_payload_limit_while_streaming(self) -> None:
        parser = DnodeParser(max_payload_len=1000)
        header = encode_header(1, DMSG_REQ, 0, 1, 10**12)
        self.assertEqual(parser.feed(header[:-3]), [])
        self.assertRaises(DnodeError, parser.feed, header[-3:])

    def test_data_limit_zero(self) -> None:
        parser = DnodeParser(max_data_len=0)
        self.assertEqual(
            parser.feed(encode_frame(1, DMSG_RES, 0, 1, b"+OK\r\n", data=b"")),
            [Frame(1, DMSG_RES, 0, 1, 1, b"+OK\r\n", b"")],
        )
        self.assertRaises(DnodeError, parser.feed, OK_FRAME)

    def test_data_limit(self) -> None:
        parser = DnodeParser(max_data_len=128)
        raw = encode_frame(1, DMSG_REQ, FLAG_ENCRYPTED, 1, b"x", data=b"k" * 128)
        self.assertEqual(len(parser.feed(raw)), 1)
        raw = encode_frame(1, DMSG_REQ, FLAG_ENCRYPTED, 1, b"x", data=b"k" * 129)
        self.assertRaises(DnodeError, parser.feed, raw[:40])


_TOKENS = [
    b"$",
    b"$2014$",
    b"$2014$ ",
    MAGIC,
    b" ",
    b"*",
    b"*1 d ",
    b"\r\n",
    b"\r",
    b"0",
    b"1",
    b"5",
    b"9999",
    b"d",
    b"x",
    b"+OK\r\n",
]
_JUNK_TOKENS = [t for t in _TOKENS if b"$2014$" not in t]


class PropertyTests(unittest.TestCase):
    @given(st.binary(max_size=2000), st.lists(st.integers(0, 2000), max_size=20))
    @settings(max_examples=300, deadline=None)
    def test_random_bytes_raise_only_dnode_error(self, junk: bytes, cuts: list[int]) -> None:
        self._chunked_only_dnode_error(junk, cuts)

    @given(
        st.lists(st.sampled_from(_TOKENS), max_size=80).map(b"".join),
        st.lists(st.integers(0, 400), max_size=20),
    )
    @settings(max_examples=400, deadline=None)
    def test_header_like_garbage_raises_only_dnode_error(
        self, junk: bytes, cuts: list[int]
    ) -> None:
        self._chunked_only_dnode_error(junk, cuts)

    def _chunked_only_dnode_error(self, stream: bytes, cuts: list[int]) -> None:
        """Parsing never raises anything but DnodeError, and the outcome does
        not depend on how the input is chunked."""

        def outcome(chunks: list[bytes]) -> tuple[list[Frame], bool, int]:
            parser = DnodeParser(max_payload_len=50, max_data_len=20)
            frames: list[Frame] = []
            try:
                for chunk in chunks:
                    frames.extend(parser.feed(chunk))
            except DnodeError as e:
                return frames + e.frames, True, parser.skipped
            return frames, False, parser.skipped

        bounds = [0, *sorted(c for c in cuts if c <= len(stream)), len(stream)]
        chunked = [stream[a:b] for a, b in zip(bounds, bounds[1:])]
        whole = outcome([stream])
        self.assertEqual(outcome(chunked), whole)
        if len(stream) < 300:
            self.assertEqual(outcome([bytes([b]) for b in stream]), whole)

    @given(st.binary(max_size=500), st.integers(0, len(CAPTURED) - 1), st.data())
    @settings(max_examples=300, deadline=None)
    def test_junk_before_a_frame_is_skipped(
        self, junk: bytes, index: int, data: st.DataObject
    ) -> None:
        frame = CAPTURED[index]
        stream = junk + frame.raw
        # the frame's magic must be the first one in the stream
        assume(stream.find(b"$2014$") == len(junk) + 3)
        cut = data.draw(st.integers(0, len(stream)))
        parser = DnodeParser()
        frames = parser.feed(stream[:cut]) + parser.feed(stream[cut:])
        self.assertEqual(frames, [frame.expected])
        self.assertEqual(parser.skipped, len(junk))

    @given(
        st.lists(st.sampled_from(_JUNK_TOKENS), max_size=30).map(b"".join),
        st.integers(0, len(CAPTURED) - 1),
    )
    @settings(max_examples=300, deadline=None)
    def test_header_like_junk_then_frame(self, junk: bytes, index: int) -> None:
        """Junk that starts a header and breaks off: the next frame survives
        when the junk cannot swallow it (no complete header, no magic)."""
        frame = CAPTURED[index]
        assume(b"$2014$" not in junk)
        self.assertEqual(parse_all([junk + frame.raw]), [frame.expected])

    @given(
        st.lists(
            st.tuples(
                st.integers(0, 2**64 - 1),
                st.integers(0, 13),
                st.integers(0, 9),
                st.integers(0, 1),
                st.binary(max_size=60),
                st.integers(0, 20),
                st.binary(max_size=8),
            ),
            min_size=1,
            max_size=10,
        ),
        st.lists(st.integers(0, 800), max_size=15),
    )
    @settings(max_examples=200, deadline=None)
    def test_round_trip(self, specs: list[tuple], cuts: list[int]) -> None:
        expected = []
        raw = b""
        for msg_id, msg_type, flags, same_dc, payload, version, data in specs:
            raw += encode_frame(msg_id, msg_type, flags, same_dc, payload, version, data)
            expected.append(Frame(msg_id, msg_type, flags, version, same_dc, payload, data))
        bounds = [0, *sorted(c for c in cuts if c <= len(raw)), len(raw)]
        self.assertEqual(parse_all([raw[a:b] for a, b in zip(bounds, bounds[1:])]), expected)

"""The RESP codec against a real redis-server: the arguments Redis sees for each request
vector (read back from MONITOR), the exact error replies it sends to bad requests, the
replies it sends as the framer splits them, and its limits before AUTH.

Each class shares one redis-server (``--proto-max-bulk-len`` at the parsers' test
limit, DEBUG enabled); raw blocking sockets, since the bytes are the point.
"""

from __future__ import annotations

import contextlib
from typing import List, Optional, Tuple

from hypothesis import given, settings
from hypothesis import strategies as st

from dynotwist.proto.resp import (
    INVALID_MULTIBULK,
    UNAUTHENTICATED_BULK,
    UNAUTHENTICATED_MULTIBULK,
    ProtocolError,
    ReplyFramer,
    RequestParser,
    encode_command,
    error_reply,
    is_error_reply,
)
from dynotwist.testing.processes import RedisServer
from tests.support.chunks import chunked, pieces, split_offsets
from tests.support.fixtures import Processes, ProcessTestCase
from tests.support.raw import connect, read_until
from tests.support.resp import ServingClient, bulk, feed_replies, reference_split
from tests.support.vectors import (
    AUTH,
    BAD_REQUESTS,
    BIG_SET,
    GENERATED_VECTORS,
    MANY_ARGS,
    MAX_BULK,
    NEGATIVE_MULTIBULKS,
    REQUEST_VECTORS,
    KiB,
)

HYPOTHESIS = settings(max_examples=150)


def exchange(port: int, data: bytes, until: Optional[bytes] = None) -> bytes:
    """Send ``data`` on a new connection; read to ``until`` or to the close."""
    with connect(port) as conn:
        # closed on us after a protocol error? its reply is still to read
        with contextlib.suppress(OSError):
            conn.sendall(data)
        return read_until(conn, until)


def monitor_args(line: bytes) -> List[bytes]:
    """The arguments in a MONITOR line (``+<time> [<db> <peer>] "arg" "arg"...``)."""
    text = line[line.index(b"] ") + 2 :]
    escapes = {ord("n"): 10, ord("r"): 13, ord("t"): 9, ord("a"): 7, ord("b"): 8}
    args, i = [], 0
    while i < len(text):
        assert text[i] == 0x22, text[i:]
        i += 1
        current = bytearray()
        while text[i] != 0x22:
            if text[i] == 0x5C:  # backslash
                escaped = text[i + 1]
                if escaped == ord("x"):
                    current.append(int(text[i + 2 : i + 4], 16))
                    i += 4
                    continue
                current.append(escapes.get(escaped, escaped))
                i += 2
                continue
            current.append(text[i])
            i += 1
        args.append(bytes(current))
        i += 2  # the closing quote and the space after it
    return args


class RedisTestCase(ProcessTestCase):
    """Tests sharing one redis-server, started with the parsers' limits."""

    redis: RedisServer
    password: Optional[str] = None

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.redis = processes.start(RedisServer(
            processes.workdir, password=cls.password,
            extra_args=["--enable-debug-command", "yes", "--proto-max-bulk-len", str(MAX_BULK)],
        ))


class RequestTests(RedisTestCase):
    def test_vectors_match_redis(self) -> None:
        """Redis sees the same arguments (MONITOR shows every command it runs)."""
        with connect(self.redis.port) as monitor, connect(self.redis.port) as client:
            monitor.sendall(b"MONITOR\r\n")
            read_until(monitor, b"+OK\r\n")
            end = encode_command([b"ECHO", b"-end-"])
            for name, data, expected in REQUEST_VECTORS + GENERATED_VECTORS:
                client.sendall(data + end)
                read_until(client, bulk(b"-end-"))
                lines = []
                stream = b""
                while not lines or b'"ECHO" "-end-"' not in lines[-1]:
                    data = monitor.recv(256 * KiB)
                    self.assertTrue(data, "MONITOR connection closed")
                    stream += data
                    *complete, stream = stream.split(b"\r\n")
                    lines.extend(complete)
                seen = [monitor_args(line) for line in lines[:-1]]
                self.assertEqual(seen, [args for _, args in expected], name)

    def test_errors_match_redis(self) -> None:
        """Redis answers the same bytes with the same text, after as many replies."""
        for name, data, good, text in BAD_REQUESTS:
            replies = reference_split(exchange(self.redis.port, data))
            self.assertEqual(len(replies), len(good) + 1, name)
            self.assertEqual(replies[-1], error_reply("ERR " + text), name)

    def test_redis_ignores_negative_multibulk_lengths(self) -> None:
        self.assertEqual(exchange(self.redis.port, NEGATIVE_MULTIBULKS, b"+PONG\r\n"),
                         b"+PONG\r\n")


# Commands sent to a real Redis, with how many replies each gets.
_BIG = 200 * KiB
REAL_COMMANDS: List[Tuple[List[bytes], int]] = [
    ([b"FLUSHALL"], 1),
    ([b"PING"], 1),
    ([b"ECHO", b"a\r\nb\r\n"], 1),
    ([b"SET", b"s", b"v"], 1),
    ([b"GET", b"s"], 1),
    ([b"GET", b"missing"], 1),
    ([b"INCR", b"n"], 1),
    ([b"INCRBYFLOAT", b"f", b"1.5"], 1),
    ([b"RPUSH", b"l", b"a", b"", b"c\r\n"], 1),
    ([b"LRANGE", b"l", b"0", b"-1"], 1),
    ([b"LRANGE", b"empty", b"0", b"-1"], 1),
    ([b"LPOS", b"l", b"zz"], 1),
    ([b"BLPOP", b"empty", b"0.01"], 1),
    ([b"HSET", b"h", b"f1", b"v1", b"f2", b"v2"], 1),
    ([b"HGETALL", b"h"], 1),
    ([b"HGETALL", b"missing"], 1),
    ([b"SADD", b"set", b"x", b"y"], 1),
    ([b"SMEMBERS", b"set"], 1),
    ([b"ZADD", b"z", b"1", b"a", b"2.5", b"b"], 1),
    ([b"ZRANGE", b"z", b"0", b"-1", b"WITHSCORES"], 1),
    ([b"ZSCORE", b"z", b"b"], 1),
    ([b"ZSCORE", b"z", b"nope"], 1),
    ([b"MGET", b"s", b"missing", b"n"], 1),
    ([b"EXISTS", b"s", b"n"], 1),
    ([b"NOSUCHCOMMAND", b"x"], 1),
    ([b"INCR", b"l"], 1),
    ([b"SETRANGE", b"big", b"%d" % (_BIG - 1), b"x"], 1),
    ([b"GET", b"big"], 1),
    ([b"XADD", b"st", b"1-1", b"f", b"v", b"g", b"w"], 1),
    ([b"XRANGE", b"st", b"-", b"+"], 1),
    ([b"MULTI"], 1),
    ([b"SET", b"m", b"1"], 1),
    ([b"INCR", b"m"], 1),
    ([b"HGETALL", b"h"], 1),
    ([b"EXEC"], 1),
    ([b"EXEC"], 1),
    ([b"CONFIG", b"GET", b"maxmemory"], 1),
    ([b"COMMAND", b"INFO", b"get", b"nosuchcommand"], 1),
    ([b"INFO", b"server"], 1),
    ([b"CLIENT", b"INFO"], 1),
    ([b"OBJECT", b"ENCODING", b"s"], 1),
    ([b"DEBUG", b"PROTOCOL", b"attrib"], 1),
]
# RESP3 types that only Redis's DEBUG PROTOCOL sends (a push, then the real reply)
DEBUG_TYPES = [b"string", b"integer", b"double", b"bignum", b"null", b"array", b"set",
               b"map", b"attrib", b"verbatim", b"true", b"false"]
RESP3_COMMANDS: List[Tuple[List[bytes], int]] = (
    [([b"HELLO", b"3"], 1)]
    + REAL_COMMANDS
    + [([b"DEBUG", b"PROTOCOL", t], 1) for t in DEBUG_TYPES]
    + [([b"DEBUG", b"PROTOCOL", b"push"], 2)]
    + [([b"SUBSCRIBE", b"ch"], 1), ([b"PING"], 1), ([b"UNSUBSCRIBE", b"ch"], 1)]
)
END = [b"ECHO", b"-end-of-pipeline-"]


class RealReplyTests(RedisTestCase):
    """The reply framer splits what Redis sends, in any pieces, as the oracle does."""

    def capture(self, commands: List[Tuple[List[bytes], int]]) -> Tuple[bytes, List[bytes]]:
        """The raw bytes Redis answers ``commands`` with, and the oracle's split."""
        pipeline = b"".join(encode_command(args) for args, _ in [*commands, (END, 1)])
        stream = exchange(self.redis.port, pipeline, bulk(END[1]))
        replies = reference_split(stream)
        self.assertEqual(len(replies), sum(n for _, n in commands) + 1)
        self.assertEqual(replies[-1], bulk(END[1]))
        return stream, replies

    def check_real(self, stream: bytes, replies: List[bytes]) -> None:
        def check(chunks: List[bytes]) -> None:
            framer = ReplyFramer()
            self.assertEqual(feed_replies(framer, chunks), replies)

        check([stream])
        for offset in split_offsets(len(stream), 8192):
            check(pieces(stream, [offset]))
        for size in (1, 2, 3, 5, 64, 1000, 4 * KiB, 16 * KiB, 64 * KiB):
            check(chunked(stream, size))

        @HYPOTHESIS
        @given(st.lists(st.integers(0, len(stream)), max_size=40))
        def random_chunks(cuts: List[int]) -> None:
            check(pieces(stream, cuts))

        random_chunks()

    def test_resp2(self) -> None:
        stream, replies = self.capture(REAL_COMMANDS)
        by_command: dict = {}  # the first reply to each command
        for args, reply in zip((args for args, _ in REAL_COMMANDS), replies):
            by_command.setdefault(b" ".join(args), reply)
        self.assertEqual(by_command[b"GET missing"], b"$-1\r\n")
        self.assertEqual(by_command[b"HGETALL h"][:4], b"*4\r\n")
        self.assertTrue(by_command[b"GET big"].startswith(b"$%d\r\n" % _BIG))
        self.assertEqual(by_command[b"INFO server"][:1], b"$")
        self.assertTrue(is_error_reply(by_command[b"NOSUCHCOMMAND x"]))
        self.check_real(stream, replies)

    def test_resp3(self) -> None:
        stream, replies = self.capture(RESP3_COMMANDS)
        kinds = {}
        expanded = [args for args, n in RESP3_COMMANDS for _ in range(n)]
        for args, reply in zip(expanded, replies):
            kinds.setdefault(b" ".join(args), reply[:1])
        self.assertEqual(kinds[b"HELLO 3"], b"%")
        self.assertEqual(kinds[b"GET missing"], b"_")
        self.assertEqual(kinds[b"HGETALL h"], b"%")
        self.assertEqual(kinds[b"SMEMBERS set"], b"~")
        self.assertEqual(kinds[b"ZSCORE z b"], b",")
        self.assertEqual(kinds[b"INFO server"], b"=")
        self.assertEqual(kinds[b"DEBUG PROTOCOL attrib"], b"|")
        self.assertEqual(kinds[b"DEBUG PROTOCOL bignum"], b"(")
        self.assertEqual(kinds[b"DEBUG PROTOCOL true"], b"#")
        self.assertEqual(kinds[b"DEBUG PROTOCOL push"], b">")
        self.assertEqual(kinds[b"SUBSCRIBE ch"], b">")
        self.check_real(stream, replies)


class PasswordTests(RedisTestCase):
    """A redis-server with a password answers as the parser decides."""

    password = "secret"

    def test_limits_and_texts(self) -> None:
        for data, text in [
            (MANY_ARGS, UNAUTHENTICATED_MULTIBULK),
            (b"*11\r\n", UNAUTHENTICATED_MULTIBULK),
            (BIG_SET, UNAUTHENTICATED_BULK),
            (b"*1\r\n$16385\r\n", UNAUTHENTICATED_BULK),
            (b"*2147483648\r\n", INVALID_MULTIBULK),
        ]:
            replies = reference_split(exchange(self.redis.port, data))
            self.assertEqual(replies, [error_reply("ERR " + text)], data[:20])
            parser = RequestParser()
            parser.unauthenticated = True
            error = self.assertRaises(ProtocolError, parser.feed, data)
            self.assertEqual(str(error), text)

    def test_auth_pipelined_with_a_big_request(self) -> None:
        data = AUTH + BIG_SET + encode_command([b"STRLEN", b"k"])
        self.assertEqual(exchange(self.redis.port, data, b":20000\r\n"),
                         b"+OK\r\n+OK\r\n:20000\r\n")
        client = ServingClient(RequestParser())
        client.receive(data)
        self.assertEqual([args[0] for args, _ in client.served], [b"AUTH", b"SET", b"STRLEN"])

    def test_inline_requests_are_not_limited(self) -> None:
        """Redis limits inline lines to 64 KiB only: a long or many-word inline command
        gets NOAUTH, not a protocol error."""
        with connect(self.redis.port) as conn:
            conn.sendall(b"ECHO " + b"x" * 20000 + b"\r\n" + b" ".join([b"DEL"] * 20) + b"\r\n")
            replies = read_until(conn, b"\r\n-NOAUTH Authentication required.\r\n")
        self.assertEqual(replies.count(b"-NOAUTH"), 2)

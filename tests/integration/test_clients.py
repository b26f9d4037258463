"""Real clients through a dynotwist node: redis-cli, redis-py (RESP3 and RESP2) and raw
sockets for what clients never send (inline commands, frames split byte by byte,
malformed frames, oversized bulks) and for what the node refuses on purpose."""

from __future__ import annotations

import subprocess
from typing import List, Optional

import redis

from dynotwist.testing.blocking import RespClient, encode
from dynotwist.testing.processes import find_program
from tests.support.fixtures import NodeTestCase
from tests.support.resp import RespError, parse_all

CLI_TIMEOUT = 30  # a hung redis-cli fails the test instead of hanging it

# Commands dynotwist refuses on purpose, with arguments that Redis itself would accept.
UNSUPPORTED = [
    ["WATCH", "refused:moved"],
    ["SUBSCRIBE", "news"],
    ["PSUBSCRIBE", "n*"],
    ["BLPOP", "refused:list", "0"],
    ["BRPOP", "refused:list", "0"],
    ["FLUSHALL"],
    ["FLUSHDB"],
    ["MOVE", "refused:moved", "1"],
    ["SHUTDOWN"],
]

# Malformed input: the node answers -ERR Protocol error: ... and closes, as Redis does.
MALFORMED = [
    b"*1\r\n$x\r\n",  # bulk length not a number
    b"*x\r\n",  # multibulk count not a number
    b"*1\r\n+PING\r\n",  # '$' expected
    b"*2\r\n$3\r\nGET\r\n$-5\r\n",  # negative bulk length
    b'SET k "unbalanced\r\n',  # inline command with unbalanced quotes
]


class ClientsTest(NodeTestCase):
    """One node in front of one redis-server, used by every client."""

    required_programs = ("redis-server", "redis-cli")

    def assert_usable(self, client: RespClient, key: str = "usable") -> None:
        """The connection still serves both node-answered and forwarded commands."""
        self.assertEqual(client.call("PING"), b"+PONG\r\n")
        self.assertEqual(client.call("SET", key, "still here"), b"+OK\r\n")
        self.assertEqual(client.call("GET", key), b"$10\r\nstill here\r\n")

    # -- redis-cli ----------------------------------------------------------------------
    def cli(self, *args: str, stdin: Optional[bytes] = None) -> str:
        argv = [find_program("redis-cli"), "-h", "127.0.0.1", "-p", str(self.node.client_port),
                *args]
        result = subprocess.run(argv, input=stdin, capture_output=True, timeout=CLI_TIMEOUT)
        self.assertEqual(result.returncode, 0, "%s: %r" % (argv, result.stderr))
        self.assertEqual(result.stderr, b"", argv)
        return result.stdout.decode()

    def test_redis_cli_ping(self) -> None:
        self.assertEqual(self.cli("ping"), "PONG\n")

    def test_redis_cli_set_get(self) -> None:
        self.assertEqual(self.cli("set", "cli:greeting", "hello world"), "OK\n")
        self.assertEqual(self.cli("get", "cli:greeting"), "hello world\n")
        self.assertEqual(self.cli("--no-raw", "get", "cli:missing"), "(nil)\n")

    def test_redis_cli_resp3(self) -> None:
        self.assertEqual(self.cli("-3", "hset", "cli:h3", "f", "v"), "1\n")
        self.assertEqual(self.cli("-3", "--no-raw", "hgetall", "cli:h3"), '1# "f" => "v"\n')
        self.assertEqual(self.cli("-3", "--no-raw", "hgetall", "cli:nothing"), "(empty hash)\n")
        self.assertEqual(self.cli("-3", "--no-raw", "get", "cli:nothing"), "(nil)\n")

    def test_redis_cli_refused_command(self) -> None:
        out = self.cli("watch", "cli:k")
        self.assertTrue(out.startswith("ERR "), out)
        self.assertIn("watch", out.lower())

    def test_redis_cli_session_from_stdin(self) -> None:
        script = b"".join(line + b"\n" for line in [
            b"set cli:counter 41",
            b"incr cli:counter",
            b"get cli:counter",
            b"rpush cli:list a b c",
            b"lrange cli:list 0 -1",
            b"watch cli:counter",
            b"get",
            b"ping",
            b"echo 'two words'",
        ])
        out = self.cli(stdin=script).split("\n")
        self.assertEqual(out[:8], ["OK", "42", "42", "3", "a", "b", "c", out[7]])
        self.assertTrue(out[7].startswith("ERR WATCH is not supported"), out[7])
        self.assertEqual(out[8:], ["", "ERR wrong number of arguments for 'get' command", "",
                                   "PONG", "two words", ""])

    # -- redis-py -----------------------------------------------------------------------
    def redis_py(self, **options: object) -> redis.Redis:
        client = redis.Redis(host="127.0.0.1", port=self.node.client_port,  # type: ignore[arg-type]
                             single_connection_client=True, socket_timeout=15, **options)
        self.addCleanup(client.close)
        return client

    def check_redis_py(self, client: redis.Redis, prefix: str, protocol: int) -> None:
        hello = client.execute_command("HELLO")
        if isinstance(hello, list):  # RESP2: a flat list of pairs
            hello = dict(zip(hello[0::2], hello[1::2]))
        self.assertEqual(hello[b"proto"], protocol)
        self.assertTrue(client.set(prefix + "s", "value"))
        self.assertEqual(client.get(prefix + "s"), b"value")
        self.assertIsNone(client.get(prefix + "missing"))
        self.assertEqual(client.hset(prefix + "h", mapping={"a": "1", "b": "2"}), 2)
        self.assertEqual(client.hgetall(prefix + "h"), {b"a": b"1", b"b": b"2"})
        self.assertEqual(client.hgetall(prefix + "nothing"), {})
        self.assertEqual(client.zadd(prefix + "z", {"m": 1.5}), 1)
        self.assertEqual(client.zrange(prefix + "z", 0, -1, withscores=True), [(b"m", 1.5)])
        self.assertEqual(client.smembers(prefix + "nothing"), set())

        pipe = client.pipeline(transaction=False)
        pipe.set(prefix + "n", 1)
        pipe.incr(prefix + "n")
        pipe.get(prefix + "n")
        pipe.hset(prefix + "h2", "f", "v")
        pipe.hgetall(prefix + "h2")
        pipe.lpush(prefix + "l", "x", "y")
        pipe.lrange(prefix + "l", 0, -1)
        pipe.get(prefix + "missing")
        self.assertEqual(pipe.execute(), [True, 2, b"2", 1, {b"f": b"v"}, 2, [b"y", b"x"], None])

        # the default pipeline is a transaction: one node owns every key here
        pipe = client.pipeline()
        pipe.set(prefix + "t", 1)
        pipe.incr(prefix + "t")
        pipe.get(prefix + "t")
        self.assertEqual(pipe.execute(), [True, 2, b"2"])

        with self.assertRaises(redis.ResponseError) as caught:
            client.execute_command("WATCH", prefix + "t")
        self.assertIn("watch", str(caught.exception).lower())
        self.assertTrue(client.ping())
        self.assertEqual(client.get(prefix + "s"), b"value")

        with self.assertRaises(redis.ResponseError):
            client.execute_command("GET")
        self.assertEqual(client.echo("after errors"), b"after errors")

        self.assertTrue(client.client_setname("py-%d" % protocol))
        self.assertEqual(client.client_getname(), "py-%d" % protocol)

    def test_redis_py_default_protocol(self) -> None:
        # redis-py 8 speaks RESP3 by default (HELLO 3, CLIENT SETINFO, ...); 7 (the last
        # for Python 3.9, on PyPy) RESP2
        client = self.redis_py()
        default = int(getattr(client.connection, "protocol", None) or 2)
        self.check_redis_py(client, "pydefault%d:" % default, default)

    def test_redis_py_resp2(self) -> None:
        self.check_redis_py(self.redis_py(protocol=2), "py2:", 2)

    def test_redis_py_decoded(self) -> None:
        client = self.redis_py(decode_responses=True)
        client.hset("pyd:h", mapping={"k": "v", "n": "1"})
        self.assertEqual(client.hgetall("pyd:h"), {"k": "v", "n": "1"})
        self.assertEqual(client.mget("pyd:h:none", "pyd:h:none2"), [None, None])

    # -- node-answered commands ---------------------------------------------------------
    def test_command_count(self) -> None:
        reply = parse_all(self.connect().call("COMMAND", "COUNT"))
        self.assertIsInstance(reply, int)
        self.assertGreater(reply, 100)

    def test_command_info_get(self) -> None:
        for resp3 in (False, True):
            client = self.connect()
            if resp3:
                self.assertEqual(client.call("HELLO", "3")[:1], b"%")
            info = parse_all(client.call("COMMAND", "INFO", "get"))
            self.assertEqual(len(info), 1, info)
            name, arity, flags, first, last, step = info[0][:6]
            self.assertEqual((name, arity, first, last, step), (b"get", 2, 1, 1, 1))
            self.assertIn("readonly", flags)
            # an unknown name gives a null entry, as Redis does
            self.assertEqual(parse_all(client.call("COMMAND", "INFO", "nosuchcommand")), [None])

    def test_client_setname_getname(self) -> None:
        client = self.connect()
        self.assertEqual(client.call("CLIENT", "GETNAME"), b"$-1\r\n")
        self.assertEqual(client.call("CLIENT", "SETNAME", "worker-1"), b"+OK\r\n")
        self.assertEqual(client.call("CLIENT", "GETNAME"), b"$8\r\nworker-1\r\n")
        self.assertEqual(self.connect().call("CLIENT", "GETNAME"), b"$-1\r\n")  # per connection

    def test_select(self) -> None:
        client = self.connect()
        self.assertEqual(client.call("SELECT", "0"), b"+OK\r\n")
        reply = client.call("SELECT", "1")
        self.assertTrue(reply.startswith(b"-ERR "), reply)
        self.assert_usable(client)

    def test_ping_and_echo(self) -> None:
        client = self.connect()
        self.assertEqual(client.call("PING"), b"+PONG\r\n")
        self.assertEqual(client.call("PING", "hello"), b"$5\r\nhello\r\n")
        self.assertEqual(client.call("ECHO", "a b\r\nc"), b"$6\r\na b\r\nc\r\n")
        self.assertEqual(client.call("ECHO", ""), b"$0\r\n\r\n")

    def test_quit(self) -> None:
        client = self.connect()
        self.assertEqual(client.call("SET", "quit:k", "v"), b"+OK\r\n")
        client.send_command("QUIT")
        self.assertEqual(client.read_until_closed(), b"+OK\r\n")

    def test_quit_pipelined(self) -> None:
        # replies due before QUIT are sent; nothing after it is served
        client = self.connect()
        client.send(encode("SET", "quitp:k", "1") + encode("GET", "quitp:k") + encode("QUIT")
                    + encode("SET", "quitp:k", "2"))
        self.assertEqual(client.read_until_closed(), b"+OK\r\n$1\r\n1\r\n+OK\r\n")
        self.assertEqual(self.connect().call("GET", "quitp:k"), b"$1\r\n1\r\n")

    # -- what clients never send -----------------------------------------------------------
    def test_inline_commands(self) -> None:
        client = self.connect()
        self.assertEqual(client.call_raw(b"PING\r\n"), b"+PONG\r\n")
        self.assertEqual(client.call_raw(b"set inline:k 'two words'\r\n"), b"+OK\r\n")
        self.assertEqual(client.call_raw(b"get inline:k\n"), b"$9\r\ntwo words\r\n")
        self.assertEqual(client.call_raw(b"\r\n  ping\r\n"), b"+PONG\r\n")  # blank line ignored

    def test_command_split_byte_by_byte(self) -> None:
        client = self.connect()
        frame = encode("SET", "split:k", "sliced value") + encode("GET", "split:k")
        for i in range(len(frame)):
            client.send(frame[i : i + 1])
        self.assertEqual(client.read_replies(2), [b"+OK\r\n", b"$12\r\nsliced value\r\n"])
        for byte in b"PING\r\n":
            client.send(bytes([byte]))
        self.assertEqual(client.read_reply(), b"+PONG\r\n")

    def test_wrong_arity(self) -> None:
        client = self.connect()
        self.assertEqual(client.call_raw(b"*1\r\n$3\r\nGET\r\n"),
                         b"-ERR wrong number of arguments for 'get' command\r\n")
        self.assertEqual(client.call("get", "a", "b"),
                         b"-ERR wrong number of arguments for 'get' command\r\n")
        self.assertEqual(client.call("HSET", "h", "f"),
                         b"-ERR wrong number of arguments for 'hset' command\r\n")
        self.assert_usable(client)

    def test_unsupported_commands(self) -> None:
        client = self.connect()
        self.assertEqual(client.call("SET", "refused:moved", "stays"), b"+OK\r\n")
        for command in UNSUPPORTED:
            reply = client.call(*command)
            self.assertTrue(reply.startswith(b"-ERR ") and reply.endswith(b"\r\n"),
                            (command, reply))
            self.assertIn(command[0].lower().encode(), reply.lower(), (command, reply))
            self.assert_usable(client)
        # none of them reached the datastore
        self.assertEqual(client.call("GET", "refused:moved"), b"$5\r\nstays\r\n")
        with RespClient(self.backend.port) as direct:
            self.assertEqual(direct.call("GET", "refused:moved"), b"$5\r\nstays\r\n")

    def test_refused_commands_pipelined(self) -> None:
        # refusals take their place among forwarded replies, in request order
        client = self.connect()
        replies = client.pipeline([["SET", "order:k", "1"], ["WATCH", "order:k"],
                                   ["INCR", "order:k"],
                                   ["GET"], ["GET", "order:k"], ["PING"]])
        self.assertEqual(replies[0], b"+OK\r\n")
        self.assertTrue(replies[1].startswith(b"-ERR "), replies[1])
        self.assertEqual(replies[2:], [b":2\r\n",
                                       b"-ERR wrong number of arguments for 'get' command\r\n",
                                       b"$1\r\n2\r\n", b"+PONG\r\n"])

    def test_malformed_frames(self) -> None:
        bystander = self.connect()
        self.assertEqual(bystander.call("SET", "bystander:k", "0"), b"+OK\r\n")
        for number, garbage in enumerate(MALFORMED):
            # the bystander has requests in flight while the other connection fails
            in_flight: List[List[object]] = [["INCR", "bystander:k"] for _ in range(100)]
            bystander.send(b"".join(encode(*c) for c in in_flight))  # type: ignore[arg-type]
            client = self.connect()
            self.assertEqual(client.call("PING"), b"+PONG\r\n")
            client.send(garbage)
            reply = client.read_until_closed()
            self.assertTrue(reply.startswith(b"-ERR Protocol error: "), (garbage, reply))
            self.assertEqual(reply.count(b"\r\n"), 1, (garbage, reply))
            self.assertTrue(reply.endswith(b"\r\n"), (garbage, reply))
            self.assertEqual(bystander.read_replies(100),
                             [b":%d\r\n" % (100 * number + i + 1) for i in range(100)])
        self.assert_usable(bystander, "bystander:usable")

    def test_requests_before_malformed_bytes_are_served(self) -> None:
        client = self.connect()
        client.send(encode("SET", "before:k", "v") + encode("GET", "before:k") + b"*1\r\n$x\r\n")
        reply = client.read_until_closed()
        self.assertTrue(reply.startswith(b"+OK\r\n$1\r\nv\r\n-ERR Protocol error: "), reply)
        self.assertEqual(reply.count(b"\r\n"), 4, reply)


class BulkLimitTest(NodeTestCase):
    """``proto_max_bulk_len``: a longer bulk is refused as soon as its header is read."""

    node_fields = {"proto_max_bulk_len": 1024}

    def test_bulk_within_limit(self) -> None:
        client = self.connect()
        value = b"v" * 1024
        self.assertEqual(client.call("SET", "bulk:ok", value), b"+OK\r\n")
        self.assertEqual(client.call("GET", "bulk:ok"), b"$1024\r\n" + value + b"\r\n")

    def test_bulk_over_limit_refused_before_body(self) -> None:
        bystander = self.connect()
        self.assertEqual(bystander.call("SET", "bulk:by", "1"), b"+OK\r\n")
        client = self.connect()
        self.assertEqual(client.call("PING"), b"+PONG\r\n")
        # only the header: the node must answer without waiting for 2000 bytes
        client.send(b"*3\r\n$3\r\nSET\r\n$7\r\nbulk:no\r\n$2000\r\n")
        reply = client.read_until_closed()
        self.assertTrue(reply.startswith(b"-ERR Protocol error: "), reply)
        self.assertEqual(reply.count(b"\r\n"), 1, reply)
        self.assertEqual(bystander.call("GET", "bulk:no"), b"$-1\r\n")
        self.assertEqual(bystander.call("INCR", "bulk:by"), b":2\r\n")

    def test_reply_longer_than_limit_is_relayed(self) -> None:
        # the limit is on requests only: a reply built by Redis may be longer
        client = self.connect()
        self.assertEqual(client.call("SET", "bulk:big", "x" * 1000), b"+OK\r\n")
        self.assertEqual(client.call("APPEND", "bulk:big", "y" * 1000), b":2000\r\n")
        reply = parse_all(client.call("GET", "bulk:big"))
        self.assertEqual(reply, b"x" * 1000 + b"y" * 1000)
        self.assertNotIsInstance(reply, RespError)

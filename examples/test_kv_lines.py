"""The kv-lines kind at the protocol level: in-memory transports, a fake clock, no
process. Run: PYTHONPATH=examples .venv/bin/python -m twisted.trial test_kv_lines"""

from __future__ import annotations

from typing import Any, Tuple

from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.trial import unittest

from dynotwist.config import parse_config
from dynotwist.node import Node
from dynotwist.proto.resp import encode_command

CONFIG = """\
dyn_o_mite:
  listen: 127.0.0.1:8102
  dyn_listen: 127.0.0.1:8101
  servers:
  - 127.0.0.1:6379:1
  tokens: '0'
  data_store: kv_lines:KvLines
"""


def start() -> Tuple[Any, Any, Any]:
    """A node of this kind, a client connected to it, and the node's connection to its
    datastore (a StringTransport we read and answer)."""
    reactor = MemoryReactorClock()
    node = Node(parse_config(CONFIG), reactor)
    node.start()
    datastore = reactor.tcpClients[0][2].buildProtocol(None)
    datastore.makeConnection(StringTransport())
    client = node.kind.client_port(node).buildProtocol(None)
    client.makeConnection(StringTransport())
    return reactor, client, datastore


class KvLinesTests(unittest.TestCase):
    def setUp(self) -> None:
        self.reactor, self.client, self.datastore = start()

    def sent_to_redis(self) -> bytes:
        self.reactor.advance(0)  # the node writes once per reactor iteration
        return self.datastore.transport.value()

    def client_got(self) -> bytes:
        self.reactor.advance(0)
        return self.client.transport.value()

    def test_lines_become_redis_commands_and_replies_become_lines(self) -> None:
        self.client.dataReceived(b"SET greeting hello\nGET greeting\nPING\nGET nothing\n")
        self.assertEqual(
            self.sent_to_redis(),
            encode_command([b"SET", b"greeting", b"hello"])
            + encode_command([b"GET", b"greeting"])
            + encode_command([b"GET", b"nothing"]),
        )
        self.assertEqual(self.client_got(), b"")  # PONG waits for the replies before it
        self.datastore.dataReceived(b"+OK\r\n$5\r\nhello\r\n$-1\r\n")
        self.assertEqual(self.client_got(), b"OK\nVALUE hello\nPONG\nNONE\n")

    def test_bad_lines_get_an_error_and_reach_nothing(self) -> None:
        self.client.dataReceived(b"GET\nFLUSHALL\nSET a\n")
        self.assertEqual(self.sent_to_redis(), b"")
        self.assertEqual(
            self.client_got(),
            b"ERROR GET takes 1 argument(s)\nERROR unknown command FLUSHALL\n"
            b"ERROR SET takes 2 argument(s)\n",
        )

    def test_peers_relay_only_what_the_kind_sends(self) -> None:
        from dynotwist.datastores import Relayed

        kind, config = self.client.node.kind, self.client.node.config
        get = encode_command([b"GET", b"k"])
        self.assertEqual(kind.admit_relayed(get, config), Relayed(get, False, [b"k"]))
        refused = kind.admit_relayed(encode_command([b"INCR", b"k"]), config)
        self.assertTrue(refused.startswith(b"-ERR kv-lines peers relay"))

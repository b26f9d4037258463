"""INFO and CLIENT LIST/INFO answered for the node, in Redis's formats."""

from __future__ import annotations

import os
from typing import Dict

from twisted.trial import unittest

from dynotwist import __version__
from dynotwist.core import nodeinfo
from dynotwist.proto.resp import bulk_reply, encode_command
from tests.support.nodes import InMemoryNode
from tests.support.resp import parse_resp

REDIS_INFO = (
    b"# Server\r\nredis_version:7.0.15\r\ntcp_port:6379\r\nprocess_id:1\r\n\r\n"
    b"# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=500\r\n"
)


def cmd(*args: bytes) -> bytes:
    return encode_command(list(args))


def fields(text: bytes) -> Dict[str, str]:
    """key -> value of INFO lines (a bulk reply's body)."""
    body = text.split(b"\r\n", 1)[1]
    out = {}
    for line in body.decode().split("\r\n"):
        if line and not line.startswith("#") and ":" in line:
            key, _, value = line.partition(":")
            out[key] = value
    return out


class InfoTests(unittest.TestCase):
    def setUp(self) -> None:
        self.h = InMemoryNode()
        self.client, self.out = self.h.client()
        _, self.store = self.h.datastore()

    def test_info_describes_the_node_with_the_datastores_keyspace(self) -> None:
        self.client.dataReceived(cmd(b"INFO"))
        self.assertEqual(self.store.transport.flush().value(), cmd(b"INFO"))
        self.store.dataReceived(bulk_reply(REDIS_INFO))
        reply = self.out.flush().value()
        info = fields(reply)
        self.assertEqual(info["dynotwist_version"], __version__)
        self.assertEqual(info["redis_version"], "7.0.15")  # the datastore's
        self.assertEqual(info["process_id"], str(os.getpid()))  # the node's, not Redis's
        self.assertEqual(info["tcp_port"], str(self.h.node.config.listen.port))
        self.assertEqual(info["connected_clients"], "1")
        self.assertEqual(info["db0"], "keys=3,expires=1,avg_ttl=500")
        self.assertEqual((info["dc"], info["state"], info["keyspace_nodes"]),
                         (self.h.node.config.datacenter, "NORMAL", "1/1"))
        for title in (b"# Server", b"# Clients", b"# Stats", b"# Dynomite", b"# Keyspace"):
            self.assertIn(title + b"\r\n", reply)

    def test_a_section_alone(self) -> None:
        self.client.dataReceived(cmd(b"INFO", b"dynomite"))
        reply = self.out.flush().value()  # answered by the node, nothing asked of Redis
        self.assertEqual(self.store.transport.flush().value(), b"")
        self.assertTrue(reply.split(b"\r\n", 1)[1].startswith(b"# Dynomite\r\ndc:"), reply)
        self.assertNotIn(b"# Server", reply)
        self.client.dataReceived(cmd(b"INFO", b"nosuch"))
        self.assertTrue(self.out.flush().value().endswith(b"$0\r\n\r\n"))

    def test_resp3_gets_a_verbatim_string(self) -> None:
        self.client.dataReceived(cmd(b"HELLO", b"3"))
        self.out.flush().clear()
        self.client.dataReceived(cmd(b"INFO", b"clients"))
        self.assertTrue(self.out.flush().value().startswith(b"="))

    def test_sections_wanted(self) -> None:
        self.assertEqual(nodeinfo.wanted_sections([]), nodeinfo.SECTIONS)
        self.assertEqual(nodeinfo.wanted_sections([b"ALL"]), nodeinfo.SECTIONS)
        self.assertEqual(nodeinfo.wanted_sections([b"keyspace", b"Server"]),
                         ("server", "keyspace"))


class ClientListTests(unittest.TestCase):
    def setUp(self) -> None:
        self.h = InMemoryNode()
        self.first, self.first_out = self.h.client()
        self.second, self.second_out = self.h.client()

    def lines(self, reply: bytes):
        """The clients of the first reply (a bulk string) in ``reply``."""
        body, _ = parse_resp(reply)
        return [dict(item.split("=", 1) for item in line.split(" "))
                for line in body.decode().split("\n") if line]

    def test_every_client_of_the_node_with_redis_fields(self) -> None:
        self.first.dataReceived(cmd(b"CLIENT", b"SETNAME", b"app") + cmd(
            b"CLIENT", b"SETINFO", b"lib-name", b"redis-py"))
        self.first_out.clear()
        self.second.dataReceived(cmd(b"CLIENT", b"LIST"))
        clients = self.lines(self.second_out.flush().value())
        self.assertEqual([c["id"] for c in clients], ["1", "2"])
        first = clients[0]
        for field in ("id", "addr", "laddr", "fd", "name", "age", "idle", "db", "resp",
                      "lib-name", "lib-ver", "cmd", "flags", "multi", "user"):
            self.assertIn(field, first)
        self.assertEqual((first["name"], first["lib-name"], first["cmd"]),
                         ("app", "redis-py", "client|setinfo"))
        self.assertEqual(clients[1]["cmd"], "client|list")
        self.assertEqual((first["db"], first["resp"]), ("0", "2"))

    def test_client_info_and_filters(self) -> None:
        self.first.dataReceived(cmd(b"MULTI") + cmd(b"SET", b"a", b"1") + cmd(b"CLIENT", b"INFO"))
        self.first.dataReceived(cmd(b"DISCARD") + cmd(b"CLIENT", b"INFO"))
        self.second.dataReceived(cmd(b"CLIENT", b"LIST", b"ID", b"2") + cmd(
            b"CLIENT", b"LIST", b"TYPE", b"pubsub") + cmd(b"CLIENT", b"LIST", b"TYPE", b"x"))
        replies = self.second_out.flush().value()
        self.assertEqual([c["id"] for c in self.lines(replies)], ["2"])
        self.assertIn(b"$0\r\n\r\n", replies)  # no pubsub client
        self.assertTrue(replies.endswith(b"-ERR Unknown client type 'x'\r\n"))

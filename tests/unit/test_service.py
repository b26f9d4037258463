"""The twistd service: a node and its three listeners, from endpoint descriptions."""

from __future__ import annotations

import io
from contextlib import redirect_stderr

from twisted.application.internet import StreamServerEndpointService
from twisted.internet import endpoints
from twisted.internet.error import CannotListenError
from twisted.internet.testing import MemoryReactorClock
from twisted.trial import unittest

from dynotwist.config import Address, parse_config
from dynotwist.service import DynomiteService, endpoint_description

CONFIG = """\
dyn_o_mite:
  listen: 127.0.0.1:8102
  dyn_listen: 127.0.0.1:8101
  stats_listen: 127.0.0.1:22222
  servers:
  - 127.0.0.1:22122:1
  tokens: '0'
  backlog: 64
"""


class EndpointDescriptionTests(unittest.TestCase):
    def test_descriptions_parse_back_to_the_address(self) -> None:
        reactor = MemoryReactorClock()
        for address, expected in [
            (Address("127.0.0.1", 8102), ("127.0.0.1", 8102)),
            (Address("::1", 8101), ("::1", 8101)),
            (Address("0.0.0.0", 22222), ("0.0.0.0", 22222)),
        ]:
            description = endpoint_description(address, 77)
            endpoint = endpoints.serverFromString(reactor, description)
            self.assertEqual((endpoint._interface, endpoint._port), expected, description)
            self.assertEqual(endpoint._backlog, 77)

    def test_unix_socket(self) -> None:
        description = endpoint_description(Address("/tmp/a:b.sock", 0, "/tmp/a:b.sock"), 10)
        endpoint = endpoints.serverFromString(MemoryReactorClock(), description)
        self.assertEqual(endpoint._address, "/tmp/a:b.sock")


class ServiceTests(unittest.TestCase):
    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.service = DynomiteService(parse_config(CONFIG), self.reactor)

    def test_children_node_first_then_a_listener_per_port(self) -> None:
        listeners = [c for c in self.service if isinstance(c, StreamServerEndpointService)]
        self.assertEqual([c.name for c in listeners], ["listen", "dyn_listen", "stats_listen"])
        self.assertIsNot(next(iter(self.service)), listeners[0])

    def test_starting_listens_on_each_port_and_connects_the_pools(self) -> None:
        self.service.privilegedStartService()
        self.service.startService()
        self.addCleanup(self.service.stopService)
        bound = [(port, host, backlog) for port, _, backlog, host in self.reactor.tcpServers]
        self.assertEqual(
            bound, [(8102, "127.0.0.1", 64), (8101, "127.0.0.1", 64), (22222, "127.0.0.1", 64)]
        )
        self.assertEqual(self.reactor.tcpClients[0][:2], ("127.0.0.1", 22122))

    def test_a_port_that_cannot_be_bound_stops_startup_with_one_line(self) -> None:
        def refuse(port, factory, backlog=50, interface=""):
            raise CannotListenError(interface, port, OSError(98, "Address already in use"))

        self.reactor.listenTCP = refuse
        err = io.StringIO()
        with redirect_stderr(err), self.assertRaises(SystemExit) as stopped:
            self.service.privilegedStartService()
        self.assertEqual(stopped.exception.code, 1)
        self.assertEqual(
            err.getvalue(),
            "dynomite: cannot listen on 127.0.0.1:8102 for listen:"
            " [Errno 98] Address already in use\n",
        )

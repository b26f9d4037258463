"""A whole node on in-memory transports: its clients and datastore connections are
StringTransports the test writes to and reads from, its clock a fake one."""

from __future__ import annotations

import tempfile
from typing import Any, Dict, Tuple

from twisted.internet.testing import MemoryReactorClock

from dynotwist.config import parse_config
from dynotwist.service import Node
from tests.support.configs import config_text
from tests.support.transports import BatchedTransport


class InMemoryNode:
    """A node configured with ``fields`` (over a minimal config with ``timeout: 1000``)
    whose datastore connections the test completes and answers by hand."""

    def __init__(self, **fields: object) -> None:
        self.reactor = MemoryReactorClock()
        # hints of its own: none left by an earlier test's node for the same peers
        fields.setdefault("hints_dir", tempfile.mkdtemp(prefix="hints-", dir="."))
        self.node = Node(parse_config(config_text(**{"timeout": 1000, **fields})), self.reactor)
        self.datastores: Dict[bool, Any] = {}

    def datastore(self, resp3: bool = False) -> Tuple[Any, Any]:
        """Complete the pool's latest connection attempt on a BatchedTransport; the pool
        and the protocol."""
        pool = self.node.datastore(resp3)
        factory = self.reactor.tcpClients[-1][2]
        factory.buildProtocol(None).makeConnection(BatchedTransport(self.reactor))
        protocol = pool.ready[-1]
        self.datastores[resp3] = protocol
        return pool, protocol

    def client(self) -> Tuple[Any, BatchedTransport]:
        """A client connection of the node's datastore kind, and its transport."""
        protocol = self.node.kind.client_port(self.node).buildProtocol(None)
        transport = BatchedTransport(self.reactor)
        protocol.makeConnection(transport)
        return protocol, transport

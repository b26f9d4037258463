"""The node's counters and gauges move with what happens, on in-memory transports."""

from __future__ import annotations

from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.python.failure import Failure
from twisted.trial import unittest

from dynotwist import errors
from dynotwist.proto.resp import encode_command
from tests.support.nodes import InMemoryNode


def cmd(*args: bytes) -> bytes:
    return encode_command(list(args))


class DatastoreCountingTests(unittest.TestCase):
    def setUp(self) -> None:
        self.h = InMemoryNode()
        self.stats = self.h.node.stats
        self.client, self.out = self.h.client()

    def snapshot(self) -> dict:
        taken = self.h.node.stats_snapshot()
        return {**taken.node, **taken.pool, **taken.server}

    def test_waiting_for_the_first_connection_then_refused(self) -> None:
        self.client.dataReceived(cmd(b"GET", b"a"))
        values = self.snapshot()
        self.assertEqual((values["in_queue"], values["in_queue_bytes"]), (1, 20))
        self.assertEqual(values["datastore_up"], 0)
        self.h.reactor.tcpClients[-1][2].clientConnectionFailed(
            None, Failure(ConnectionRefusedError())
        )
        self.assertEqual(self.out.flush().value(), errors.DATASTORE_REFUSED)
        self.assertEqual(self.stats.server_err, 1)  # the failed attempt
        self.client.dataReceived(cmd(b"GET", b"a"))  # nothing connected or connecting
        self.assertEqual(self.out.flush().value(), errors.DATASTORE_REFUSED * 2)
        self.assertEqual(self.stats.forward_error, 1)
        self.assertEqual(self.snapshot()["in_queue"], 0)

    def test_requests_and_responses_by_kind_and_size(self) -> None:
        _, store = self.h.datastore()
        self.assertEqual(self.snapshot()["datastore_up"], 1)
        self.client.dataReceived(cmd(b"SET", b"a", b"1") + cmd(b"GET", b"a") + cmd(b"LREM",
                                 b"l", b"0", b"x"))
        self.assertEqual(self.snapshot()["out_queue"], 3)
        store.dataReceived(b"+OK\r\n$1\r\n1\r\n:0\r\n")
        values = self.snapshot()
        self.assertEqual((values["write_requests"], values["read_requests"]), (2, 1))
        self.assertEqual(values["write_request_bytes"], len(cmd(b"SET", b"a", b"1")) + len(
            cmd(b"LREM", b"l", b"0", b"x")))
        self.assertEqual(values["read_request_bytes"], len(cmd(b"GET", b"a")))
        self.assertEqual((values["write_responses"], values["write_response_bytes"]), (2, 9))
        self.assertEqual((values["read_responses"], values["read_response_bytes"]), (1, 7))
        self.assertEqual(values["out_queue"], 0)
        self.assertEqual(
            [values[name] for name in ("redis_req_set", "redis_req_get", "redis_req_lreqm",
                                       "redis_req_lists")],
            [1, 1, 1, 1],
        )

    def test_requests_failed_with_their_connection(self) -> None:
        _, store = self.h.datastore()
        self.client.dataReceived(cmd(b"GET", b"a") + cmd(b"GET", b"b"))
        store.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.out.flush().value(), errors.DATASTORE_REFUSED * 2)
        self.assertEqual(self.stats.server_dropped_requests, 2)
        # one loss is not an ejection (server_failure_limit failures in a row are)
        self.assertEqual((self.stats.server_eof, self.stats.server_ejects), (1, 0))
        self.assertEqual(self.snapshot()["datastore_up"], 0)

    def test_requests_timed_out_and_garbage(self) -> None:
        _, store = self.h.datastore()
        self.client.dataReceived(cmd(b"GET", b"a"))
        self.h.reactor.advance(1.1)  # timeout: 1000 ms
        self.assertEqual(self.out.flush().value(), errors.DATASTORE_REFUSED)
        self.assertEqual(self.stats.server_timedout_requests, 1)
        store.dataReceived(b"!garbage\r\n")
        self.assertEqual(self.stats.server_err, 1)

    def test_stats_requests_are_counted(self) -> None:
        self.h.node.stats_snapshot()
        self.assertEqual(self.snapshot()["stats_count"], 2)

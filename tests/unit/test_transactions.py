"""MULTI ... EXEC on the client port: queued by the node, run as one unit."""

from __future__ import annotations

from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from twisted.trial import unittest

from dynotwist import errors
from dynotwist.proto import transactions as tx
from dynotwist.proto.resp import encode_command
from tests.support.nodes import InMemoryNode


def cmd(*args: bytes) -> bytes:
    return encode_command(list(args))


MULTI, EXEC, DISCARD = cmd(b"MULTI"), cmd(b"EXEC"), cmd(b"DISCARD")
QUEUED = b"+QUEUED\r\n"


class TransactionTests(unittest.TestCase):
    def setUp(self) -> None:
        self.h = InMemoryNode()
        self.client, self.out = self.h.client()
        _, self.store = self.h.datastore()

    def send(self, *requests: bytes) -> bytes:
        self.out.clear()
        self.client.dataReceived(b"".join(requests))
        return self.out.flush().value()

    def sent_to_store(self) -> bytes:
        sent = self.store.transport.flush().value()
        self.store.transport.clear()
        return sent

    def test_queued_by_the_node_and_run_as_one_unit(self) -> None:
        replies = self.send(MULTI, cmd(b"SET", b"a", b"1"), cmd(b"INCR", b"a"))
        self.assertEqual(replies, b"+OK\r\n" + QUEUED * 2)
        self.assertEqual(self.sent_to_store(), b"")  # nothing runs before EXEC
        self.assertEqual(self.send(EXEC), b"")
        self.assertEqual(
            self.sent_to_store(), MULTI + cmd(b"SET", b"a", b"1") + cmd(b"INCR", b"a") + EXEC
        )
        # Redis's replies to the unit come back as one; the client gets EXEC's
        self.store.dataReceived(b"+OK\r\n" + QUEUED * 2 + b"*2\r\n+OK\r\n:2\r\n")
        self.assertEqual(self.out.flush().value(), b"*2\r\n+OK\r\n:2\r\n")
        self.assertIsNone(self.client.session.transaction)

    def test_order_kept_with_the_requests_around_it(self) -> None:
        self.send(cmd(b"SET", b"x", b"1"), MULTI, cmd(b"GET", b"x"), EXEC, cmd(b"GET", b"x"))
        self.assertEqual(
            self.sent_to_store(),
            cmd(b"SET", b"x", b"1") + MULTI + cmd(b"GET", b"x") + EXEC + cmd(b"GET", b"x"),
        )
        self.store.dataReceived(b"+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n$1\r\n1\r\n$1\r\n1\r\n")
        self.assertEqual(
            self.out.flush().value(),
            b"+OK\r\n+OK\r\n+QUEUED\r\n*1\r\n$1\r\n1\r\n$1\r\n1\r\n",
        )

    def test_a_refused_multi_refuses_every_command_up_to_exec(self) -> None:
        replies = self.send(cmd(b"MULTI", b"x"), cmd(b"SET", b"a", b"1"), cmd(b"GET", b"a"))
        self.assertEqual(
            replies,
            b"-ERR wrong number of arguments for 'multi' command\r\n"
            + tx.AFTER_REFUSED_MULTI * 2,
        )
        self.assertEqual(self.send(EXEC), tx.EXECABORT)
        self.assertEqual(self.sent_to_store(), b"")
        # and the connection is itself again
        self.send(cmd(b"GET", b"a"))
        self.assertEqual(self.sent_to_store(), cmd(b"GET", b"a"))

    def test_a_refused_multi_ends_with_discard_too(self) -> None:
        h = InMemoryNode(requirepass="pw")
        client, out = h.client()
        client.dataReceived(MULTI + cmd(b"SET", b"a", b"1") + DISCARD)
        self.assertEqual(
            out.flush().value(),
            b"-NOAUTH Authentication required.\r\n" + tx.AFTER_REFUSED_MULTI + b"+OK\r\n",
        )
        self.assertIsNone(client.session.transaction)

    def test_a_command_that_cannot_be_queued_aborts_the_transaction(self) -> None:
        for refused, error in (
            (cmd(b"NOSUCH"), b"-ERR unknown command 'NOSUCH'"),
            (cmd(b"GET"), b"-ERR wrong number of arguments for 'get' command"),
            (cmd(b"PING"), b"-ERR PING inside MULTI is not supported"),
            (cmd(b"DBSIZE"), b"-ERR DBSIZE inside MULTI is not supported"),
            (cmd(b"FLUSHALL"), b"-ERR FLUSHALL is not supported"),
        ):
            replies = self.send(MULTI, cmd(b"SET", b"a", b"1"), refused, cmd(b"GET", b"a"))
            self.assertTrue(replies.startswith(b"+OK\r\n" + QUEUED + error), replies)
            self.assertTrue(replies.endswith(QUEUED), replies)  # the others are still queued
            self.assertEqual(self.send(EXEC), tx.EXECABORT, refused)
            self.assertEqual(self.sent_to_store(), b"", refused)  # nothing ran

    def test_discard_nested_multi_watch_and_empty_transactions(self) -> None:
        self.assertEqual(self.send(EXEC), b"-ERR EXEC without MULTI\r\n")
        self.assertEqual(self.send(DISCARD), b"-ERR DISCARD without MULTI\r\n")
        self.assertTrue(self.send(cmd(b"WATCH", b"a")).startswith(b"-ERR WATCH is not supported"))
        self.assertEqual(self.send(cmd(b"UNWATCH")), b"+OK\r\n")
        self.assertEqual(self.send(MULTI, EXEC), b"+OK\r\n*0\r\n")
        replies = self.send(MULTI, MULTI, cmd(b"WATCH", b"a"), cmd(b"SET", b"a", b"1"), DISCARD)
        self.assertEqual(
            replies,
            b"+OK\r\n" + tx.NESTED_MULTI + tx.WATCH_INSIDE_MULTI + QUEUED + b"+OK\r\n",
        )
        self.assertEqual(self.sent_to_store(), b"")

    def test_redis_refusing_a_queued_command_aborts_the_unit(self) -> None:
        self.send(MULTI, cmd(b"SET", b"a", b"1"), EXEC)
        self.out.clear()
        self.store.dataReceived(b"+OK\r\n-ERR oom\r\n" + tx.EXECABORT)
        self.assertEqual(self.out.flush().value(), tx.EXECABORT)

    def test_a_lost_datastore_connection_fails_the_transaction_once(self) -> None:
        self.send(MULTI, cmd(b"SET", b"a", b"1"), cmd(b"SET", b"b", b"2"), EXEC)
        self.out.clear()
        self.store.dataReceived(b"+OK\r\n+QUEUED\r\n")  # part of the unit's replies
        self.store.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.out.flush().value(), errors.DATASTORE_REFUSED)

    def test_reset_ends_a_transaction(self) -> None:
        self.assertEqual(self.send(MULTI, cmd(b"SET", b"a", b"1"), cmd(b"RESET")),
                         b"+OK\r\n" + QUEUED + b"+RESET\r\n")
        self.assertEqual(self.send(EXEC), b"-ERR EXEC without MULTI\r\n")


class PeerUnitTests(unittest.TestCase):
    """A unit as the peer port admits it: each command checked as a client's."""

    def admit(self, *requests: bytes):
        from dynotwist.datastores import RedisKind
        from tests.support.configs import node_config

        return RedisKind().admit_relayed(b"".join(requests), node_config())

    def test_a_unit_is_one_request_of_several_replies(self) -> None:
        admitted = self.admit(MULTI, cmd(b"GET", b"{t}a"), cmd(b"SET", b"{t}b", b"1"), EXEC)
        self.assertEqual(admitted.raw, MULTI + cmd(b"GET", b"{t}a") + cmd(b"SET", b"{t}b", b"1")
                         + EXEC)
        self.assertIsInstance(admitted.raw, tx.UnitRequest)
        self.assertEqual(admitted.raw.replies, 4)
        self.assertEqual((admitted.write, admitted.keys), (True, [b"{t}a"]))

    def test_what_a_client_could_not_queue_is_refused(self) -> None:
        for requests, error in (
            ((MULTI, cmd(b"FLUSHALL"), EXEC), b"-ERR FLUSHALL is not supported"),
            ((MULTI, cmd(b"PING"), EXEC), b"-ERR 'ping' is answered by the node"),
            ((MULTI, cmd(b"DBSIZE"), EXEC), b"-ERR DBSIZE inside MULTI is not supported"),
            ((MULTI, MULTI, cmd(b"GET", b"a"), EXEC), b"-ERR 'multi' is answered by the node"),
            ((MULTI, EXEC), b"-ERR Protocol error: a peer frame must carry exactly one request"),
            ((cmd(b"GET", b"a"), cmd(b"GET", b"b")), b"-ERR Protocol error"),
            ((MULTI, cmd(b"GET", b"a")), b"-ERR Protocol error"),
            ((MULTI, cmd(b"SET", b"a", b"1"), cmd(b"EXEC", b"x")), b"-ERR Protocol error"),
        ):
            admitted = self.admit(*requests)
            self.assertIsInstance(admitted, bytes, requests)
            self.assertTrue(admitted.startswith(error), (requests, admitted))

    def test_the_exec_reply(self) -> None:
        self.assertEqual(tx.exec_reply(b"+OK\r\n+QUEUED\r\n*1\r\n:1\r\n"), b"*1\r\n:1\r\n")
        self.assertIs(tx.exec_reply(errors.QUORUM_FAILED), errors.QUORUM_FAILED)


class PeerPortUnitTests(unittest.TestCase):
    def test_a_unit_frame_runs_on_the_datastore_and_is_answered_in_one_frame(self) -> None:
        from dynotwist.net.peer import DnodeServerFactory
        from dynotwist.proto.dnode import DMSG_REQ, DnodeParser, encode_frame
        from tests.support.transports import BatchedTransport

        h = InMemoryNode()
        _, store = h.datastore()
        server = DnodeServerFactory(h.node).buildProtocol(None)
        out = BatchedTransport(h.reactor)
        server.makeConnection(out)
        unit = MULTI + cmd(b"SET", b"{t}a", b"1") + cmd(b"GET", b"{t}a") + EXEC
        server.dataReceived(encode_frame(7, DMSG_REQ, 0, 1, unit) + encode_frame(
            8, DMSG_REQ, 0, 1, cmd(b"GET", b"{t}a")))
        self.assertEqual(store.transport.flush().value(), unit + cmd(b"GET", b"{t}a"))
        store.dataReceived(b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$1\r\n1\r\n$1\r\n1\r\n")
        frames = DnodeParser().feed(out.flush().value())
        self.assertEqual([f.msg_id for f in frames], [7, 8])
        self.assertEqual(
            frames[0].payload, b"+OK\r\n+QUEUED\r\n+QUEUED\r\n*2\r\n+OK\r\n$1\r\n1\r\n"
        )
        self.assertEqual(frames[1].payload, b"$1\r\n1\r\n")

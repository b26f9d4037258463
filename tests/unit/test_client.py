"""The client port and datastore connections, on in-memory transports and a fake clock."""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock
from twisted.trial import unittest

from dynotwist import errors
from dynotwist.core import stats as stats_table
from dynotwist.core.ejection import Ejection
from dynotwist.core.stats import SAMPLE_EVERY, detached_stats
from dynotwist.net.batch import WriteBatch
from dynotwist.net.datastore import DatastorePool, PoolShared
from dynotwist.net.ordered import MAX_PENDING
from dynotwist.proto.resp import encode_command
from tests.support.configs import node_config
from tests.support.nodes import InMemoryNode


def cmd(*args: bytes) -> bytes:
    return encode_command(list(args))


class ClientTests(unittest.TestCase):
    def setUp(self) -> None:
        self.h = InMemoryNode()
        self.client, self.out = self.h.client()

    def send(self, data: bytes) -> None:
        self.client.dataReceived(data)

    def test_ping_answered_by_the_node(self) -> None:
        self.send(cmd(b"PING") + b"PING\r\n" + cmd(b"ping", b"hi"))
        self.assertEqual(self.out.flush().value(), b"+PONG\r\n+PONG\r\n$2\r\nhi\r\n")

    def test_requests_are_relayed_raw_and_replies_in_order(self) -> None:
        self.send(cmd(b"GET", b"a"))
        _, store = self.h.datastore()
        self.send(cmd(b"SET", b"b", b"1") + cmd(b"PING") + cmd(b"GET", b"b"))
        self.assertEqual(
            store.transport.flush().value(),
            cmd(b"GET", b"a") + cmd(b"SET", b"b", b"1") + cmd(b"GET", b"b"),
        )
        self.assertEqual(self.out.flush().value(), b"")
        store.dataReceived(b"$-1\r\n+OK")
        self.assertEqual(self.out.flush().value(), b"$-1\r\n")
        store.dataReceived(b"\r\n$1\r\n1\r\n")
        self.assertEqual(self.out.flush().value(), b"$-1\r\n+OK\r\n+PONG\r\n$1\r\n1\r\n")

    def test_inline_commands_are_sent_as_multibulk(self) -> None:
        _, store = self.h.datastore()
        self.send(b'SET k "a b"\r\n')
        self.assertEqual(store.transport.flush().value(), cmd(b"SET", b"k", b"a b"))

    def test_unknown_and_unsupported_commands_get_errors_and_the_connection_stays(self) -> None:
        self.send(cmd(b"FOO", b"x") + cmd(b"WATCH", b"k") + cmd(b"GET") + cmd(b"PING"))
        lines = self.out.flush().value().split(b"\r\n")
        self.assertEqual(lines[0], b"-ERR unknown command 'FOO', with args beginning with: 'x' ")
        self.assertTrue(lines[1].startswith(b"-ERR WATCH is not supported: "))
        self.assertEqual(lines[2], b"-ERR wrong number of arguments for 'get' command")
        self.assertEqual(lines[3], b"+PONG")
        self.assertFalse(self.out.flush().disconnecting)

    def test_protocol_error_answers_then_closes_after_pending_replies(self) -> None:
        _, store = self.h.datastore()
        self.send(cmd(b"GET", b"a") + b"*1\r\n$x\r\n" + cmd(b"PING"))
        self.assertFalse(self.out.flush().disconnecting)
        store.dataReceived(b"$1\r\nv\r\n")
        self.assertEqual(
            self.out.flush().value(), b"$1\r\nv\r\n-ERR Protocol error: invalid bulk length\r\n"
        )
        self.assertTrue(self.out.flush().disconnecting)

    def test_quit_replies_ok_and_closes(self) -> None:
        self.send(cmd(b"QUIT") + cmd(b"PING"))
        self.assertEqual(self.out.flush().value(), b"+OK\r\n")
        self.assertTrue(self.out.flush().disconnecting)

    def test_hanging_up_unregisters_from_a_transport_that_paused_it(self) -> None:
        """Else a transport whose buffer filled up resumes the producer when it drains,
        instead of closing (Twisted's doWrite), and the connection never closes."""
        self.client.pauseProducing()  # the transport's buffer is full
        self.send(cmd(b"QUIT"))
        self.assertTrue(self.out.flush().disconnecting)
        self.assertIsNone(self.out.producer)

    def test_datastore_unreachable_gives_dynomites_error(self) -> None:
        self.send(cmd(b"GET", b"a"))
        connector = self.h.reactor.tcpClients[-1]
        connector[2].clientConnectionFailed(None, errors_failure())
        self.assertEqual(self.out.flush().value(), errors.DATASTORE_REFUSED)
        # while the pool waits to retry, requests fail fast
        self.send(cmd(b"GET", b"a"))
        self.assertEqual(self.out.flush().value(), errors.DATASTORE_REFUSED * 2)

    def test_timeout_fails_only_the_late_request_and_drops_its_reply(self) -> None:
        _, store = self.h.datastore()
        self.send(cmd(b"GET", b"a"))
        self.h.reactor.advance(0.6)
        self.send(cmd(b"GET", b"b"))
        self.h.reactor.advance(0.5)
        self.assertEqual(self.out.flush().value(), errors.DATASTORE_REFUSED)
        store.dataReceived(b"$1\r\nA\r\n$1\r\nB\r\n")
        self.assertEqual(self.out.flush().value(), errors.DATASTORE_REFUSED + b"$1\r\nB\r\n")
        self.assertFalse(store.transport.flush().disconnecting)

    def test_a_datastore_silent_for_twice_the_timeout_is_dropped(self) -> None:
        _, store = self.h.datastore()
        self.send(cmd(b"GET", b"a"))
        self.h.reactor.advance(1.1)
        self.assertEqual(self.out.flush().value(), errors.DATASTORE_REFUSED)
        self.assertFalse(store.transport.flush().disconnecting)
        self.h.reactor.advance(1.0)
        self.assertTrue(store.transport.flush().disconnecting)

    def test_lost_datastore_fails_pending_requests(self) -> None:
        _, store = self.h.datastore()
        self.send(cmd(b"GET", b"a") + cmd(b"GET", b"b"))
        store.connectionLost(None)
        self.assertEqual(self.out.flush().value(), errors.DATASTORE_REFUSED * 2)
        self.assertEqual(self.h.node.datastore(False).ready, [])

    def test_client_that_does_not_read_is_throttled(self) -> None:
        self.h.datastore()
        self.send(cmd(b"GET", b"k") * (MAX_PENDING + 1))
        self.assertEqual(self.out.producerState, "paused")
        store = self.h.datastores[False]
        store.dataReceived(b"$-1\r\n" * (MAX_PENDING // 2 + 2))
        self.assertEqual(self.out.producerState, "producing")

    def test_transport_backpressure_pauses_reading(self) -> None:
        self.client.pauseProducing()
        self.assertEqual(self.out.producerState, "paused")
        self.client.resumeProducing()
        self.assertEqual(self.out.producerState, "producing")

    def test_a_lost_datastore_connection_is_not_used_by_the_next_read(self) -> None:
        _, store = self.h.datastore()
        self.send(cmd(b"GET", b"a"))
        store.dataReceived(b"$1\r\nv\r\n")
        store.connectionLost(None)
        self.send(cmd(b"GET", b"a"))  # no connection now: refused, not lost in a dead one
        self.assertEqual(self.out.flush().value(), b"$1\r\nv\r\n" + errors.DATASTORE_REFUSED)

    def test_replies_to_a_closed_client_are_dropped(self) -> None:
        _, store = self.h.datastore()
        self.send(cmd(b"GET", b"a"))
        self.client.connectionLost(None)
        store.dataReceived(b"$1\r\nv\r\n")
        self.assertEqual(len(store.pending), 0)


class Resp3Tests(unittest.TestCase):
    def test_hello_3_switches_to_a_resp3_datastore_connection(self) -> None:
        h = InMemoryNode()
        client, out = h.client()
        client.dataReceived(cmd(b"HELLO", b"3"))
        self.assertTrue(out.flush().value().startswith(b"%7\r\n"))
        self.assertIn(b"$5\r\nproto\r\n:3\r\n", out.flush().value())
        client.dataReceived(cmd(b"HGETALL", b"h"))
        pool, store = h.datastore(resp3=True)
        self.assertTrue(pool.resp3)
        self.assertEqual(
            store.transport.flush().value(), cmd(b"HELLO", b"3") + cmd(b"HGETALL", b"h")
        )
        store.dataReceived(b"%0\r\n%1\r\n$1\r\nf\r\n$1\r\nv\r\n")
        self.assertEqual(out.flush().value().split(b"\r\n", 1)[1].count(b"%1\r\n"), 1)

    def test_failed_opening_command_drops_the_connection(self) -> None:
        h = InMemoryNode(datastore_password="secret")
        client, _ = h.client()
        client.dataReceived(cmd(b"GET", b"a"))
        _, store = h.datastore()
        self.assertEqual(
            store.transport.flush().value(), cmd(b"AUTH", b"secret") + cmd(b"GET", b"a")
        )
        store.dataReceived(b"-WRONGPASS invalid\r\n")
        self.assertTrue(store.transport.flush().disconnecting)


class AuthTests(unittest.TestCase):
    def test_requirepass(self) -> None:
        h = InMemoryNode(requirepass="s3cret")
        client, out = h.client()
        client.dataReceived(cmd(b"GET", b"a") + cmd(b"AUTH", b"bad") + cmd(b"AUTH", b"s3cret"))
        self.assertEqual(
            out.flush().value(),
            b"-NOAUTH Authentication required.\r\n"
            b"-WRONGPASS invalid username-password pair or user is disabled.\r\n+OK\r\n",
        )


    def test_limits_before_auth_let_an_auth_read_with_a_big_request_through(self) -> None:
        h = InMemoryNode(requirepass="s3cret")
        client, out = h.client()
        client.dataReceived(cmd(b"PING"))
        _, store = h.datastore()
        out.flush().value()
        out.clear()
        big = cmd(b"SET", b"k", b"v" * 20000)
        client.dataReceived(cmd(b"AUTH", b"s3cret") + big)
        self.assertEqual(store.transport.flush().value(), big)
        self.assertEqual(out.flush().value(), b"+OK\r\n")

    def test_limits_before_auth_close_the_connection(self) -> None:
        h = InMemoryNode(requirepass="s3cret")
        client, out = h.client()
        client.dataReceived(cmd(b"PING") + cmd(b"SET", b"k", b"v" * 20000))
        self.assertEqual(
            out.flush().value(),
            b"-NOAUTH Authentication required.\r\n"
            b"-ERR Protocol error: unauthenticated bulk length\r\n",
        )
        self.assertTrue(out.flush().disconnecting)


class PoolTests(unittest.TestCase):
    def test_preconnect_false_connects_on_first_use(self) -> None:
        h = InMemoryNode(preconnect=False)
        client, out = h.client()
        h.node.start()
        self.assertEqual(h.reactor.tcpClients, [])
        client.dataReceived(cmd(b"GET", b"a"))
        _, store = h.datastore()
        self.assertEqual(store.transport.flush().value(), cmd(b"GET", b"a"))
        store.dataReceived(b"$1\r\nv\r\n")
        self.assertEqual(out.flush().value(), b"$1\r\nv\r\n")

    def test_reconnect_backoff_doubles_up_to_the_cap(self) -> None:
        reactor = MemoryReactorClock()
        config = node_config()
        shared = PoolShared(reactor, WriteBatch(reactor), detached_stats(), errors.RESP)
        pool = DatastorePool(
            shared, config.servers[0].address, 1, 1000, 4000, health=Ejection(False, 3, 4.0)
        )
        pool.start()
        delays = []
        for _ in range(5):
            connector = reactor.tcpClients[-1]
            connector[2].clientConnectionFailed(None, errors_failure())
            call = pool._retry_calls[0]
            delays.append(call.getTime() - reactor.seconds())
            reactor.advance(call.getTime() - reactor.seconds())
        self.assertEqual(delays, [1.0, 2.0, 4.0, 4.0, 4.0])


def errors_failure():
    from twisted.internet.error import ConnectionRefusedError
    from twisted.python.failure import Failure

    return Failure(ConnectionRefusedError())


class StateTests(unittest.TestCase):
    """The node's state, checked where requests reach the local datastore."""

    def setUp(self) -> None:
        self.h = InMemoryNode()
        self.client, self.out = self.h.client()
        self.client.dataReceived(cmd(b"PING"))
        _, self.store = self.h.datastore()
        self.out.flush().value()  # flushes the PONG
        self.out.clear()

    def test_standby_refuses_reads_and_writes_and_keeps_the_connection(self) -> None:
        self.h.node.state = "STANDBY"
        self.client.dataReceived(cmd(b"GET", b"a") + cmd(b"SET", b"a", b"1") + cmd(b"PING"))
        # PING too, as Dynomite's reaches the datastore through the state
        self.assertEqual(self.out.flush().value(), errors.STATE_FORBIDS * 3)
        self.h.node.state = "NORMAL"
        self.client.dataReceived(cmd(b"PING"))
        self.assertEqual(self.out.flush().value(), errors.STATE_FORBIDS * 3 + b"+PONG\r\n")
        self.assertEqual(self.store.transport.flush().value(), b"")

    def test_writes_only_holds_writes_until_the_state_changes(self) -> None:
        self.h.node.state = "WRITES_ONLY"
        self.client.dataReceived(cmd(b"SET", b"a", b"1") + cmd(b"GET", b"a"))
        self.assertEqual(self.store.transport.flush().value(), b"")
        self.assertEqual(self.out.flush().value(), b"")  # the GET's refusal waits behind the SET
        self.h.node.state = "NORMAL"
        self.assertEqual(self.store.transport.flush().value(), cmd(b"SET", b"a", b"1"))
        self.store.dataReceived(b"+OK\r\n")
        self.assertEqual(self.out.flush().value(), b"+OK\r\n" + errors.STATE_FORBIDS)

    def test_held_writes_are_refused_if_the_node_goes_to_standby(self) -> None:
        self.h.node.state = "WRITES_ONLY"
        self.client.dataReceived(cmd(b"SET", b"a", b"1"))
        self.h.node.state = "STANDBY"
        self.assertEqual(self.out.flush().value(), errors.STATE_FORBIDS)

    def test_resuming_serves_writes_and_refuses_reads(self) -> None:
        self.h.node.state = "RESUMING"
        self.client.dataReceived(cmd(b"SET", b"a", b"1") + cmd(b"GET", b"a"))
        self.assertEqual(self.store.transport.flush().value(), cmd(b"SET", b"a", b"1"))
        self.store.dataReceived(b"+OK\r\n")
        self.assertEqual(self.out.flush().value(), b"+OK\r\n" + errors.STATE_FORBIDS)

    def test_timeout_factor_scales_request_timeouts(self) -> None:
        self.h.node.timeout_factor = 3
        self.client.dataReceived(cmd(b"GET", b"a"))
        self.h.reactor.advance(2.0)
        self.assertEqual(self.out.flush().value(), b"")
        self.h.reactor.advance(1.1)
        self.assertEqual(self.out.flush().value(), errors.DATASTORE_REFUSED)

    def test_counters_move(self) -> None:
        stats = self.h.node.stats
        self.client.dataReceived(cmd(b"GET", b"a") + cmd(b"SET", b"a", b"1"))
        self.assertEqual((stats.client_read_requests, stats.client_write_requests), (2, 1))
        self.assertEqual(stats.client_connections, 1)

    def test_latency_and_payload_sampled_over_all_the_nodes_clients(self) -> None:
        # one read in SAMPLE_EVERY of all the node's clients is timed and counts
        # SAMPLE_EVERY times: short-lived clients' requests count too
        stats = self.h.node.stats
        before = stats.latency.count  # the PING of setUp, the first read: timed
        request = cmd(b"SET", b"a", b"1")
        for _ in range(SAMPLE_EVERY):  # a client per request: one of them is timed
            client, _ = self.h.client()
            client.dataReceived(request)
        self.store.dataReceived(b"+OK\r\n" * SAMPLE_EVERY)
        self.h.reactor.advance(0)
        self.assertEqual(stats.latency.count - before, SAMPLE_EVERY)
        self.assertEqual(stats.payload_size.count, SAMPLE_EVERY)
        self.assertEqual(stats.payload_size.max, len(request))
        self.assertGreaterEqual(stats.server_rtt.count, 1)
        # the counters count every request
        self.assertEqual(stats.write_request_bytes, SAMPLE_EVERY * len(request))
        self.assertEqual(
            (stats.write_responses, stats.write_response_bytes), (SAMPLE_EVERY, 5 * SAMPLE_EVERY)
        )
        set_class = stats_table.REDIS_REQUESTS.index("redis_req_set")
        self.assertEqual(stats.redis_requests[set_class], SAMPLE_EVERY)


class HelloAuthTests(unittest.TestCase):
    def test_hello_auth_without_requirepass_is_accepted_as_redis_does(self) -> None:
        h = InMemoryNode()
        client, out = h.client()
        client.dataReceived(cmd(b"HELLO", b"3", b"AUTH", b"default", b"anything"))
        self.assertIn(b"$5\r\nproto\r\n:3\r\n", out.flush().value())

    def test_hello_auth_with_requirepass(self) -> None:
        h = InMemoryNode(requirepass="s3cret")
        client, out = h.client()
        client.dataReceived(cmd(b"HELLO", b"3", b"AUTH", b"default", b"bad"))
        self.assertTrue(out.flush().value().startswith(b"-WRONGPASS"))
        out.clear()
        client.dataReceived(cmd(b"HELLO", b"3", b"AUTH", b"default", b"s3cret") + cmd(b"PING"))
        self.assertTrue(out.flush().value().endswith(b"+PONG\r\n"))


class HeldWriteTimeoutTests(unittest.TestCase):
    def test_a_write_held_past_the_timeout_is_refused(self) -> None:
        h = InMemoryNode()
        client, out = h.client()
        client.dataReceived(cmd(b"PING"))
        _, store = h.datastore()
        out.flush().value()
        out.clear()
        h.node.state = "WRITES_ONLY"
        client.dataReceived(cmd(b"SET", b"a", b"1"))
        h.reactor.advance(0.6)
        self.assertEqual(out.flush().value(), b"")  # still held
        h.reactor.advance(0.6)
        self.assertEqual(out.flush().value(), errors.STATE_FORBIDS)
        h.node.state = "NORMAL"
        self.assertEqual(store.transport.flush().value(), b"")  # not sent after all


class HostileInputTests(unittest.TestCase):
    """What one connection sends never reaches another's replies or the datastore."""

    def setUp(self) -> None:
        self.h = InMemoryNode()
        self.attacker, self.attacker_out = self.h.client()
        self.attacker.dataReceived(cmd(b"PING"))
        _, self.store = self.h.datastore()
        self.attacker_out.flush().value()
        self.attacker_out.clear()

    def test_an_error_while_serving_a_read_drops_that_client_alone(self) -> None:
        import dynotwist.net.client as client_module

        def broken(args):  # a bug met half-way through a read's requests
            raise RuntimeError("bug")

        self.patch(client_module, "encode_command", broken)
        # GET a is queued first, then the inline GET b (re-encoded) meets the bug
        self.attacker.dataReceived(cmd(b"GET", b"a") + b"GET b\r\n")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)  # logged once
        self.assertTrue(self.attacker_out.flush().disconnecting)
        self.assertEqual(self.store.transport.flush().value(), b"")
        self.assertEqual(len(self.store.pending), 0)  # no slot waits for unsent bytes
        victim, victim_out = self.h.client()
        victim.dataReceived(cmd(b"GET", b"mine"))
        self.store.dataReceived(b"$4\r\nmine\r\n")
        self.assertEqual(victim_out.flush().value(), b"$4\r\nmine\r\n")

    def test_an_http_request_on_the_resp_port_runs_nothing(self) -> None:
        self.attacker.dataReceived(
            cmd(b"GET", b"a")
            + b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8102\r\nContent-Length: 11\r\n\r\n"
            + b"SET pwned 1\r\n"
        )
        self.assertTrue(self.attacker_out.flush().disconnecting)
        # the request before it was read as Redis would; nothing after it
        self.assertEqual(self.store.transport.flush().value(), cmd(b"GET", b"a"))

    def test_a_host_line_closes_too_and_an_inline_get_of_a_path_stays_a_get(self) -> None:
        self.attacker.dataReceived(b"GET /index.html\r\n")
        self.assertEqual(self.store.transport.flush().value(), cmd(b"GET", b"/index.html"))
        self.assertFalse(self.attacker_out.flush().disconnecting)
        self.attacker.dataReceived(b"Host: example.com\r\nDEL k\r\n")
        self.assertTrue(self.attacker_out.flush().disconnecting)
        self.assertEqual(self.store.transport.flush().value(), cmd(b"GET", b"/index.html"))


class ClientLimitTests(unittest.TestCase):
    def test_client_connections_is_enforced_with_redis_error(self) -> None:
        h = InMemoryNode(client_connections=2)
        first, _ = h.client()
        h.client()
        third, third_out = h.client()
        self.assertEqual(third_out.flush().value(), b"-ERR max number of clients reached\r\n")
        self.assertTrue(third_out.flush().disconnecting)
        third.dataReceived(cmd(b"PING"))
        self.assertEqual(third_out.flush().value(), b"-ERR max number of clients reached\r\n")
        self.assertEqual(h.node.stats.client_connections, 2)
        third.connectionLost(None)
        first.connectionLost(None)
        fourth, fourth_out = h.client()
        fourth.dataReceived(cmd(b"PING"))
        self.assertEqual(fourth_out.flush().value(), b"+PONG\r\n")
        self.assertFalse(fourth_out.flush().disconnecting)

    def test_a_client_that_does_not_read_is_closed_past_the_output_limit(self) -> None:
        h = InMemoryNode(client_output_buffer_limit=1000)
        client, out = h.client()
        reader, reader_out = h.client()
        _, store = h.datastore()
        client.dataReceived(cmd(b"GET", b"big") * 3)
        reader.dataReceived(cmd(b"GET", b"small"))
        client.pauseProducing()  # as the transport does once its buffer is full
        value = b"v" * 600
        store.dataReceived(b"$600\r\n%s\r\n" % value)
        self.assertFalse(out.flush().disconnecting)  # 600 bytes unsent: under the limit
        store.dataReceived(b"$600\r\n%s\r\n" % value)
        self.assertTrue(out.flush().disconnecting)
        store.dataReceived(b"$600\r\n%s\r\n" % value + b"$2\r\nok\r\n")
        self.assertEqual(reader_out.flush().value(), b"$2\r\nok\r\n")

    def test_replies_drained_by_the_transport_reset_the_count(self) -> None:
        h = InMemoryNode(client_output_buffer_limit=1000)
        client, out = h.client()
        _, store = h.datastore()
        client.dataReceived(cmd(b"GET", b"big") * 4)
        reply = b"$600\r\n%s\r\n" % (b"v" * 600)
        for _ in range(4):
            client.pauseProducing()
            store.dataReceived(reply)
            out.flush().value()
            client.resumeProducing()  # the transport drained its buffer
        self.assertFalse(out.flush().disconnecting)

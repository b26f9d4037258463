"""A node whose datastore fails: killed, restarted, silent, or not yet connected.

Every request must get an answer (a normal reply or Dynomite's
``-ERR Storage: Datastore refused connection``), never a hang: client sockets time out
far above the node's ``timeout``, so a hang fails the test instead of blocking it.
"""

from __future__ import annotations

import selectors
import socket
import threading
from typing import List, Optional, Tuple

from dynotwist.local import Node, RedisServer
from tests.integration.support import (
    DATASTORE_REFUSED,
    SOCKET_TIMEOUT,
    Processes,
    ProcessTestCase,
    RespClient,
    encode,
    wait_until,
)

RECOVERY_WAIT = 20.0  # seconds: the bound on every wait for an expected state


class Traffic(threading.Thread):
    """A client that sends pipelined SET/GET pairs on one connection until stopped,
    and checks every reply: a normal one or DATASTORE_REFUSED."""

    PAIRS = 5  # SET/GET pairs per batch: several requests are in flight at any time

    def __init__(self, port: int) -> None:
        super().__init__(daemon=True)
        self.port = port
        self.stopping = threading.Event()
        self.ok = 0  # normal replies
        self.refused = 0  # DATASTORE_REFUSED replies
        self.unexpected: List[Tuple[bytes, object]] = []  # (request, reply or exception)
        self.batches = 0

    def run(self) -> None:
        try:
            client = RespClient(self.port, timeout=SOCKET_TIMEOUT)
        except OSError as error:
            self.unexpected.append((b"connect", error))
            return
        try:
            n = 0
            while not self.stopping.is_set():
                requests = []
                for _ in range(self.PAIRS):
                    n += 1
                    key = "traffic:%d" % (n % 50)
                    requests.append((encode("SET", key, n), b"%d" % n))
                    requests.append((encode("GET", key), b"%d" % n))
                try:
                    client.send(b"".join(frame for frame, _ in requests))
                except OSError as error:  # the node closed the connection
                    self.unexpected.append((requests[0][0], error))
                    return
                set_ok = False  # whether the SET before this GET succeeded
                for index, (frame, value) in enumerate(requests):
                    try:
                        reply = client.read_reply()
                    except Exception as error:  # timeout (a hang) or closed connection
                        self.unexpected.append((frame, error))
                        return
                    if index % 2 == 0:
                        set_ok = reply == b"+OK\r\n"
                    if reply == DATASTORE_REFUSED:
                        self.refused += 1
                        continue
                    if index % 2 == 0:  # SET
                        normal = set_ok
                    elif set_ok:  # GET after its SET succeeded: that value, or nil if
                        # redis-server was restarted (empty) between the two
                        normal = reply in (b"$%d\r\n%s\r\n" % (len(value), value), b"$-1\r\n")
                    else:  # GET after a refused SET: whatever the key held, or nil
                        normal = reply[:1] == b"$"
                    if normal:
                        self.ok += 1
                    else:
                        self.unexpected.append((frame, reply))
                self.batches += 1
        finally:
            client.close()

    def stop(self) -> None:
        self.stopping.set()
        self.join(SOCKET_TIMEOUT * 2)


class DatastoreRestartTest(ProcessTestCase):
    """redis-server is SIGKILLed under traffic, then restarted on the same port."""

    backend: RedisServer
    node: Node

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.backend = processes.redis()
        cls.node = processes.node(cls.backend.port, timeout=1000, server_retry_timeout=1000)

    def test_kill_and_restart_datastore_under_traffic(self) -> None:
        traffic = Traffic(self.node.client_port)
        traffic.start()
        self.addCleanup(traffic.stop)
        wait_until(lambda: traffic.ok >= 100 or traffic.unexpected or not traffic.is_alive(),
                   RECOVERY_WAIT, message="traffic flowing before the kill")
        self.assertEqual(traffic.unexpected, [])
        self.assertEqual(traffic.refused, 0)

        port = self.backend.port
        self.backend.kill()  # SIGKILL, by pid
        wait_until(lambda: traffic.refused >= 10 or not traffic.is_alive(), RECOVERY_WAIT,
                   message="refusals while the datastore is down")
        self.assertEqual(traffic.unexpected, [])
        self.assertTrue(traffic.is_alive())

        # a fresh connection is answered too while the datastore is down
        with RespClient(self.node.client_port) as client:
            self.assertEqual(client.call("GET", "traffic:1"), DATASTORE_REFUSED)
            self.assertEqual(client.call("PING"), b"+PONG\r\n")

        restarted = self.processes.redis(port=port)
        ok_at_restart = traffic.ok
        wait_until(lambda: traffic.ok >= ok_at_restart + 100 or not traffic.is_alive(),
                   RECOVERY_WAIT, message="traffic served again after the restart")
        self.assertTrue(traffic.is_alive())
        traffic.stop()
        self.assertFalse(traffic.is_alive(), "the traffic thread hangs")
        self.assertEqual(traffic.unexpected, [])

        # the node reconnected by itself: new connections work and reach the new server
        with RespClient(self.node.client_port) as client:
            self.assertEqual(client.call("SET", "after:restart", "yes"), b"+OK\r\n")
            self.assertEqual(client.call("GET", "after:restart"), b"$3\r\nyes\r\n")
        with RespClient(restarted.port) as direct:
            self.assertEqual(direct.call("GET", "after:restart"), b"$3\r\nyes\r\n")


class SilentDatastore:
    """A TCP listener that accepts connections and reads them, but never answers."""

    def __init__(self) -> None:
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.port = int(self.listener.getsockname()[1])
        self.received = 0
        self.accepted = 0
        self._stop = threading.Event()
        self._connections: List[socket.socket] = []
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.listener, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in selector.select(0.1):
                    sock = key.fileobj
                    assert isinstance(sock, socket.socket)
                    if sock is self.listener:
                        try:
                            conn, _ = sock.accept()
                        except OSError:
                            continue
                        conn.setblocking(False)
                        self.accepted += 1
                        self._connections.append(conn)
                        selector.register(conn, selectors.EVENT_READ)
                        continue
                    try:
                        data = sock.recv(65536)
                    except OSError:
                        data = b""
                    if data:
                        self.received += len(data)
                    else:
                        selector.unregister(sock)
                        sock.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for conn in self._connections:
            conn.close()
        self.listener.close()


class SilentDatastoreTest(ProcessTestCase):
    """The datastore accepts the connection and never replies: ``timeout`` answers."""

    silent: Optional[SilentDatastore] = None
    node: Node

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.silent = silent = SilentDatastore()
        processes.add_cleanup(silent.close)
        cls.node = processes.node(silent.port, timeout=500)

    def test_request_times_out_with_refusal(self) -> None:
        with RespClient(self.node.client_port, timeout=SOCKET_TIMEOUT) as client:
            self.assertEqual(client.call("GET", "silent:k"), DATASTORE_REFUSED)
            # the same connection answers the next requests too
            self.assertEqual(client.call("SET", "silent:k", "v"), DATASTORE_REFUSED)
            self.assertEqual(client.call("PING"), b"+PONG\r\n")
            self.assertEqual(client.pipeline([["GET", "a"], ["PING"], ["GET", "b"]]),
                             [DATASTORE_REFUSED, b"+PONG\r\n", DATASTORE_REFUSED])
        assert self.silent is not None
        self.assertGreater(self.silent.received, 0, "the node never wrote to the datastore")

    def test_resp3_request_times_out_with_refusal(self) -> None:
        with RespClient(self.node.client_port, timeout=SOCKET_TIMEOUT) as client:
            self.assertEqual(client.call("HELLO", "3")[:1], b"%")
            self.assertEqual(client.call("GET", "silent:k3"), DATASTORE_REFUSED)
            self.assertEqual(client.call("GET", "silent:k3"), DATASTORE_REFUSED)


class NoPreconnectTest(ProcessTestCase):
    """``preconnect: false``: the node connects to its datastore on first use."""

    backend: RedisServer
    node: Node

    @classmethod
    def start_processes(cls, processes: Processes) -> None:
        cls.backend = processes.redis()
        cls.node = processes.node(cls.backend.port, preconnect=False)

    def test_first_request_succeeds(self) -> None:
        with RespClient(self.node.client_port) as client:
            self.assertEqual(client.call("SET", "lazy:k", "first"), b"+OK\r\n")
            self.assertEqual(client.call("GET", "lazy:k"), b"$5\r\nfirst\r\n")
        with RespClient(self.node.client_port) as client:
            self.assertEqual(client.call("HELLO", "3")[:1], b"%")
            # the RESP3 side of the pool is connected on first use as well
            self.assertEqual(client.call("GET", "lazy:k"), b"$5\r\nfirst\r\n")
            self.assertEqual(client.call("HGETALL", "lazy:none"), b"%0\r\n")

"""A node with ``workers: 2``: two processes behind one client port and one admin port.

Which worker serves a connection is told by INFO's ``process_id`` (each worker answers
INFO itself). Connections are spread by the kernel (SO_REUSEPORT): the tests open
:data:`CONNECTIONS` of them, so that both workers get some (all on one worker has a
chance of 2 in 2**32).

- both workers serve the one client port; /info counts every request, summed over
  the workers;
- an admin change (state) reaches both workers, and so does a SIGHUP reload;
- a worker killed with SIGKILL is started again (``worker_restarts``), the port keeps
  serving meanwhile, and the new worker runs with the changes made before it started;
- SIGTERM stops the node and both workers;
- a client port another program holds (even one sharing it with SO_REUSEPORT, as
  another node's workers would): one line, exit status 1, no worker started.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from typing import Dict, List, Set

from twisted.trial import unittest

from dynotwist.testing.blocking import RespClient
from dynotwist.testing.configs import render_config, single_node_fields
from dynotwist.testing.ports import LOOPBACK, free_ports
from dynotwist.testing.processes import node_env, twistd_argv
from tests.integration.test_admin import admin, info
from tests.support.fixtures import NodeTestCase
from tests.support.resp import bulk
from tests.support.waiting import wait_until

CONNECTIONS = 32
STATE_FORBIDS = b"-ERR Dynomite: Dynomite's current state does not allow this request\r\n"
RESTART_WAIT = 30.0  # seconds: bound on a worker's restart
_PROCESS_ID = re.compile(rb"process_id:(\d+)")
_READ_CONSISTENCY = re.compile(rb"read_consistency:(\w+)")


def worker_of(client: RespClient) -> int:
    """The pid of the worker serving ``client``."""
    client.send_command("INFO", "server")
    match = _PROCESS_ID.search(client.read_reply())
    assert match is not None
    return int(match.group(1))


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


class WorkersTest(NodeTestCase):
    node_fields = {"workers": 2}

    def clients(self) -> Dict[int, List[RespClient]]:
        """:data:`CONNECTIONS` new connections, by the pid of the worker serving each."""
        by_worker: Dict[int, List[RespClient]] = {}
        for _ in range(CONNECTIONS):
            client = self.connect()
            by_worker.setdefault(worker_of(client), []).append(client)
        return by_worker

    def stats(self) -> Dict[str, int]:
        pool: Dict[str, int] = info(self.node.stats_port)["dyn_o_mite"]
        return pool

    def set_state(self, state: str) -> None:
        self.assertEqual(admin(self.node.stats_port, "/state/" + state), b"OK\r\n")

    def test_both_workers_serve_and_info_sums_them(self) -> None:
        by_worker = self.clients()
        self.assertEqual(len(by_worker), 2, "pids of the workers: %r" % list(by_worker))
        self.assertNotIn(self.node.pid, by_worker)  # the parent serves no client
        before = self.stats()
        sent = 0
        for clients in by_worker.values():
            for client in clients:
                client.send_command("SET", "k%d" % sent, "v")
                self.assertEqual(client.read_reply(), b"+OK\r\n")
                client.send_command("GET", "k%d" % sent)
                self.assertEqual(client.read_reply(), bulk(b"v"))
                sent += 1
        after = self.stats()
        self.assertEqual(after["client_write_requests"] - before["client_write_requests"], sent)
        self.assertEqual(after["client_read_requests"] - before["client_read_requests"], sent)
        self.assertGreaterEqual(after["client_connections"], CONNECTIONS)
        metrics = admin(self.node.stats_port, "/metrics").decode()
        written = re.search(r"^dynotwist_client_write_requests_total\S* (\d+)", metrics, re.M)
        assert written is not None
        self.assertEqual(int(written.group(1)), after["client_write_requests"])

    def test_state_change_reaches_both_workers(self) -> None:
        self.addCleanup(self.set_state, "normal")
        self.set_state("standby")
        refused: Set[int] = set()
        for pid, clients in self.clients().items():
            for client in clients:
                client.send_command("GET", "k")
                self.assertEqual(client.read_reply(), STATE_FORBIDS)
                refused.add(pid)
        self.assertEqual(len(refused), 2)
        self.set_state("normal")
        for clients in self.clients().values():
            client = clients[0]
            client.send_command("GET", "k")
            self.assertNotEqual(client.read_reply(), STATE_FORBIDS)

    def read_consistencies(self) -> Dict[int, bytes]:
        """Each worker's read consistency, by pid."""
        levels = {}
        for pid, clients in self.clients().items():
            clients[0].send_command("INFO", "dynomite")
            match = _READ_CONSISTENCY.search(clients[0].read_reply())
            assert match is not None
            levels[pid] = match.group(1)
        return levels

    def test_killed_worker_is_restarted_with_the_changes_made(self) -> None:
        self.addCleanup(admin, self.node.stats_port, "/set_consistency/read/dc_one")
        admin(self.node.stats_port, "/set_consistency/read/dc_quorum")
        before = self.stats()["worker_restarts"]
        workers = list(self.clients())
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        wait_until(lambda: not running(victim), RESTART_WAIT, message="worker killed")
        # the port keeps serving: every new connection is answered (by the other
        # worker, or by the new one once it adopts the killed one's socket)
        for _ in range(4):
            client = self.connect()
            client.send_command("SET", "after-kill", "1")
            self.assertEqual(client.read_reply(), b"+OK\r\n")
        wait_until(lambda: self.stats()["worker_restarts"] == before + 1, RESTART_WAIT,
                   message="worker_restarts counted")
        levels = self.read_consistencies()
        self.assertEqual(len(levels), 2)
        self.assertNotIn(victim, levels)
        self.assertEqual(set(levels.values()), {b"DC_QUORUM"})

    def test_reload_reaches_both_workers(self) -> None:
        fields = dict(self.node.fields)
        self.addCleanup(self._reload, fields)
        self._reload({**fields, "read_consistency": "DC_QUORUM"})
        wait_until(lambda: set(self.read_consistencies().values()) == {b"DC_QUORUM"},
                   RESTART_WAIT, message="both workers reloaded")

    def _reload(self, fields: Dict[str, object]) -> None:
        self.node.rewrite(fields)
        self.node.reload()


class WorkersStopTest(NodeTestCase):
    node_fields = {"workers": 2}

    def test_sigterm_stops_every_worker(self) -> None:
        pids = set()
        for _ in range(CONNECTIONS):
            client = self.connect()
            pids.add(worker_of(client))
            client.close()
        self.assertEqual(len(pids), 2)
        self.node.stop()
        self.assertFalse(self.node.running)
        wait_until(lambda: not any(running(pid) for pid in pids), RESTART_WAIT,
                   message="workers ended")
        with open(self.node.log_path, "rb") as log:
            self.assertNotIn(b"Traceback", log.read())


class WorkersPortTakenTest(unittest.TestCase):
    def test_port_in_use_is_one_line_and_exit_status_1(self) -> None:
        # held as another node's worker holds it: shared (SO_REUSEPORT), yet refused
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind((LOOPBACK, 0))
        taken.listen(1)
        fields = single_node_fields(6379, taken.getsockname()[1], *free_ports(2))
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(render_config({**fields, "workers": 2}))
        result = subprocess.run(twistd_argv("-c", path), env=node_env(), capture_output=True,
                                text=True, timeout=60)
        self.assertEqual(result.returncode, 1)
        self.assertIn("dynomite: cannot listen on 127.0.0.1:%d for listen:"
                      % taken.getsockname()[1], result.stdout + result.stderr)
        self.assertNotIn("Traceback", result.stdout + result.stderr)
        self.assertNotIn("worker 0", result.stdout + result.stderr)

"""The operators' tools as they run them: ``python -m dynotwist.local`` (what
``./scripts/node`` runs) stopped by SIGTERM and SIGHUP as by Ctrl-C, its client line
printed once the node listens; the ``dynotwist`` console script."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
from typing import List

from twisted.trial import unittest

from dynotwist.testing.blocking import RespClient
from dynotwist.testing.configs import render_config, single_node_fields
from dynotwist.testing.ports import LOOPBACK, free_ports, wait_for_port
from dynotwist.testing.processes import node_env

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WAIT = 60  # seconds: a launcher that hangs fails the test


def accepts(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=2).close()
        return True
    except OSError:
        return False


class LocalNodeTest(unittest.TestCase):
    def launch(self) -> subprocess.Popen:
        client, peer, stats = free_ports(3)
        self.client_port = client
        launcher = subprocess.Popen(
            [sys.executable, "-m", "dynotwist.local", "--port", str(client), "--peer-port",
             str(peer), "--stats-port", str(stats), "-v", "4"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=node_env(), cwd=ROOT,
        )
        self.addCleanup(self.reap, launcher)
        return launcher

    @staticmethod
    def reap(launcher: subprocess.Popen) -> None:
        if launcher.poll() is None:
            launcher.kill()
            launcher.wait()
        if launcher.stdout is not None:
            launcher.stdout.close()

    def until_client_line(self, launcher: subprocess.Popen) -> List[str]:
        """The lines printed up to the client line; the node serves when it comes."""
        assert launcher.stdout is not None
        lines: List[str] = []
        for raw in launcher.stdout:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append(line)
            if line.startswith("dynotwist clients:"):
                with RespClient(self.client_port) as client:  # listening, right now
                    self.assertEqual(client.call("PING"), b"+PONG\r\n")
                return lines
        self.fail("no client line: %r" % lines)

    def check_stops_everything(self, sig: int) -> None:
        launcher = self.launch()
        lines = self.until_client_line(launcher)
        found = re.search(r"redis-server on [\d.]+:(\d+)", lines[0])
        assert found is not None, lines
        redis_port = int(found.group(1))
        self.assertTrue(accepts(redis_port))
        self.assertIn("redis-cli -p %d" % self.client_port, lines[-1])
        launcher.send_signal(sig)
        self.assertEqual(launcher.wait(WAIT), 0)
        self.assertFalse(accepts(self.client_port), "the node still listens")
        self.assertFalse(accepts(redis_port), "redis-server still listens")

    def test_sigterm_stops_the_node_and_its_redis_server(self) -> None:
        self.check_stops_everything(signal.SIGTERM)

    def test_sighup_stops_the_node_and_its_redis_server(self) -> None:
        self.check_stops_everything(signal.SIGHUP)


class ConsoleScriptTest(unittest.TestCase):
    script = os.path.join(os.path.dirname(sys.executable), "dynotwist")

    def test_dynotwist_checks_a_configuration(self) -> None:
        result = subprocess.run([self.script, "--test-conf", "-c", "conf/dynomite.yml"],
                                capture_output=True, cwd=ROOT, timeout=WAIT)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stdout,
                         b"dynomite: configuration file 'conf/dynomite.yml' syntax is valid\n")

    def test_a_refused_configuration_is_one_message(self) -> None:
        path = self.mktemp()
        with open(os.path.join(ROOT, "conf", "dynomite.yml")) as f:
            text = f.read().replace("read_consistency", "read_consistancy")
        with open(path, "w") as f:
            f.write(text)
        result = subprocess.run([self.script, "-t", "-c", path], capture_output=True,
                                timeout=WAIT)
        self.assertEqual(result.returncode, 1)
        self.assertEqual(result.stdout, b"")
        self.assertTrue(result.stderr.startswith(
            b'conf: directive "read_consistancy" is unknown\n'), result.stderr)
        self.assertIn(b"line 20", result.stderr)
        self.assertIn(b"did you mean read_consistency?", result.stderr)
        self.assertTrue(result.stderr.endswith(b"syntax is invalid\n"), result.stderr)

    def test_dynotwist_runs_a_node_in_the_foreground(self) -> None:
        client, peer, stats, datastore = free_ports(4)
        path = self.mktemp()
        with open(path, "w") as f:
            f.write(render_config(single_node_fields(datastore, client, peer, stats)))
        node = subprocess.Popen([self.script, "-c", path], stdout=subprocess.DEVNULL,
                                stderr=subprocess.STDOUT, env=node_env())
        self.addCleanup(LocalNodeTest.reap, node)
        wait_for_port(client, process=node)
        with RespClient(client) as connection:
            self.assertEqual(connection.call("PING"), b"+PONG\r\n")
        node.send_signal(signal.SIGTERM)
        # twistd stops cleanly, then (26.10 and later) ends with the signal it received
        self.assertIn(node.wait(WAIT), (0, -signal.SIGTERM))

"""Real datastores for the unit suites that compare the codecs with them.

A server on a free loopback port, started again on another port if that one was
taken meanwhile, ready once it answers a probe, stopped by pid when the test ends.
A missing program fails the test: these tests compare with the real thing.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from typing import List

from twisted.trial import unittest


class ServerProcess:
    program = ""
    probe = b""  # sent once started; the server is ready when it answers ``ready``
    ready = b""

    def __init__(self, testcase: unittest.TestCase) -> None:
        binary = shutil.which(self.program) or shutil.which(self.program, path="/usr/bin")
        if binary is None:
            testcase.fail("%s is not installed: these tests compare with it" % self.program)
        for _attempt in range(5):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                self.port = probe.getsockname()[1]
            self.process = subprocess.Popen(
                [binary, *self.arguments(testcase)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            testcase.addCleanup(self._stop, self.process)
            if self._wait_ready():
                return
        testcase.fail("%s did not start" % self.program)

    def arguments(self, testcase: unittest.TestCase) -> List[str]:
        raise NotImplementedError

    def _wait_ready(self) -> bool:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False  # the port was taken meanwhile: try another
            try:
                with self.connect() as conn:
                    conn.sendall(self.probe)
                    if conn.recv(len(self.ready)) == self.ready:
                        return True
            except OSError:
                time.sleep(0.02)
        return False

    @staticmethod
    def _stop(process: subprocess.Popen) -> None:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def connect(self, timeout: float = 20) -> socket.socket:
        conn = socket.create_connection(("127.0.0.1", self.port), timeout=timeout)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

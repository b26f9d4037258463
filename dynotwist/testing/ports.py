"""Loopback addresses and ports chosen free at run time, and waiting for a listener."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import List, Optional

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = LOOPBACK) -> List[int]:
    """``count`` distinct TCP ports nobody listens on right now (all bound at once, so
    that none is handed out twice)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sockets.append(sock)
            sock.bind((host, 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def loopback_hosts(count: int, first: int = 2) -> List[str]:
    """``count`` loopback addresses from 127.0.0.``first`` (Linux routes all of
    127.0.0.0/8 to the loopback interface)."""
    if first < 1 or first + count > 255:
        raise ValueError("127.0.0.%d and %d more do not fit in 127.0.0.1-254" % (first, count))
    return ["127.0.0.%d" % n for n in range(first, first + count)]


def wait_for_port(
    port: int,
    host: str = LOOPBACK,
    timeout: float = 15.0,
    process: Optional[subprocess.Popen] = None,
) -> None:
    """Block until something accepts connections on ``host:port``; RuntimeError if
    ``process`` exits first or nothing listens after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError("process %r exited with %s" % (process.args, process.returncode))
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("nothing listens on %s:%d after %.0f s" % (host, port, timeout))

"""Loopback addresses and ports chosen free at run time, and waiting for a listener."""

from __future__ import annotations

import random
import socket
import subprocess
import time
from typing import List, Optional, Tuple

LOOPBACK = "127.0.0.1"


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port nobody listens on right now."""
    return free_ports(1, host)[0]


def free_ports(count: int, host: str = LOOPBACK) -> List[int]:
    """``count`` distinct TCP ports nobody listens on right now (all bound at once, so
    that none is handed out twice), taken below the kernel's ephemeral range where it
    leaves room: a port from that range could be given meanwhile to an outgoing
    connection (one node connecting to another) before the process meant to listen
    on it has started."""
    low, _ = _ephemeral_range()
    candidates = list(range(_FIRST_PORT, low)) if low - _FIRST_PORT >= 1000 else []
    random.shuffle(candidates)
    sockets: List[socket.socket] = []
    try:
        while len(sockets) < count:
            sock = socket.socket()
            try:
                sock.bind((host, candidates.pop() if candidates else 0))
            except OSError:
                sock.close()
                continue
            sockets.append(sock)
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


_FIRST_PORT = 10000  # below: ports that well-known services may hold


def _ephemeral_range() -> Tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = f.read().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 49152, 65535  # IANA's dynamic ports (BSD, macOS)


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

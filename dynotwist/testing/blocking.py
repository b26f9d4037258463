"""Blocking clients that hand back each reply's exact bytes.

For the launcher (which runs no reactor) and for tests where the bytes on the wire are
the point: malformed requests, exact replies, what a server does on a closed
connection. A trial test that only needs answers talks through txredisapi instead
(``dynotwist.testing.connect_redis``).
"""

from __future__ import annotations

import socket
import ssl
from collections import deque
from typing import Deque, Iterable, List, Optional, Sequence, Union

from dynotwist.proto.resp import ReplyFramer, encode_command
from dynotwist.testing.ports import LOOPBACK

Arg = Union[bytes, str, int, float]

# Generous: far above every timeout the nodes under test are configured with.
SOCKET_TIMEOUT = 15.0


def to_bytes(arg: Arg) -> bytes:
    if isinstance(arg, bytes):
        return arg
    if isinstance(arg, str):
        return arg.encode("utf-8")
    return repr(arg).encode() if isinstance(arg, float) else str(arg).encode()


def encode(*args: Arg) -> bytes:
    """The multibulk encoding of a command."""
    return encode_command([to_bytes(a) for a in args])


class ConnectionClosed(ConnectionResetError):
    """The server closed the connection while a reply was awaited."""


class RespClient:
    """A blocking RESP client: each reply as its raw bytes (framed by the node's own
    ``ReplyFramer``); ``context`` wraps the connection in TLS."""

    def __init__(
        self,
        port: int,
        host: str = LOOPBACK,
        timeout: float = SOCKET_TIMEOUT,
        context: Optional[ssl.SSLContext] = None,
    ) -> None:
        self.port = port
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if context is not None:
            self.sock = context.wrap_socket(self.sock, server_hostname=host)
        self.framer = ReplyFramer()
        self.replies: Deque[bytes] = deque()

    # -- sending ----------------------------------------------------------------------
    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send_command(self, *args: Arg) -> None:
        self.send(encode(*args))

    # -- receiving --------------------------------------------------------------------
    def read_reply(self) -> bytes:
        """The next whole reply; ConnectionClosed on EOF, socket.timeout on silence."""
        while not self.replies:
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionClosed("server closed the connection on port %d" % self.port)
            self.replies.extend(self.framer.feed(data))
        return self.replies.popleft()

    def read_replies(self, count: int) -> List[bytes]:
        return [self.read_reply() for _ in range(count)]

    def read_until_closed(self) -> bytes:
        """Every byte the server sends until it closes; socket.timeout if it never does."""
        chunks = list(self.replies)
        self.replies.clear()
        while True:
            try:
                data = self.sock.recv(65536)
            except ConnectionResetError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)

    # -- both -------------------------------------------------------------------------
    def call(self, *args: Arg) -> bytes:
        self.send_command(*args)
        return self.read_reply()

    def call_raw(self, data: bytes) -> bytes:
        self.send(data)
        return self.read_reply()

    def pipeline(self, commands: Iterable[Sequence[Arg]]) -> List[bytes]:
        """Send every command in one write, then read as many replies."""
        frames = [encode(*command) for command in commands]
        self.send(b"".join(frames))
        return self.read_replies(len(frames))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RespClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def memcache_call(
    port: int, data: bytes, host: str = LOOPBACK, timeout: float = SOCKET_TIMEOUT
) -> bytes:
    """Send one memcached text request, return its reply: one line, or up to ``END``
    for a get."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        multi = data.startswith((b"get ", b"gets ", b"gat ", b"gats "))
        buffer = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                raise ConnectionClosed("the server closed the connection")
            buffer += chunk
            if not multi and buffer.endswith(b"\r\n"):
                return buffer
            if multi and (buffer == b"END\r\n" or buffer.endswith(b"\r\nEND\r\n")
                          or (buffer.endswith(b"\r\n") and b"ERROR" in buffer[:16])):
                return buffer

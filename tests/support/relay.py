"""A recording TCP relay for watching peer traffic on loopback without tcpdump.

The relay forwards each connection to a target, connecting from the source address
of the connection it relays (so that the target sees the node that connected, as a
plaintext policy by source address needs); it records the bytes of each connection in
each direction, with the connecting side's address. Listening on the target's own
address (another port), it can stand in for the target in every seed list without
changing the addresses the nodes and their certificates name.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from typing import List, Optional


class RelayedConnection:
    def __init__(self, source: str) -> None:
        self.source = source  # the connecting side's address
        self.to_target = bytearray()  # what the connecting node sent
        self.to_source = bytearray()  # what the target answered


class RecordingRelay:
    """Relays ``host``:``port`` (port chosen free) to ``target_host``:``target_port``."""

    def __init__(self, host: str, target_host: str, target_port: int) -> None:
        self.host = host
        self.target = (target_host, target_port)
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, 0))
        self.listener.listen(16)
        self.port = int(self.listener.getsockname()[1])
        self.connections: List[RelayedConnection] = []
        self.lock = threading.Lock()
        self._sockets: List[socket.socket] = [self.listener]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, (source, _) = self.listener.accept()
            except OSError:
                return
            upstream = socket.socket()
            try:
                upstream.bind((source, 0))
                upstream.connect(self.target)
            except OSError:
                client.close()
                upstream.close()
                continue
            record = RelayedConnection(source)
            with self.lock:
                self.connections.append(record)
                self._sockets += [client, upstream]
            threading.Thread(
                target=self._pump, args=(client, upstream, record.to_target), daemon=True
            ).start()
            threading.Thread(
                target=self._pump, args=(upstream, client, record.to_source), daemon=True
            ).start()

    def _pump(self, source: socket.socket, sink: socket.socket, record: bytearray) -> None:
        try:
            while True:
                data = source.recv(65536)
                if not data:
                    break
                with self.lock:
                    record += data
                sink.sendall(data)
        except OSError:
            pass
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def _from(self, source: Optional[str]) -> List[RelayedConnection]:
        with self.lock:
            return [c for c in self.connections if source in (None, c.source)]

    def sent(self, source: Optional[str] = None) -> bytes:
        """What the connecting side sent so far (from ``source`` only, if given)."""
        return b"".join(bytes(c.to_target) for c in self._from(source))

    def first_bytes(self, source: Optional[str] = None) -> bytes:
        """The first byte of each connection (from ``source`` only, if given)."""
        return bytes(c.to_target[0] for c in self._from(source) if c.to_target)

    def close(self) -> None:
        self._closed = True
        with self.lock:
            sockets = list(self._sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.close()

"""The error replies the node itself generates.

Dynomite's texts (``-ERR <source>: <text>``) are kept byte for byte: clients and
operators match on them.
"""

from __future__ import annotations

from typing import Callable, NamedTuple

from dynotwist.proto.resp import error_reply, is_error_reply

DATASTORE_REFUSED = error_reply("ERR Storage: Datastore refused connection")
PEER_NOT_CONNECTED = error_reply("ERR Peer: Peer Node is not connected")
PEER_REFUSED = error_reply("ERR Peer: Peer Node refused connection")
STATE_FORBIDS = error_reply("ERR Dynomite: Dynomite's current state does not allow this request")
QUORUM_FAILED = error_reply("ERR Dynomite: Failed to achieve Quorum")
MAX_CLIENTS = error_reply("ERR max number of clients reached")


class Replies(NamedTuple):
    """The errors the node generates, written in one client protocol's syntax.

    RESP clients get ``-ERR <text>``, memcached clients ``SERVER_ERROR <text>``; the
    texts are Dynomite's either way. ``is_error`` tells the datastore's own error
    replies apart (they count against a quorum).
    """

    datastore_refused: bytes
    peer_not_connected: bytes
    peer_refused: bytes
    state_forbids: bytes
    quorum_failed: bytes
    is_error: Callable[[bytes], bool]
    max_clients: bytes  # to a connection over client_connections, before it is closed


RESP = Replies(
    DATASTORE_REFUSED,
    PEER_NOT_CONNECTED,
    PEER_REFUSED,
    STATE_FORBIDS,
    QUORUM_FAILED,
    is_error_reply,
    MAX_CLIENTS,
)

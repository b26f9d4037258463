"""The error replies the node itself generates.

Dynomite's texts (``-ERR <source>: <text>``) are kept byte for byte: clients and
operators match on them.
"""

from __future__ import annotations

from dynotwist.proto.resp import error_reply

DATASTORE_REFUSED = error_reply("ERR Storage: Datastore refused connection")
PEER_NOT_CONNECTED = error_reply("ERR Peer: Peer Node is not connected")
PEER_REFUSED = error_reply("ERR Peer: Peer Node refused connection")
STATE_FORBIDS = error_reply("ERR Dynomite: Dynomite's current state does not allow this request")
QUORUM_FAILED = error_reply("ERR Dynomite: Failed to achieve Quorum")
SCRIPT_SPANS_NODES = error_reply("ERR Dynomite: Keys in the script cannot span multiple nodes")


"""What routing needs to know of a request, whatever protocol it came in.

A datastore kind (``dynotwist.datastores``) reads its own protocol and describes each
request it forwards as a :class:`Command`: how it is routed, whether it writes, and its
keys in order. The router plans from that alone, so a new kind of datastore needs no
change here. Pure data: no Twisted, no I/O.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

__all__ = [
    "ALL_NODES",
    "LOCAL_DATASTORE",
    "LOCAL_RACK_ALL",
    "LOCAL_RACK_OWNER",
    "MULTI_COLOCATED",
    "MULTI_FRAGMENT",
    "NODE",
    "ROUTES",
    "SINGLE",
    "UNSUPPORTED",
    "Command",
]

SINGLE = "single"
"""One key (the first of ``keys``): routed to the key's owner; replicated if a write."""
MULTI_FRAGMENT = "multi_fragment"
"""Several keys, split by owner into one fragment per owner; the fragments' replies
are merged back (MGET, DEL, MSET; memcached's multi-key gets)."""
MULTI_COLOCATED = "multi_colocated"
"""Several keys that must live on one node."""
LOCAL_DATASTORE = "local_datastore"
"""No key: the coordinator's own datastore only (INFO, CONFIG GET, TIME...)."""
LOCAL_RACK_ALL = "local_rack_all"
"""No key: every node of the local rack, each answering from its own datastore; the
datastore kind merges their replies (KEYS, DBSIZE, RANDOMKEY) or, for a cursor, visits
them one after the other (SCAN). With one node in the rack: the local datastore."""
LOCAL_RACK_OWNER = "local_rack_owner"
"""The key's owner in the local rack only, never other racks or DCs, never with a
quorum (Dynomite's rule for HGETALL, HKEYS, HVALS, HSCAN, SSCAN, ZSCAN)."""
ALL_NODES = "all_nodes"
"""Every node of the cluster; the client gets the local reply (SCRIPT LOAD...)."""
NODE = "node"
"""Answered by the node itself, never forwarded."""
UNSUPPORTED = "unsupported"
"""Refused with an error."""

ROUTES = (
    SINGLE,
    MULTI_FRAGMENT,
    MULTI_COLOCATED,
    LOCAL_DATASTORE,
    LOCAL_RACK_ALL,
    LOCAL_RACK_OWNER,
    ALL_NODES,
    NODE,
    UNSUPPORTED,
)


class Command(NamedTuple):
    """One request as routing sees it.

    ``route`` is one of :data:`ROUTES` (the forwarded ones); ``keys`` the request's
    keys in order (what their tokens are computed from, and, for
    :data:`MULTI_FRAGMENT`, what is split by owner).
    """

    route: str
    write: bool
    keys: Sequence[bytes]

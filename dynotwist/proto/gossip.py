"""Dynomite's gossip payload (sans-I/O): the body of a ``GOSSIP_SYN`` dnode frame.

A payload is one entry per node, joined with ``|``, no line ending::

    dc$rack$token,ts,state,address|dc$rack$token,ts,state,address|...

``token`` is the node's first token (decimal), ``ts`` unix seconds when the node last
spoke for itself, ``state`` its state's number (:data:`STATE_CODES`), ``address`` its
IP (or host name) without a port. A joining node sends one entry, about itself (the
announce); a normal node sends every node it knows (its table). Dynomite reads entries
right to left, splitting each at its last three commas and its host id at the last two
dollars, so a DC name may hold ``$`` and an address anything but ``,`` and ``|``.

The frame's data field is ``a`` (:data:`~dynotwist.proto.dnode.DATA_GOSSIP`).
dynotwist adds the nodes' peer ports, which the entries lack, after it:
``a:8101,8101,...`` — one per entry, in order. Dynomite skips the data field of a
plaintext frame unread, so C nodes see a gossip frame as ever.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, NamedTuple, Optional, Sequence

from dynotwist.proto.dnode import DATA_GOSSIP

__all__ = [
    "STATE_CODES",
    "STATE_NAMES",
    "GossipEntry",
    "GossipError",
    "decode_ports",
    "encode_entries",
    "encode_ports",
    "parse_entries",
]

#: node states by their wire numbers (Dynomite's dyn_state_t; 5, 6, 9 and 10 are
#: commented out there)
STATE_CODES: Dict[str, int] = {
    "INIT": 0,
    "STANDBY": 1,
    "WRITES_ONLY": 2,
    "RESUMING": 3,
    "NORMAL": 4,
    "LEAVING": 6,
    "JOINING": 7,
    "DOWN": 8,
    "RESET": 11,
    "UNKNOWN": 12,
}
STATE_NAMES: Dict[int, str] = {code: name for name, code in STATE_CODES.items()}

_MAX_TOKEN = 0xFFFFFFFF
_PORTS_PREFIX = DATA_GOSSIP + b":"


class GossipError(ValueError):
    """A payload that is not a list of gossip entries."""


class GossipEntry(NamedTuple):
    """What one node says about one node."""

    dc: str
    rack: str
    token: int
    ts: int
    state: int
    address: str

    @property
    def state_name(self) -> str:
        return STATE_NAMES.get(self.state, "UNKNOWN")


def parse_entries(payload: bytes) -> List[GossipEntry]:
    """The entries of a payload, in payload order; GossipError names the first bad one."""
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise GossipError("gossip payload is not UTF-8 text") from None
    if not text:
        raise GossipError("empty gossip payload")
    return [_entry(item) for item in text.split("|")]


def _entry(item: str) -> GossipEntry:
    fields = item.rsplit(",", 3)
    if len(fields) != 4:
        raise GossipError("gossip entry %r: not dc$rack$token,ts,state,address" % item)
    host_id, ts, state, address = fields
    ids = host_id.rsplit("$", 2)
    if len(ids) != 3 or not all(ids):
        raise GossipError("gossip entry %r: host id is not dc$rack$token" % item)
    dc, rack, token = ids
    if not (_number(token) and _number(ts) and _number(state)) or not address:
        raise GossipError("gossip entry %r: token, ts and state are numbers" % item)
    if int(token) > _MAX_TOKEN:
        raise GossipError("gossip entry %r: token out of range" % item)
    return GossipEntry(dc, rack, int(token), int(ts), int(state), address)


def _number(text: str) -> bool:
    return text.isascii() and text.isdigit()


def encode_entries(entries: Iterable[GossipEntry]) -> bytes:
    """A payload: the entries in order."""
    return "|".join(
        "%s$%s$%d,%d,%d,%s" % (e.dc, e.rack, e.token, e.ts, e.state, e.address)
        for e in entries
    ).encode("utf-8")


def encode_ports(ports: Sequence[int]) -> bytes:
    """The data field of a dynotwist gossip frame: ``a`` and each entry's peer port."""
    return _PORTS_PREFIX + b",".join(b"%d" % port for port in ports)


def decode_ports(data: bytes, count: int) -> Optional[List[int]]:
    """The entries' peer ports from a frame's data field; None if it has none (a C
    node's ``a``) or they do not fit the ``count`` entries."""
    if not data.startswith(_PORTS_PREFIX):
        return None
    fields = data[len(_PORTS_PREFIX):].split(b",")
    if len(fields) != count or not all(f.isdigit() and 0 < int(f) < 65536 for f in fields):
        return None
    return [int(f) for f in fields]

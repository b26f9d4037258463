"""INFO and CLIENT LIST as a node answers them, in Redis's formats. Pure logic.

INFO describes the node a client talks to, not the datastore behind it: the server
section names dynotwist, its version, process and port (and the datastore's Redis
version, which clients read to know what they may send); clients and stats are the
node's; a ``dynomite`` section gives its place in the cluster; the keyspace is the
sum over every node of the local rack (``core.keyspace``). ``INFO <section> ...``
gives those sections only; ``all``, ``everything`` and ``default`` (or nothing) give
them all. CLIENT LIST and CLIENT INFO list the node's own client connections with
Redis's fields.
"""

from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from dynotwist.proto.resp import error_reply

__all__ = [
    "SECTIONS",
    "client_lines",
    "client_list_filter",
    "keyspace_fields",
    "render_info",
    "wanted_sections",
]

Fields = List[Tuple[str, object]]

#: INFO's sections, in the order they are written
SECTIONS = ("server", "clients", "stats", "dynomite", "keyspace")
_ALL = frozenset((b"all", b"everything", b"default"))
_TITLES = {"server": "Server", "clients": "Clients", "stats": "Stats",
           "dynomite": "Dynomite", "keyspace": "Keyspace"}


def wanted_sections(args: Sequence[bytes]) -> Tuple[str, ...]:
    """The sections ``INFO args...`` asks for, in INFO's order (unknown names are
    ignored, as Redis ignores them)."""
    names = {arg.lower() for arg in args}
    if not names or names & _ALL:
        return SECTIONS
    return tuple(section for section in SECTIONS if section.encode() in names)


def render_info(wanted: Sequence[str], sections: Dict[str, Fields]) -> bytes:
    """The INFO text: ``# Title`` then ``key:value`` lines per section, CRLF, a blank
    line between sections (Redis's layout)."""
    blocks = []
    for name in wanted:
        lines = ["# %s" % _TITLES[name]]
        lines += ["%s:%s" % (key, value) for key, value in sections.get(name, [])]
        blocks.append("\r\n".join(lines) + "\r\n")
    return "\r\n".join(blocks).encode("utf-8")


def keyspace_fields(keyspace: Dict[bytes, Tuple[int, int, int]]) -> Fields:
    """``dbN:keys=..,expires=..,avg_ttl=..`` lines of a (summed) keyspace."""
    return [
        (db.decode("ascii"), "keys=%d,expires=%d,avg_ttl=%d" % values)
        for db, values in keyspace.items()
    ]


def client_lines(clients: Iterable[Fields]) -> bytes:
    """CLIENT LIST's text: one ``key=value ...`` line per client, each ending in LF."""
    return b"".join(
        " ".join("%s=%s" % (key, value) for key, value in fields).encode("utf-8") + b"\n"
        for fields in clients
    )


def client_list_filter(args: Sequence[bytes]) -> Tuple[Optional[set], Optional[bytes]]:
    """``CLIENT LIST [TYPE type] [ID id ...]`` (``args`` after LIST): (the client ids
    wanted, None for all; or the error reply). Every client of a node is of type
    ``normal``; other types list none."""
    if not args:
        return None, None
    option = args[0].lower()
    if option == b"type" and len(args) == 2:
        kind = args[1].lower()
        if kind == b"normal":
            return None, None
        if kind in (b"master", b"replica", b"slave", b"pubsub"):
            return set(), None
        return None, error_reply("ERR Unknown client type '%s'" % args[1].decode("latin-1"))
    if option == b"id" and len(args) >= 2:
        ids = set()
        for arg in args[1:]:
            if not arg.isdigit() or arg.startswith(b"0"):
                return None, error_reply("ERR Invalid client ID")
            ids.add(int(arg))
        return ids, None
    return None, error_reply("ERR syntax error")

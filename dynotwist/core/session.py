"""A client connection's state and the commands the node answers itself.

Pure logic: each handler takes the session and the request's arguments and returns
the reply bytes. The network layer owns the connection; it asks ``answer`` for the
reply and reads ``session.closing`` to know when to hang up.
"""

from __future__ import annotations

import hmac
from typing import Any, Callable, Dict, List, Optional

from dynotwist import __version__
from dynotwist.core.consistency import parse_level
from dynotwist.proto import commands
from dynotwist.proto import transactions as tx
from dynotwist.proto.resp import (
    OK,
    PONG,
    array_header,
    bulk_reply,
    error_reply,
    integer_reply,
    map_header,
)

NOAUTH = error_reply("NOAUTH Authentication required.")
WRONGPASS = error_reply("WRONGPASS invalid username-password pair or user is disabled.")


class Transaction:
    """A client's MULTI ... EXEC in progress: the requests queued (their bytes), whether
    one writes, the node their keys live on and the first key (what the unit is routed
    by); ``refused`` once a command could not be queued (EXEC answers EXECABORT);
    ``multi_refused`` when the MULTI itself was refused: nothing is queued or run up
    to EXEC or DISCARD."""

    __slots__ = ("first_key", "multi_refused", "owner", "raws", "refused", "size_bytes",
                 "write")

    def __init__(self, multi_refused: bool = False) -> None:
        self.raws: List[bytes] = []
        self.write = False
        self.owner: Any = None  # a core.ring.Member
        self.first_key = b""
        self.refused = multi_refused
        self.multi_refused = multi_refused
        self.size_bytes = 0

    @property
    def size(self) -> int:
        return len(self.raws)

    def queue(self, raw: bytes, write: bool, owner: Any, first_key: bytes) -> None:
        if not self.raws:
            self.owner = owner
            self.first_key = first_key
        self.raws.append(raw)
        self.size_bytes += len(raw)
        self.write = self.write or write


class ClientSession:
    """What the node remembers about one client connection."""

    def __init__(
        self,
        client_id: int,
        read_consistency: str,
        write_consistency: str,
        password: Optional[str] = None,
    ) -> None:
        self.client_id = client_id
        self.resp3 = False
        self.name: Optional[bytes] = None
        self.library: Dict[bytes, bytes] = {}
        # a snapshot of the node's levels when the connection was accepted, as Dynomite
        self.read_consistency = read_consistency
        self.write_consistency = write_consistency
        self._password = password.encode() if password is not None else None
        self.authenticated = password is None
        self.closing = False
        self.transaction: Optional[Transaction] = None  # between MULTI and EXEC/DISCARD
        self._initial_consistency = (read_consistency, write_consistency)

    def reset(self) -> None:
        """RESET: back to a fresh connection's state (RESP2, no name, signed out, no
        transaction)."""
        self.resp3 = False
        self.name = None
        self.read_consistency, self.write_consistency = self._initial_consistency
        self.authenticated = self._password is None
        self.transaction = None

    def check_password(self, given: bytes) -> bool:
        if self._password is None:
            return False
        self.authenticated = hmac.compare_digest(given, self._password)
        return self.authenticated


Handler = Callable[[ClientSession, List[bytes]], bytes]


def _ping(session: ClientSession, args: List[bytes]) -> bytes:
    if len(args) == 1:
        return PONG
    return bulk_reply(args[1])


def _echo(session: ClientSession, args: List[bytes]) -> bytes:
    return bulk_reply(args[1])


def _quit(session: ClientSession, args: List[bytes]) -> bytes:
    session.closing = True
    return OK


def _select(session: ClientSession, args: List[bytes]) -> bytes:
    if args[1] == b"0":
        return OK
    return error_reply("ERR SELECT is not allowed: a Dynomite cluster has only database 0")


def _auth(session: ClientSession, args: List[bytes]) -> bytes:
    if session._password is None:
        return error_reply(
            "ERR AUTH <password> called without any password configured for the default"
            " user. Are you sure your configuration is correct?"
        )
    if len(args) == 3 and args[1] != b"default":
        session.authenticated = False
        return WRONGPASS
    return OK if session.check_password(args[-1]) else WRONGPASS


def _hello(session: ClientSession, args: List[bytes]) -> bytes:
    version = 2 if not session.resp3 else 3
    i = 1
    if len(args) > 1:
        try:
            version = int(args[1])
        except ValueError:
            return error_reply("ERR Protocol version is not an integer or out of range")
        if version not in (2, 3):
            return error_reply("NOPROTO unsupported protocol version")
        i = 2
    while i < len(args):
        option = args[i].upper()
        if option == b"AUTH" and i + 2 < len(args):
            if args[i + 1] != b"default":
                return WRONGPASS
            # without requirepass the default user has no password: any is accepted
            if session._password is not None and not session.check_password(args[i + 2]):
                return WRONGPASS
            i += 3
        elif option == b"SETNAME" and i + 1 < len(args):
            session.name = args[i + 1]
            i += 2
        else:
            return error_reply("ERR Syntax error in HELLO option '%s'" % args[i].decode("latin-1"))
    if not session.authenticated:
        return error_reply(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise"
            " the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the"
            " client and select the RESP protocol version at the same time"
        )
    session.resp3 = version == 3
    fields = [
        (b"server", bulk_reply(b"dynotwist")),
        (b"version", bulk_reply(__version__.encode())),
        (b"proto", integer_reply(version)),
        (b"id", integer_reply(session.client_id)),
        (b"mode", bulk_reply(b"standalone")),
        (b"role", bulk_reply(b"master")),
        (b"modules", array_header(0)),
    ]
    body = b"".join(bulk_reply(key) + value for key, value in fields)
    return map_header(len(fields), session.resp3) + body


def _client(session: ClientSession, args: List[bytes]) -> bytes:
    sub = args[1].lower()
    if sub == b"setname":
        if any(c <= 0x20 or c >= 0x7F for c in args[2]):
            return error_reply(
                "ERR Client names cannot contain spaces, newlines or special characters."
            )
        session.name = args[2] or None
        return OK
    if sub == b"getname":
        return bulk_reply(session.name, session.resp3)
    if sub == b"setinfo":
        attribute = args[2].lower()
        if attribute not in (b"lib-name", b"lib-ver"):
            return error_reply(
                "ERR Unrecognized option '%s'" % args[2].decode("latin-1")
            )
        session.library[attribute] = args[3]
        return OK
    if sub == b"id":
        return integer_reply(session.client_id)
    # INFO and LIST describe the node's connections: the client port answers them
    return error_reply("ERR CLIENT %s is answered by the client port" % sub.decode().upper())


def verbatim(text: bytes, resp3: bool) -> bytes:
    """Text as Redis sends it (INFO, CLIENT LIST): a verbatim string in RESP3."""
    if resp3:
        return b"=%d\r\ntxt:%s\r\n" % (len(text) + 4, text)
    return bulk_reply(text)


def _command(session: ClientSession, args: List[bytes]) -> bytes:
    return commands.command_reply(args, session.resp3)


def _reset(session: ClientSession, args: List[bytes]) -> bytes:
    session.reset()
    return b"+RESET\r\n"


def _multi(session: ClientSession, args: List[bytes]) -> bytes:
    session.transaction = Transaction()
    return OK


def _exec(session: ClientSession, args: List[bytes]) -> bytes:
    return tx.EXEC_WITHOUT_MULTI  # within a transaction the client port runs it


def _discard(session: ClientSession, args: List[bytes]) -> bytes:
    return tx.DISCARD_WITHOUT_MULTI  # within a transaction the client port ends it


def _unwatch(session: ClientSession, args: List[bytes]) -> bytes:
    return OK  # nothing is ever watched (WATCH is refused)


def _conn_consistency(session: ClientSession, args: List[bytes]) -> bytes:
    level = parse_level(args[1])
    if level is None:
        return error_reply(
            "ERR consistency must be one of DC_ONE, DC_QUORUM, DC_SAFE_QUORUM, DC_EACH_SAFE_QUORUM"
        )
    session.read_consistency = session.write_consistency = level
    return OK


HANDLERS: Dict[str, Handler] = {
    "ping": _ping,
    "echo": _echo,
    "quit": _quit,
    "select": _select,
    "auth": _auth,
    "hello": _hello,
    "client": _client,
    "command": _command,
    "reset": _reset,
    "dyno_config:conn_consistency": _conn_consistency,
    "multi": _multi,
    "exec": _exec,
    "discard": _discard,
    "unwatch": _unwatch,
}

# commands an unauthenticated client may send
BEFORE_AUTH = frozenset(("auth", "hello", "quit", "reset"))


def answer(session: ClientSession, name: str, args: List[bytes]) -> bytes:
    """The reply to a command answered by the node itself (route NODE)."""
    handler = HANDLERS.get(name.split("|", 1)[0])
    if handler is None:
        return error_reply("ERR unknown command '%s'" % name)
    return handler(session, args)

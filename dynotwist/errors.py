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


def unknown_command(args: list) -> bytes:
    """Redis 7's reply to an unknown command, so clients see what Redis would say."""
    shown = "".join("'%s' " % a[:128].decode("latin-1") for a in args[1:])
    return error_reply(
        "ERR unknown command '%s', with args beginning with: %s"
        % (args[0][:128].decode("latin-1"), shown)
    )


def unknown_subcommand(args: list) -> bytes:
    return error_reply(
        "ERR unknown subcommand '%s'. Try %s HELP."
        % (args[1][:128].decode("latin-1"), args[0].decode("latin-1").upper())
    )


def wrong_arity(name: str) -> bytes:
    return error_reply("ERR wrong number of arguments for '%s' command" % name)


def unsupported(name: str, reason: str) -> bytes:
    return error_reply("ERR unsupported command '%s': %s" % (name, reason))

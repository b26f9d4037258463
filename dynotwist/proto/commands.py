"""The Redis command table: arity, key positions, read/write and routing class.

Sans-I/O (no Twisted): the router asks this module, for one parsed request
(``args``: the list of argument ``bytes``, command name first),

* which command it is: :func:`lookup` (case-insensitive; resolves container
  subcommands such as ``CONFIG GET``; refines a few commands by their options),
* whether the argument count is right: :func:`arity_ok`,
* which arguments are keys: :func:`key_indexes` / :func:`keys`,
* whether it modifies data (``spec.write``, decides replication) and how it is routed
  (``spec.route``, one of the constants below).

It also answers the ``COMMAND`` family for the proxy (:func:`command_reply`,
:func:`command_info_reply`, :func:`command_list_reply`, :func:`command_count`) in
Redis 7's format, RESP2 or RESP3, and frames Redis-like error replies.

The table below was derived from a live redis-server 7.0 (``COMMAND``, ``COMMAND DOCS``;
see ``scripts/gen_commands.py``): arity, flags, legacy first/last/step key positions and
ACL categories are Redis's own, and ``tests/unit/test_commands.py`` cross-checks them
against a live server.  The routing column and the read/write overrides are dynotwist's
decisions (see the notes above ``TABLE`` in ``command_table``).

``lookup`` contract:

* unknown command name -> ``None``;
* a container (``CONFIG``, ``OBJECT``, ...) whose subcommand is missing or unknown ->
  the container's own spec, recognisable by ``spec.subcommands is not None``.  With a
  missing subcommand ``arity_ok`` fails (Redis: "wrong number of arguments for 'config'
  command"); with an unknown one its route is :data:`UNSUPPORTED` and
  :func:`unsupported_error` renders Redis's "unknown subcommand 'x'. Try CONFIG HELP.".
  ``COMMAND`` is the exception: its container spec is :data:`NODE` (bare ``COMMAND`` is
  valid) and :func:`command_reply` reports its unknown subcommands itself;
* a handful of commands whose class depends on their options come back as a variant
  spec with the same name: ``SORT ... STORE`` and ``GEORADIUS[BYMEMBER] ... STORE|STOREDIST``
  (multi-key writes), ``BITFIELD`` with only GET/OVERFLOW (a read), ``PFCOUNT`` with one key
  (single), ``XREAD``/``XREADGROUP`` with ``BLOCK`` and ``COPY ... DB n`` (n != 0) (refused).
"""

from __future__ import annotations

import dataclasses
import fnmatch
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

from dynotwist.core.command import (
    ALL_NODES,
    LOCAL_DATASTORE,
    LOCAL_RACK_ALL,
    LOCAL_RACK_OWNER,
    MULTI_COLOCATED,
    MULTI_FRAGMENT,
    NODE,
    ROUTES,
    SINGLE,
    UNSUPPORTED,
    Command,
)
from dynotwist.core.stats.table import REDIS_REQUESTS
from dynotwist.proto.command_table import DOCS, REASONS, TABLE

__all__ = [
    "ALL_NODES",
    "COMMANDS",
    "COMMANDS_BY_NAME",
    "LOCAL_DATASTORE",
    "LOCAL_RACK_ALL",
    "LOCAL_RACK_OWNER",
    "MULTI_COLOCATED",
    "MULTI_FRAGMENT",
    "NODE",
    "ROUTES",
    "SINGLE",
    "SPECS",
    "UNSUPPORTED",
    "CommandSpec",
    "KeySpecError",
    "arity_error",
    "arity_ok",
    "command_count",
    "command_docs_reply",
    "command_info_reply",
    "command_list_reply",
    "command_reply",
    "key_indexes",
    "keys",
    "lookup",
    "unknown_command_error",
    "unsupported_error",
]

# -- routing classes: dynotwist.core.command's, which the table assigns to each command

class KeySpecError(ValueError):
    """The key positions cannot be computed from the arguments (bad numkeys, unbalanced
    XREAD STREAMS, odd MSET pairs...).  ``message`` is Redis's text without the ``ERR``
    prefix; ``reply`` is the whole RESP error line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def reply(self) -> bytes:
        return b"-ERR " + self.message.encode("utf-8", "replace") + b"\r\n"


KeysFn = Callable[["CommandSpec", List[bytes]], List[int]]
RefineFn = Callable[["CommandSpec", List[bytes]], "CommandSpec"]


@dataclasses.dataclass(frozen=True, eq=False)
class CommandSpec:
    """One command or subcommand.  Immutable; compared by identity."""

    __slots__ = ("acl_categories", "arity", "first_key", "flags", "group", "key_step",
                 "keys_fn", "last_key", "listed", "name", "numkeys_index", "numkeys_style",
                 "reason", "refine", "route", "since", "stat_class", "subcommands", "summary",
                 "write")

    name: str                  # lower-case full name: "get", "config|get"
    arity: int                 # N: exactly N args (name included); -N: at least N
    write: bool                # modifies data: replicated to every rack and DC
    route: str                 # one of ROUTES
    first_key: int             # Redis's legacy (first, last, step); 0 = no fixed key
    last_key: int              # negative: counted from the end (-1 = last argument)
    key_step: int
    numkeys_index: int         # index of a numkeys argument (keys follow it), else 0
    reason: Optional[str]      # UNSUPPORTED: why, as a short phrase
    subcommands: Optional[Dict[bytes, CommandSpec]]  # containers: lower+upper names
    flags: Tuple[str, ...]     # Redis command flags, Redis's order ("readonly", "fast")
    acl_categories: Tuple[str, ...]  # "@read", "@string", ...
    group: str                 # COMMAND DOCS group ("string", "sorted-set", ...)
    since: str                 # COMMAND DOCS since
    summary: str               # COMMAND DOCS summary
    numkeys_style: str         # which Redis error texts a bad numkeys gets
    keys_fn: Optional[KeysFn]  # option-dependent keys (SORT STORE, XREAD STREAMS...)
    refine: Optional[RefineFn]  # option-dependent class, applied by lookup()
    listed: bool               # shown by COMMAND / COMMAND INFO / DOCS / LIST / COUNT
    stat_class: int            # which redis_req_* counter counts it (stat_class_of)

    def __repr__(self) -> str:
        return "<CommandSpec %s %s%s>" % (self.name, self.route,
                                          " write" if self.write else "")


# -- numkeys error texts (Redis 7.0's, per family) ----------------------------------------
# style: (not an integer, below the minimum, more than the arguments left, minimum)
_NUMKEYS_STYLES: Dict[str, Tuple[str, str, str, int]] = {
    # EVAL, EVALSHA and their _RO variants: 0 keys allowed.
    "eval": ("value is not an integer or out of range", "Number of keys can't be negative",
             "Number of keys can't be greater than number of args", 0),
    # FCALL, FCALL_RO: the same but for a non-integer.
    "fcall": ("Bad number of keys provided", "Number of keys can't be negative",
              "Number of keys can't be greater than number of args", 0),
    # ZUNION, ZINTER, ZDIFF, ZINTERCARD and the *STORE variants.
    "zset": ("value is not an integer or out of range",
             "at least 1 input key is needed for '%s' command", "syntax error", 1),
    # LMPOP, ZMPOP, BLMPOP, BZMPOP.
    "mpop": ("numkeys should be greater than 0", "numkeys should be greater than 0",
             "syntax error", 1),
    "sintercard": ("numkeys should be greater than 0", "numkeys should be greater than 0",
                   "Number of keys can't be greater than number of args", 1),
}

_FLAG_LETTERS = {
    "w": "write", "r": "readonly", "m": "denyoom", "a": "admin", "p": "pubsub",
    "s": "noscript", "B": "blocking", "l": "loading", "t": "stale", "M": "skip_monitor",
    "L": "skip_slowlog", "k": "asking", "F": "fast", "N": "no_auth",
    "K": "no_mandatory_keys", "A": "no_async_loading", "X": "no_multi", "v": "movablekeys",
    "b": "allow_busy",
}
# Redis's ACL category order (COMMAND INFO lists them in this order).
_CATEGORY_ORDER = (
    "@keyspace", "@read", "@write", "@set", "@sortedset", "@list", "@hash", "@string",
    "@bitmap", "@hyperloglog", "@geo", "@stream", "@pubsub", "@admin", "@fast", "@slow",
    "@blocking", "@dangerous", "@connection", "@transaction", "@scripting",
)
_GROUP_CATEGORY = {
    "generic": "@keyspace", "string": "@string", "bitmap": "@bitmap", "hash": "@hash",
    "list": "@list", "set": "@set", "sorted-set": "@sortedset",
    "hyperloglog": "@hyperloglog", "geo": "@geo", "stream": "@stream",
    "scripting": "@scripting", "connection": "@connection",
    "transactions": "@transaction",
}
_ROUTE_WORDS = {
    "single": SINGLE, "frag": MULTI_FRAGMENT, "coloc": MULTI_COLOCATED,
    "local": LOCAL_DATASTORE, "rack": LOCAL_RACK_OWNER, "all": ALL_NODES, "node": NODE,
    "rackall": LOCAL_RACK_ALL,
}


# -- integer parsing and key positions -----------------------------------------------------

def _redis_int(b: bytes) -> Optional[int]:
    """Redis's string2ll: optional '-', no '+', no spaces, no leading zeros, 64-bit."""
    if not b or len(b) > 20:
        return None
    if b == b"0":
        return 0
    digits = b[1:] if b[:1] == b"-" else b
    if not digits.isdigit() or digits[:1] == b"0":
        return None
    value = int(digits)
    if b[:1] == b"-":
        value = -value
    if not -(1 << 63) <= value < (1 << 63):
        return None
    return value


def _numkeys(spec: CommandSpec, args: List[bytes]) -> int:
    index = spec.numkeys_index
    not_int, too_few, too_many, minimum = _NUMKEYS_STYLES[spec.numkeys_style]
    n = _redis_int(args[index]) if index < len(args) else None
    if n is None:
        raise KeySpecError(not_int)
    if n < minimum:
        raise KeySpecError(too_few % spec.name if "%s" in too_few else too_few)
    if n > len(args) - index - 1:
        raise KeySpecError(too_many)
    return n


def key_indexes(spec: CommandSpec, args: List[bytes]) -> List[int]:
    """Indexes in ``args`` of the keys, in argument order.

    Handles legacy (first, last, step) ranges with negative ``last_key``, numkeys
    arguments and option-dependent keys.  Call it after :func:`arity_ok`.  Raises
    :class:`KeySpecError` (Redis's text) for a bad numkeys, unbalanced XREAD STREAMS or
    MSET/MSETNX without a value for the last key.
    """
    if spec.keys_fn is not None:
        return spec.keys_fn(spec, args)
    first = spec.first_key
    if first:
        argc = len(args)
        last = spec.last_key
        if last < 0:
            last += argc
        if last == first:
            out = [first] if first < argc else []
        else:
            if last >= argc:
                last = argc - 1
            step = spec.key_step
            if step > 1 and (last - first + 1) % step:
                raise KeySpecError("wrong number of arguments for '%s' command" % spec.name)
            out = list(range(first, last + 1, step))
    else:
        out = []
    index = spec.numkeys_index
    if index:
        n = _numkeys(spec, args)
        out.extend(range(index + 1, index + 1 + n))
    return out


def keys(spec: CommandSpec, args: List[bytes]) -> List[bytes]:
    """The key arguments themselves (see :func:`key_indexes`)."""
    return [args[i] for i in key_indexes(spec, args)]


def arity_ok(spec: CommandSpec, argc: int) -> bool:
    """Redis's arity rule: ``arity`` N means exactly N arguments, -N at least N."""
    arity = spec.arity
    return argc == arity if arity >= 0 else argc >= -arity


# -- commands whose keys or class depend on their options ----------------------------------

def _sort_store(args: List[bytes]) -> int:
    """Index of SORT's STORE destination (the last one wins), else 0 (Redis's sortGetKeys)."""
    store = 0
    i, argc = 2, len(args)
    while i < argc:
        word = args[i].lower()
        if word == b"limit":
            i += 2
        elif word == b"get" or word == b"by":
            i += 1
        elif word == b"store" and i + 1 < argc:
            store = i + 1
        i += 1
    return store


def _georadius_store(args: List[bytes]) -> int:
    """Index of GEORADIUS[BYMEMBER]'s STORE/STOREDIST key, else 0 (georadiusGetKeys)."""
    store = 0
    i, argc = 5, len(args)
    while i < argc:
        word = args[i].lower()
        if (word == b"store" or word == b"storedist") and i + 1 < argc:
            store = i + 1
            i += 1
        i += 1
    return store


def _xread_scan(args: List[bytes]) -> Tuple[int, bool]:
    """(index of STREAMS or 0, BLOCK given) for XREAD/XREADGROUP, as xreadCommand parses."""
    block = False
    i, argc = 1, len(args)
    while i < argc:
        word = args[i].lower()
        more = argc - i - 1
        if word == b"block" and more:
            block = True
            i += 1
        elif word == b"count" and more:
            i += 1
        elif word == b"streams" and more:
            return i, block
        elif word == b"group" and more >= 2:
            i += 2
        elif word != b"noack":
            break
        i += 1
    return 0, block


def _sort_keys(spec: CommandSpec, args: List[bytes]) -> List[int]:
    if len(args) < 2:
        return []
    store = _sort_store(args)
    return [1, store] if store else [1]


def _georadius_keys(spec: CommandSpec, args: List[bytes]) -> List[int]:
    if len(args) < 2:
        return []
    store = _georadius_store(args)
    return [1, store] if store else [1]


def _xread_keys(spec: CommandSpec, args: List[bytes]) -> List[int]:
    pos, _ = _xread_scan(args)
    if not pos:
        raise KeySpecError("syntax error")
    n = len(args) - pos - 1
    if n % 2:
        raise KeySpecError("Unbalanced XREAD list of streams: for each stream key an ID or"
                           " '$' must be specified.")
    return list(range(pos + 1, pos + 1 + n // 2))


# Variants, built once the table is parsed: {(name, variant): spec}.
_VARIANTS: Dict[Tuple[str, str], CommandSpec] = {}


def _refine_store(spec: CommandSpec, args: List[bytes]) -> CommandSpec:
    found = _sort_store(args) if spec.name == "sort" else _georadius_store(args)
    return _VARIANTS[(spec.name, "store")] if found else spec


def _refine_bitfield(spec: CommandSpec, args: List[bytes]) -> CommandSpec:
    i, argc = 2, len(args)
    while i < argc:
        word = args[i].lower()
        if word == b"get":
            i += 3
        elif word == b"overflow":
            i += 2
        else:  # SET, INCRBY, or a syntax error: keep it a write
            return spec
    return _VARIANTS[("bitfield", "read")]


def _refine_pfcount(spec: CommandSpec, args: List[bytes]) -> CommandSpec:
    return _VARIANTS[("pfcount", "single")] if len(args) == 2 else spec


def _refine_xread(spec: CommandSpec, args: List[bytes]) -> CommandSpec:
    return _VARIANTS[(spec.name, "block")] if _xread_scan(args)[1] else spec


def _refine_copy(spec: CommandSpec, args: List[bytes]) -> CommandSpec:
    i, argc = 3, len(args)
    while i < argc:
        if args[i].lower() == b"db" and i + 1 < argc:
            if args[i + 1] != b"0":
                return _VARIANTS[("copy", "db")]
            i += 1
        i += 1
    return spec


_DROP_BLOCK = "blocking commands are not available through a Dynomite cluster (drop BLOCK)"
_DROP_DB = "only database 0 is available through a Dynomite cluster (drop the DB option)"

# x=<special>: (keys_fn, refine, {variant: changes})
_SPECIALS: Dict[str, Tuple[Optional[KeysFn], Optional[RefineFn], Dict[str, dict]]] = {
    "sort": (_sort_keys, _refine_store,
             {"store": {"write": True, "route": MULTI_COLOCATED}}),
    "georadius": (_georadius_keys, _refine_store,
                  {"store": {"write": True, "route": MULTI_COLOCATED}}),
    "bitfield": (None, _refine_bitfield, {"read": {"write": False}}),
    "pfcount": (None, _refine_pfcount, {"single": {"route": SINGLE}}),
    "xread": (_xread_keys, _refine_xread,
              {"block": {"route": UNSUPPORTED, "reason": _DROP_BLOCK}}),
    "copy": (None, _refine_copy, {"db": {"route": UNSUPPORTED, "reason": _DROP_DB}}),
}


# -- Dynomite's redis_req_* counters ---------------------------------------------------------

_STAT_BY_NAME = {
    "get": "get", "del": "del", "keys": "keys", "mget": "mget", "scan": "scan",
    "sort": "sort", "lrem": "lreqm", "sunion": "sunion", "ping": "ping",
    **{name: "set" for name in ("set", "setex", "psetex", "setnx", "setrange", "setbit")},
    **{name: "incr_decr" for name in ("incr", "decr", "incrby", "decrby", "incrbyfloat")},
}
_STAT_BY_GROUP = {"list": "lists", "set": "sets", "hash": "hashes", "sorted-set": "sortedsets"}


def stat_class_of(name: str, group: str) -> int:
    """The index in ``REDIS_REQUESTS`` of the redis_req_* counter that counts a command:
    by its name (GET, the SET family, DEL...), else by its group (lists, sets...), else
    ``other``. (LREM and SUNION are added to lists and sets when read.)"""
    counter = _STAT_BY_NAME.get(name) or _STAT_BY_GROUP.get(group, "other")
    return REDIS_REQUESTS.index("redis_req_" + counter)


# -- building the table ----------------------------------------------------------------------

def _parse_docs(text: str) -> Dict[str, Tuple[str, str]]:
    docs: Dict[str, Tuple[str, str]] = {}
    last = ""
    for line in text.splitlines():
        if not line.strip():
            continue
        if line[0] == " ":
            since, summary = docs[last]
            docs[last] = (since, summary + " " + line.strip())
            continue
        name, since, summary = line.split(" ", 2)
        docs[name] = (since, summary)
        last = name
    return docs


def _implied_categories(flags: Tuple[str, ...], explicit: List[str]) -> List[str]:
    """The categories Redis adds from the flags (setImplicitACLCategories)."""
    out = []
    if "write" in flags:
        out.append("@write")
    if "readonly" in flags and "@scripting" not in explicit:
        out.append("@read")
    if "admin" in flags:
        out += ["@admin", "@dangerous"]
    if "pubsub" in flags:
        out.append("@pubsub")
    if "fast" in flags:
        out.append("@fast")
    if "blocking" in flags:
        out.append("@blocking")
    if "fast" not in flags and "@fast" not in explicit:
        out.append("@slow")
    return out


def _both_cases(specs: Dict[str, CommandSpec]) -> Dict[bytes, CommandSpec]:
    out: Dict[bytes, CommandSpec] = {}
    for name, spec in specs.items():
        raw = name.encode()
        out[raw] = spec
        out[raw.upper()] = spec
    return out


def _build(table: str, docs_text: str) -> Tuple[Dict[str, CommandSpec], Dict[str, CommandSpec]]:
    docs = _parse_docs(docs_text)
    group = ""
    rows: List[dict] = []
    for line in table.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            group = line[1:-1]
            continue
        tokens = line.split()
        name, arity, letters, first, last, step, route_word = tokens[:7]
        flags = tuple(_FLAG_LETTERS[c] for c in letters if c != "-")
        write = "write" in flags
        route = _ROUTE_WORDS.get(route_word)
        reason = None
        if route_word.startswith("no:"):
            route, reason = UNSUPPORTED, REASONS[route_word[3:]]
        elif route_word == "sub":
            route, reason = UNSUPPORTED, REASONS["subcommand"]
        if route is None:
            raise ValueError("bad route %r for %s" % (route_word, name))
        numkeys_index, numkeys_style, special = 0, "", ""
        explicit: List[str] = []
        for option in tokens[7:]:
            if option == "read":
                write = False
            elif option == "write":
                write = True
            elif option.startswith("nk="):
                index, numkeys_style = option[3:].split("/")
                numkeys_index = int(index)
                if numkeys_style not in _NUMKEYS_STYLES:
                    raise ValueError("bad numkeys style for %s" % name)
            elif option.startswith("x="):
                special = option[2:]
            elif option.startswith("@") and option in _CATEGORY_ORDER:
                explicit.append(option)
            else:
                raise ValueError("bad option %r for %s" % (option, name))
        if not explicit and flags and group in _GROUP_CATEGORY:
            explicit = [_GROUP_CATEGORY[group]]
        categories = set(explicit) | set(_implied_categories(flags, explicit))
        keys_fn, refine, variants = _SPECIALS[special] if special else (None, None, {})
        since, summary = docs.get(name, ("", ""))
        rows.append(dict(
            name=name, arity=int(arity), write=write, route=route, first_key=int(first),
            last_key=int(last), key_step=int(step), numkeys_index=numkeys_index,
            reason=reason, subcommands=None, flags=flags,
            acl_categories=tuple(c for c in _CATEGORY_ORDER if c in categories),
            group=group, since=since, summary=summary, numkeys_style=numkeys_style,
            keys_fn=keys_fn, refine=refine, listed=route != UNSUPPORTED,
            stat_class=stat_class_of(name.partition("|")[0], group),
            _variants=variants, _container=route_word == "sub"))

    # Subcommands first: a container's spec holds them.
    children: Dict[str, Dict[str, CommandSpec]] = {}
    everything: Dict[str, CommandSpec] = {}
    for row in rows:
        parent, _, sub = row["name"].partition("|")
        if sub:
            spec = everything[row["name"]] = _make(row)
            children.setdefault(parent, {})[sub] = spec
    top: Dict[str, CommandSpec] = {}
    for row in rows:
        name = row["name"]
        if "|" in name:
            continue
        subs = children.get(name)
        if subs:
            row["subcommands"] = _both_cases(subs)
            row["listed"] = row["listed"] or any(s.listed for s in subs.values())
        elif row["_container"]:
            raise ValueError("container %s has no subcommands" % name)
        top[name] = everything[name] = _make(row)
    return top, everything


def _make(row: dict) -> CommandSpec:
    fields = {k: v for k, v in row.items() if not k.startswith("_")}
    spec = CommandSpec(**fields)
    for variant, changes in row["_variants"].items():
        _VARIANTS[(spec.name, variant)] = dataclasses.replace(spec, refine=None, **changes)
    return spec


# -- lookup ----------------------------------------------------------------------------------

def lookup(args: List[bytes]) -> Optional[CommandSpec]:
    """The spec for a request (``args[0]`` is the command name), or ``None`` if unknown.

    Case-insensitive.  For a container, ``args[1]`` selects the subcommand; when it is
    missing or unknown the container's own spec comes back (``subcommands is not None``).
    A few commands come back as an option-dependent variant (see the module docstring).
    """
    name = args[0]
    spec = COMMANDS.get(name)
    if spec is None:
        spec = COMMANDS.get(name.lower())
        if spec is None:
            return None
    subs = spec.subcommands
    if subs is not None and len(args) > 1:
        sub = subs.get(args[1])
        if sub is None:
            sub = subs.get(args[1].lower())
        if sub is not None:
            spec = sub
    if spec.refine is not None:
        return spec.refine(spec, args)
    return spec


# -- error replies ---------------------------------------------------------------------------

def _clean(text: bytes) -> bytes:
    return text.replace(b"\r", b" ").replace(b"\n", b" ")


def unknown_command_error(args: List[bytes]) -> bytes:
    """Redis 7's reply to an unknown command name."""
    tail = b""
    for arg in args[1:]:
        if len(tail) >= 128:
            break
        tail += b"'" + arg[:128 - len(tail)] + b"' "
    return _clean(b"-ERR unknown command '" + args[0][:128]
                  + b"', with args beginning with: " + tail) + b"\r\n"


def arity_error(spec: CommandSpec) -> bytes:
    """Redis 7's reply to a wrong argument count (full name: 'config|get')."""
    return b"-ERR wrong number of arguments for '%s' command\r\n" % spec.name.encode()


def unsupported_error(spec: CommandSpec, args: List[bytes]) -> bytes:
    """The reply to an UNSUPPORTED spec: Redis's "unknown subcommand" text for a
    container whose subcommand was not found, else ``-ERR <NAME> is not supported:
    <reason>``."""
    if spec.subcommands is not None:
        sub = args[1][:128] if len(args) > 1 else b""
        return _clean(b"-ERR unknown subcommand '" + sub + b"'. Try "
                      + spec.name.upper().encode() + b" HELP.") + b"\r\n"
    shown = spec.name.upper().replace("|", " ")
    return ("-ERR %s is not supported: %s\r\n" % (shown, spec.reason)).encode()


# -- routing: a request as dynotwist.core.command describes it ------------------------------

EVAL_NEEDS_A_KEY = b"-ERR Dynomite EVAL/EVALSHA requires at least 1 key\r\n"
SCRIPT_SPANS_NODES = b"-ERR Dynomite: Keys in the script cannot span multiple nodes\r\n"
_SCRIPTS = frozenset(("eval", "evalsha", "eval_ro", "evalsha_ro"))
_KEY_VALUE_FRAGMENTS = frozenset(("mset",))  # each key's value follows it


def describe(spec: CommandSpec, args: List[bytes]) -> Union[Command, bytes]:
    """The request as routing sees it, or the error reply refusing it (bad key
    positions; a script without a key, which Dynomite cannot place)."""
    try:
        key_args = key_indexes(spec, args)
    except KeySpecError as error:
        return error.reply
    if not key_args and spec.name in _SCRIPTS:
        return EVAL_NEEDS_A_KEY
    return Command(spec.route, spec.write, [args[i] for i in key_args])


def fragment(spec: CommandSpec, args: List[bytes], keys: Sequence[int]) -> List[bytes]:
    """The arguments of the part of a multi-key command holding the keys numbered
    ``keys`` (in key order): the command name lower-cased, as Dynomite sends its
    fragments, then those keys (with their values for MSET)."""
    key_args = key_indexes(spec, args)
    part = [spec.name.encode()]
    pairs = spec.name in _KEY_VALUE_FRAGMENTS
    for number in keys:
        index = key_args[number]
        part.append(args[index])
        if pairs:
            part.append(args[index + 1])
    return part


def spans_nodes_error(spec: CommandSpec) -> bytes:
    """The reply to a multi-key command whose keys must live on one node and do not."""
    if spec.name in _SCRIPTS:
        return SCRIPT_SPANS_NODES
    return _clean(
        b"-ERR Dynomite: Keys of '%s' live on different nodes; give them one hash tag"
        % spec.name.encode()
    ) + b"\r\n"


# -- COMMAND replies -------------------------------------------------------------------------

def _bulk(text: str) -> bytes:
    raw = text.encode()
    return b"$%d\r\n%s\r\n" % (len(raw), raw)


def _aggregate(kind: bytes, n: int) -> bytes:
    return b"%s%d\r\n" % (kind, n)


def _set_header(n: int, resp3: bool) -> bytes:
    return _aggregate(b"~" if resp3 else b"*", n)


def _map_header(n: int, resp3: bool) -> bytes:
    return b"%%%d\r\n" % n if resp3 else _aggregate(b"*", 2 * n)


def _listed_subs(spec: CommandSpec) -> List[CommandSpec]:
    if spec.subcommands is None:
        return []
    seen = {id(s): s for s in spec.subcommands.values() if s.listed}
    return sorted(seen.values(), key=lambda s: s.name)


_INFO_CACHE: Dict[Tuple[str, bool], bytes] = {}


def command_info_reply(spec: CommandSpec, resp3: bool) -> bytes:
    """One COMMAND INFO entry, Redis 7.0's layout: name, arity, flags (set), first, last,
    step, ACL categories (set), tips, key specs, subcommands.  Tips and key specs are
    empty; subcommands lists the supported ones."""
    cached = _INFO_CACHE.get((spec.name, resp3))
    if cached is not None:
        return cached
    parts = [b"*10\r\n", _bulk(spec.name), b":%d\r\n" % spec.arity,
             _set_header(len(spec.flags), resp3)]
    parts += [b"+%s\r\n" % f.encode() for f in spec.flags]
    parts.append(b":%d\r\n:%d\r\n:%d\r\n" % (spec.first_key, spec.last_key, spec.key_step))
    parts.append(_set_header(len(spec.acl_categories), resp3))
    parts += [b"+%s\r\n" % c.encode() for c in spec.acl_categories]
    parts.append(_set_header(0, resp3))  # tips
    parts.append(_set_header(0, resp3))  # key specs (a set in Redis 7.0's RESP3)
    subs = _listed_subs(spec)
    if subs:
        parts.append(_aggregate(b"*", len(subs)))
        parts += [command_info_reply(s, resp3) for s in subs]
    else:
        parts.append(_set_header(0, resp3))
    reply = b"".join(parts)
    _INFO_CACHE[(spec.name, resp3)] = reply
    return reply


def _listed() -> List[CommandSpec]:
    return [spec for spec in COMMANDS_BY_NAME.values() if spec.listed]


def command_count() -> int:
    """COMMAND COUNT: the number of top-level commands COMMAND lists."""
    return len(_listed())


_LIST_CACHE: Dict[bool, bytes] = {}


def command_list_reply(resp3: bool) -> bytes:
    """Plain ``COMMAND``: every command that is not UNSUPPORTED (containers with at least
    one supported subcommand included)."""
    cached = _LIST_CACHE.get(resp3)
    if cached is None:
        listed = _listed()
        cached = _aggregate(b"*", len(listed)) + b"".join(
            command_info_reply(spec, resp3) for spec in listed)
        _LIST_CACHE[resp3] = cached
    return cached


def _doc_entry(spec: CommandSpec, resp3: bool) -> bytes:
    subs = _listed_subs(spec)
    parts = [_map_header(4 if subs else 3, resp3),
             _bulk("summary"), _bulk(spec.summary), _bulk("since"), _bulk(spec.since),
             _bulk("group"), _bulk(spec.group)]
    if subs:
        parts += [_bulk("subcommands"), _map_header(len(subs), resp3)]
        for sub in subs:
            parts += [_bulk(sub.name), _doc_entry(sub, resp3)]
    return b"".join(parts)


def _find_listed(name: bytes) -> Optional[CommandSpec]:
    """A listed spec by name, "container|sub" allowed, any case."""
    spec = SPECS.get(name.decode("utf-8", "replace").lower())
    return spec if spec is not None and spec.listed else None


def command_docs_reply(names: Optional[List[bytes]], resp3: bool) -> bytes:
    """COMMAND DOCS [name ...]: a map name -> {summary, since, group[, subcommands]};
    unknown or unsupported names are left out, as Redis does."""
    found = [_find_listed(name) for name in names] if names else _listed()
    specs = [spec for spec in found if spec is not None]
    parts = [_map_header(len(specs), resp3)]
    for spec in specs:
        parts += [_bulk(spec.name), _doc_entry(spec, resp3)]
    return b"".join(parts)


_COMMAND_HELP = (
    "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
    "(no subcommand)",
    "    Return details about all commands available through this node.",
    "COUNT",
    "    Return the total number of commands available through this node.",
    "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
    "    Return a list of all commands, optionally filtered.",
    "INFO [<command-name> ...]",
    "    Return details about multiple commands (all of them when none is given).",
    "DOCS [<command-name> ...]",
    "    Return documentation details about multiple commands.",
    "GETKEYS <full-command>",
    "    Return the keys from a full command.",
    "GETKEYSANDFLAGS <full-command>",
    "    Return the keys and the access flags from a full command.",
    "HELP",
    "    Print this help.",
)


def _all_listed_names() -> List[str]:
    out = []
    for spec in _listed():
        out.append(spec.name)
        out += [s.name for s in _listed_subs(spec)]
    return out


def _command_list(args: List[bytes], resp3: bool) -> bytes:
    names = _all_listed_names()
    if len(args) == 5 and args[2].lower() == b"filterby":
        kind, value = args[3].lower(), args[4].decode("utf-8", "replace").lower()
        if kind == b"module":
            names = []
        elif kind == b"aclcat":
            cat = "@" + value
            names = [n for n in names if cat in SPECS[n].acl_categories]
        elif kind == b"pattern":
            names = [n for n in names if fnmatch.fnmatchcase(n, value)]
        else:
            return b"-ERR syntax error\r\n"
    elif len(args) != 2:
        return b"-ERR syntax error\r\n"
    return _aggregate(b"*", len(names)) + b"".join(_bulk(n) for n in names)


def _command_getkeys(args: List[bytes], resp3: bool, with_flags: bool) -> bytes:
    target = args[2:]
    spec = lookup(target)
    if spec is None or not spec.listed or (spec.subcommands is not None
                                           and spec.route != NODE):
        return b"-ERR Invalid command specified\r\n"
    if not arity_ok(spec, len(target)):
        return b"-ERR Invalid number of arguments specified for command\r\n"
    try:
        indexes = key_indexes(spec, target)
    except KeySpecError:
        return b"-ERR Invalid arguments specified for command\r\n"
    if not indexes and not (spec.numkeys_index or spec.keys_fn):
        return b"-ERR The command has no key arguments\r\n"
    parts = [_aggregate(b"*", len(indexes))]
    flags = ("RW", "access", "update") if spec.write else ("RO", "access")
    for i in indexes:
        key = b"$%d\r\n%s\r\n" % (len(target[i]), target[i])
        if with_flags:
            parts += [b"*2\r\n", key, _set_header(len(flags), resp3)]
            parts += [b"+%s\r\n" % f.encode() for f in flags]
        else:
            parts.append(key)
    return b"".join(parts)


def command_reply(args: List[bytes], resp3: bool) -> bytes:
    """The whole reply to a ``COMMAND ...`` request (``args[0]`` is COMMAND): COUNT, LIST
    [FILTERBY ...], INFO [names], DOCS [names], GETKEYS, GETKEYSANDFLAGS, HELP, or the
    full list; Redis's error replies for unknown subcommands and bad arity."""
    spec = lookup(args)
    if spec is None or not spec.name.startswith("command"):
        raise ValueError("not a COMMAND request")
    if len(args) == 1:
        return command_list_reply(resp3)
    if spec.subcommands is not None:
        return unsupported_error(spec, args)
    if not arity_ok(spec, len(args)):
        return arity_error(spec)
    sub = spec.name
    if sub == "command|count":
        return b":%d\r\n" % command_count()
    if sub == "command|info":
        if len(args) == 2:
            return command_list_reply(resp3)
        null = b"_\r\n" if resp3 else b"$-1\r\n"
        found = [_find_listed(name) for name in args[2:]]
        return _aggregate(b"*", len(found)) + b"".join(
            command_info_reply(s, resp3) if s is not None else null for s in found)
    if sub == "command|docs":
        return command_docs_reply(args[2:], resp3)
    if sub == "command|list":
        return _command_list(args, resp3)
    if sub == "command|getkeys":
        return _command_getkeys(args, resp3, False)
    if sub == "command|getkeysandflags":
        return _command_getkeys(args, resp3, True)
    return _aggregate(b"*", len(_COMMAND_HELP)) + b"".join(
        b"+%s\r\n" % line.encode() for line in _COMMAND_HELP)


COMMANDS_BY_NAME, SPECS = _build(TABLE, DOCS)
"""COMMANDS_BY_NAME: top-level specs by lower-case name, table order.  SPECS: every spec
(subcommands too) by full name ("config|get")."""

COMMANDS: Dict[bytes, CommandSpec] = _both_cases(COMMANDS_BY_NAME)
"""Top-level specs keyed by lower-case and upper-case name bytes (mixed case: lower it)."""

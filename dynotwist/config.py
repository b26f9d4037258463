"""Dynomite's YAML configuration, read into frozen dataclasses.

The text is first checked the way Dynomite checks it (one document; one pool key whose
value is a block mapping of plain values or block sequences of plain values; no
directives, document markers, flow style, anchors, aliases or tags). Then every key goes
through its setter in ``_KEYS``, in file order, and the cross-key rules run last.
Defaults are those of Dynomite's code (not of its README) and error texts are Dynomite's
wherever it has one.

Scalars are taken from the parser events as the raw text libyaml hands Dynomite, never
through YAML's type resolution: ``tokens: 012`` is 12 (not octal 10), ``preconnect: yes``
is refused, and ``tokens: 0`` and ``tokens: '0'`` read the same.
"""

from __future__ import annotations

import difflib
import ipaddress
import string
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

import yaml

from dynotwist.core import linkpolicy
from dynotwist.core.consistency import LEVELS
from dynotwist.core.hashkit import HASH_FUNCTIONS
from dynotwist.core.ring import MAX_TOKEN

__all__ = [
    "Address",
    "Config",
    "ConfigError",
    "Seed",
    "Server",
    "colliding_addresses",
    "load_config",
    "parse_config",
    "parse_seed",
]


class ConfigError(Exception):
    """A configuration that is refused; str() is the message Dynomite would log, and
    :meth:`describe` adds where (file, line, key, the value refused) and what is
    allowed, with a near miss named ("did you mean read_consistency?")."""

    def __init__(
        self,
        message: str,
        filename: str | None = None,
        line: int | None = None,
        key: str | None = None,
        value: str | None = None,
        allowed: str | None = None,
        suggestion: str | None = None,
    ) -> None:
        super().__init__(message)
        self.filename = filename
        self.line = line
        self.key = key
        self.value = value
        self.allowed = allowed
        self.suggestion = suggestion

    def describe(self) -> str:
        """The message, then where and what is allowed, one line each."""
        lines = [str(self)]
        where = []
        if self.filename is not None:
            where.append("'%s'" % self.filename)
        if self.line is not None:
            where.append("line %d" % self.line)
        if self.key is not None:
            where.append('key "%s"' % self.key)
        if self.value is not None:
            where.append('value "%s"' % self.value)
        if where:
            lines.append("  at " + ", ".join(where))
        hint = ""
        if self.suggestion is not None:
            hint = "did you mean %s?" % self.suggestion
        if self.allowed is not None:
            lines.append("  allowed: %s%s" % (self.allowed, " (%s)" % hint if hint else ""))
        elif hint:
            lines.append("  " + hint)
        return "\n".join(lines)


@dataclass(frozen=True)
class Address:
    """``host:port`` (IPv6 without brackets), or a Unix socket: path set, host = path, port 0."""

    host: str
    port: int
    path: str | None = None


@dataclass(frozen=True)
class Server:
    """The local datastore, from ``host:port:weight [name]`` or ``/path:weight [name]``."""

    address: Address
    weight: int
    name: str


@dataclass(frozen=True)
class Seed:
    """Another node, from ``host:port:rack:dc:tokens [name]``; name defaults to host."""

    host: str
    port: int
    rack: str
    dc: str
    tokens: tuple[int, ...]
    name: str


@dataclass(frozen=True)
class Config:
    """One node's configuration: the pool name, then one field per key of ``_KEYS``."""

    pool_name: str
    listen: Address
    dyn_listen: Address
    stats_listen: Address
    servers: tuple[Server, ...]
    data_store: int | str
    tokens: tuple[int, ...]
    rack: str
    datacenter: str
    dyn_seeds: tuple[Seed, ...]
    dyn_seed_provider: str
    hash: str
    hash_tag: str | None
    timeout: int
    backlog: int
    client_connections: int
    preconnect: bool
    auto_eject_hosts: bool
    server_retry_timeout: int
    server_failure_limit: int
    dyn_read_timeout: int
    dyn_write_timeout: int
    dyn_port: int | None
    dyn_connections: int
    gos_interval: int
    enable_gossip: bool
    secure_server_option: str
    pem_key_file: str
    recon_key_file: str
    recon_iv_file: str
    env: str
    conn_msg_rate: int
    read_consistency: str
    write_consistency: str
    read_repairs_enabled: bool
    stats_interval: int
    mbuf_size: int
    max_msgs: int
    datastore_connections: int
    local_peer_connections: int
    remote_peer_connections: int
    requirepass: str | None
    datastore_password: str | None
    tls_ca_file: str | None
    tls_cert_file: str | None
    tls_key_file: str
    client_tls: bool
    client_tls_cert_file: str | None
    client_tls_key_file: str
    client_tls_ca_file: str | None
    proto_max_bulk_len: int
    item_size_max: int
    workers: int
    client_query_buffer_limit: int
    client_output_buffer_limit: int
    admin_token: str | None
    seeds_check_interval: int
    verbosity: int | None
    hinted_handoff: bool
    hints_dir: str | None
    max_hint_window: int
    warm_up: bool
    warnings: tuple[str, ...] = ()

    @property
    def is_redis(self) -> bool:
        return self.data_store == 0

    @property
    def is_memcache(self) -> bool:
        return self.data_store == 1


def parse_config(text: str, filename: str = "<string>") -> Config:
    """Read a configuration; raise ConfigError (with ``filename`` set) for the first problem."""
    try:
        events = _checked_events(text, filename)
        pool_name, entries = _PoolReader(events, filename).read()
        values, warnings = _apply(entries)
        _validate(pool_name, values, warnings, {entry.key: entry.line for entry in entries})
        return _build(pool_name, values, warnings)
    except ConfigError as error:
        error.filename = filename
        raise


def load_config(path: str) -> Config:
    """Read the configuration file at ``path``."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as error:
        raise ConfigError(
            f"conf: failed to open configuration '{path}': {error.strerror}", path
        ) from None
    except UnicodeDecodeError as error:
        raise ConfigError(f"conf: '{path}' is not UTF-8 text: {error.reason}", path) from None
    return parse_config(text, path)


# --- YAML pre-validation (Dynomite's conf_pre_validate) ----------------------------------

# Dynomite prints libyaml's token numbers in these refusals.
_DISALLOWED_TOKENS: dict[type, tuple[str, int]] = {
    yaml.DocumentStartToken: ("document start", 5),
    yaml.DocumentEndToken: ("document end", 6),
    yaml.FlowSequenceStartToken: ("flow sequence start", 10),
    yaml.FlowSequenceEndToken: ("flow sequence end", 11),
    yaml.FlowMappingStartToken: ("flow mapping start", 12),
    yaml.FlowMappingEndToken: ("flow mapping end", 13),
    yaml.FlowEntryToken: ("flow entry", 15),
    yaml.AliasToken: ("alias", 18),
    yaml.AnchorToken: ("anchor", 19),
    yaml.TagToken: ("tag", 20),
}


def _checked_events(text: str, filename: str) -> list[yaml.Event]:
    """Parse events of a text holding exactly one document and no disallowed token."""
    try:
        events = list(yaml.parse(text, Loader=yaml.SafeLoader))
        tokens = list(yaml.scan(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise _syntax_error(error, filename) from None
    documents = sum(isinstance(event, yaml.DocumentStartEvent) for event in events)
    if documents != 1:
        raise ConfigError(
            f"conf: '{filename}' must contain only 1 document; found {documents} documents"
        )
    for token in tokens:
        refused = _refused_token(token)
        if refused:
            name, number = refused
            raise ConfigError(
                f"conf: {name} token ({number}) is disallowed",
                line=token.start_mark.line + 1,
                allowed=_BLOCK_STYLE,
            )
    return events


# what Dynomite's YAML allows, for the refusals of the rest
_BLOCK_STYLE = (
    "one document of 'key: value' lines under the pool's name; a list as one '- value'"
    " line per item (no [a, b] or {a: b}), no anchors, aliases, tags or --- markers"
)


def _refused_token(token: yaml.Token) -> tuple[str, int] | None:
    if isinstance(token, yaml.DirectiveToken):
        return ("version directive", 3) if token.name == "YAML" else ("tag directive", 4)
    return _DISALLOWED_TOKENS.get(type(token))


def _syntax_error(error: yaml.YAMLError, filename: str) -> ConfigError:
    mark = getattr(error, "problem_mark", None)
    if mark is None:
        return ConfigError(f"conf: '{filename}' is not valid YAML: {str(error).splitlines()[0]}")
    problem = getattr(error, "problem", None) or "syntax error"
    return ConfigError(
        f"conf: '{filename}' is not valid YAML at line {mark.line + 1},"
        f" column {mark.column + 1}: {problem}"
    )


@dataclass(frozen=True)
class _Entry:
    """One ``key: value`` of the pool; a block sequence gives several values."""

    key: str
    values: tuple[str, ...]
    sequence: bool
    line: int  # of the key, from 1


_NODE_EVENTS = (
    yaml.ScalarEvent,
    yaml.MappingStartEvent,
    yaml.MappingEndEvent,
    yaml.SequenceStartEvent,
    yaml.SequenceEndEvent,
)


class _PoolReader:
    """Walks the one document: ``pool: {key: scalar | [scalar, ...]}``, nothing deeper.

    Refusals use the texts of Dynomite's conf_validate_structure.
    """

    def __init__(self, events: list[yaml.Event], filename: str) -> None:
        self._nodes: Iterator[Any] = iter([e for e in events if isinstance(e, _NODE_EVENTS)])
        self._filename = filename

    def read(self) -> tuple[str, list[_Entry]]:
        root = next(self._nodes)
        if isinstance(root, yaml.ScalarEvent):
            raise self._refuse('has invalid empty "key:" at depth 0')
        if isinstance(root, yaml.SequenceStartEvent):
            raise self._refuse("has sequence at depth 0 instead of 2")
        pool_name = self._key(next(self._nodes), depth=1)
        pool = next(self._nodes)
        if isinstance(pool, yaml.ScalarEvent):
            raise self._refuse('has invalid mapping "key:" at depth 1')
        if isinstance(pool, yaml.SequenceStartEvent):
            raise self._refuse("has sequence at depth 1 instead of 2")
        entries = []
        event = next(self._nodes)
        while not isinstance(event, yaml.MappingEndEvent):
            entries.append(self._entry(event))
            event = next(self._nodes)
        if not isinstance(next(self._nodes), yaml.MappingEndEvent):
            raise self._refuse('has more than one "key:value" at depth 1')
        return pool_name, entries

    def _entry(self, key_event: Any) -> _Entry:
        key = self._key(key_event, depth=2)
        line = key_event.start_mark.line + 1
        value = next(self._nodes)
        if isinstance(value, yaml.ScalarEvent):
            return _Entry(key, (value.value,), sequence=False, line=line)
        if isinstance(value, yaml.MappingStartEvent):
            raise self._refuse("has a depth greater than 2")
        items = []
        item = next(self._nodes)
        while not isinstance(item, yaml.SequenceEndEvent):
            if isinstance(item, yaml.SequenceStartEvent):
                raise self._refuse("has more than one sequence directive")
            if not isinstance(item, yaml.ScalarEvent):
                raise self._refuse("has a depth greater than 2")
            items.append(item.value)
            item = next(self._nodes)
        return _Entry(key, tuple(items), sequence=True, line=line)

    def _key(self, event: Any, depth: int) -> str:
        if not isinstance(event, yaml.ScalarEvent):
            raise self._refuse(f'has invalid "key:value" at depth {depth}')
        if not event.value:
            raise self._refuse(f'has invalid empty "key:" at depth {depth}')
        return str(event.value)

    def _refuse(self, reason: str) -> ConfigError:
        return ConfigError(f"conf: '{self._filename}' {reason}")


# --- setters: raw text -> value ------------------------------------------------------------


class _Invalid(Exception):
    """A setter's refusal; the reason is put after ``conf: directive "<key>"``.
    ``allowed`` says what the key takes; ``choices`` are its values, if it has a list."""

    def __init__(
        self, reason: str, allowed: str | None = None, choices: tuple[str, ...] = ()
    ) -> None:
        super().__init__(reason)
        self.allowed = allowed if allowed is not None else (", ".join(choices) or None)
        self.choices = choices
        self.value: str | None = None  # the value refused (set by _set)


_INT_MAX = 2**31 - 1  # Dynomite reads numbers into a C int
_HOSTNAME_CHARS = frozenset(string.ascii_letters + string.digits + "-._")
_LISTEN_FORMAT = '"hostname:port"'
_SERVER_FORMAT = '"hostname:port:weight [name]"'
_SERVER_SYNTAX = (
    f'has an invalid {_SERVER_FORMAT}or "/path/unix_socket:weight [name]" format string'
)
_SEED_FORMAT = '"hostname:port:rack:dc:tokens [name]"'
_KETAMA_PORT = 11211  # twemproxy leaves this port out of a server's default name


def _is_digits(text: str) -> bool:
    return text.isascii() and text.isdigit()


def _text(raw: str) -> str:
    return raw


def _num(raw: str) -> int:
    if not _is_digits(raw) or int(raw) > _INT_MAX:
        raise _Invalid("is not a number", "a whole number from 0 to %d" % _INT_MAX)
    return int(raw)


def _positive(raw: str) -> int:
    number = _num(raw)
    if number == 0:
        raise _Invalid("must be a positive number", "a whole number from 1 to %d" % _INT_MAX)
    return number


# Redis's memtoll units: k, m, g are powers of 1000; kb, mb, gb powers of 1024
_SIZE_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1024, "m": 1000**2, "mb": 1024**2,
               "g": 1000**3, "gb": 1024**3}


def _num_or_bytes(raw: str) -> int:
    """A byte count as Redis's config reads one: digits, optionally with a unit."""
    text = raw.strip().lower()
    digits = text.rstrip(string.ascii_letters)
    unit = text[len(digits):]
    if not _is_digits(digits) or unit not in _SIZE_UNITS:
        raise _Invalid(
            "is not a number of bytes (digits, optionally with k, kb, m, mb, g or gb)",
            "a number of bytes: 1048576, 512mb, 1gb (k, m, g: 1000s; kb, mb, gb: 1024s)",
        )
    return int(digits) * _SIZE_UNITS[unit]


def _bounded(low: int, high: int, reason: str) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        number = _num(raw)
        # 0 passes: it is Dynomite's "unset", replaced by the default (see _Key).
        if number and not low <= number <= high:
            raise _Invalid(reason, "%d to %d (0: the default)" % (low, high))
        return number

    return parse


_mbuf_range = _bounded(
    512, 512000, "mbuf_size: mbuf chunk size must be between 512 and 512000 bytes"
)


def _mbuf_size(raw: str) -> int:
    size = _mbuf_range(raw)
    if size % 16:
        raise _Invalid("mbuf_size: mbuf size must be a multiple of 16",
                       "a multiple of 16 from 512 to 512000")
    return size


def _bool(raw: str) -> bool:
    if raw not in ("true", "false"):
        raise _Invalid('is not "true" or "false"', choices=("true", "false"))
    return raw == "true"


def _hash(raw: str) -> str:
    if raw not in HASH_FUNCTIONS:
        raise _Invalid("is not a valid hash", choices=tuple(sorted(HASH_FUNCTIONS)))
    return raw


def _hash_tag(raw: str) -> str:
    if len(raw.encode("utf-8")) != 2:  # Dynomite counts bytes
        raise _Invalid(
            "is not a valid hash tag string with two characters",
            "two characters, the start and end of a key's hashed part: '{}'",
        )
    return raw


def _secure_server_option(raw: str) -> str:
    # Dynomite only logs a bad value and runs unencrypted; dynotwist refuses it, since
    # silently running without the security that was asked for is worse than not starting.
    if raw not in linkpolicy.OPTIONS:
        raise _Invalid(
            "must be one of " + " ".join(f"'{o}'" for o in linkpolicy.OPTIONS),
            choices=tuple(linkpolicy.OPTIONS),
        )
    return raw


def _consistency(raw: str) -> str:
    level = raw.upper()
    if level not in LEVELS:
        raise _Invalid(
            "must be one of " + " ".join(f"'{c}'" for c in LEVELS),
            choices=tuple(level.lower() for level in LEVELS),
        )
    return level


def _tokens(raw: str) -> tuple[int, ...]:
    tokens = []
    for text in raw.split(","):
        token = text.strip()
        if not _is_digits(token) or int(token) > MAX_TOKEN:
            raise _Invalid(
                f'has an invalid token "{token}": tokens are comma-separated integers'
                f" from 0 to {MAX_TOKEN}"
            )
        tokens.append(int(token))
    return tuple(tokens)


def _port(text: str, form: str) -> int:
    if not _is_digits(text) or not 0 < int(text) < 65536:
        raise _Invalid(f"has an invalid port in {form} format string")
    return int(text)


def _host(text: str, form: str) -> str:
    """The host as written, without IPv6 brackets; no DNS here (the network layer resolves)."""
    host = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _Invalid(f"has an invalid host in {form} format string") from None
    elif not host or not set(host) <= _HOSTNAME_CHARS:
        raise _Invalid(f"has an invalid host in {form} format string")
    return host


def _listen(raw: str) -> Address:
    if raw.startswith("/"):
        return Address(raw, 0, raw)
    host, colon, port = raw.rpartition(":")  # the last colon, so IPv6 hosts work
    if not colon:
        raise _Invalid(f"has an invalid {_LISTEN_FORMAT} format string")
    port_number = _port(port, _LISTEN_FORMAT)
    return Address(_host(host, _LISTEN_FORMAT), port_number)


def _split_name(raw: str, syntax: str) -> tuple[str, str | None]:
    """Split off the optional name after the last space."""
    address, space, name = raw.rpartition(" ")
    if not space:
        return raw, None
    if not name:
        raise _Invalid(syntax)
    return address, name


def _server(raw: str) -> Server:
    address, name = _split_name(raw, _SERVER_SYNTAX)
    rest, colon, weight_text = address.rpartition(":")
    if not colon or not rest:
        raise _Invalid(_SERVER_SYNTAX)
    if not _is_digits(weight_text):
        raise _Invalid(f"has an invalid weight in {_SERVER_FORMAT} format string")
    weight = int(weight_text)
    if rest.startswith("/"):
        return Server(Address(rest, 0, rest), weight, name or rest)
    host_text, colon, port_text = rest.rpartition(":")
    if not colon:
        raise _Invalid(_SERVER_SYNTAX)
    port = _port(port_text, _SERVER_FORMAT)
    host = _host(host_text, _SERVER_FORMAT)
    default_name = host_text if port == _KETAMA_PORT else rest
    return Server(Address(host, port), weight, name or default_name)


def _seed(raw: str) -> Seed:
    syntax = f"has an invalid format must match {_SEED_FORMAT}"
    address, name = _split_name(raw, syntax)
    parts = address.rsplit(":", 4)
    if len(parts) != 5 or not all(parts):
        raise _Invalid(syntax)
    host_text, port_text, rack, dc, tokens = parts
    port = _port(port_text, _SEED_FORMAT)
    host = _host(host_text, _SEED_FORMAT)
    return Seed(host, port, rack, dc, _tokens(tokens), name or host)


def parse_seed(text: str) -> Seed:
    """One seed, ``host:port:rack:dc:tokens [name]`` (a ``dyn_seeds`` entry, or an entry of
    a seed provider's list); ValueError says what is wrong, as the configuration would."""
    try:
        return _seed(text)
    except _Invalid as error:
        raise ValueError(f'seed "{text}" {error}') from None


def _data_store(raw: str) -> int | str:
    """0 (Redis), 1 (Memcached), the name of a datastore plugin, or
    ``package.module:Class`` naming a datastore kind."""
    if _is_digits(raw):
        return _num(raw)  # other numbers are refused after parsing, as Dynomite does
    if raw.isidentifier():
        return raw  # a plugin's name: looked up at startup
    module, colon, attribute = raw.partition(":")
    names = module.split(".") + (attribute.split(".") if colon else [])
    if not all(name.isidentifier() for name in names):
        raise _Invalid(
            'is not 0 (redis), 1 (memcache), a datastore plugin\'s name or a'
            ' "package.module:Class" path'
        )
    return raw


# --- the table --------------------------------------------------------------------------

_DIRECTIVE = 'conf: directive "{key}" {reason}'
# Dynomite's texts for the keys it checks after parsing lack the space after "key:".
_POST_DIRECTIVE = 'conf: directive "{key}:"{reason}'


@dataclass(frozen=True)
class _SameAs:
    """Default to the value of an earlier key of the table."""

    key: str


@dataclass(frozen=True)
class _Key:
    parse: Callable[[str], Any]
    default: Any = None
    # Dynomite stores "unset" as 0, so an explicit 0 means the default (timeout: 0 -> 5000).
    zero_is_unset: bool = False
    sequence: bool = False
    deprecated: bool = False
    message: str = _DIRECTIVE
    allowed: str | None = None  # what the key takes, when its setter does not say


_ADDRESS = "host:port (127.0.0.1:8102, [::1]:8102) or /path/to/unix.socket"


def _num_key(default: int | None) -> _Key:
    return _Key(_num, default, zero_is_unset=True)


_CONNECTIONS = _Key(_bounded(1, 255, "must be between 1 and 255"), 1, zero_is_unset=True)


# Every key, in the order Config lists them. A missing key takes its default, except
# listen, dyn_listen, tokens and servers, which _validate requires.
_KEYS: dict[str, _Key] = {
    "listen": _Key(_listen, allowed=_ADDRESS),
    "dyn_listen": _Key(_listen, allowed=_ADDRESS),
    "stats_listen": _Key(_listen, Address("0.0.0.0", 22222), allowed=_ADDRESS),
    "servers": _Key(
        _server,
        (),
        sequence=True,
        allowed="one '- host:port:weight [name]' (or '- /path:weight') line: - 127.0.0.1:6379:1",
    ),
    "data_store": _Key(
        _data_store,
        0,
        allowed="0 (redis), 1 (memcache), a datastore plugin's name (redis, memcache) or"
        " package.module:Class",
    ),
    "tokens": _Key(
        _tokens, (), allowed="comma-separated whole numbers from 0 to %d" % MAX_TOKEN
    ),
    "rack": _Key(_text, "localrack"),
    "datacenter": _Key(_text, "localdc"),
    "dyn_seeds": _Key(
        _seed,
        (),
        sequence=True,
        allowed="'- host:port:rack:dc:tokens [name]' lines: - 10.0.0.2:8101:rack2:dc1:0",
    ),
    "dyn_seed_provider": _Key(_text, "simple_provider"),
    "hash": _Key(_hash, "murmur"),
    "hash_tag": _Key(_hash_tag),
    "distribution": _Key(_text, deprecated=True),
    "server_connections": _Key(_text, deprecated=True),
    "timeout": _num_key(5000),
    "backlog": _num_key(512),
    # Dynomite overwrites it with 0 and enforces no limit; kept as read.
    "client_connections": _Key(_num, 0),
    "preconnect": _Key(_bool, True),
    "auto_eject_hosts": _Key(_bool, True),
    "server_retry_timeout": _num_key(10000),
    "server_failure_limit": _num_key(3),
    "dyn_read_timeout": _num_key(10000),
    "dyn_write_timeout": _num_key(10000),
    "dyn_port": _num_key(None),
    # Not zero_is_unset: Dynomite refuses an explicit 0 (see _validate).
    "dyn_connections": _Key(_num, 100),
    "gos_interval": _num_key(30000),
    "enable_gossip": _Key(_bool, False),
    "secure_server_option": _Key(_secure_server_option, "none", message=_POST_DIRECTIVE),
    "pem_key_file": _Key(_text, "conf/dynomite.pem"),
    "recon_key_file": _Key(_text, "conf/recon_key.pem"),
    "recon_iv_file": _Key(_text, "conf/recon_iv.pem"),
    "env": _Key(_text, "aws"),
    "conn_msg_rate": _num_key(50000),
    "read_consistency": _Key(_consistency, "DC_ONE", message=_POST_DIRECTIVE),
    "write_consistency": _Key(_consistency, "DC_ONE", message=_POST_DIRECTIVE),
    "read_repairs_enabled": _Key(_bool, False),
    "stats_interval": _num_key(30000),
    "mbuf_size": _Key(_mbuf_size, 16384, zero_is_unset=True),
    "max_msgs": _Key(
        _bounded(
            100000,
            1000000,
            "max_msgs: max allocated messages buffer must be between 100000 and 1000000 messages",
        ),
        200000,
        zero_is_unset=True,
    ),
    "datastore_connections": _CONNECTIONS,
    "local_peer_connections": _CONNECTIONS,
    "remote_peer_connections": _CONNECTIONS,
    # dynotwist's own keys (DESIGN.md, "Configuration keys beyond Dynomite's")
    "requirepass": _Key(_text),
    "datastore_password": _Key(_text),
    "tls_ca_file": _Key(_text),
    "tls_cert_file": _Key(_text),
    "tls_key_file": _Key(_text, _SameAs("pem_key_file")),
    "client_tls": _Key(_bool, False),
    "client_tls_cert_file": _Key(_text, _SameAs("tls_cert_file")),
    "client_tls_key_file": _Key(_text, _SameAs("tls_key_file")),
    "client_tls_ca_file": _Key(_text),
    "proto_max_bulk_len": _Key(_positive, 536870912),
    "item_size_max": _Key(_positive, 1048576),
    "workers": _Key(_positive, 1),
    # Redis's client-query-buffer-limit default; 0 means no limit
    "client_query_buffer_limit": _Key(_num_or_bytes, 1 << 30),
    # bytes of replies held for a client that does not read them; 0: no limit, as
    # Redis's normal clients
    "client_output_buffer_limit": _Key(_num_or_bytes, 0),
    "admin_token": _Key(_text),
    # how often florida_provider and dns_provider are asked for the seed list, ms
    # (Dynomite: fixed at 30 s)
    "seeds_check_interval": _Key(_positive, 30000),
    # the log level (0..11, as -v), here so that SIGHUP can change it
    "verbosity": _Key(_bounded(0, 11, "must be between 0 and 11")),
    # repair (README "Repair"): hints for unreachable peers, warm-up of a new node
    "hinted_handoff": _Key(_bool, True),
    # None: a "hints" directory beside the configuration file (dynotwist.service)
    "hints_dir": _Key(_text),
    # ms; Cassandra's default (3 h)
    "max_hint_window": _num_key(10800000),
    "warm_up": _Key(_bool, False),
}


def _apply(entries: list[_Entry]) -> tuple[dict[str, Any], list[str]]:
    """Run each entry's setter in file order; return the values set and the warnings."""
    values: dict[str, Any] = {}
    warnings: list[str] = []
    seen: set[str] = set()
    for entry in entries:
        spec = _KEYS.get(entry.key)
        if spec is None:
            raise ConfigError(
                f'conf: directive "{entry.key}" is unknown',
                line=entry.line,
                key=entry.key,
                suggestion=_near(entry.key, [k for k, v in _KEYS.items() if not v.deprecated]),
            )
        if entry.key in seen:
            raise ConfigError(
                f'conf: directive "{entry.key}" is a duplicate', line=entry.line, key=entry.key
            )
        seen.add(entry.key)
        try:
            value = _set(spec, entry)
        except _Invalid as error:
            refused = error.value
            raise ConfigError(
                spec.message.format(key=entry.key, reason=error),
                line=entry.line,
                key=entry.key,
                value=refused,
                allowed=error.allowed or spec.allowed,
                suggestion=_near(refused, error.choices) if refused is not None else None,
            ) from None
        if spec.deprecated:
            warnings.append(
                f'******** Field "{entry.key}" in the conf file is DEPRECATED *********'
            )
        elif not (spec.zero_is_unset and value == 0):
            values[entry.key] = value
    return values, warnings


def _near(word: str, known: Sequence[str]) -> str | None:
    """The one of ``known`` that ``word`` was most likely meant to be (a typo), if any."""
    found = difflib.get_close_matches(word.lower(), list(known), n=1, cutoff=0.7)
    return found[0] if found and found[0] != word else None


def _set(spec: _Key, entry: _Entry) -> Any:
    if entry.sequence and not spec.sequence:
        raise _Invalid("must be a single value, not a sequence", spec.allowed)
    if "" in entry.values:
        raise _Invalid("has an empty value", spec.allowed)
    parsed = []
    for value in entry.values:
        try:
            parsed.append(spec.parse(value))
        except _Invalid as error:
            error.value = value
            raise
    return tuple(parsed) if spec.sequence else parsed[0]


def _validate(
    pool_name: str, values: dict[str, Any], warnings: list[str], lines: dict[str, int]
) -> None:
    """The rules that need the whole pool, in Dynomite's order (conf_validate_pool).
    ``lines``: the line of each key, for the refusals that name one."""
    # dyn_listen and tokens have no default in Dynomite either, which then fails later.
    for key in ("listen", "dyn_listen", "tokens"):
        if key not in values:
            raise ConfigError(f'conf: directive "{key}:" is missing', key=key,
                              allowed=_KEYS[key].allowed)
    if values.get("dyn_connections") == 0:
        raise ConfigError('conf: directive "dyn_connections:" cannot be 0',
                          line=lines.get("dyn_connections"), key="dyn_connections")
    if "stats_listen" not in values:
        warnings.append('conf: directive "stats_listen:" is missing - using defaults 0.0.0.0:22222')
    servers = values.get("servers", ())
    if not servers:
        raise ConfigError(f"conf: pool '{pool_name}' has no datastores",
                          line=lines.get("servers"), key="servers",
                          allowed=_KEYS["servers"].allowed)
    if len(servers) > 1:
        # Dynomite keeps the last one and leaks the others; refuse instead.
        raise ConfigError(
            'conf: directive "servers" has more than one datastore; only one is supported',
            line=lines.get("servers"),
            key="servers",
        )
    data_store = values.get("data_store", 0)
    if isinstance(data_store, int) and data_store not in (0, 1):
        raise ConfigError(
            'Invalid datastore in conf file: "data_store" must be 0 (redis), 1 (memcache)'
            ' or "package.module:Class"'
        )
    if values.get("client_tls") and not (
        values.get("client_tls_cert_file") or values.get("tls_cert_file")
    ):
        raise ConfigError(
            'conf: directive "client_tls" needs "client_tls_cert_file" or "tls_cert_file"'
        )
    option = values.get("secure_server_option", "none")
    missing = [key for key in ("tls_ca_file", "tls_cert_file") if not values.get(key)]
    if option != "none" and missing:
        # peer links are TLS: each node needs its certificate and the CA that signs them
        raise ConfigError(
            'conf: directive "secure_server_option" is %s, which needs %s (the CA that '
            "signs every node's certificate, and this node's certificate)"
            % (option, " and ".join('"%s"' % key for key in missing))
        )


def _build(pool_name: str, values: dict[str, Any], warnings: list[str]) -> Config:
    fields: dict[str, Any] = {}
    for key, spec in _KEYS.items():
        if spec.deprecated:
            continue
        value = values.get(key, spec.default)
        fields[key] = fields[value.key] if isinstance(value, _SameAs) else value
    return Config(pool_name=pool_name, warnings=tuple(warnings), **fields)


# -- what only fails at startup ----------------------------------------------------------

_ANY_HOST = frozenset(("0.0.0.0", "::", ""))


def _overlap(a: Address, b: Address) -> bool:
    if a.path or b.path:
        return a.path == b.path
    return a.port == b.port and (a.host == b.host or a.host in _ANY_HOST or b.host in _ANY_HOST)


def colliding_addresses(config: Config) -> list[str]:
    """Addresses of the configuration that cannot all work: two ports of the node on one
    address (the second cannot listen), or the datastore on one of them (the node would
    talk to itself)."""
    ports = [("listen", config.listen), ("dyn_listen", config.dyn_listen),
             ("stats_listen", config.stats_listen)]
    problems = []
    for i, (name, address) in enumerate(ports):
        for other, other_address in ports[i + 1 :]:
            if _overlap(address, other_address):
                problems.append(
                    f'conf: directives "{name}" and "{other}" name the same address'
                    f" ({_show(address)} and {_show(other_address)}): only one can listen"
                )
    for server in config.servers:
        for name, address in ports:
            if _overlap(server.address, address):
                problems.append(
                    f'conf: directive "servers" names {_show(server.address)}, the node\'s own'
                    f' "{name}": the node would be its own datastore'
                )
    return problems


def _show(address: Address) -> str:
    return address.path or f"{address.host}:{address.port}"

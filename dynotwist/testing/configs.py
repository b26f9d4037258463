"""Dynomite-style YAML text from Python values: the configs of local nodes."""

from __future__ import annotations

from typing import Dict, List

from dynotwist.testing.ports import LOOPBACK

MAX_TOKEN = 4294967295


def render_config(fields: Dict[str, object], pool: str = "dyn_o_mite") -> str:
    """Dynomite-style YAML: one pool key, scalars and block sequences."""
    lines = ["%s:" % pool]
    for key, value in fields.items():
        if isinstance(value, (list, tuple)):
            lines.append("  %s:" % key)
            lines.extend("  - %s" % _scalar(item) for item in value)
        elif isinstance(value, bool):
            lines.append("  %s: %s" % (key, "true" if value else "false"))
        else:
            lines.append("  %s: %s" % (key, _scalar(value)))
    return "\n".join(lines) + "\n"


def _scalar(value: object) -> str:
    text = str(value)
    if not isinstance(value, str):
        return text
    if not text or text.isdigit() or text != text.strip() or _needs_quotes(text):
        return "'%s'" % text.replace("'", "''")
    return text


# characters that make a plain YAML scalar something else when they start it
_INDICATORS = frozenset("-?:,[]{}#&*!|>'\"%@`")


def _needs_quotes(text: str) -> bool:
    return (
        text[0] in _INDICATORS
        or "," in text
        or ": " in text
        or " #" in text
        or text.endswith(":")
    )


def single_node_fields(
    datastore_port: int, client_port: int, peer_port: int, stats_port: int, host: str = LOOPBACK
) -> Dict[str, object]:
    """The YAML keys of a node alone in its cluster, in front of a Redis on loopback
    (``data_store: 1`` puts memcached there instead)."""
    return {
        "datacenter": "dc1",
        "rack": "rack1",
        "listen": "%s:%d" % (host, client_port),
        "dyn_listen": "%s:%d" % (host, peer_port),
        "stats_listen": "%s:%d" % (host, stats_port),
        "servers": ["%s:%d:1" % (LOOPBACK, datastore_port)],
        "tokens": "101134286",
        "data_store": 0,
    }


def even_tokens(count: int) -> List[str]:
    """One rack's tokens as Dynomite's generate_yamls.py spaces them: ``4294967295 // n * i``."""
    return [str(MAX_TOKEN // count * i) for i in range(count)]

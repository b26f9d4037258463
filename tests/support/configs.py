"""Node configs for tests that need one but are not about it."""

from __future__ import annotations

from dynotwist.config import Config, parse_config
from dynotwist.testing.configs import render_config

# the keys Dynomite requires, on ports nothing listens on: in-memory tests never dial
REQUIRED = {
    "listen": "127.0.0.1:8102",
    "dyn_listen": "127.0.0.1:8101",
    "servers": ["127.0.0.1:22122:1"],
    "tokens": "0",
}


def config_text(**fields: object) -> str:
    """The YAML of a node alone in its cluster; ``fields`` add or override keys."""
    return render_config({**REQUIRED, **fields})


def node_config(**fields: object) -> Config:
    """``config_text(**fields)``, parsed."""
    return parse_config(config_text(**fields))

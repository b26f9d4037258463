"""What a reloaded configuration (SIGHUP) may change in a running node.

:func:`reload_plan` compares the configuration the node runs with the file as it is
now: the keys that changed and apply live (:data:`LIVE_KEYS`), and the ones that cannot
change while the node runs (its addresses, its datastore, its place in the ring...):
if any of those changed, the reload is refused as a whole, with a log line naming
them, and the node keeps its settings.
"""

from __future__ import annotations

import dataclasses
from typing import List, NamedTuple

from dynotwist.config import Config

__all__ = ["LIVE_KEYS", "TLS_KEYS", "ReloadPlan", "reload_plan"]

#: the TLS settings: certificate files are read again at every reload, changed or not
TLS_KEYS = (
    "secure_server_option",
    "pem_key_file",
    "tls_ca_file",
    "tls_cert_file",
    "tls_key_file",
    "client_tls_cert_file",
    "client_tls_key_file",
    "client_tls_ca_file",
)

#: keys a running node takes from a reloaded file
LIVE_KEYS = frozenset(
    (
        *TLS_KEYS,
        "read_consistency",  # for connections made from now on (Dynomite's snapshot)
        "write_consistency",
        "read_repairs_enabled",
        "timeout",
        "verbosity",
        "dyn_seeds",  # peers added, replaced, removed (simple_provider)
        "auto_eject_hosts",
        "server_failure_limit",
        "server_retry_timeout",
        "dyn_read_timeout",  # parsed, unused: nothing to apply
        "dyn_write_timeout",
        "stats_interval",
    )
)


class ReloadPlan(NamedTuple):
    changed: List[str]  # keys whose value changed, that apply live
    refused: List[str]  # keys whose value changed, that cannot change while running


def reload_plan(running: Config, reloaded: Config) -> ReloadPlan:
    changed: List[str] = []
    refused: List[str] = []
    for field in dataclasses.fields(Config):
        name = field.name
        if name == "warnings" or getattr(running, name) == getattr(reloaded, name):
            continue
        (changed if name in LIVE_KEYS else refused).append(name)
    return ReloadPlan(changed, refused)

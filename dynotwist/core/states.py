"""The node's own state and what it lets through (reference 6.5). Pure logic.

An operator sets the state through the admin port (``/state/<name>``); the check is
made where a request reaches the **local datastore**, whether it came from a client or
from a peer. A refused request is answered with :data:`dynotwist.errors.STATE_FORBIDS`
(``-ERR Dynomite: Dynomite's current state does not allow this request``) and the
connection is kept.

=============  =========  ========  ====================================================
state          reads      writes    notes
=============  =========  ========  ====================================================
NORMAL         served     served
STANDBY        refused    refused   Dynomite: gossip also stops
WRITES_ONLY    refused    held      Dynomite queues the writes and never sends them
                                    (they time out); dynotwist holds them until the
                                    state changes, then sends or refuses them
RESUMING       refused    served    Dynomite: writes accepted and flushed (the drain)
INIT, JOINING  refused    held      Dynomite queues every request without sending it
                                    until NORMAL; dynotwist treats them as WRITES_ONLY
other          refused    refused   LEAVING, DOWN, RESET, UNKNOWN name peer (gossip)
                                    states; a node never serves in them
=============  =========  ========  ====================================================

:func:`admission` is the table above as a function: what a state does to a read or a
write (:data:`PASS`, :data:`HOLD` or :data:`REFUSE`). The hot path keeps the two
decisions of the current state, recomputed when the state is set.
"""

from __future__ import annotations

from typing import Dict, Optional

__all__ = [
    "ADMIN_STATES",
    "DOWN",
    "INIT",
    "JOINING",
    "LEAVING",
    "NAMES",
    "NORMAL",
    "RESET",
    "RESUMING",
    "STANDBY",
    "UNKNOWN",
    "WRITES_ONLY",
    "admission",
    "from_admin",
]

# Dynomite's dyn_state_t names, as /state/get_state prints them ("State: NORMAL\n")
INIT = "INIT"
STANDBY = "STANDBY"
WRITES_ONLY = "WRITES_ONLY"
RESUMING = "RESUMING"
NORMAL = "NORMAL"
LEAVING = "LEAVING"
JOINING = "JOINING"
DOWN = "DOWN"
RESET = "RESET"
UNKNOWN = "UNKNOWN"

NAMES = (INIT, STANDBY, WRITES_ONLY, RESUMING, NORMAL, LEAVING, JOINING, DOWN, RESET, UNKNOWN)

#: the states an operator may set: ``/state/<key>`` -> state
ADMIN_STATES: Dict[str, str] = {
    "standby": STANDBY,
    "writes_only": WRITES_ONLY,
    "resuming": RESUMING,
    "normal": NORMAL,
}

#: what a state does to a request: sent on, kept until the state changes, or refused
PASS = "pass"
HOLD = "hold"
REFUSE = "refuse"

_WRITES_SERVED = frozenset((NORMAL, RESUMING))
_WRITES_HELD = frozenset((WRITES_ONLY, INIT, JOINING))


def admission(state: str, write: bool) -> str:
    """What *state* does to a read or a write reaching the local datastore."""
    if state == NORMAL or (write and state in _WRITES_SERVED):
        return PASS
    if write and state in _WRITES_HELD:
        return HOLD
    return REFUSE


def from_admin(segment: str) -> Optional[str]:
    """The state ``/state/<segment>`` sets (exact, lower case as Dynomite), or None."""
    return ADMIN_STATES.get(segment)

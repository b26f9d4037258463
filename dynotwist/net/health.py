"""Whether a backend (the datastore, a peer) is reachable, each change logged once.

A pool retries a lost backend every few seconds; logging each attempt at the default
verbosity would repeat the same warning for as long as the outage lasts. Here the
loss is a warning, once, and the recovery a notice, once, both at the default
verbosity; the attempts in between are logged at info (``-v 6``) by the pool. A
backend never reached yet is given ``STARTUP_GRACE`` seconds before its absence is
a warning: nodes of a cluster started together come up one after another.
"""

from __future__ import annotations

from typing import Any, Optional

from dynotwist.logs import logger, notice

log = logger(__name__)


class Reachability:
    """One backend's reachability: unknown until the first attempt, then up or down."""

    STARTUP_GRACE = 10.0  # seconds

    def __init__(self, what: str, clock: Any) -> None:
        self.what = what  # "datastore 127.0.0.1:6379", "peer 10.0.0.2:8101 (dc1/rack2, ...)"
        self._clock = clock
        self.up: Optional[bool] = None
        self.since = clock.seconds()  # when it last went up or down

    def reached(self) -> None:
        """A connection to the backend is up."""
        if self.up is True:
            return
        now = self._clock.seconds()
        if self.up is False:
            notice(log, "{what} is reachable again, after {seconds:.0f} s",
                   what=self.what, seconds=now - self.since)
        self.up = True
        self.since = now

    def lost(self, reason: str) -> None:
        """No connection to the backend is up, and the last attempt failed for ``reason``."""
        if self.up is False:
            return
        if self.up is None and self._clock.seconds() - self.since < self.STARTUP_GRACE:
            return  # not reached yet: the next failed attempt past the grace says it
        log.warn("{what} is unreachable: {reason}; retrying (its return is logged once)",
                 what=self.what, reason=reason)
        self.up = False
        self.since = self._clock.seconds()

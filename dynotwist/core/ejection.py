"""Failure detection for one backend (a peer, the local datastore): Dynomite's
``auto_eject_hosts``, ``server_failure_limit`` and ``server_retry_timeout``, working.

Pure logic; the connection pools (``dynotwist.net.datastore.BackendPool``) feed it
events and act on its answers. A backend is *in* until ``failure_limit`` failures in a
row (a connection that cannot be made or is lost, a request that times out), with no
reply in between; it is then *ejected*: requests for it fail at once (and are sent to
another replica where the plan has one), nothing is sent to it. After
``retry_timeout`` seconds it is *probing*: the pool sends one probe (a request of its
own, never a client's); a reply brings the backend back in, a failure ejects it again
for another ``retry_timeout``.

Counting consecutive failures detects a dead backend within one request timeout under
load (every request in flight fails together), and a silent one too (a stopped
process whose kernel still accepts connections), where connection state alone never
would. With ``enabled`` False (``auto_eject_hosts: false``) nothing is ever ejected.
"""

from __future__ import annotations

__all__ = ["EJECTED", "IN", "PROBING", "Ejection"]

IN = "in"
EJECTED = "ejected"
PROBING = "probing"


class Ejection:
    """One backend's health. Times are seconds on the caller's clock."""

    __slots__ = ("ejected_at", "ejections", "enabled", "failures", "limit", "retry_after",
                 "retry_timeout", "state")

    def __init__(self, enabled: bool, failure_limit: int, retry_timeout: float) -> None:
        self.enabled = enabled
        self.limit = max(1, failure_limit)
        self.retry_timeout = retry_timeout
        self.state = IN
        #: consecutive failures since the last reply
        self.failures = 0
        #: times the backend went from in to ejected
        self.ejections = 0
        self.ejected_at = 0.0
        self.retry_after = 0.0

    @property
    def ejected(self) -> bool:
        """Requests must not be sent (ejected, or probing)."""
        return self.state != IN

    def failed(self, now: float, count: int = 1) -> bool:
        """``count`` failures at ``now``; True if they eject the backend (it was in, or
        its probe failed)."""
        self.failures += count
        if not self.enabled:
            return False
        if self.state == PROBING or (self.state == IN and self.failures >= self.limit):
            if self.state == IN:
                self.ejections += 1
                self.ejected_at = now
            self.state = EJECTED
            self.retry_after = now + self.retry_timeout
            return True
        return False

    def succeeded(self) -> bool:
        """A reply came; True if it brings an ejected backend back in."""
        self.failures = 0
        if self.state == IN:
            return False
        self.state = IN
        return True

    def probe_due(self, now: float) -> bool:
        """True (once) when an ejected backend's retry timeout has passed: the caller
        probes it now."""
        if self.state == EJECTED and now >= self.retry_after:
            self.state = PROBING
            return True
        return False

    def configure(self, enabled: bool, failure_limit: int, retry_timeout: float) -> None:
        """New settings (a reloaded configuration); an ejected backend stays ejected
        until its probe."""
        self.enabled = enabled
        self.limit = max(1, failure_limit)
        self.retry_timeout = retry_timeout

"""Logging through twisted.logger, filtered by Dynomite's verbosity levels.

Dynomite's levels run from 0 (EMERG) to 11; the default 5 is NOTICE. Twisted's
levels map onto them (critical 2, error 3, warn 4, info 6, debug 7), and events
logged with ``notice`` sit at 5: startup and shutdown lines an operator always sees.
Connection life cycles are info (6); per-request traces are debug (7 and up).
"""

from __future__ import annotations

from typing import Any

from twisted.logger import (
    FilteringLogObserver,
    ILogFilterPredicate,
    Logger,
    LogLevel,
    PredicateResult,
    globalLogPublisher,
)
from zope.interface import implementer

DEFAULT_VERBOSITY = 5
MAX_VERBOSITY = 11
# from this verbosity on, every request is logged (the hot path checks it once per read)
TRACE_REQUESTS = 7

_RANK = {
    LogLevel.critical: 2,
    LogLevel.error: 3,
    LogLevel.warn: 4,
    LogLevel.info: 6,
    LogLevel.debug: 7,
}


@implementer(ILogFilterPredicate)
class VerbosityFilter:
    """Lets an event through if its Dynomite rank is within the verbosity."""

    def __init__(self, verbosity: int = DEFAULT_VERBOSITY) -> None:
        self.verbosity = verbosity

    def __call__(self, event: dict) -> Any:
        rank = 5 if event.get("log_notice") else _RANK.get(event.get("log_level"), 6)
        return PredicateResult.maybe if rank <= self.verbosity else PredicateResult.no

    def set(self, verbosity: int) -> int:
        self.verbosity = max(0, min(MAX_VERBOSITY, verbosity))
        return self.verbosity


verbosity = VerbosityFilter()
_observer = FilteringLogObserver(globalLogPublisher, [verbosity])


def logger(namespace: str) -> Logger:
    """A logger for a dynotwist module, subject to the verbosity filter."""
    return Logger(namespace=namespace, observer=_observer)


def notice(log: Logger, format: str, **fields: Any) -> None:
    """An operator-facing line (Dynomite's NOTICE): shown at the default verbosity."""
    log.info(format, log_notice=True, **fields)

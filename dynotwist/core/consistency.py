"""Consistency levels (Dynomite's ``consistency_t``)."""

from __future__ import annotations

from typing import Optional

DC_ONE = "DC_ONE"
DC_QUORUM = "DC_QUORUM"
DC_SAFE_QUORUM = "DC_SAFE_QUORUM"
DC_EACH_SAFE_QUORUM = "DC_EACH_SAFE_QUORUM"

LEVELS = (DC_ONE, DC_QUORUM, DC_SAFE_QUORUM, DC_EACH_SAFE_QUORUM)


def parse_level(name: bytes) -> Optional[str]:
    """The level named by ``name`` (any case), or None."""
    level = name.decode("latin-1").upper()
    return level if level in LEVELS else None

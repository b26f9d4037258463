"""The hiredis accelerator, where it is installed.

It is an optional extra for CPython (``speedups``); on PyPy the pure-Python parser is
the fast one and hiredis is not installed, so the accelerator's tests are skipped
there, saying why (``SKIP_WITHOUT_HIREDIS`` as their classes' ``skip``).
"""

from __future__ import annotations

from typing import Any, Optional

hiredis: Any
AcceleratedRequestParser: Any
try:
    import hiredis

    from dynotwist.proto.resp_hiredis import AcceleratedRequestParser
except ImportError:
    hiredis = AcceleratedRequestParser = None

SKIP_WITHOUT_HIREDIS: Optional[str] = (
    None
    if hiredis is not None
    else "hiredis is not installed: the accelerator is a CPython extra (the pure parser is"
    " PyPy's fast path)"
)

"""The accelerators, where they are installed.

The hiredis request parser is an optional extra for CPython (``speedups``), and the
compiled RESP scanner is built at install on CPython only; on PyPy the pure-Python
codecs are the fast ones, so the accelerators' tests are skipped there, saying why
(``SKIP_WITHOUT_HIREDIS`` or ``SKIP_WITHOUT_COMPILED`` as their classes' ``skip``).
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

CompiledReplyFramer: Any
compiled_one_request: Any
try:
    from dynotwist.proto.resp_compiled import CompiledReplyFramer
    from dynotwist.proto.resp_compiled import one_request as compiled_one_request
except ImportError:
    CompiledReplyFramer = compiled_one_request = None

SKIP_WITHOUT_COMPILED: Optional[str] = (
    None
    if CompiledReplyFramer is not None
    else "the compiled RESP scanner is not built: it is built at install on CPython only"
    " (the pure framer is PyPy's fast path)"
)

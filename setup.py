"""Metadata and dependencies are in setup.cfg; this adds the optional compiled reply
scanner (``dynotwist.proto._respscan``), built on CPython only and never required: if
it cannot be built (no C compiler, no Python headers) the install goes on without it
and the pure-Python framer serves (PyPy's JIT runs the pure framer fast)."""

import platform

from setuptools import Extension, setup

extensions = []
if platform.python_implementation() == "CPython":
    extensions.append(
        Extension(
            "dynotwist.proto._respscan", ["dynotwist/proto/_respscan.c"], optional=True
        )
    )

setup(ext_modules=extensions)

"""Build configuration beyond pyproject.toml: the optional compiled parts.

* ``websocket_ref._speedups`` (C) speeds up masking. Where no C compiler (or no Python
  headers) is available, the build goes on without it and ``websocket_ref.masking``
  falls back to pure Python.
* With ``WEBSOCKET_REF_MYPYC=1`` in the environment and mypy importable in the build
  environment (``pip install --no-build-isolation``, mypy installed), the hot path —
  :data:`MYPYC_MODULES` — is compiled with mypyc as well. The Python source stays the
  reference: the compiled modules are built from it, and any that can't be built
  (no compiler, no mypyc) are left out, so that the package falls back to the Python
  modules. ``websocket_ref._mypyc.compiled()`` tells which one runs.
"""

from __future__ import annotations

import os
import sys

from setuptools import Extension, setup

#: The modules compiled with mypyc: the frame parser, the protocol core, the asyncio
#: connection; what every message goes through.
MYPYC_MODULES = [
    "websocket_ref/frames.py",
    "websocket_ref/frame_parser.py",
    "websocket_ref/states.py",
    "websocket_ref/utf8.py",
    "websocket_ref/protocol.py",
    "websocket_ref/asyncio/messages.py",
    "websocket_ref/asyncio/connection.py",
]


def mypyc_extensions() -> list[Extension]:
    if os.environ.get("WEBSOCKET_REF_MYPYC", "") in ("", "0"):
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        print("WEBSOCKET_REF_MYPYC is set but mypyc isn't installed: pure Python", file=sys.stderr)
        return []
    try:
        extensions = mypycify(MYPYC_MODULES, opt_level="3", group_name="websocket_ref")
    except (Exception, SystemExit) as exc:  # mypyc exits on a type error: run as Python
        print(f"mypyc couldn't compile the hot path ({exc!r}): pure Python", file=sys.stderr)
        return []
    for extension in extensions:
        # No compiler: the build goes on, and the package runs its Python modules.
        extension.optional = True
    return extensions  # type: ignore[no-any-return]


setup(
    ext_modules=[
        Extension(
            "websocket_ref._speedups",
            sources=["websocket_ref/_speedups.c"],
            optional=True,
        ),
        *mypyc_extensions(),
    ]
)

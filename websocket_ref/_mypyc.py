"""What mypyc needs from the source, importable without mypy.

The hot path (see ``setup.py``: the frame parser, the protocol core, the asyncio
connection) can be compiled with mypyc; the Python source stays the reference and
the fallback. Classes that interpreted code subclasses (``ClientProtocol``, users'
connection classes) say so with ``@mypyc_attr(allow_interpreted_subclasses=True)``,
which mypyc reads at compile time; at run time it's a no-op either way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

__all__ = ["mypyc_attr", "compiled"]

if TYPE_CHECKING:
    from mypy_extensions import mypyc_attr
else:

    def mypyc_attr(*attrs, **kwattrs):
        return lambda cls: cls


def compiled() -> bool:
    """True if the protocol core runs compiled by mypyc, False if it runs as Python."""
    from . import protocol

    return not (protocol.__file__ or "").endswith(".py")

"""WebSocket extensions (RFC 6455 §9) and their negotiation framework.

The permessage-deflate names (RFC 7692) are imported on first use, so that importing
the framework doesn't import zlib, and a Python built without zlib still works without
compression.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .base import ClientExtensionFactory, Extension, ServerExtensionFactory

if TYPE_CHECKING:
    from .permessage_deflate import (
        ClientPerMessageDeflateFactory,
        PerMessageDeflate,
        ServerPerMessageDeflateFactory,
        enable_client_permessage_deflate,
        enable_server_permessage_deflate,
    )

__all__ = [
    "Extension",
    "ClientExtensionFactory",
    "ServerExtensionFactory",
    "PerMessageDeflate",
    "ClientPerMessageDeflateFactory",
    "ServerPerMessageDeflateFactory",
    "enable_client_permessage_deflate",
    "enable_server_permessage_deflate",
]

_LAZY = frozenset(__all__[3:])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from . import permessage_deflate

        return getattr(permessage_deflate, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

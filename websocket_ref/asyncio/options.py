"""Turning the user-facing options of ``connect()`` and ``serve()`` into core arguments.

Both entry points accept the same shorthand as the ``websockets`` library:
``compression="deflate"`` for permessage-deflate with sensible defaults, ``max_queue``
and ``write_limit`` as a high-water mark or a ``(high, low)`` pair, and ``logger`` as
a name or a :class:`logging.Logger`.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

from ..extensions.base import ClientExtensionFactory, ServerExtensionFactory
from ..protocol import LoggerLike

__all__ = [
    "client_extensions",
    "server_extensions",
    "queue_limits",
    "write_limits",
    "resolve_logger",
]


def _deflate_module() -> Any:
    """The permessage-deflate module, or None if this build doesn't have it.

    Imported lazily and guarded, so that the default ``compression="deflate"`` degrades
    to no compression instead of breaking every connection.
    """
    try:
        return importlib.import_module("websocket_ref.extensions.permessage_deflate")
    except ImportError:  # pragma: no cover - depends on the build
        return None


def client_extensions(
    compression: str | None,
    extensions: Sequence[ClientExtensionFactory] | None,
) -> list[ClientExtensionFactory] | None:
    """The client's extension factories once ``compression`` is applied."""
    if compression == "deflate":
        module = _deflate_module()
        if module is not None:
            enabled: list[ClientExtensionFactory] = module.enable_client_permessage_deflate(
                extensions
            )
            return enabled
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    return None if extensions is None else list(extensions)


def server_extensions(
    compression: str | None,
    extensions: Sequence[ServerExtensionFactory] | None,
) -> list[ServerExtensionFactory] | None:
    """The server's extension factories once ``compression`` is applied."""
    if compression == "deflate":
        module = _deflate_module()
        if module is not None:
            enabled: list[ServerExtensionFactory] = module.enable_server_permessage_deflate(
                extensions
            )
            return enabled
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    return None if extensions is None else list(extensions)


def queue_limits(
    max_queue: int | tuple[int | None, int | None] | None,
) -> tuple[int | None, int | None]:
    """High- and low-water marks, in frames, of the incoming queue."""
    if max_queue is None:
        return None, None
    if isinstance(max_queue, int):
        high: int | None = max_queue
        low: int | None = None
    else:
        high, low = max_queue
    if high is not None and high < 1:
        raise ValueError("max_queue must be at least 1")
    if high is None and low is not None:
        raise ValueError("max_queue needs a high-water mark with a low-water mark")
    return high, low


def write_limits(write_limit: int | tuple[int, int | None]) -> tuple[int, int]:
    """High- and low-water marks, in bytes, of the transport's write buffer."""
    if isinstance(write_limit, int):
        high, low = write_limit, None
    else:
        high, low = write_limit
    if low is None:
        low = high // 4
    if not 0 <= low <= high:
        raise ValueError("write_limit needs 0 <= low <= high")
    return high, low


def resolve_logger(logger: LoggerLike | str | None, default: str) -> LoggerLike:
    """A logger object from a name, a logger, or None for ``default``."""
    if logger is None:
        return logging.getLogger(default)
    if isinstance(logger, str):
        return logging.getLogger(logger)
    return logger

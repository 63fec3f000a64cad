"""Small helpers of the threading API: deadlines and turning user options into core arguments.

``connect()`` and ``serve()`` accept the same shorthand as the ``websockets`` library:
``compression="deflate"`` for permessage-deflate with sensible defaults, ``max_queue`` as a
high-water mark or a ``(high, low)`` pair, and ``logger`` as a name or a logger.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from ..extensions.base import ClientExtensionFactory, ServerExtensionFactory
from ..protocol import LoggerLike

__all__ = [
    "Deadline",
    "client_extensions",
    "server_extensions",
    "queue_limits",
    "resolve_logger",
]


class Deadline:
    """A point in time after which waiting must stop; ``None`` means never.

    Threads wait in several steps (connect, TLS handshake, HTTP handshake; or writing a
    close frame, then waiting for the peer): one deadline bounds them all, where a
    timeout passed to each step would add up.
    """

    __slots__ = ("deadline",)

    def __init__(self, timeout: float | None) -> None:
        self.deadline = None if timeout is None else time.monotonic() + timeout

    def timeout(self, *, raise_if_elapsed: bool = True) -> float | None:
        """Seconds left, ``None`` if unbounded; raise :class:`TimeoutError` once elapsed."""
        if self.deadline is None:
            return None
        timeout = self.deadline - time.monotonic()
        if timeout <= 0:
            if raise_if_elapsed:
                raise TimeoutError("timed out")
            return 0.0
        return timeout


def _deflate_module() -> Any:
    """The permessage-deflate module, or None if this build doesn't have it yet.

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
) -> list[ClientExtensionFactory]:
    """The client's extension factories once ``compression`` is applied."""
    if compression == "deflate":
        module = _deflate_module()
        if module is not None:
            enabled: Sequence[ClientExtensionFactory] = module.enable_client_permessage_deflate(
                extensions
            )
            return list(enabled)
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    return list(extensions or [])


def server_extensions(
    compression: str | None,
    extensions: Sequence[ServerExtensionFactory] | None,
) -> list[ServerExtensionFactory]:
    """The server's extension factories once ``compression`` is applied."""
    if compression == "deflate":
        module = _deflate_module()
        if module is not None:
            enabled: Sequence[ServerExtensionFactory] = module.enable_server_permessage_deflate(
                extensions
            )
            return list(enabled)
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    return list(extensions or [])


def queue_limits(
    max_queue: int | tuple[int | None, int | None] | None,
) -> tuple[int | None, int | None]:
    """High- and low-water marks of the incoming frame queue; ``None`` means unbounded.

    The low-water mark defaults to a quarter of the high-water mark, so that reading
    resumes in batches rather than one frame at a time.
    """
    if max_queue is None:
        return None, None
    high: int | None
    low: int | None
    if isinstance(max_queue, int):
        high, low = max_queue, None
    else:
        high, low = max_queue
    if high is None:
        return None, None
    if low is None:
        low = high // 4
    if high < 1 or not 0 <= low <= high:
        raise ValueError("max_queue must be high >= 1 and 0 <= low <= high")
    return high, low


def resolve_logger(logger: LoggerLike | str | None, default: str) -> LoggerLike:
    """A logger from a logger, a logger name, or the default name."""
    if logger is None:
        return logging.getLogger(default)
    if isinstance(logger, str):
        return logging.getLogger(logger)
    return logger

"""Options of the asyncio API: the shared shorthands, plus ``write_limit``.

``compression``, ``max_queue`` and ``logger`` are read by :mod:`websocket_ref.options`,
shared with the threading API; ``write_limit`` (the transport's write buffer, as a
high-water mark or a ``(high, low)`` pair) only exists here.
"""

from __future__ import annotations

from ..options import client_extensions, queue_limits, resolve_logger, server_extensions

__all__ = [
    "client_extensions",
    "server_extensions",
    "queue_limits",
    "write_limits",
    "resolve_logger",
]


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

"""Small helpers of the threading API: deadlines, and the option shorthands it shares.

The shorthands (``compression``, ``max_queue``, ``logger``) are read by
:mod:`websocket_ref.options`, shared with the asyncio API, and re-exported here.
"""

from __future__ import annotations

import time

from ..options import client_extensions, queue_limits, resolve_logger, server_extensions

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

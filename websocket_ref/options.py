"""Turning the user-facing options of ``connect()`` and ``serve()`` into core arguments.

The asyncio and threading APIs accept the same shorthand as the ``websockets`` library:
``compression="deflate"`` for permessage-deflate with sensible defaults, ``max_queue``
as a high-water mark or a ``(high, low)`` pair, and ``logger`` as a name or a
:class:`logging.Logger`. Both APIs read them here, so that they can't drift apart.
"""

from __future__ import annotations

import importlib
import logging
import traceback
from collections.abc import Sequence
from typing import Any, TypeVar

from .extensions.base import ClientExtensionFactory, ServerExtensionFactory
from .protocol import LoggerLike

__all__ = [
    "BROADCAST_BUFFER_LIMIT",
    "SLOW_CLOSE_CODE",
    "check_slow_policy",
    "write_failure",
    "describe_failure",
    "client_extensions",
    "server_extensions",
    "queue_limits",
    "resolve_logger",
    "data_bytes",
]


def data_bytes(data: str | bytes | bytearray | memoryview) -> bytes:
    """The payload of a ping or pong (or a message) as bytes: ``str`` is UTF-8 encoded,
    bytes-like objects are copied; anything else raises :exc:`TypeError`."""
    if isinstance(data, str):
        return data.encode()
    if isinstance(data, bytes | bytearray | memoryview):
        return data if type(data) is bytes else bytes(data)
    raise TypeError(f"data has unsupported type {type(data).__name__}")


def _deflate_module() -> Any:
    """The permessage-deflate module, or None where it can't be imported.

    Imported lazily and guarded (it needs :mod:`zlib`, which some Python builds lack), so
    that the default ``compression="deflate"`` degrades to no compression instead of
    breaking every connection.
    """
    try:
        return importlib.import_module("websocket_ref.extensions.permessage_deflate")
    except ImportError:  # pragma: no cover - depends on the build
        return None


_Factory = TypeVar("_Factory", ClientExtensionFactory, ServerExtensionFactory)


def _apply_compression(
    compression: str | None, extensions: Sequence[_Factory] | None, enable: str
) -> list[_Factory] | None:
    """``extensions`` once ``compression`` is applied by the module's ``enable`` function."""
    if compression == "deflate":
        module = _deflate_module()
        if module is not None:
            enabled: list[_Factory] = getattr(module, enable)(extensions)
            return enabled
    elif compression is not None:
        raise ValueError(f"unsupported compression: {compression}")
    return None if extensions is None else list(extensions)


def client_extensions(
    compression: str | None,
    extensions: Sequence[ClientExtensionFactory] | None,
) -> list[ClientExtensionFactory] | None:
    """The client's extension factories once ``compression`` is applied."""
    return _apply_compression(compression, extensions, "enable_client_permessage_deflate")


def server_extensions(
    compression: str | None,
    extensions: Sequence[ServerExtensionFactory] | None,
) -> list[ServerExtensionFactory] | None:
    """The server's extension factories once ``compression`` is applied."""
    return _apply_compression(compression, extensions, "enable_server_permessage_deflate")


def queue_limits(
    max_queue: int | tuple[int | None, int | None] | None,
) -> tuple[int | None, int | None]:
    """High- and low-water marks, in frames, of the incoming queue; None: unbounded.

    The low-water mark defaults to a quarter of the high-water mark, so that reading
    resumes in batches rather than one frame at a time.
    """
    if max_queue is None:
        return None, None
    if isinstance(max_queue, int):
        high: int | None = max_queue
        low: int | None = None
    else:
        high, low = max_queue
    if high is None:
        if low is not None:
            raise ValueError("max_queue needs a high-water mark with a low-water mark")
        return None, None
    if low is None:
        low = high // 4
    if high < 1 or not 0 <= low <= high:
        raise ValueError("max_queue must be high >= 1 and 0 <= low <= high")
    return high, low


def resolve_logger(logger: LoggerLike | str | None, default: str) -> LoggerLike:
    """A logger from a logger, a logger name, or None for the ``default`` name."""
    if logger is None:
        return logging.getLogger(default)
    if isinstance(logger, str):
        return logging.getLogger(logger)
    return logger


#: Default ``buffer_limit`` of ``broadcast()``: bytes waiting to be written to a
#: connection above which it's too slow to get more. Above the largest burst that a
#: healthy client takes in stride (a snapshot sent to everyone at once), below what
#: thousands of stalled clients can hold without exhausting memory.
BROADCAST_BUFFER_LIMIT = 2**20

#: Close code of a connection that ``broadcast()`` closes for being too slow: 1008
#: (policy violation), the generic code for a policy of the endpoint.
SLOW_CLOSE_CODE = 1008


def check_slow_policy(buffer_limit: int | None, on_slow: str) -> None:
    """Check ``broadcast()``'s slow-client policy: a limit in bytes, "close" or "skip"."""
    if buffer_limit is not None and (
        not isinstance(buffer_limit, int) or isinstance(buffer_limit, bool) or buffer_limit < 0
    ):
        raise ValueError(f"buffer_limit must be an int >= 0 or None, got {buffer_limit!r}")
    if on_slow not in ("close", "skip"):
        raise ValueError(f'on_slow must be "close" or "skip", got {on_slow!r}')


def write_failure(exc: BaseException | None) -> RuntimeError:
    """What ``broadcast()`` reports for a connection whose write raised ``exc``.

    websockets' words: ``RuntimeError("failed to write message")``, caused by ``exc``.
    """
    failure = RuntimeError("failed to write message")
    failure.__cause__ = exc
    return failure


def describe_failure(exc: BaseException) -> str:
    """How ``broadcast()`` logs a connection it skipped: the error, then its cause's type
    and message (``failed to write message: BrokenPipeError: [Errno 32] Broken pipe``)."""
    cause = exc.__cause__
    if cause is None:
        return str(exc)
    return f"{exc}: {traceback.format_exception_only(cause)[0].strip()}"

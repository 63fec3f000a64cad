"""Sending one message to many connections without waiting for any of them."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..exceptions import ConcurrencyError
from ..protocol import State

if TYPE_CHECKING:
    from .connection import Connection, DataLike

__all__ = ["broadcast"]


def broadcast(
    connections: Iterable[Connection],
    message: DataLike,
    raise_exceptions: bool = False,
) -> None:
    """Send ``message`` to every open connection in ``connections``, without waiting.

    Unlike ``send()``, ``broadcast()`` is a plain function: it hands the frame to each
    transport and returns, so a slow client can't slow the others down. The other
    side of that coin: there is no backpressure, and a client that doesn't read lets
    its transport's write buffer grow; check
    ``connection.transport.get_write_buffer_size()`` to find and drop such clients.

    Connections that aren't open, or that are sending a fragmented message, are
    skipped: the error is logged, or, with ``raise_exceptions=True`` (Python 3.11+),
    collected and raised as an :exc:`ExceptionGroup` at the end.
    """
    if isinstance(message, str):
        text = True
        data = message.encode()  # encoded once for every connection
    elif isinstance(message, (bytes, bytearray, memoryview)):
        text = False
        data = bytes(message)
    else:
        raise TypeError(f"message has unsupported type {type(message).__name__}")
    if raise_exceptions and sys.version_info < (3, 11):  # pragma: no cover
        raise ValueError("raise_exceptions requires Python 3.11 or later (ExceptionGroup)")
    exceptions: list[Exception] = []
    for connection in connections:
        protocol = connection.protocol
        if protocol.state is not State.OPEN:
            continue
        try:
            if connection._fragmented_send is not None:
                # RFC 6455 §5.4: a frame can't be slipped between a message's fragments
                raise ConcurrencyError("sending a fragmented message")
            if text:
                protocol.send_text(data)
            else:
                protocol.send_binary(data)
            connection._send_data()
        except Exception as exc:
            if raise_exceptions:
                exceptions.append(exc)
            else:
                connection.logger.warning("skipped broadcast: %s", exc)
    if exceptions and sys.version_info >= (3, 11):
        raise ExceptionGroup("skipped broadcast", exceptions)  # noqa: F821 - Python 3.11+

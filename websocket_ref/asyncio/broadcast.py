"""Sending one message to many connections without waiting for any of them."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..exceptions import ConcurrencyError
from ..prepared import prepare
from ..protocol import State

if TYPE_CHECKING:
    from .connection import Connection, DataLike

__all__ = ["broadcast"]


def broadcast(
    connections: Iterable[Connection],
    message: DataLike,
    raise_exceptions: bool = False,
    *,
    text: bool | None = None,
    compress: bool = True,
) -> None:
    """Send ``message`` to every open connection in ``connections``, without waiting.

    Unlike ``send()``, ``broadcast()`` is a plain function: it hands the frame to each
    transport and returns, so a slow client can't slow the others down. The other
    side of that coin: there is no backpressure, and a client that doesn't read lets
    its transport's write buffer grow; check
    ``connection.transport.get_write_buffer_size()`` to find and drop such clients.

    The message is framed once: server connections that negotiated the same
    compression parameters without context takeover (or no compression) get the
    very same bytes, compressed once (:class:`~websocket_ref.prepared.PreparedMessage`).
    ``text`` overrides the frame type as for ``send()``; ``compress=False`` sends
    the message uncompressed everywhere.

    Connections that aren't open are skipped silently; connections sending a
    fragmented message are skipped with an error that is logged, or, with
    ``raise_exceptions=True`` (Python 3.11+), collected and raised as an
    :exc:`ExceptionGroup` at the end.
    """
    prepared = prepare(message, text, compress)
    if raise_exceptions and sys.version_info < (3, 11):  # pragma: no cover
        raise ValueError("raise_exceptions requires Python 3.11 or later (ExceptionGroup)")
    exceptions: list[Exception] = []
    for connection in connections:
        protocol = connection.protocol
        if protocol.state is not State.OPEN:
            continue
        try:
            if connection._fragmented_send is not None:
                # RFC 6455 §5.4 [R6455-5.4-4]: a frame can't be slipped between a message's
                # fragments
                raise ConcurrencyError("sending a fragmented message")
            protocol.send_prepared(prepared)
            connection._send_data()
        except Exception as exc:
            if raise_exceptions:
                exceptions.append(exc)
            else:
                connection.logger.warning("skipped broadcast: %s", exc)
    if exceptions and sys.version_info >= (3, 11):
        raise ExceptionGroup("skipped broadcast", exceptions)  # noqa: F821 - Python 3.11+

"""Sending one message to many connections of the threading API."""

from __future__ import annotations

import concurrent.futures
import sys
from collections.abc import Iterable
from typing import Any

from ..exceptions import ConcurrencyError
from ..prepared import prepare
from ..protocol import State
from .connection import BytesLike, Connection

__all__ = ["broadcast"]


def broadcast(
    connections: Iterable[Connection],
    message: str | BytesLike,
    raise_exceptions: bool = False,
    *,
    text: bool | None = None,
    compress: bool = True,
    **kwargs: Any,
) -> None:
    """Send ``message`` to every open connection in ``connections``.

    The message is framed once: server connections that negotiated the same
    compression parameters without context takeover (or no compression) share the
    same bytes, compressed once (:class:`~websocket_ref.prepared.PreparedMessage`).
    ``text`` overrides the frame type as for ``send()``; ``compress=False`` sends
    the message uncompressed everywhere.

    First the frame is queued on every connection, in the order given, under each
    connection's lock (so it never lands inside another thread's fragmented message);
    then worker threads of a :class:`concurrent.futures.ThreadPoolExecutor` write
    the queues, so that a slow client delays only the worker writing to it.
    ``kwargs`` configure the executor, e.g. ``max_workers``.

    Connections that aren't open are skipped silently; connections sending a
    fragmented message, and connections the message couldn't be written to, are
    skipped with an error that is logged, or, with ``raise_exceptions=True``
    (Python 3.11+), collected and raised as an :exc:`ExceptionGroup` at the end.
    """
    prepared = prepare(message, text, compress)
    if raise_exceptions and sys.version_info < (3, 11):  # pragma: no cover
        raise ValueError("raise_exceptions requires Python 3.11 or later (ExceptionGroup)")
    exceptions: list[Exception] = []

    def skipped(connection: Connection, exc: Exception) -> None:
        if raise_exceptions:
            exceptions.append(exc)
        else:
            connection.logger.warning("skipped broadcast: %s", exc)

    queued: list[tuple[Connection, int]] = []
    for connection in connections:
        with connection._lock:
            if connection.protocol.state is not State.OPEN:
                continue
            if connection._fragmented_send is not None:
                # RFC 6455 §5.4 [R6455-5.4-4]: a frame can't be slipped between a message's
                # fragments
                error: Exception | None = ConcurrencyError("sending a fragmented message")
            else:
                error = None
                connection.protocol.send_prepared(prepared)
                queued.append((connection, connection._queue_writes()))
        if error is not None:
            skipped(connection, error)

    def write(item: tuple[Connection, int]) -> None:
        connection, ticket = item
        try:
            connection._flush(ticket)
        except OSError as exc:
            failure = RuntimeError("failed to write message")
            failure.__cause__ = exc
            skipped(connection, failure)

    if len(queued) == 1:
        write(queued[0])
    elif queued:
        with concurrent.futures.ThreadPoolExecutor(**kwargs) as executor:
            for _ in executor.map(write, queued):
                pass
    if exceptions and sys.version_info >= (3, 11):
        raise ExceptionGroup("skipped broadcast", exceptions)  # noqa: F821 - Python 3.11+

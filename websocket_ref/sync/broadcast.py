"""Sending one message to many connections of the threading API."""

from __future__ import annotations

import concurrent.futures
import sys
import threading
from collections.abc import Iterable
from typing import Any, Literal

from ..exceptions import ConcurrencyError, InvalidState
from ..options import (
    BROADCAST_BUFFER_LIMIT,
    SLOW_CLOSE_CODE,
    check_slow_policy,
    describe_failure,
    write_failure,
)
from ..prepared import prepare
from ..protocol import State
from .connection import BytesLike, Connection
from .utils import Deadline

__all__ = ["broadcast"]


def broadcast(
    connections: Iterable[Connection],
    message: str | BytesLike,
    raise_exceptions: bool = False,
    *,
    text: bool | None = None,
    compress: bool = True,
    buffer_limit: int | None = BROADCAST_BUFFER_LIMIT,
    on_slow: Literal["close", "skip"] = "close",
    **kwargs: Any,
) -> list[Connection]:
    """Send ``message`` to every open connection in ``connections``.

    The message is framed once: server connections that negotiated the same
    compression parameters without context takeover (or no compression) share the
    same bytes, compressed once (:class:`~websocket_ref.prepared.PreparedMessage`).
    ``text`` overrides the frame type as for ``send()``; ``compress=False`` sends
    the message uncompressed everywhere.

    First the frame is queued on every connection, in the order given, under each
    connection's lock (so it never lands inside another thread's fragmented message);
    then worker threads of a :class:`concurrent.futures.ThreadPoolExecutor` write
    the queues, so that a slow client delays only the worker writing to it, and at
    most the connection's ``close_timeout``: a client that takes nothing for that
    long is aborted and reported. ``kwargs`` configure the executor, e.g.
    ``max_workers``.

    Slow clients, as for the asyncio API's ``broadcast()``: a connection with more than
    ``buffer_limit`` bytes still queued (:attr:`~Connection.buffered_amount`; they wait
    while another thread's write to it blocks) doesn't get the message; with
    ``on_slow="close"`` (the default) it's closed with 1008, without waiting; with
    ``on_slow="skip"`` it's left as it is. ``broadcast()`` returns the connections
    that didn't get the message because they were too slow.

    Connections that aren't open are skipped silently; connections sending a
    fragmented message, and connections the message couldn't be written to, are
    skipped with an error that is logged, or, with ``raise_exceptions=True``
    (Python 3.11+), collected and raised as an :exc:`ExceptionGroup` at the end.
    """
    prepared = prepare(message, text, compress)
    check_slow_policy(buffer_limit, on_slow)
    if raise_exceptions and sys.version_info < (3, 11):  # pragma: no cover
        raise ValueError("raise_exceptions requires Python 3.11 or later (ExceptionGroup)")
    exceptions: list[Exception] = []

    def skipped(connection: Connection, exc: Exception) -> None:
        if raise_exceptions:
            exceptions.append(exc)
        else:
            connection.logger.warning("skipped broadcast: %s", describe_failure(exc))

    queued: list[tuple[Connection, int]] = []
    slow: list[Connection] = []
    for connection in connections:
        if (
            buffer_limit is not None
            and connection.protocol.state is State.OPEN
            and connection.buffered_amount > buffer_limit
        ):
            slow.append(connection)
            if on_slow == "close":
                connection.logger.info(
                    "closing: too slow for broadcast (%d bytes not written)",
                    connection.buffered_amount,
                )
                # RFC 6455 §7.4.1 [R6455-7.4.1-1]: a pre-defined code, 1008, "a generic
                # status code" for a policy of the endpoint: a choice
                connection._fail_from_timer(
                    SLOW_CLOSE_CODE, "too slow to receive broadcast", fail=False
                )
            continue
        with connection._sending:
            if connection.protocol.state is not State.OPEN:
                continue
            if connection._fragmented_send is not None:
                # RFC 6455 §5.4 [R6455-5.4-4]: a frame can't be slipped between a message's
                # fragments
                error: Exception | None = ConcurrencyError("sending a fragmented message")
            else:
                error = None
                try:
                    connection.protocol.send_prepared(prepared)
                except InvalidState:  # the reader thread closed it meanwhile
                    continue
                with connection._lock:
                    queued.append((connection, connection._queue_writes()))
        if error is not None:
            skipped(connection, error)

    lock = threading.Lock()

    def write(item: tuple[Connection, int]) -> None:
        connection, ticket = item
        try:
            # Bounded: a client that takes nothing for close_timeout is aborted (a frame
            # partly written can't be taken back, so whatever on_slow says).
            connection._flush(ticket, Deadline(connection.close_timeout))
        except OSError as exc:
            if isinstance(exc, TimeoutError) or isinstance(exc.__cause__, TimeoutError):
                connection.logger.info("aborted: too slow for broadcast")
                with lock:
                    slow.append(connection)
                return
            # The write's own error rather than "connection is closed" (see _flush()).
            cause = exc.__cause__ if isinstance(exc.__cause__, OSError) else exc
            with lock:
                skipped(connection, write_failure(cause))

    if len(queued) == 1:
        write(queued[0])
    elif queued:
        with concurrent.futures.ThreadPoolExecutor(**kwargs) as executor:
            for _ in executor.map(write, queued):
                pass
    if exceptions and sys.version_info >= (3, 11):
        raise ExceptionGroup("skipped broadcast", exceptions)  # noqa: F821 - Python 3.11+
    return slow

"""Sending one message to many connections without waiting for any of them."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

from ..exceptions import ConcurrencyError
from ..options import (
    BROADCAST_BUFFER_LIMIT,
    SLOW_CLOSE_CODE,
    check_slow_policy,
    describe_failure,
    write_failure,
)
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
    buffer_limit: int | None = BROADCAST_BUFFER_LIMIT,
    on_slow: Literal["close", "skip"] = "close",
) -> list[Connection]:
    """Send ``message`` to every open connection in ``connections``, without waiting.

    Unlike ``send()``, ``broadcast()`` is a plain function: it hands the frame to each
    transport and returns, so a slow client can't slow the others down. There's no
    backpressure, then; instead, a connection with more than ``buffer_limit`` bytes
    still waiting to be written (:attr:`~Connection.buffered_amount`) is too slow to
    get more: with ``on_slow="close"`` (the default) it's closed with 1008 (policy
    violation) — the client learns that it lost messages, and may reconnect; with
    ``on_slow="skip"`` the message isn't sent to it. Either way, it's in the list that
    ``broadcast()`` returns: the connections that didn't get the message because they
    were too slow. ``buffer_limit=None`` removes the limit (and memory's bound).

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
    check_slow_policy(buffer_limit, on_slow)
    if raise_exceptions and sys.version_info < (3, 11):  # pragma: no cover
        raise ValueError("raise_exceptions requires Python 3.11 or later (ExceptionGroup)")
    exceptions: list[Exception] = []
    slow: list[Connection] = []
    for connection in connections:
        protocol = connection.protocol
        if protocol.state is not State.OPEN:
            continue
        if buffer_limit is not None and connection.buffered_amount > buffer_limit:
            slow.append(connection)
            if on_slow == "close":
                connection.logger.info(
                    "closing: too slow for broadcast (%d bytes not written)",
                    connection.buffered_amount,
                )
                # RFC 6455 §7.4.1 [R6455-7.4.1-1]: a pre-defined code, 1008, "a generic
                # status code" for a policy of the endpoint: a choice
                protocol.send_close(SLOW_CLOSE_CODE, "too slow to receive broadcast")
                connection._send_data()
            continue
        try:
            if connection._fragmented_send is not None:
                # RFC 6455 §5.4 [R6455-5.4-4]: a frame can't be slipped between a message's
                # fragments
                raise ConcurrencyError("sending a fragmented message")
            failed = connection._write_exc
            protocol.send_prepared(prepared)
            connection._send_data()
            if connection._write_exc is not failed:  # the write raised: the connection is lost
                raise write_failure(connection._write_exc)
        except Exception as exc:
            if raise_exceptions:
                exceptions.append(exc)
            else:
                connection.logger.warning("skipped broadcast: %s", describe_failure(exc))
    if exceptions and sys.version_info >= (3, 11):
        raise ExceptionGroup("skipped broadcast", exceptions)  # noqa: F821 - Python 3.11+
    return slow

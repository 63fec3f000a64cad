"""broadcast() and slow clients: memory stays bounded, the fast clients get everything.

broadcast() doesn't wait for anyone, so a client that doesn't read would make the
server buffer every message for it. The policy (docs/howto/broadcast.md): a connection
with more than ``buffer_limit`` bytes not written yet doesn't get the message; it's
closed with 1008 (``on_slow="close"``, the default) or just skipped
(``on_slow="skip"``); broadcast() returns the connections that were too slow. In the
threading API, where writes block, a write that takes longer than ``close_timeout``
aborts the connection, which is reported the same way.
"""

from __future__ import annotations

import socket
import threading
from functools import partial
from typing import Any

import pytest

from websocket_ref.asyncio.server import broadcast as asyncio_broadcast
from websocket_ref.sync.server import broadcast as sync_broadcast

from .support import (
    APIS,
    TIMEOUT,
    handshake,
    running_server,
    traced_peak,
    wait_until,
)

MESSAGE = b"m" * 65536
COUNT = 100  # 6.4 MiB per client


class FastReader(threading.Thread):
    """A client that reads everything, counting bytes."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(daemon=True)
        self.sock = sock
        self.received = 0
        self.start()

    def run(self) -> None:
        try:
            while chunk := self.sock.recv(65536):
                self.received += len(chunk)
        except OSError:
            pass


def broadcast_all(api: str, handlers: Any, **kwargs: Any) -> list[list[Any]]:
    """Broadcast MESSAGE COUNT times to every connection; what each call returned."""
    broadcast = asyncio_broadcast if api == "asyncio" else sync_broadcast
    results = []
    for _ in range(COUNT):
        connections = list(handlers.connections)
        results.append(handlers.call(partial(broadcast, connections, MESSAGE, **kwargs)))
    return results


def connect_clients(port: int, handlers: Any) -> tuple[socket.socket, FastReader]:
    slow = handshake(port)
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # never read
    fast = FastReader(handshake(port))
    assert wait_until(lambda: len(handlers.connections) == 2)
    return slow, fast


@pytest.mark.parametrize("api", APIS)
def test_slow_client_closed_with_1008(api: str) -> None:
    options = {"compression": None, "close_timeout": 1}
    with running_server(api, "idle", **options) as (port, handlers):
        slow, fast = connect_clients(port, handlers)
        with traced_peak() as peak:
            results = broadcast_all(api, handlers, buffer_limit=2**18)
            growth = peak()
        # The fast client got every message (a 4-byte header each, server frames).
        assert wait_until(lambda: fast.received >= COUNT * (len(MESSAGE) + 10))
        [slow_ws] = [ws for ws in handlers.connections if ws.remote_address == slow.getsockname()]
        assert {id(ws) for result in results for ws in result} == {id(slow_ws)}
        if api == "asyncio":
            # Closed with 1008; the close frame waits behind what the client didn't
            # read, until close_timeout aborts the connection.
            assert slow_ws.protocol.close_sent.code == 1008
        # Either way, the connection ends (threading: the write timed out and aborted it).
        assert wait_until(lambda: slow_ws.state.name == "CLOSED")
        slow.close()
        fast.sock.close()
    # What the slow client didn't take is bounded by buffer_limit (256 KiB) plus the
    # message that went past it, and what the fast client's buffer holds at a time: not
    # by the 6.4 MiB broadcast (without the limit, the process holds several MiB).
    assert growth < 2**20, growth


def test_slow_client_skipped() -> None:
    with running_server("asyncio", "idle", compression=None) as (port, handlers):
        slow, fast = connect_clients(port, handlers)
        with traced_peak() as peak:
            results = broadcast_all("asyncio", handlers, buffer_limit=2**18, on_slow="skip")
            growth = peak()
        assert wait_until(lambda: fast.received >= COUNT * (len(MESSAGE) + 10))
        # Skipped again and again, once its backlog passed the limit, and still open.
        assert results[-1] and all(results[-10:])
        [slow_ws] = {ws for result in results for ws in result}
        assert slow_ws.state.name == "OPEN"
        slow.close()
        fast.sock.close()
    assert growth < 2**20, growth


@pytest.mark.parametrize("api", APIS)
def test_policy_arguments_are_checked(api: str) -> None:
    broadcast = asyncio_broadcast if api == "asyncio" else sync_broadcast
    with pytest.raises(ValueError, match="on_slow"):
        broadcast([], "x", on_slow="drop")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="buffer_limit"):
        broadcast([], "x", buffer_limit=-1)
    assert broadcast([], "x") == []
    assert TIMEOUT > 0

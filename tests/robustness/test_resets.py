"""Peers that vanish: connections reset (RST) in the middle of a conversation.

Every handler must get ``ConnectionClosed`` — from ``recv()`` or from ``send()`` — and
nothing may be logged at WARNING or above: a reset peer is an everyday event, not a
server problem. Nothing may be left behind either: no file descriptor, no thread.
"""

from __future__ import annotations

import gc
import os
import ssl
import threading

import pytest
import trustme

from websocket_ref.exceptions import ConnectionClosedError

from .support import (
    APIS,
    WarningCounter,
    client_frame,
    handshake,
    reset,
    running_server,
    wait_until,
)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.fixture(scope="module")
def tls() -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """TLS contexts of a server and of a client that trusts it."""
    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("localhost").configure_cert(server_context)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client_context)
    return server_context, client_context


@pytest.mark.parametrize("secure", [False, True], ids=["tcp", "tls"])
@pytest.mark.parametrize("api", APIS)
def test_send_after_reset_raises_connection_closed(
    api: str, secure: bool, tls: tuple[ssl.SSLContext, ssl.SSLContext]
) -> None:
    # The handler sends as fast as it can, never waiting; the client reads a while, then
    # resets. send() must raise ConnectionClosedError, not return while the data goes
    # nowhere (and, in asyncio, not log "socket.send() raised exception." per call).
    options = {"ssl": tls[0]} if secure else {}
    client_context = tls[1] if secure else None
    with (
        WarningCounter() as warnings,
        running_server(api, "ticker", **options) as (port, handlers),
    ):
        for _ in range(2):
            sock = handshake(port, ssl_context=client_context)
            sock.sendall(client_frame(0x1, b"start"))
            received = 0
            while received < 2**16:
                received += len(sock.recv(65536))
            reset(sock)
        assert wait_until(lambda: len(handlers.closed) + len(handlers.errors) == 2)
    assert handlers.errors == []
    assert all(isinstance(exc, ConnectionClosedError) for exc in handlers.closed)
    assert warnings.records == []


@pytest.mark.parametrize("api", APIS)
def test_resets_give_every_handler_connection_closed(api: str) -> None:
    count = 100  # bench/robustness.py --attack rst runs 1,000
    fds = open_fds()
    threads = threading.active_count()
    with WarningCounter() as warnings, running_server(api, "echo") as (port, handlers):
        for _ in range(count):
            sock = handshake(port)
            sock.sendall(client_frame(0x1, b"hello"))
            reset(sock)
        assert wait_until(lambda: len(handlers.closed) + len(handlers.errors) == count)
    assert handlers.errors == []
    assert len(handlers.closed) == count
    assert all(isinstance(exc, ConnectionClosedError) for exc in handlers.closed)
    assert warnings.records == []
    handlers.connections.clear()
    gc.collect()
    assert wait_until(lambda: open_fds() <= fds and threading.active_count() <= threads)

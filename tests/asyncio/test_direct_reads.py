"""How the asyncio connection reads: on asyncio's own TCP transport, by itself.

``Connection._read_ready()`` is the transport's ``_read_ready__get_buffer()`` (the
reference) with the connection's ``get_buffer()`` and ``buffer_updated()`` written in;
the transport calls it instead of its own method (``_read_directly()``). Each scenario
below runs three ways — reading directly with the C accelerator's ``socket_recv()``,
reading directly with the socket's ``recv_into()``, and through the transport's method
(``WEBSOCKET_REF_NO_DIRECT_READ=1``) — and must end the same: bytes delivered, reading
paused and resumed, EOF, a reset.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import pytest

from websocket_ref import ConnectionClosedError
from websocket_ref.asyncio import ClientConnection, connect
from websocket_ref.asyncio import connection as connection_module
from websocket_ref.asyncio.connection import Connection

from .helpers import FAST, client_of_raw_server, run_server, uri_of

SIZES = [0, 1, 125, 126, 65535, 65536, 300_000, 2**20]


@pytest.fixture(params=["direct", "direct-recv_into", "reference"])
def direct(request: Any, monkeypatch: pytest.MonkeyPatch) -> bool:
    if request.param == "reference":
        monkeypatch.setenv("WEBSOCKET_REF_NO_DIRECT_READ", "1")
    if request.param == "direct-recv_into":
        monkeypatch.setattr(connection_module, "_socket_calls", None)
    return bool(request.param != "reference")


def reads_directly(ws: Connection) -> bool:
    """Whether the event loop calls the connection's reader when the socket is readable."""
    transport: Any = ws.transport
    handle, _ = transport._loop._selector.get_key(transport._sock_fd).data
    direct = bool(handle._callback == ws._read_ready)
    assert direct or handle._callback == transport._read_ready
    assert (transport._read_ready_cb == ws._read_ready) is direct
    return direct


@pytest.mark.asyncio
async def test_echo_of_every_size(direct: bool) -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        assert reads_directly(ws) is direct
        (server_ws,) = server.connections
        assert reads_directly(server_ws) is direct
        for i, size in enumerate(SIZES):
            message = bytes([i % 251]) * size
            await ws.send(message)
            assert await ws.recv() == message


@pytest.mark.asyncio
async def test_reading_pauses_and_resumes(direct: bool) -> None:
    # max_queue=2: reading stops while frames wait unread, and resumes once they're taken;
    # asyncio's pause_reading()/resume_reading() keep calling the direct reader.
    async with run_server() as server, connect(uri_of(server), max_queue=2, **FAST) as ws:
        messages = [bytes([i]) * 1000 for i in range(50)]
        for message in messages:
            await ws.send(message)
        await asyncio.sleep(0.05)
        assert ws._reading_paused
        assert not ws.transport.is_reading()
        received = [await ws.recv() for _ in messages]
        assert received == messages
        assert not ws._reading_paused
        assert reads_directly(ws) is direct


@pytest.mark.asyncio
async def test_eof_without_close_frame(direct: bool) -> None:
    async with client_of_raw_server() as (ws, _reader, writer, _headers):
        assert reads_directly(ws) is direct
        writer.write(b"\x81\x02hi")
        writer.write_eof()
        assert await ws.recv() == "hi"
        with pytest.raises(ConnectionClosedError) as raised:
            await ws.recv()
        assert raised.value.rcvd is None  # 1006: no close frame
        assert ws.transport.is_closing()


@pytest.mark.asyncio
async def test_reset_by_peer(direct: bool) -> None:
    async with client_of_raw_server() as (ws, _reader, writer, _headers):
        assert reads_directly(ws) is direct
        sock = writer.get_extra_info("socket")
        # SO_LINGER with a zero timeout: close() sends a RST; the read fails.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()
        with pytest.raises(ConnectionClosedError) as raised:
            await ws.recv()
        assert raised.value.rcvd is None
        assert isinstance(raised.value.__cause__, ConnectionResetError)


@pytest.mark.asyncio
async def test_read_error_goes_to_the_transport(direct: bool) -> None:
    # What the transport's own method does on an error other than EAGAIN: _fatal_error()
    # with the same message.
    async with client_of_raw_server() as (ws, _reader, _writer, _headers):
        transport: Any = ws.transport
        calls: list[tuple[type[BaseException], str]] = []
        transport._fatal_error = lambda exc, message: calls.append((type(exc), message))
        real = transport._sock
        transport._sock = FailingSocket(real)
        # With the C accelerator's socket_recv(), the direct reader reads the descriptor:
        # one of a socket that isn't connected fails (ENOTCONN).
        unconnected, fd = socket.socket(), ws._fd
        if ws._socket_recv is not None:
            ws._fd = unconnected.fileno()
        try:
            transport._read_ready()
        finally:
            transport._sock = real
            ws._fd = fd
            unconnected.close()
        assert calls == [(OSError, "Fatal read error on socket transport")]


class FailingSocket:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock

    def recv_into(self, buffer: Any) -> int:
        raise OSError("read failed")


@pytest.mark.asyncio
async def test_only_on_asyncios_own_tcp_transport() -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        other = asyncio.Transport()  # e.g. another event loop's, or a wrapper
        assert connection_module._read_directly(ws, other) is False


@pytest.mark.asyncio
async def test_not_when_a_subclass_overrides_buffer_updated() -> None:
    # asyncio would call the override: so does the connection, through the transport.
    seen: list[int] = []

    class Client(ClientConnection):
        def buffer_updated(self, nbytes: int) -> None:
            seen.append(nbytes)
            super().buffer_updated(nbytes)

    async with (
        run_server() as server,
        connect(uri_of(server), create_connection=Client, **FAST) as ws,
    ):
        assert not reads_directly(ws)
        await ws.send("hello")
        assert await ws.recv() == "hello"
        assert seen

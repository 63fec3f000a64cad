"""How the asyncio connection writes: straight to the socket while the transport is empty.

``Connection._write()`` is ``transport.write()`` (the reference) with a shortcut on plain
TCP transports; these tests check that every byte arrives, in order, whichever way it
went: all at once, in pieces, or refused by the socket. The shortcut calls the C
accelerator's ``socket_send()`` when it's built, else the socket's ``send()``; the tests
that give the connection a socket of their own (``ShortSocket``) turn the C call off.
"""

from __future__ import annotations

import os
import socket
from typing import Any

import pytest

from websocket_ref import ConnectionClosedError, State
from websocket_ref.asyncio import connect
from websocket_ref.asyncio import connection as connection_module

from .helpers import FAST, run_server, uri_of

SIZES = [0, 1, 125, 126, 65535, 65536, 300_000, 2**20]


def messages() -> list[bytes]:
    return [bytes([i % 251]) * size for i, size in enumerate(SIZES)]


class ShortSocket(socket.socket):
    """A second handle on a connected socket whose ``send()`` takes few bytes or none."""

    def __init__(self, sock: socket.socket, mode: str) -> None:
        super().__init__(sock.family, sock.type, sock.proto, fileno=os.dup(sock.fileno()))
        self.setblocking(False)
        self.mode = mode
        self.calls = 0

    def send(self, data: Any, flags: int = 0) -> int:
        self.calls += 1
        if self.mode == "refuse":
            raise BlockingIOError
        if self.mode == "reset":
            raise ConnectionResetError
        return super().send(bytes(data)[:3], flags)


@pytest.mark.asyncio
@pytest.mark.parametrize("c_calls", [True, False])
async def test_plain_tcp_writes_to_the_socket(
    c_calls: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not c_calls:
        monkeypatch.setattr(connection_module, "_socket_calls", None)
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        assert ws._sock is not None
        built = connection_module._socket_calls is not None
        assert (ws._socket_send is not None) is (c_calls and built)
        for message in messages():
            await ws.send(message)
            assert await ws.recv() == message


@pytest.mark.asyncio
@pytest.mark.parametrize("mode", ["short", "refuse", "reset"])
async def test_what_the_socket_leaves_goes_to_the_transport(mode: str) -> None:
    # A partial send, EAGAIN, or an error: the transport's write() takes the rest, and
    # the echoes prove the bytes went out whole and in order.
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        assert ws._sock is not None
        short = ShortSocket(ws._sock, mode)
        try:
            ws._sock, ws._socket_send = short, None
            for message in messages():
                await ws.send(message)
                await ws.send(b"after")
            for message in messages():
                assert await ws.recv() == message
                assert await ws.recv() == b"after"
            assert short.calls > 0
        finally:
            ws._sock = None
            short.close()


@pytest.mark.asyncio
async def test_no_shortcut_without_the_plain_transport(monkeypatch: pytest.MonkeyPatch) -> None:
    assert connection_module._direct_socket(object()) is None  # type: ignore[arg-type]
    monkeypatch.setenv("WEBSOCKET_REF_NO_DIRECT_SEND", "1")
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        assert ws._sock is None
        for message in messages():
            await ws.send(message)
            assert await ws.recv() == message


@pytest.mark.asyncio
async def test_bytes_buffered_in_the_transport_go_first(monkeypatch: pytest.MonkeyPatch) -> None:
    # While the transport holds bytes (as when the peer doesn't read), writes queue
    # behind them through its write() instead of jumping ahead through the socket.
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        assert ws._sock is not None
        short = ShortSocket(ws._sock, "reset")
        try:
            ws._sock, ws._socket_send = short, None
            # Bytes went through write() (only those can be in its buffer) and are there.
            ws._via_transport = True
            monkeypatch.setattr(ws.transport, "get_write_buffer_size", lambda: 1)
            for message in messages():
                await ws.send(message)
            assert short.calls == 0
            monkeypatch.undo()
            for message in messages():
                assert await ws.recv() == message
        finally:
            ws._sock = None
            short.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("direct", [True, False])
async def test_a_write_that_raises_closes_the_connection_with_it_as_cause(direct: bool) -> None:
    # asyncio's transport raises RuntimeError for a write after write_eof(): the data
    # is lost, so is the connection, and the exception tells why (as in websockets).
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        if not direct:
            ws._sock = None
        ws.transport.write_eof()
        with pytest.raises(ConnectionClosedError) as raised:
            await ws.send("lost")
        cause = raised.value.__cause__
        assert isinstance(cause, RuntimeError)
        assert str(cause) == "Cannot call write() after write_eof()"
        assert ws.state is State.CLOSED
        with pytest.raises(ConnectionClosedError):
            await ws.recv()


@pytest.mark.asyncio
async def test_the_transport_is_asked_for_its_buffer_only_after_a_write(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Only bytes given to its write() can be in the transport's buffer: _write() asks
    # for its size (a Python call) only after some were, until it's empty again.
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        sock = ws._sock
        assert sock is not None
        asked: list[int] = []
        size = ws.transport.get_write_buffer_size
        monkeypatch.setattr(
            ws.transport, "get_write_buffer_size", lambda: asked.append(size()) or asked[-1]
        )
        await ws.send(b"direct")
        assert await ws.recv() == b"direct"
        assert asked == []
        short = ShortSocket(sock, "refuse")
        try:
            ws._sock, ws._socket_send = short, None
            await ws.send(b"through write()")
            assert short.calls == 1
            ws._sock, ws._socket_send = sock, None
            await ws.send(b"direct again")
            assert asked == [0]
            await ws.send(b"and again")
            assert asked == [0]
        finally:
            ws._sock = None
            short.close()
        for message in [b"through write()", b"direct again", b"and again"]:
            assert await ws.recv() == message


@pytest.mark.asyncio
async def test_closing_read_without_the_call_agrees_with_is_closing() -> None:
    # On the plain TCP transport, _under_closing() reads what is_closing() returns.
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        assert ws._sock is not None
        assert ws._under_closing() is ws.transport.is_closing() is False
        ws.transport.abort()
        assert ws._under_closing() is ws.transport.is_closing() is True
        ws._sock = None  # the reference: the method itself
        assert ws._under_closing() is True

"""The C accelerator's socket calls against the socket methods they stand for.

On asyncio's own TCP transport the connection reads with ``_speedups.socket_recv(fd,
buffer)`` instead of ``sock.recv_into(buffer)`` and a copy of what arrived, and writes
with ``_speedups.socket_send(fd, data)`` instead of ``sock.send(data)`` (see
``Connection._read_ready()`` and ``Connection._write()``). Each case below does the same
thing both ways, on non-blocking sockets as asyncio's, and must end the same: the bytes,
``BlockingIOError``, EOF, the same ``OSError``.
"""

from __future__ import annotations

import contextlib
import errno
import socket
import struct
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from websocket_ref.asyncio import connect
from websocket_ref.asyncio import connection as connection_module

from .helpers import FAST, run_server, uri_of

speedups: Any
try:
    from websocket_ref import _speedups as speedups
except ImportError:  # pragma: no cover - depends on whether a compiler was available
    speedups = None

pytestmark = pytest.mark.skipif(
    getattr(speedups, "socket_recv", None) is None, reason="C socket calls not built"
)

Recv = Callable[[socket.socket, memoryview], bytes]
Send = Callable[[socket.socket, bytes], int]


def recv_reference(sock: socket.socket, view: memoryview) -> bytes:
    nbytes = sock.recv_into(view)
    return view[:nbytes].tobytes()


def recv_c(sock: socket.socket, view: memoryview) -> bytes:
    return bytes(speedups.socket_recv(sock.fileno(), view))


def send_reference(sock: socket.socket, data: bytes) -> int:
    return sock.send(data)


def send_c(sock: socket.socket, data: bytes) -> int:
    return int(speedups.socket_send(sock.fileno(), data))


WAYS = [(recv_reference, send_reference), (recv_c, send_c)]


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    try:
        yield a, b
    finally:
        a.close()
        b.close()


@pytest.mark.parametrize(("recv", "send"), WAYS)
@pytest.mark.parametrize("size", [1, 125, 65535, 65536, 300_000])
def test_bytes_go_through(
    pair: tuple[socket.socket, socket.socket], recv: Recv, send: Send, size: int
) -> None:
    a, b = pair
    data = bytes(i % 251 for i in range(size))
    view = memoryview(bytearray(1024))
    sent = 0
    received = bytearray()
    while len(received) < size:
        if sent < size:
            with contextlib.suppress(BlockingIOError):
                sent += send(a, data[sent:])
        try:
            piece = recv(b, view)
        except BlockingIOError:
            continue
        assert 0 < len(piece) <= len(view)
        received += piece
    assert bytes(received) == data


@pytest.mark.parametrize(("recv", "send"), WAYS)
def test_nothing_to_read_or_no_room_to_write(
    pair: tuple[socket.socket, socket.socket], recv: Recv, send: Send
) -> None:
    a, _ = pair
    with pytest.raises(BlockingIOError):
        recv(a, memoryview(bytearray(10)))
    while True:  # fill the socket's buffers: the peer doesn't read
        try:
            assert send(a, b"x" * 65536) > 0
        except BlockingIOError:
            break
    with pytest.raises(BlockingIOError):
        send(a, b"x")


@pytest.mark.parametrize(("recv", "send"), WAYS)
def test_eof(pair: tuple[socket.socket, socket.socket], recv: Recv, send: Send) -> None:
    a, b = pair
    send(a, b"last")
    a.shutdown(socket.SHUT_WR)
    view = memoryview(bytearray(10))
    assert recv(b, view) == b"last"
    assert recv(b, view) == b""


def errno_of(call: Callable[[], object]) -> tuple[type[OSError], int | None]:
    with pytest.raises(OSError) as raised:
        call()
    return type(raised.value), raised.value.errno


def test_same_errors_as_the_socket_methods() -> None:
    view = memoryview(bytearray(10))
    # Writing to a socket whose peer is gone (EPIPE; Python ignores SIGPIPE).
    a, b = socket.socketpair()
    b.close()
    assert errno_of(lambda: send_c(a, b"x")) == errno_of(lambda: send_reference(a, b"x"))
    assert errno_of(lambda: send_c(a, b"x"))[1] == errno.EPIPE
    a.close()
    # Reading from a TCP socket the peer reset (ECONNRESET).
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.create_connection(listener.getsockname())
        server, _ = listener.accept()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        server.close()
        client.setblocking(False)
        first = errno_of(lambda: recv_c(client, view))
        assert first == (ConnectionResetError, errno.ECONNRESET)
        client.close()
        # Reading from a socket that isn't connected (ENOTCONN).
        unconnected = socket.socket()
        try:
            c_error = errno_of(lambda: recv_c(unconnected, view))
            assert c_error == errno_of(lambda: recv_reference(unconnected, view))
        finally:
            unconnected.close()


def test_arguments_are_checked() -> None:
    with pytest.raises(TypeError):
        speedups.socket_recv(0)
    with pytest.raises(TypeError):
        speedups.socket_send(0, b"x", 0)
    with pytest.raises(BufferError):  # recv_into() raises TypeError
        speedups.socket_recv(0, b"read-only")
    with pytest.raises(TypeError):
        speedups.socket_send("0", b"x")


@pytest.mark.asyncio
@pytest.mark.parametrize("calls", ["c", "reference"])
async def test_connections_use_them_on_asyncios_tcp_transport(
    calls: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    if calls == "reference":
        monkeypatch.setattr(connection_module, "_socket_calls", None)
    elif connection_module._socket_calls is None:
        pytest.skip("WEBSOCKET_REF_NO_SPEEDUPS is set in this run")
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        (server_ws,) = server.connections
        for connection in (ws, server_ws):
            assert (connection._socket_recv is speedups.socket_recv) is (calls == "c")
            assert (connection._socket_send is speedups.socket_send) is (calls == "c")
            if calls == "c":
                assert connection._fd == connection.transport.get_extra_info("socket").fileno()
        for size in [0, 1, 125, 65536, 2**20]:
            message = bytes([size % 251]) * size
            await ws.send(message)
            assert await ws.recv() == message

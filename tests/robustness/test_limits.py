"""Every limit is an argument: of the Sans-I/O protocols and of serve()/connect() of both APIs.

Each test sets a limit low and checks that it's the one enforced, with the error the
limits guide (docs/howto/limits.md) promises; defaults are checked in the modules'
own tests. Invalid values are refused when the server or client is created.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import pytest

from websocket_ref import ClientProtocol, SecurityError, ServerProtocol
from websocket_ref.asyncio.client import connect as asyncio_connect
from websocket_ref.exceptions import ConnectionClosedError, HeadTooLarge, InvalidStatus
from websocket_ref.sync.client import connect as sync_connect

from ..utils import RFC_KEY, client_frame, open_server, server_frame
from .support import APIS, TIMEOUT, handshake, read_close_code, running_server, wait_until

REQUEST = (
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + RFC_KEY.encode() + b"\r\nSec-WebSocket-Version: 13\r\n"
)


def answer(port: int, request: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


# The Sans-I/O protocols


@pytest.mark.parametrize(
    ("kwargs", "extra"),
    [
        ({"max_line_length": 100}, b"X-Long: " + b"a" * 100 + b"\r\n"),
        ({"max_num_headers": 6}, b"X-A: b\r\n" * 3),
        ({"max_head_size": 200}, b"X-A: " + b"b" * 100 + b"\r\n"),
    ],
)
def test_server_protocol_http_limits(kwargs: dict[str, int], extra: bytes) -> None:
    within = ServerProtocol()
    within.receive_data(REQUEST + extra + b"\r\n")
    assert within.handshake_exc is None
    beyond = ServerProtocol(**kwargs)
    beyond.receive_data(REQUEST + extra + b"\r\n")
    assert isinstance(beyond.handshake_exc, SecurityError)
    [response] = beyond.data_to_send()[:1]
    assert response.startswith(b"HTTP/1.1 431 ")


def test_server_protocol_max_early_data() -> None:
    server = ServerProtocol(max_early_data=10)
    server.receive_data(REQUEST + b"\r\n" + client_frame(0x1, b"sent too early"))
    [request] = server.events_received()
    server.send_response(server.accept(request))  # type: ignore[arg-type]
    assert server.failure_exc is not None and server.close_sent is not None
    assert server.close_sent.code == 1002
    # The default keeps 64 KiB.
    server = open_server()
    assert server.max_early_data == 2**16


def test_client_protocol_http_limits() -> None:
    def refused(**kwargs: int) -> ClientProtocol:
        client = ClientProtocol(parse("ws://x/"), **kwargs)
        client.send_request(client.connect())
        head = b"HTTP/1.1 404 Not Found\r\n" + b"X-A: b\r\n" * 4
        client.receive_data(head + b"Content-Length: 100\r\n\r\n" + b"x" * 100)
        return client

    assert isinstance(refused().handshake_exc, InvalidStatus)
    assert isinstance(refused(max_num_headers=4).handshake_exc, SecurityError)
    assert isinstance(refused(max_line_length=10).handshake_exc, SecurityError)
    assert isinstance(refused(max_head_size=50).handshake_exc, HeadTooLarge)
    assert isinstance(refused(max_body_size=99).handshake_exc, SecurityError)


def parse(uri: str) -> Any:
    from websocket_ref import parse_uri

    return parse_uri(uri)


@pytest.mark.parametrize(
    "name", ["max_line_length", "max_num_headers", "max_head_size", "max_body_size"]
)
@pytest.mark.parametrize("value", [0, -1, "8192", 1.5, True])
def test_client_limits_are_checked(name: str, value: Any) -> None:
    with pytest.raises(ValueError, match=name):
        ClientProtocol(parse("ws://x/"), **{name: value})
    with pytest.raises(ValueError, match=name):
        sync_connect("ws://127.0.0.1:9/", **{name: value})
    with pytest.raises(ValueError, match=name):
        asyncio_connect("ws://127.0.0.1:9/", **{name: value})


@pytest.mark.parametrize(
    "name", ["max_line_length", "max_num_headers", "max_head_size", "max_early_data"]
)
@pytest.mark.parametrize("api", APIS)
def test_server_limits_are_checked(name: str, api: str) -> None:
    with pytest.raises(ValueError, match=name):
        ServerProtocol(**{name: -1})
    with pytest.raises(ValueError, match=name), running_server(api, **{name: -1}):
        pass  # pragma: no cover


# serve() of both APIs


@pytest.mark.parametrize("api", APIS)
def test_serve_http_limits(api: str) -> None:
    with running_server(api, max_line_length=100, max_num_headers=6) as (port, handlers):
        assert answer(port, REQUEST + b"X-Long: " + b"a" * 100 + b"\r\n\r\n").startswith(
            b"HTTP/1.1 431 "
        )
        assert answer(port, REQUEST + b"X-A: b\r\n" * 3 + b"\r\n").startswith(b"HTTP/1.1 431 ")
    assert handlers.handled == 0
    with running_server(api, max_head_size=len(REQUEST) + 30) as (port, handlers):
        assert answer(port, REQUEST + b"X-A: " + b"b" * 40 + b"\r\n\r\n").startswith(
            b"HTTP/1.1 431 "
        )
        assert handlers.handled == 0
        with handshake(port):  # asserts the 101: this head (Host: 127.0.0.1) fits
            pass


@pytest.mark.parametrize("api", APIS)
def test_serve_max_early_data(api: str) -> None:
    with running_server(api, max_early_data=10) as (port, _):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(REQUEST + b"\r\n" + client_frame(0x1, b"sent too early"))
            head = b""
            while not head.endswith(b"\r\n\r\n"):
                head += sock.recv(1)
            assert head.startswith(b"HTTP/1.1 101 ")
            assert read_close_code(sock) == 1002


@pytest.mark.parametrize("api", APIS)
def test_serve_max_size_and_max_fragments(api: str) -> None:
    with running_server(api, max_size=10, max_fragments=3) as (port, _):
        with handshake(port) as sock:
            sock.sendall(client_frame(0x2, bytes(11)))
            assert read_close_code(sock) == 1009
        with handshake(port) as sock:
            sock.sendall(
                client_frame(0x2, b"a", fin=False)
                + client_frame(0x0, b"b", fin=False)
                + client_frame(0x0, b"c", fin=False)
                + client_frame(0x0, b"d")
            )
            assert read_close_code(sock) == 1009


# connect() of both APIs, against a raw server


class RawServer:
    """Answers one connection's handshake with ``response``, then sends ``frames``."""

    def __init__(self, response: bytes, frames: bytes = b"") -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.response = response
        self.frames = frames
        import threading

        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self.sock.getsockname()[1]}/"

    def run(self) -> None:
        from ..sync.utils import accept_handshake, read_request

        conn, _ = self.sock.accept()
        with conn:
            conn.settimeout(TIMEOUT)
            if self.response == b"101":
                accept_handshake(conn)
            else:
                read_request(conn)
                conn.sendall(self.response)
            conn.sendall(self.frames)
            try:
                while conn.recv(65536):
                    pass
            except OSError:
                pass

    def close(self) -> None:
        self.thread.join(TIMEOUT)
        self.sock.close()


def run_client(api: str, uri: str, **kwargs: Any) -> Any:
    """Connect, then receive one message; return it or the exception raised."""
    try:
        if api == "asyncio":

            async def main() -> Any:
                async with asyncio_connect(uri, open_timeout=TIMEOUT, **kwargs) as ws:
                    return await ws.recv()

            return asyncio.run(main())
        with sync_connect(uri, open_timeout=TIMEOUT, **kwargs) as ws:
            return ws.recv(TIMEOUT)
    except Exception as exc:
        return exc


@pytest.mark.parametrize("api", APIS)
def test_connect_http_limits(api: str) -> None:
    refusal = (
        b"HTTP/1.1 404 Not Found\r\n"
        + b"X-A: b\r\n" * 4
        + b"Content-Length: 100\r\n\r\n"
        + b"x" * 100
    )
    for kwargs in [
        {"max_num_headers": 4},
        {"max_line_length": 10},
        {"max_head_size": 40},
        {"max_body_size": 99},
    ]:
        server = RawServer(refusal)
        try:
            result = run_client(api, server.uri, ping_interval=None, **kwargs)
        finally:
            server.close()
        assert isinstance(result, SecurityError), (kwargs, result)
        if "max_head_size" in kwargs:
            assert isinstance(result, HeadTooLarge), result


@pytest.mark.parametrize("api", APIS)
def test_connect_max_size_and_max_fragments(api: str) -> None:
    fragments = (
        server_frame(0x2, b"a", fin=False)
        + server_frame(0x0, b"b", fin=False)
        + server_frame(0x0, b"c")
    )
    for kwargs, frames in [
        ({"max_size": 10}, server_frame(0x2, bytes(11))),
        ({"max_fragments": 2}, fragments),
    ]:
        server = RawServer(b"101", frames)
        try:
            result = run_client(api, server.uri, ping_interval=None, close_timeout=1, **kwargs)
        finally:
            server.close()
        assert isinstance(result, ConnectionClosedError), (kwargs, result)
        assert result.sent is not None and result.sent.code == 1009


@pytest.mark.parametrize("api", APIS)
def test_max_pending_pongs(api: str) -> None:
    from websocket_ref.protocol import MAX_PENDING_PONGS

    assert ServerProtocol().max_pending_pongs == MAX_PENDING_PONGS == 16
    with pytest.raises(ValueError, match="max_pending_pongs"):
        ServerProtocol(max_pending_pongs=0)
    server = open_server(max_pending_pongs=2)
    server.receive_data(b"".join(client_frame(0x9, b"%d" % i) for i in range(5)))
    pongs = [chunk[2:] for chunk in server.data_to_send()]
    assert pongs == [b"0", b"4"]  # the first, then the most recent replacing the rest
    with running_server(api, max_pending_pongs=3) as (port, handlers):
        with handshake(port):
            assert wait_until(lambda: len(handlers.connections) == 1)
            [ws] = handlers.connections
            assert ws.protocol.max_pending_pongs == 3

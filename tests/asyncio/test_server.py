"""The asyncio server end to end: serving, hooks, handshake options, shutdown, logging."""

from __future__ import annotations

import asyncio
import http
import logging
import os
import re
import socket
import ssl
import sys
import tempfile
from collections.abc import Sequence

import pytest
import trustme

from websocket_ref import (
    ConnectionClosed,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    Request,
    Response,
    State,
)
from websocket_ref.asyncio import (
    Server,
    ServerConnection,
    basic_auth,
    broadcast,
    connect,
    serve,
    unix_connect,
    unix_serve,
)
from websocket_ref.server import SERVER_HEADER

from ..utils import FakeClientFactory, FakeServerFactory, client_frame
from .helpers import (
    FAST,
    echo,
    port_of,
    raw_client,
    read_frame,
    read_head,
    run_server,
    tls_contexts,
    uri_of,
    wait_for_condition,
)


async def http_get(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send a raw HTTP request; return the status line, headers and body until EOF."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        status, headers = await read_head(reader)
        body = await asyncio.wait_for(reader.read(), 5)
        return status, headers, body
    finally:
        writer.close()
        await writer.wait_closed()


# Starting and stopping


@pytest.mark.asyncio
async def test_serve_as_async_context_manager() -> None:
    async with serve(echo, "127.0.0.1", 0, **FAST) as server:
        assert isinstance(server, Server)
        assert server.is_serving()
        assert server.get_loop() is asyncio.get_running_loop()
        async with connect(uri_of(server), **FAST) as ws:
            await ws.send("hi")
            assert await ws.recv() == "hi"
    assert not server.is_serving()


@pytest.mark.asyncio
async def test_await_serve_then_close() -> None:
    server = await serve(echo, "127.0.0.1", 0, **FAST)
    port = port_of(server)
    async with connect(f"ws://127.0.0.1:{port}/", **FAST) as ws:
        await ws.send("hi")
        assert await ws.recv() == "hi"
    server.close()
    await server.wait_closed()
    with pytest.raises(OSError):
        await connect(f"ws://127.0.0.1:{port}/", **FAST)


@pytest.mark.asyncio
async def test_serve_on_prebound_socket() -> None:
    sock = socket.create_server(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    async with serve(echo, sock=sock, **FAST) as server:
        assert port_of(server) == port
        async with connect(f"ws://127.0.0.1:{port}/", **FAST) as ws:
            await ws.send("via sock")
            assert await ws.recv() == "via sock"


@pytest.mark.asyncio
async def test_unix_socket_server_and_client() -> None:
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "ws.sock")
        async with unix_serve(echo, path, **FAST):
            async with unix_connect(path, **FAST) as ws:
                await ws.send("over unix")
                assert await ws.recv() == "over unix"
                assert ws.request is not None
                assert ws.request.headers["Host"] == "localhost"
            async with unix_connect(path, "ws://example.com/room", **FAST) as ws:
                assert ws.request is not None and ws.request.path == "/room"


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-4.2.2-2", "R6455-10.6-1")
async def test_tls_server_with_self_signed_certificate(ca: trustme.CA) -> None:
    server_context, client_context = tls_contexts(ca, ("localhost", "127.0.0.1"))
    async with run_server(ssl=server_context) as server:
        port = port_of(server)
        async with connect(f"wss://localhost:{port}/", ssl=client_context, **FAST) as ws:
            await ws.send("secret")
            assert await ws.recv() == "secret"
            assert ws.transport.get_extra_info("ssl_object") is not None
        async with connect(f"wss://127.0.0.1:{port}/", ssl=client_context, **FAST) as ws:
            await ws.send(b"\x00" * 100_000)
            assert await ws.recv() == b"\x00" * 100_000
        # A client that doesn't trust the CA refuses the certificate.
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(f"wss://localhost:{port}/", **FAST)


@pytest.mark.asyncio
async def test_tls_close_handshake_completes(ca: trustme.CA) -> None:
    server_context, client_context = tls_contexts(ca, ("localhost",))

    async def handler(ws: ServerConnection) -> None:
        await ws.send("bye")

    async with run_server(handler, ssl=server_context, close_timeout=2) as server:
        uri = f"wss://localhost:{port_of(server)}/"
        async with connect(uri, ssl=client_context, **{**FAST, "close_timeout": 2}) as ws:
            assert await ws.recv() == "bye"
            await ws.wait_closed()
            assert ws.close_code == 1000


# Handler outcomes


@pytest.mark.asyncio
async def test_handler_return_closes_with_1000() -> None:
    async def handler(ws: ServerConnection) -> None:
        pass

    async with run_server(handler) as server, connect(uri_of(server), **FAST) as ws:
        with pytest.raises(ConnectionClosedOK) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000


@pytest.mark.asyncio
async def test_handler_exception_closes_with_1011_and_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def handler(ws: ServerConnection) -> None:
        message = await ws.recv()
        if message == "crash":
            raise RuntimeError("handler bug")
        await ws.send(message)

    caplog.set_level(logging.ERROR, logger="websocket_ref.server")
    async with run_server(handler) as server:
        async with connect(uri_of(server), **FAST) as healthy:
            async with connect(uri_of(server), **FAST) as crashing:
                await crashing.send("crash")
                with pytest.raises(ConnectionClosedError) as info:
                    await crashing.recv()
                assert info.value.rcvd is not None and info.value.rcvd.code == 1011
            await healthy.send("still here")
            assert await healthy.recv() == "still here"
        async with connect(uri_of(server), **FAST) as later:
            await later.send("new")
            assert await later.recv() == "new"
    [record] = [r for r in caplog.records if r.getMessage() == "connection handler failed"]
    assert record.exc_info is not None and isinstance(record.exc_info[1], RuntimeError)
    assert isinstance(record.websocket, ServerConnection)  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_graceful_shutdown_closes_open_connections_with_1001() -> None:
    finished = []

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        finally:
            finished.append(ws.state)

    server = await serve(handler, "127.0.0.1", 0, **FAST)
    clients = [await connect(uri_of(server), **FAST) for _ in range(3)]
    await wait_for_condition(lambda: len(server.connections) == 3)
    server.close()
    await asyncio.wait_for(server.wait_closed(), 5)
    assert finished == [State.CLOSED] * 3
    for ws in clients:
        with pytest.raises(ConnectionClosedOK) as info:
            await ws.recv()
        assert info.value.rcvd is not None and info.value.rcvd.code == 1001
        await ws.close()


@pytest.mark.asyncio
async def test_close_without_closing_connections() -> None:
    async with run_server() as server:
        uri = uri_of(server)
        async with connect(uri, **FAST) as ws:
            server.close(close_connections=False)
            await asyncio.sleep(0.01)
            await ws.send("still open")
            assert await ws.recv() == "still open"
            waiting = asyncio.create_task(server.wait_closed())
            await asyncio.sleep(0.01)
            assert not waiting.done()  # waits for the remaining handler
        await asyncio.wait_for(waiting, 5)
        with pytest.raises(OSError):
            await connect(uri, **FAST)


@pytest.mark.asyncio
async def test_serve_forever_until_cancelled() -> None:
    server = await serve(echo, "127.0.0.1", 0, **FAST)
    task = asyncio.create_task(server.serve_forever())
    async with connect(uri_of(server), **FAST) as ws:
        await ws.send("x")
        assert await ws.recv() == "x"
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(ConnectionClosedOK):
            await ws.recv()
    assert not server.is_serving()
    await server.wait_closed()


@pytest.mark.asyncio
async def test_start_serving_later() -> None:
    async with run_server(start_serving=False) as server:
        assert not server.is_serving()
        await server.start_serving()
        async with connect(uri_of(server), **FAST) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"


# process_request and process_response


@pytest.mark.asyncio
async def test_process_request_serves_plain_http_health_check() -> None:
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/healthz":
            return connection.respond(http.HTTPStatus.OK, "OK\n")
        return None

    async with run_server(process_request=process_request) as server:
        port = port_of(server)
        status, headers, body = await http_get(
            port, f"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n".encode()
        )
        assert status == "HTTP/1.1 200 OK"
        assert body == b"OK\n"
        assert headers["content-length"] == "3"
        assert headers["server"] == SERVER_HEADER
        # A WebSocket client gets the response in InvalidStatus.
        with pytest.raises(InvalidStatus) as info:
            await connect(uri_of(server, "/healthz"), **FAST)
        assert info.value.response.status_code == 200
        assert info.value.response.body == b"OK\n"
        # Other paths open a WebSocket connection.
        async with connect(uri_of(server, "/ws"), **FAST) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"


@pytest.mark.asyncio
async def test_async_process_request_can_reject() -> None:
    async def process_request(connection: ServerConnection, request: Request) -> Response | None:
        await asyncio.sleep(0)
        if "X-Token" not in request.headers:
            return connection.respond(http.HTTPStatus.FORBIDDEN, "no token\n")
        return None

    async with run_server(process_request=process_request) as server:
        with pytest.raises(InvalidStatus) as info:
            await connect(uri_of(server), **FAST)
        assert info.value.response.status_code == 403
        assert info.value.response.body == b"no token\n"
        async with connect(uri_of(server), additional_headers={"X-Token": "t"}, **FAST) as ws:
            await ws.send("ok")
            assert await ws.recv() == "ok"


@pytest.mark.asyncio
async def test_process_request_exception_returns_500(caplog: pytest.LogCaptureFixture) -> None:
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        raise ValueError("hook bug")

    caplog.set_level(logging.ERROR, logger="websocket_ref.server")
    async with run_server(process_request=process_request) as server:
        with pytest.raises(InvalidStatus) as info:
            await connect(uri_of(server), **FAST)
        assert info.value.response.status_code == 500
    assert any(
        r.exc_info is not None and isinstance(r.exc_info[1], ValueError) for r in caplog.records
    )


@pytest.mark.asyncio
async def test_process_response_modifies_or_replaces_response() -> None:
    seen: list[tuple[str, int]] = []

    async def process_response(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        seen.append((request.path, response.status_code))
        if request.path == "/replace":
            return connection.respond(http.HTTPStatus.IM_A_TEAPOT, "teapot\n")
        response.headers["X-Added"] = "yes"
        return None

    async with run_server(process_response=process_response) as server:
        async with connect(uri_of(server, "/modify"), **FAST) as ws:
            assert ws.response is not None
            assert ws.response.headers["X-Added"] == "yes"
        with pytest.raises(InvalidStatus) as info:
            await connect(uri_of(server, "/replace"), **FAST)
        assert info.value.response.status_code == 418
    assert seen == [("/modify", 101), ("/replace", 101)]


@pytest.mark.asyncio
async def test_process_response_exception_returns_500() -> None:
    def process_response(
        connection: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        raise ValueError("hook bug")

    logging.getLogger("websocket_ref.server").disabled = True
    try:
        async with run_server(process_response=process_response) as server:
            with pytest.raises(InvalidStatus) as info:
                await connect(uri_of(server), **FAST)
            assert info.value.response.status_code == 500
    finally:
        logging.getLogger("websocket_ref.server").disabled = False


# Handshake options


@pytest.mark.asyncio
async def test_subprotocols_negotiation() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(ws.subprotocol or "none")

    async with run_server(handler, subprotocols=["chat", "superchat"]) as server:
        async with connect(uri_of(server), subprotocols=["superchat", "chat"], **FAST) as ws:
            assert ws.subprotocol == "superchat"  # the client's order of preference
            assert await ws.recv() == "superchat"
        async with connect(uri_of(server), subprotocols=["other"], **FAST) as ws:
            assert ws.subprotocol is None
            assert await ws.recv() == "none"


@pytest.mark.asyncio
async def test_select_subprotocol_receives_connection() -> None:
    calls: list[tuple[ServerConnection, Sequence[str]]] = []

    def select_subprotocol(connection: ServerConnection, offered: Sequence[str]) -> str | None:
        calls.append((connection, list(offered)))
        return offered[-1] if offered else None

    async with run_server(select_subprotocol=select_subprotocol) as server:
        async with connect(uri_of(server), subprotocols=["a", "b"], **FAST) as ws:
            assert ws.subprotocol == "b"
    [(connection, offered)] = calls
    assert isinstance(connection, ServerConnection)
    assert offered == ["a", "b"]


@pytest.mark.asyncio
async def test_origins_check() -> None:
    origins = ["https://good.example", re.compile(r"https://[a-z]+\.trusted\.example"), None]
    async with run_server(origins=origins) as server:
        for origin in ("https://good.example", "https://app.trusted.example", None):
            async with connect(uri_of(server), origin=origin, **FAST) as ws:
                await ws.send("ok")
                assert await ws.recv() == "ok"
        with pytest.raises(InvalidStatus) as info:
            await connect(uri_of(server), origin="https://evil.example", **FAST)
        assert info.value.response.status_code == 403
    async with run_server(origins=["https://good.example"]) as server:
        with pytest.raises(InvalidStatus) as info:
            await connect(uri_of(server), **FAST)  # no Origin header
        assert info.value.response.status_code == 403


@pytest.mark.asyncio
async def test_basic_auth_with_credentials() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send(ws.username or "")

    process_request = basic_auth(realm="test", credentials=[("alice", "pw1"), ("bob", "pw2")])
    async with run_server(handler, process_request=process_request) as server:
        port = port_of(server)
        async with connect(f"ws://alice:pw1@127.0.0.1:{port}/", **FAST) as ws:
            assert await ws.recv() == "alice"
        with pytest.raises(InvalidStatus) as info:
            await connect(f"ws://127.0.0.1:{port}/", **FAST)
        response = info.value.response
        assert response.status_code == 401
        assert response.headers["WWW-Authenticate"] == 'Basic realm="test", charset="UTF-8"'
        assert response.body == b"Missing credentials\n"
        with pytest.raises(InvalidStatus) as info:
            await connect(f"ws://alice:wrong@127.0.0.1:{port}/", **FAST)
        assert info.value.response.body == b"Invalid credentials\n"
        with pytest.raises(InvalidStatus) as info:
            await connect(uri_of(server), additional_headers={"Authorization": "Bearer x"}, **FAST)
        assert info.value.response.body == b"Unsupported credentials\n"


@pytest.mark.asyncio
async def test_basic_auth_with_async_check_credentials() -> None:
    async def check(username: str, password: str) -> bool:
        await asyncio.sleep(0)
        return password == username[::-1]

    async with run_server(process_request=basic_auth(check_credentials=check)) as server:
        port = port_of(server)
        async with connect(f"ws://abc:cba@127.0.0.1:{port}/", **FAST) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"
        with pytest.raises(InvalidStatus):
            await connect(f"ws://abc:abc@127.0.0.1:{port}/", **FAST)


def test_basic_auth_arguments() -> None:
    with pytest.raises(ValueError, match="provide either credentials or check_credentials"):
        basic_auth()
    with pytest.raises(ValueError, match="provide either credentials or check_credentials"):
        basic_auth(credentials=("a", "b"), check_credentials=lambda u, p: True)
    with pytest.raises(TypeError):
        basic_auth(credentials=[("a",)])  # type: ignore[list-item]
    basic_auth(credentials=("a", "b"))


@pytest.mark.asyncio
async def test_server_header() -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        assert ws.response is not None
        assert ws.response.headers["Server"] == SERVER_HEADER
    async with run_server(server_header="Custom/1.0") as server:
        async with connect(uri_of(server), **FAST) as ws:
            assert ws.response is not None
            assert ws.response.headers["Server"] == "Custom/1.0"
    async with run_server(server_header=None) as server:
        async with connect(uri_of(server), **FAST) as ws:
            assert ws.response is not None
            assert "Server" not in ws.response.headers


@pytest.mark.asyncio
async def test_open_timeout_closes_silent_connections() -> None:
    async with run_server(open_timeout=0.1) as server:
        reader, writer = await asyncio.open_connection("127.0.0.1", port_of(server))
        try:
            writer.write(b"GET / HTTP/1.1\r\n")  # and never the rest
            assert await asyncio.wait_for(reader.read(), 5) == b""
        finally:
            writer.close()
            await writer.wait_closed()
        async with connect(uri_of(server), **FAST) as ws:  # still serving
            await ws.send("x")
            assert await ws.recv() == "x"


@pytest.mark.asyncio
async def test_malformed_request_is_answered_by_the_core() -> None:
    async with run_server() as server:
        port = port_of(server)
        status, _, _ = await http_get(port, b"POST / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status.startswith("HTTP/1.1 405")
        status, headers, _ = await http_get(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert status.startswith("HTTP/1.1 426")
        assert headers["upgrade"] == "websocket"
        async with connect(uri_of(server), **FAST) as ws:
            await ws.send("x")
            assert await ws.recv() == "x"


@pytest.mark.asyncio
async def test_frames_pipelined_behind_the_request_are_received() -> None:

    async with run_server() as server:
        async with raw_client(port_of(server), extra="") as (reader, writer, status, _):
            assert status.startswith("HTTP/1.1 101")
            writer.write(client_frame(0x1, b"one") + client_frame(0x1, b"two"))
            assert (await read_frame(reader)).payload == b"one"
            assert (await read_frame(reader)).payload == b"two"


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-4.1-37")
@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        # A message: echoed.
        (client_frame(0x1, b"early"), (0x1, b"early")),
        # A frame the server must refuse (unmasked, RFC 6455 §5.1): the connection fails
        # with 1002 (the failure held back for the application must not be forgotten).
        (b"\x81\x05early", (0x8, b"\x03\xea")),
    ],
    ids=["message", "bad-frame"],
)
async def test_frames_in_the_same_write_as_the_request_are_processed(
    frames: bytes, expected: tuple[int, bytes]
) -> None:
    # The client sends its request and a frame together and then only waits: the
    # server must parse the frame once the 101 is sent, not when more data comes.
    from ..utils import RFC_KEY

    async with run_server() as server:
        port = port_of(server)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            writer.write(
                (
                    f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                    f"Connection: Upgrade\r\nSec-WebSocket-Key: {RFC_KEY}\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
                + frames
            )
            status, _ = await asyncio.wait_for(read_head(reader), 10)
            assert status.startswith("HTTP/1.1 101")
            frame = await asyncio.wait_for(read_frame(reader), 10)
            assert (frame.opcode, frame.payload[: len(expected[1])]) == expected
        finally:
            writer.transport.abort()


@pytest.mark.asyncio
async def test_extensions_are_negotiated() -> None:
    async def handler(ws: ServerConnection) -> None:
        assert [e.name for e in ws.protocol.extensions] == ["x-fake"]
        await echo(ws)

    async with run_server(handler, extensions=[FakeServerFactory()], compression=None) as server:
        async with connect(
            uri_of(server), extensions=[FakeClientFactory()], compression=None, **FAST
        ) as ws:
            assert ws.response is not None
            assert ws.response.headers["Sec-WebSocket-Extensions"] == "x-fake"
            await ws.send("reversed on the wire, restored on arrival")
            assert await ws.recv() == "reversed on the wire, restored on arrival"


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-9-2", "R6455-9.2-1")
async def test_compression_deflate_is_negotiated_by_default() -> None:
    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        message = "compressible " * 1000
        await ws.send(message)
        assert await ws.recv() == message
    async with run_server(compression=None) as server, connect(uri_of(server), **FAST) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers


@pytest.mark.asyncio
async def test_unsupported_compression_is_refused() -> None:
    with pytest.raises(ValueError):
        serve(echo, "127.0.0.1", 0, compression="brotli")


@pytest.mark.asyncio
async def test_per_connection_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="test.server")
    async with run_server(logger="test.server") as server:
        async with connect(uri_of(server), **FAST) as ws:
            await ws.send("x")
            await ws.recv()
    records = [r for r in caplog.records if r.name == "test.server"]
    messages = [r.getMessage() for r in records]
    assert any(m.startswith("server listening on 127.0.0.1:") for m in messages)
    assert "connection open" in messages
    assert any(m.startswith("< GET / HTTP/1.1") for m in messages)  # the core's debug log
    per_connection = [r for r in records if hasattr(r, "websocket")]
    assert per_connection
    assert len({id(r.websocket) for r in per_connection}) == 1  # type: ignore[attr-defined]


@pytest.mark.asyncio
async def test_server_connections_property() -> None:
    async with run_server() as server:
        assert server.connections == set()
        async with connect(uri_of(server), **FAST):
            await wait_for_condition(lambda: len(server.connections) == 1)
        await wait_for_condition(lambda: len(server.connections) == 0)


# broadcast


@pytest.mark.asyncio
async def test_broadcast_to_every_open_connection() -> None:
    async with run_server() as server:
        clients = [await connect(uri_of(server), **FAST) for _ in range(3)]
        try:
            await wait_for_condition(lambda: len(server.connections) == 3)
            broadcast(server.connections, "to all")
            broadcast(server.connections, b"bytes too")
            for ws in clients:
                assert await ws.recv() == "to all"
                assert await ws.recv() == b"bytes too"
            with pytest.raises(TypeError):
                broadcast(server.connections, 42)  # type: ignore[arg-type]
        finally:
            for ws in clients:
                await ws.close()


@pytest.mark.asyncio
async def test_broadcast_never_waits_for_a_slow_client() -> None:
    # Without compression: the zeros must fill the slow client's buffers.
    async with run_server(compression=None) as server:
        slow = await connect(uri_of(server), max_queue=1, **FAST)
        fast = await connect(uri_of(server), **FAST)
        try:
            await wait_for_condition(lambda: len(server.connections) == 2)
            message = b"\x00" * 2**16
            for _ in range(200):  # 12 MiB to a client that doesn't read
                broadcast(server.connections, message)
                assert await fast.recv() == message
        finally:
            await slow.close()
            await fast.close()


@pytest.mark.asyncio
async def test_broadcast_skips_closed_and_busy_connections(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gate = asyncio.Event()
    recorder: list[ServerConnection] = []

    async def handler(ws: ServerConnection) -> None:
        recorder.append(ws)
        await ws.wait_closed()

    async def chunks() -> object:
        yield "start-"
        await gate.wait()
        yield "end"

    async with run_server(handler) as server:
        busy = await connect(uri_of(server), **FAST)
        closed = await connect(uri_of(server), **FAST)
        await wait_for_condition(lambda: len(recorder) == 2)
        busy_server_side = next(c for c in recorder if c.remote_address == busy.local_address)
        sending = asyncio.create_task(busy_server_side.send(chunks()))  # type: ignore[arg-type]
        await asyncio.sleep(0.01)
        await closed.close()
        with caplog.at_level(logging.WARNING, logger="websocket_ref.server"):
            broadcast(recorder, "skipped")
        assert any("skipped broadcast" in r.getMessage() for r in caplog.records)
        if sys.version_info >= (3, 11):
            with pytest.raises(ExceptionGroup) as info:  # noqa: F821
                broadcast(recorder, "skipped", raise_exceptions=True)
            assert len(info.value.exceptions) == 1
        gate.set()
        await sending
        assert await busy.recv() == "start-end"
        await busy.close()


@pytest.mark.asyncio
async def test_connection_closed_in_handler_isnt_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    handled: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosed:
            handled.set_result(None)
            raise

    caplog.set_level(logging.ERROR, logger="websocket_ref.server")
    async with run_server(handler) as server:
        ws = await connect(uri_of(server), **FAST)
        await ws.close()
        await handled
    assert not caplog.records

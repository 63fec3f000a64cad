"""The asyncio client end to end: ways to connect, handshake options, TLS, redirects,
reconnection."""

from __future__ import annotations

import asyncio
import http
import itertools
import socket
import ssl

import pytest
import trustme

import websocket_ref.client as core_client
from websocket_ref import (
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    Request,
    Response,
    SecurityError,
    State,
)
from websocket_ref.asyncio import ClientConnection, ServerConnection, connect, process_exception
from websocket_ref.asyncio import client as client_module
from websocket_ref.client import USER_AGENT

from .helpers import (
    FAST,
    RawServer,
    echo,
    port_of,
    run_server,
    tls_contexts,
    uri_of,
    wait_for_condition,
)


@pytest.fixture
def fast_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    # initial_delay, min_delay, max_delay, factor
    monkeypatch.setattr(core_client.backoff, "__defaults__", (0.01, 0.01, 0.05, 1.618))


def redirect_to(location: str, status: int = 302) -> object:
    def process_request(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(status, "moved\n")
        response.headers["Location"] = location
        return response

    return process_request


# Ways to connect


@pytest.mark.asyncio
async def test_await_connect() -> None:
    async with run_server() as server:
        ws = await connect(uri_of(server), **FAST)
        assert isinstance(ws, ClientConnection)
        assert ws.state is State.OPEN
        await ws.send("x")
        assert await ws.recv() == "x"
        await ws.close()
        assert ws.state is State.CLOSED


@pytest.mark.asyncio
async def test_async_with_connect_closes_on_exit() -> None:
    async with run_server() as server:
        async with connect(uri_of(server), **FAST) as ws:
            assert ws.state is State.OPEN
        assert ws.state is State.CLOSED
        assert ws.close_code == 1000


@pytest.mark.asyncio
async def test_create_connection_subclass() -> None:
    class MyConnection(ClientConnection):
        pass

    async with run_server() as server:
        async with connect(uri_of(server), create_connection=MyConnection, **FAST) as ws:
            assert isinstance(ws, MyConnection)


@pytest.mark.asyncio
async def test_host_and_port_override_and_prebound_socket() -> None:
    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        await ws.send(ws.request.headers["Host"])

    async with run_server(handler) as server:
        port = port_of(server)
        uri = "ws://example.invalid/"
        async with connect(uri, host="127.0.0.1", port=port, **FAST) as ws:
            assert await ws.recv() == "example.invalid"
        sock = socket.create_connection(("127.0.0.1", port))
        async with connect(uri, sock=sock, **FAST) as ws:
            assert await ws.recv() == "example.invalid"


@pytest.mark.asyncio
async def test_invalid_uri() -> None:
    with pytest.raises(InvalidURI):
        await connect("http://127.0.0.1/", **FAST)


# Handshake


@pytest.mark.asyncio
async def test_invalid_status_carries_the_response() -> None:
    def process_request(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(http.HTTPStatus.NOT_FOUND, "nothing here\n")

    async with run_server(process_request=process_request) as server:
        with pytest.raises(InvalidStatus) as info:
            await connect(uri_of(server), **FAST)
    response = info.value.response
    assert (response.status_code, response.reason_phrase) == (404, "Not Found")
    assert response.body == b"nothing here\n"
    assert "404" in str(info.value)


@pytest.mark.asyncio
async def test_request_headers() -> None:
    requests: list[Request] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        requests.append(ws.request)

    async with run_server(handler) as server:
        async with connect(uri_of(server), **FAST) as ws:
            await ws.wait_closed()
        async with connect(
            uri_of(server),
            origin="https://app.example",
            additional_headers=[("X-One", "1"), ("X-Two", "2")],
            user_agent_header="Agent/2",
            **FAST,
        ) as ws:
            await ws.wait_closed()
        async with connect(
            uri_of(server), additional_headers={"X-Dict": "d"}, user_agent_header=None, **FAST
        ) as ws:
            await ws.wait_closed()
    default, custom, bare = (r.headers for r in requests)
    assert default["User-Agent"] == USER_AGENT
    assert "Origin" not in default
    assert custom["Origin"] == "https://app.example"
    assert (custom["X-One"], custom["X-Two"]) == ("1", "2")
    assert custom["User-Agent"] == "Agent/2"
    assert bare["X-Dict"] == "d"
    assert "User-Agent" not in bare


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-9-1")
async def test_compression_option_controls_the_offer() -> None:
    async with RawServer() as raw:
        task = asyncio.create_task(connect(raw.uri, compression=None, **FAST).__aenter__())
        _, writer, headers = await raw.accept(response=b"HTTP/1.1 503 Busy\r\n\r\n")
        writer.close()
        with pytest.raises(InvalidStatus):
            await task
        assert "sec-websocket-extensions" not in headers
    with pytest.raises(ValueError):
        connect("ws://127.0.0.1/", compression="lzma")


@pytest.mark.asyncio
async def test_invalid_accept_key_fails_the_handshake() -> None:
    async with RawServer() as raw:
        task = asyncio.create_task(connect(raw.uri, **FAST).__aenter__())
        await raw.accept(
            response=(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: d3Jvbmc=\r\n\r\n"
            )
        )
        with pytest.raises(InvalidHeaderValue):
            await task


@pytest.mark.asyncio
@pytest.mark.parametrize("bad", [False, True], ids=["message", "bad-frame"])
async def test_frames_in_the_same_read_as_the_101_are_received(bad: bool) -> None:
    # The server sends a message right behind its 101, then waits for an answer; or a
    # frame the client must refuse (masked, RFC 6455 §5.1): the connection fails, 1002.
    from websocket_ref import ConnectionClosedError

    from ..utils import server_frame
    from .helpers import accept_for, read_head

    async with RawServer() as raw:
        task = asyncio.create_task(connect(raw.uri, **FAST).__aenter__())
        reader, writer = await asyncio.wait_for(raw.accepted.get(), 10)
        _, headers = await read_head(reader)
        writer.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                "Connection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_for(headers['sec-websocket-key'])}\r\n\r\n"
            ).encode()
            + server_frame(0x1, b"early", mask=b"abcd" if bad else None)
        )
        ws = await asyncio.wait_for(task, 10)
        try:
            if not bad:
                assert await asyncio.wait_for(ws.recv(), 10) == "early"
            else:
                with pytest.raises(ConnectionClosedError) as raised:
                    await asyncio.wait_for(ws.recv(), 10)
                assert raised.value.sent is not None and raised.value.sent.code == 1002
        finally:
            ws.transport.abort()
            await ws.wait_closed()


@pytest.mark.asyncio
async def test_open_timeout() -> None:
    async with RawServer() as raw:
        loop = asyncio.get_running_loop()
        start = loop.time()
        task = asyncio.create_task(connect(raw.uri, **{**FAST, "open_timeout": 0.1}).__aenter__())
        await asyncio.wait_for(raw.accepted.get(), 5)  # accepted, and never answered
        with pytest.raises(TimeoutError):
            await task
        assert loop.time() - start < 2


@pytest.mark.asyncio
async def test_eof_during_handshake_is_transient() -> None:
    async with RawServer() as raw:
        task = asyncio.create_task(connect(raw.uri, **FAST).__aenter__())
        reader, writer = await asyncio.wait_for(raw.accepted.get(), 5)
        await reader.readuntil(b"\r\n\r\n")
        writer.close()
        with pytest.raises(InvalidMessage) as info:
            await task
        assert isinstance(info.value.__cause__, EOFError)
        assert process_exception(info.value) is None


# TLS


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-4.1-14", "R6455-4.1-15", "R6455-4.1-16", "R6455-4.1-17", "R6455-10.6-1")
async def test_tls_checks_server_name(ca: trustme.CA) -> None:
    server_context, client_context = tls_contexts(ca, ("localhost",))
    async with run_server(ssl=server_context) as server:
        port = port_of(server)
        async with connect(f"wss://localhost:{port}/", ssl=client_context, **FAST) as ws:
            await ws.send("ok")
            assert await ws.recv() == "ok"
        # The certificate doesn't name 127.0.0.1.
        with pytest.raises(ssl.SSLCertVerificationError):
            await connect(f"wss://127.0.0.1:{port}/", ssl=client_context, **FAST)
        # Unless the expected name is given explicitly.
        async with connect(
            f"wss://127.0.0.1:{port}/",
            ssl=client_context,
            server_hostname="localhost",
            **FAST,
        ) as ws:
            await ws.send("ok")
            assert await ws.recv() == "ok"


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-10.6-2")
async def test_ssl_argument_requires_wss() -> None:
    with pytest.raises(ValueError):
        await connect("ws://127.0.0.1:1/", ssl=ssl.create_default_context(), **FAST)


# Redirects


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-4.1-38", "R6455-4.2.2-3")
async def test_follows_redirect_to_another_server() -> None:
    async with run_server() as target:
        location = f"ws://127.0.0.1:{port_of(target)}/target"
        async with run_server(process_request=redirect_to(location)) as origin:
            async with connect(uri_of(origin, "/start"), **FAST) as ws:
                assert ws.remote_address[1] == port_of(target)
                assert ws.request is not None and ws.request.path == "/target"
                await ws.send("x")
                assert await ws.recv() == "x"


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-4.1-38")
async def test_follows_relative_and_http_redirects() -> None:
    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/final":
            return None
        port = connection.local_address[1]
        location = {"/a": "/b", "/b": f"http://127.0.0.1:{port}/final"}[request.path]
        response = connection.respond(http.HTTPStatus.MOVED_PERMANENTLY, "")
        response.headers["Location"] = location
        return response

    async with run_server(process_request=process_request) as server:
        async with connect(uri_of(server, "/a"), **FAST) as ws:
            assert ws.request is not None and ws.request.path == "/final"


@pytest.mark.asyncio
async def test_too_many_redirects() -> None:
    async with run_server(process_request=redirect_to("/loop")) as server:
        with pytest.raises(SecurityError):
            await connect(uri_of(server, "/loop"), **FAST)


@pytest.mark.asyncio
async def test_redirect_without_location_is_invalid_status() -> None:
    def process_request(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(http.HTTPStatus.FOUND, "no location\n")

    async with run_server(process_request=process_request) as server:
        with pytest.raises(InvalidStatus) as info:
            await connect(uri_of(server), **FAST)
        assert info.value.response.status_code == 302


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-10.6-2")
async def test_redirect_from_wss_to_ws_is_refused(ca: trustme.CA) -> None:
    server_context, client_context = tls_contexts(ca, ("localhost",))
    async with run_server() as plain:
        location = f"ws://127.0.0.1:{port_of(plain)}/"
        async with run_server(process_request=redirect_to(location), ssl=server_context) as tls:
            with pytest.raises(SecurityError):
                await connect(f"wss://localhost:{port_of(tls)}/", ssl=client_context, **FAST)


# Reconnection


def test_backoff_delays_grow_exponentially_up_to_a_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(core_client.random, "random", lambda: 0.5)  # first delay 2.5 s
    delays = list(itertools.islice(client_module.backoff(), 20))
    assert 0 <= delays[0] <= core_client.BACKOFF_INITIAL_DELAY
    assert delays[1] == core_client.BACKOFF_MIN_DELAY
    assert delays[2] == pytest.approx(delays[1] * core_client.BACKOFF_FACTOR)
    assert delays[-1] == core_client.BACKOFF_MAX_DELAY
    assert delays[1:] == sorted(delays[1:])


def test_process_exception_classifies_errors() -> None:
    def status(code: int) -> InvalidStatus:
        from websocket_ref import Headers

        return InvalidStatus(Response(code, "", Headers()))

    assert process_exception(ConnectionRefusedError()) is None
    assert process_exception(OSError()) is None
    assert process_exception(asyncio.TimeoutError()) is None
    assert process_exception(EOFError()) is None
    for code in (500, 502, 503, 504):
        assert process_exception(status(code)) is None
    for exc in (status(404), status(403), InvalidMessage("garbage"), ValueError()):
        assert process_exception(exc) is exc


@pytest.mark.asyncio
@pytest.mark.usefixtures("fast_backoff")
async def test_reconnects_after_transient_errors() -> None:
    attempts = 0

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        nonlocal attempts
        attempts += 1
        if attempts in (1, 2, 4):  # 503: try again later
            return connection.respond(http.HTTPStatus.SERVICE_UNAVAILABLE, "busy\n")
        return None

    async def handler(ws: ServerConnection) -> None:
        await ws.send(f"attempt {attempts}")
        await ws.close(1012, "restart")

    received = []
    async with run_server(handler, process_request=process_request) as server:
        connections = []
        async for ws in connect(uri_of(server), **FAST):
            connections.append(ws)
            try:
                async for message in ws:
                    received.append(message)
            except Exception:
                if len(received) < 2:
                    continue
            break
        assert received == ["attempt 3", "attempt 5"]
        assert connections[0] is not connections[1]
        for ws in connections:
            await ws.close()
            assert ws.state is State.CLOSED


@pytest.mark.asyncio
@pytest.mark.usefixtures("fast_backoff")
async def test_reconnection_raises_fatal_errors() -> None:
    def process_request(connection: ServerConnection, request: Request) -> Response:
        return connection.respond(http.HTTPStatus.NOT_FOUND, "gone\n")

    async with run_server(process_request=process_request) as server:
        with pytest.raises(InvalidStatus):
            async for _ in connect(uri_of(server), **FAST):
                pytest.fail("no connection expected")


@pytest.mark.asyncio
@pytest.mark.usefixtures("fast_backoff")
async def test_reconnection_with_custom_process_exception() -> None:
    attempts = 0

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            return connection.respond(http.HTTPStatus.NOT_FOUND, "not yet\n")
        return None

    def retry_404(exc: Exception) -> Exception | None:
        if isinstance(exc, InvalidStatus) and exc.response.status_code == 404:
            return None
        return RuntimeError("fatal")

    async with run_server(process_request=process_request) as server:
        async for ws in connect(uri_of(server), process_exception=retry_404, **FAST):
            await ws.send("x")
            assert await ws.recv() == "x"
            await ws.close()
            break
        assert attempts == 3
    # A replacement exception is raised, chained to the original.
    with pytest.raises(RuntimeError) as info:
        async for _ in connect("ws://127.0.0.1:1/", process_exception=retry_404, **FAST):
            pass
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.asyncio
@pytest.mark.usefixtures("fast_backoff")
async def test_reconnection_loop_closes_previous_connection() -> None:
    async with run_server(echo) as server:
        previous = None
        count = 0
        async for ws in connect(uri_of(server), **FAST):
            if previous is not None:
                assert previous.state is State.CLOSED
            previous = ws
            count += 1
            if count == 3:
                await ws.close()
                break
        await wait_for_condition(lambda: not server.connections)


@pytest.mark.asyncio
async def test_cross_origin_redirect_drops_credentials() -> None:
    seen: list[Request] = []

    async def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        seen.append(ws.request)
        await ws.send("ok")

    async with run_server(handler) as target:
        target_uri = uri_of(target)
        async with run_server(process_request=redirect_to(target_uri)) as origin:
            headers = {"Authorization": "Bearer x", "Cookie": "a=b", "X-Other": "kept"}
            client = connect(uri_of(origin), additional_headers=headers, **FAST)
            # What process_redirect() decides, as websockets' users may override it.
            async with client as ws:
                assert await ws.recv() == "ok"
            assert client.uri == target_uri
    [request] = seen
    assert "Authorization" not in request.headers
    assert "Cookie" not in request.headers
    assert request.headers["X-Other"] == "kept"


def test_process_redirect_decisions() -> None:
    from websocket_ref import Headers

    def redirect(location: str, status: int = 302) -> InvalidStatus:
        return InvalidStatus(Response(status, "", Headers([("Location", location)])))

    client = connect("wss://example.com/a", additional_headers={"Cookie": "c"})
    assert client.process_redirect(redirect("/b")) == "wss://example.com/b"
    assert client.process_redirect(redirect("https://example.com/c")) == "wss://example.com/c"
    assert isinstance(client.process_redirect(redirect("ws://example.com/")), SecurityError)
    not_redirect = InvalidStatus(Response(404, "", Headers()))
    assert client.process_redirect(not_redirect) is not_redirect
    assert client.additional_headers == {"Cookie": "c"}  # same origin: kept
    assert client.process_redirect(redirect("wss://other.example/")) == "wss://other.example/"
    assert "Cookie" not in Headers(client.additional_headers)  # type: ignore[arg-type]
    pinned = connect("ws://example.com/", sock=object())
    assert isinstance(pinned.process_redirect(redirect("ws://other/")), ValueError)

"""Behaviours websockets' users rely on, found by running websockets' public-API tests
against websocket_ref (issue 14): the same answers, the same exceptions and messages."""

from __future__ import annotations

import socket
import ssl
import time

import pytest

from websocket_ref import InvalidProxy, InvalidProxyMessage, InvalidStatus, NegotiationError
from websocket_ref.asyncio.client import connect, unix_connect
from websocket_ref.asyncio.server import ServerConnection, serve
from websocket_ref.proxy import ProxyHandshake, parse_proxy
from websocket_ref.uri import parse_uri

FAST = {"ping_interval": None, "close_timeout": 1, "open_timeout": 5}


async def handler(ws: ServerConnection) -> None:
    await ws.wait_closed()


@pytest.mark.asyncio
@pytest.mark.parametrize(("error", "status"), [(NegotiationError, 400), (RuntimeError, 500)])
async def test_select_subprotocol_refusal_is_400_and_failure_500(
    error: type[Exception], status: int
) -> None:
    def select_subprotocol(ws: ServerConnection, offered: object) -> str:
        raise error("no")

    async with serve(handler, "127.0.0.1", 0, select_subprotocol=select_subprotocol, **FAST) as s:
        with pytest.raises(InvalidStatus) as raised:
            await connect(f"ws://127.0.0.1:{s.sockets[0].getsockname()[1]}/", **FAST)
    assert raised.value.response.status_code == status


@pytest.mark.asyncio
async def test_client_usage_errors() -> None:
    with pytest.raises(ValueError, match=r"^ssl=None is incompatible with a wss:// URI$"):
        await connect("wss://localhost/", ssl=None)
    with pytest.raises(ValueError, match=r"^ssl argument is incompatible with a ws:// URI$"):
        await connect("ws://localhost/", ssl=ssl.create_default_context())
    with pytest.raises(ValueError, match=r"^no path and sock were specified$"):
        await unix_connect()
    with socket.socket(socket.AF_UNIX) as sock:
        with pytest.raises(ValueError, match="at the same time"):
            await unix_connect(path="/", sock=sock)
    with pytest.raises(TypeError, match=r"^subprotocols must be a list, not a str$"):
        connect("ws://localhost/", subprotocols="chat")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^unsupported compression: False$"):
        connect("ws://localhost/", compression=False)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="incompatible with an http:// proxy"):
        await connect("ws://localhost/", proxy="http://localhost:8080", proxy_ssl=True)
    with pytest.raises(InvalidProxy) as raised:
        await connect("ws://example.com/", proxy="other://localhost:51080")
    assert str(raised.value) == (
        "other://localhost:51080 isn't a valid proxy: scheme other isn't supported"
    )


@pytest.mark.asyncio
async def test_connect_isnt_reentrant() -> None:
    async with serve(handler, "127.0.0.1", 0, **FAST) as server:
        connecter = connect(f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/", **FAST)
        async with connecter:
            with pytest.raises(RuntimeError, match=r"^connect\(\) isn't reentrant$"):
                async with connecter:
                    pytest.fail("did not raise")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://proxy/path", "path is meaningless"),
        ("http://proxy/?q", "query is meaningless"),
        ("http://proxy/#f", "fragment is meaningless"),
        ("http://:8080", "hostname isn't provided"),
    ],
)
def test_invalid_proxy_messages(url: str, message: str) -> None:
    with pytest.raises(InvalidProxy) as raised:
        parse_proxy(url)
    assert str(raised.value) == f"{url} isn't a valid proxy: {message}"


def test_invalid_proxy_answer_message() -> None:
    exchange = ProxyHandshake(parse_proxy("http://p"), parse_uri("ws://example.com/"))
    exchange.receive_data(b"220 smtp.invalid ESMTP\r\n\r\n")
    assert isinstance(exchange.exc, InvalidProxyMessage)
    assert str(exchange.exc) == "did not receive a valid HTTP response from proxy"


@pytest.mark.asyncio
async def test_server_usage_errors() -> None:
    from websocket_ref.asyncio.server import basic_auth
    from websocket_ref.sync.server import serve as sync_serve

    with pytest.raises(TypeError, match=r"^subprotocols must be a list, not a str$"):
        serve(handler, "127.0.0.1", 0, subprotocols="chat")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"^subprotocols must be a list, not a str$"):
        sync_serve(lambda ws: None, "127.0.0.1", 0, subprotocols="chat")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^provide either credentials or check_credentials$"):
        basic_auth()
    with pytest.raises(TypeError, match=r"^invalid credentials argument: 42$"):
        basic_auth(credentials=42)  # type: ignore[arg-type]


def test_eof_during_handshake_is_transient_on_both_apis() -> None:
    # The core's exception carries websockets' message and an EOFError cause, so that
    # process_exception() retries it in both reconnection loops.
    from websocket_ref import ClientProtocol, InvalidMessage
    from websocket_ref.client import process_exception

    client = ClientProtocol(parse_uri("ws://example.com/"))
    client.send_request(client.connect())
    client.receive_eof()
    exc = client.handshake_exc
    assert isinstance(exc, InvalidMessage)
    assert str(exc) == "did not receive a valid HTTP response"
    assert isinstance(exc.__cause__, EOFError)
    assert process_exception(exc) is None


def test_sync_handshake_timeout_message() -> None:
    from websocket_ref.sync.client import connect as sync_connect

    with socket.create_server(("127.0.0.1", 0)) as listener:
        host, port = listener.getsockname()[:2]
        with pytest.raises(TimeoutError, match=r"^timed out while waiting for handshake response$"):
            sync_connect(f"ws://{host}:{port}/", open_timeout=0.2)


def test_sync_unix_serve_arguments(tmp_path: object) -> None:
    from pathlib import Path

    from websocket_ref.sync.client import unix_connect as sync_unix_connect
    from websocket_ref.sync.server import unix_serve as sync_unix_serve

    with pytest.raises(ValueError, match=r"^missing path argument$"):
        sync_unix_serve(lambda ws: None)
    with socket.socket(socket.AF_UNIX) as sock:
        with pytest.raises(ValueError, match=r"^path is incompatible with sock$"):
            sync_unix_serve(lambda ws: None, path="/", sock=sock)
    # A listening Unix socket given as sock, as websockets allows.
    path = str(Path(str(tmp_path)) / "ws.sock")
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(path)
    listener.listen()
    server = sync_unix_serve(lambda ws: ws.send("hi"), sock=listener, ping_interval=None)
    import threading

    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with sync_unix_connect(path, ping_interval=None) as ws:
            assert ws.recv(timeout=5) == "hi"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.mark.asyncio
async def test_https_proxy_without_ssl() -> None:
    with pytest.raises(
        ValueError, match=r"^proxy_ssl=None is incompatible with an https:// proxy$"
    ):
        await connect("ws://localhost/", proxy="https://localhost:8080", proxy_ssl=None)


@pytest.mark.asyncio
async def test_junk_response_fails_at_once() -> None:
    # A server speaking another protocol: the first line says so; no waiting for a head.
    import asyncio

    from websocket_ref import InvalidMessage

    async def junk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 smtp.invalid ESMTP Postfix\r\n")
        await reader.read(4096)
        writer.close()

    server = await asyncio.start_server(junk, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(InvalidMessage) as raised:
            await connect(f"ws://127.0.0.1:{port}/", **FAST)
    finally:
        server.close()
        await server.wait_closed()
    assert str(raised.value) == "did not receive a valid HTTP response"
    assert isinstance(raised.value.__cause__, ValueError)
    assert str(raised.value.__cause__) == (
        "unsupported protocol; expected HTTP/1.1: 220 smtp.invalid ESMTP Postfix"
    )


def test_sync_client_usage_errors() -> None:
    from websocket_ref.sync.client import connect as sync_connect
    from websocket_ref.sync.client import unix_connect as sync_unix_connect

    with pytest.raises(ValueError, match=r"^missing path argument$"):
        sync_unix_connect()
    with socket.socket(socket.AF_UNIX) as sock:
        with pytest.raises(ValueError, match=r"^path is incompatible with sock$"):
            sync_unix_connect(path="/", sock=sock)
    with pytest.raises(TypeError, match=r"^subprotocols must be a list, not a str$"):
        sync_connect("ws://localhost/", subprotocols="chat")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="incompatible with an http:// proxy"):
        sync_connect(
            "ws://localhost/", proxy="http://localhost:8080", proxy_ssl=ssl.create_default_context()
        )


def test_sync_silent_proxy_times_out() -> None:
    from websocket_ref.sync.client import connect as sync_connect

    with socket.create_server(("127.0.0.1", 0)) as listener:
        host, port = listener.getsockname()[:2]
        with pytest.raises(TimeoutError, match=r"^timed out while connecting to HTTP proxy$"):
            sync_connect("ws://example.com/", proxy=f"http://{host}:{port}", open_timeout=0.2)


def test_sync_client_follows_redirects_like_the_asyncio_one() -> None:
    import http
    import threading

    from websocket_ref import Request, Response, SecurityError
    from websocket_ref.sync.client import connect as sync_connect
    from websocket_ref.sync.server import ServerConnection as SyncServerConnection
    from websocket_ref.sync.server import serve as sync_serve

    seen: list[Request] = []

    def target(ws: SyncServerConnection) -> None:
        assert ws.request is not None
        seen.append(ws.request)
        ws.send("ok")

    def redirect(to: str) -> object:
        def process_request(ws: SyncServerConnection, request: Request) -> Response:
            response = ws.respond(http.HTTPStatus.FOUND, "")
            response.headers["Location"] = to
            return response

        return process_request

    servers = []
    try:
        other = sync_serve(target, "127.0.0.1", 0, ping_interval=None)
        other_uri = f"ws://127.0.0.1:{other.socket.getsockname()[1]}/"
        origin = sync_serve(
            target, "127.0.0.1", 0, process_request=redirect(other_uri), ping_interval=None
        )
        loop = sync_serve(target, "127.0.0.1", 0, process_request=redirect("/"), ping_interval=None)
        servers = [other, origin, loop]
        threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
        for thread in threads:
            thread.start()
        origin_uri = f"ws://127.0.0.1:{origin.socket.getsockname()[1]}/"
        with sync_connect(
            origin_uri, additional_headers={"Cookie": "c", "X-Other": "kept"}, ping_interval=None
        ) as ws:
            assert ws.recv(timeout=5) == "ok"
        [request] = seen
        assert "Cookie" not in request.headers  # another origin: credentials dropped
        assert request.headers["X-Other"] == "kept"
        loop_uri = f"ws://127.0.0.1:{loop.socket.getsockname()[1]}/"
        with pytest.raises(SecurityError, match="more than 10 redirects"):
            sync_connect(loop_uri, ping_interval=None)
    finally:
        for server in servers:
            server.shutdown()


def test_too_many_fragments_is_exported_and_a_payload_too_big() -> None:
    import websocket_ref
    from websocket_ref import exceptions

    assert websocket_ref.TooManyFragments is exceptions.TooManyFragments
    assert "TooManyFragments" in websocket_ref.__all__
    exc = exceptions.TooManyFragments(4096)
    assert isinstance(exc, exceptions.PayloadTooBig)
    assert exc.close_code == 1009
    assert str(exc) == "fragmented message exceeds limit of 4096 frames (RFC 6455 §10.4)"


def test_websockets_module_level_names() -> None:
    import importlib

    from websocket_ref import protocol

    asyncio_broadcast = importlib.import_module("websocket_ref.asyncio.broadcast")
    asyncio_connection = importlib.import_module("websocket_ref.asyncio.connection")
    sync_broadcast = importlib.import_module("websocket_ref.sync.broadcast")
    sync_connection = importlib.import_module("websocket_ref.sync.connection")

    # websockets defines broadcast() in its connection modules.
    assert asyncio_connection.broadcast is asyncio_broadcast.broadcast
    assert sync_connection.broadcast is sync_broadcast.broadcast
    with pytest.raises(AttributeError):
        asyncio_connection.nothing  # noqa: B018
    assert tuple(protocol.State) == (
        protocol.CONNECTING,
        protocol.OPEN,
        protocol.CLOSING,
        protocol.CLOSED,
    )


@pytest.mark.asyncio
async def test_asyncio_connection_takes_a_transport_wrapper_and_survives_a_bug() -> None:
    # A Connection is an asyncio protocol: a transport wrapper (that observes or delays
    # writes) will do. And a bug raising while data is handled ends the connection —
    # recv() raises ConnectionClosedError caused by it — rather than leaving it hanging.
    import asyncio
    import unittest.mock

    from websocket_ref import ConnectionClosedError
    from websocket_ref.asyncio.connection import Connection
    from websocket_ref.protocol import CLIENT, SERVER, Protocol

    class Wrapper:
        def __init__(self, transport: asyncio.Transport) -> None:
            self.transport = transport
            self.written: list[bytes] = []

        def __getattr__(self, name: str) -> object:
            return getattr(self.transport, name)

        def write(self, data: bytes) -> None:
            self.written.append(bytes(data))
            self.transport.write(data)

    class Wrapped(Connection):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            super().connection_made(Wrapper(transport))  # type: ignore[arg-type]

    class Local(Protocol):
        # A subclass, like ClientProtocol: in the mypyc build, patching a method of the
        # compiled Protocol itself doesn't reach native calls; through a subclass it does.
        pass

    loop = asyncio.get_running_loop()
    a, b = socket.socketpair()
    _, local = await loop.create_connection(lambda: Wrapped(Local(CLIENT)), sock=a)
    _, remote = await loop.create_connection(
        lambda: Connection(Protocol(SERVER), close_timeout=1), sock=b
    )
    await local.send("hello")
    assert await remote.recv() == "hello"
    assert local.transport.written  # type: ignore[attr-defined]
    bug = AssertionError("bug")
    with unittest.mock.patch.object(Local, "events_received", side_effect=bug):
        await remote.send("boom")
        with pytest.raises(ConnectionClosedError) as raised:
            await asyncio.wait_for(local.recv(), 10)
    assert raised.value.__cause__ is bug
    await asyncio.wait_for(local.wait_closed(), 10)
    await remote.close()


def test_sync_connection_from_a_socket_and_an_open_protocol() -> None:
    # websockets' Connection(socket, protocol): with an open protocol it's ready at once.
    from websocket_ref.protocol import CLIENT, SERVER, Protocol
    from websocket_ref.sync.connection import Connection

    a, b = socket.socketpair()
    local = Connection(a, Protocol(CLIENT), close_timeout=1)
    remote = Connection(b, Protocol(SERVER), close_timeout=1)
    try:
        local.send("hello")
        assert remote.recv(timeout=10) == "hello"
        assert local.request is None and local.response is None and local.subprotocol is None
    finally:
        local.close()
        remote.close()


@pytest.mark.asyncio
async def test_hook_failures_are_logged_as_websockets_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def process_request(ws: ServerConnection, request: object) -> None:
        raise RuntimeError("bug")

    with caplog.at_level("ERROR", logger="websocket_ref.server"):
        async with serve(handler, "127.0.0.1", 0, process_request=process_request, **FAST) as s:
            with pytest.raises(InvalidStatus):
                await connect(f"ws://127.0.0.1:{s.sockets[0].getsockname()[1]}/", **FAST)
    assert [r.getMessage() for r in caplog.records] == ["process_request failed"]


def test_extension_base_classes_raise_not_implemented() -> None:
    from websocket_ref.extensions.base import (
        ClientExtensionFactory,
        Extension,
        ServerExtensionFactory,
    )
    from websocket_ref.frames import Frame, Opcode

    frame = Frame(Opcode.TEXT, b"")
    with pytest.raises(NotImplementedError):
        Extension().decode(frame)
    with pytest.raises(NotImplementedError):
        Extension().encode(frame)
    with pytest.raises(NotImplementedError):
        ClientExtensionFactory().get_request_params()
    with pytest.raises(NotImplementedError):
        ClientExtensionFactory().process_response_params([], [])
    with pytest.raises(NotImplementedError):
        ServerExtensionFactory().process_request_params([], [])


def test_permessage_deflate_factories_take_websockets_positional_arguments() -> None:
    from websocket_ref.extensions.permessage_deflate import (
        ClientPerMessageDeflateFactory,
        ServerPerMessageDeflateFactory,
    )

    settings = {"memLevel": 4}
    client = ClientPerMessageDeflateFactory(False, False, None, True, settings)
    server = ServerPerMessageDeflateFactory(False, False, None, 12, settings, True)
    assert client.compress_settings == settings
    assert server.compress_settings == settings
    assert server.require_client_max_window_bits


def test_websockets_deprecated_names(tmp_path: object) -> None:
    import websocket_ref.client
    import websocket_ref.server
    import websocket_ref.sync.server

    for module, old, new in [
        (websocket_ref.client, "ClientConnection", "ClientProtocol"),
        (websocket_ref.server, "ServerConnection", "ServerProtocol"),
        (websocket_ref.sync.server, "WebSocketServer", "Server"),
    ]:
        with pytest.warns(DeprecationWarning, match=rf"^{old} was renamed to {new}$"):
            assert getattr(module, old) is getattr(module, new)
        with pytest.raises(AttributeError):
            module.Nothing  # noqa: B018


def test_sync_ssl_context_is_a_deprecated_name_of_ssl() -> None:
    import trustme

    from websocket_ref.sync.client import connect as sync_connect
    from websocket_ref.sync.server import serve as sync_serve

    ca = trustme.CA()
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    client_context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ca.configure_trust(client_context)

    def echo(ws: object) -> None:
        for message in ws:  # type: ignore[attr-defined]
            ws.send(message)  # type: ignore[attr-defined]

    with pytest.warns(DeprecationWarning, match=r"^ssl_context was renamed to ssl$"):
        server = sync_serve(echo, "127.0.0.1", 0, ssl_context=server_context)
    assert server.ssl is server_context  # the listening socket stays plain
    import threading

    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    try:
        port = server.socket.getsockname()[1]
        with pytest.warns(DeprecationWarning, match=r"^ssl_context was renamed to ssl$"):
            client = sync_connect(f"wss://127.0.0.1:{port}/", ssl_context=client_context)
        with client:
            client.send("hi")
            assert client.recv(timeout=10) == "hi"
    finally:
        server.shutdown()
        thread.join()


def test_headers_take_one_positional_argument() -> None:
    from websocket_ref.datastructures import Headers

    with pytest.raises(TypeError, match="at most 1 argument, got 2"):
        Headers(Headers(a="1"), Headers(b="2"))


def test_protocol_logs_its_initial_state_to_its_logger(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from websocket_ref import ClientProtocol, ServerProtocol

    logger = logging.getLogger("test.port.custom")
    with caplog.at_level(logging.DEBUG, logger="test.port.custom"):
        ClientProtocol(parse_uri("ws://example.com/"), logger=logger)
        ServerProtocol(logger=logger)
    assert [r.getMessage() for r in caplog.records] == ["= connection is CONNECTING"] * 2


def test_sync_connection_closes_with_1011_on_an_exception() -> None:
    from websocket_ref.protocol import CLIENT, SERVER, Protocol
    from websocket_ref.sync.connection import Connection

    a, b = socket.socketpair()
    local = Connection(a, Protocol(CLIENT), close_timeout=1)
    remote = Connection(b, Protocol(SERVER), close_timeout=1)
    with pytest.raises(RuntimeError), local:
        raise RuntimeError
    remote.close()
    assert local.close_code == 1011


@pytest.mark.asyncio
async def test_asyncio_ping_and_pong_refuse_other_types() -> None:
    async with serve(handler, "127.0.0.1", 0, **FAST) as s:
        async with connect(f"ws://127.0.0.1:{s.sockets[0].getsockname()[1]}/", **FAST) as ws:
            with pytest.raises(TypeError, match="unsupported type list"):
                await ws.ping([])  # type: ignore[arg-type]
            with pytest.raises(TypeError, match="unsupported type list"):
                await ws.pong([])  # type: ignore[arg-type]
            assert ws._keepalive_handle is None  # FAST: ping_interval None
            ws.ping_interval = 3600
            ws.start_keepalive()
            first = ws._keepalive_handle
            assert first is not None
            ws.start_keepalive()  # again: replaces the schedule, doesn't add one
            assert first.cancelled() and ws._keepalive_handle is not first


def test_sync_start_keepalive_is_public_and_replaces_the_schedule() -> None:
    from websocket_ref.protocol import CLIENT, SERVER, Protocol
    from websocket_ref.sync.connection import Connection

    a, b = socket.socketpair()
    local = Connection(a, Protocol(CLIENT), close_timeout=1, ping_interval=None)
    remote = Connection(b, Protocol(SERVER), close_timeout=1, ping_interval=None)
    try:
        local.start_keepalive()  # ping_interval None: nothing
        assert local._keepalive_timer is None
        local.ping_interval = 0.01
        local.start_keepalive()
        first = local._keepalive_timer
        local.start_keepalive()  # replaces the schedule
        assert first is not None and first.cancelled and local._keepalive_timer is not first
        deadline = time.monotonic() + 60  # generous: the first pong sets latency
        while not local.latency and time.monotonic() < deadline:
            time.sleep(0.01)
        assert local.latency > 0
    finally:
        local.close()
        remote.close()


def test_server_protocol_origin_and_user_agent_and_state_message() -> None:
    from websocket_ref import ClientProtocol, InvalidState, Protocol, ServerProtocol
    from websocket_ref.http11 import USER_AGENT
    from websocket_ref.protocol import CLIENT

    client = ClientProtocol(parse_uri("ws://example.com/"), origin="https://example.com")
    request = client.connect()
    assert request.headers["User-Agent"] == USER_AGENT
    server = ServerProtocol()
    assert server.origin is None
    server.accept(request)
    assert server.origin == "https://example.com"
    closed = Protocol(CLIENT)
    closed.send_close()
    with pytest.raises(InvalidState, match=r"^connection is closing$"):
        closed.send_text(b"late")


def test_log_records_carry_the_connection(caplog: pytest.LogCaptureFixture) -> None:
    import logging

    from websocket_ref.protocol import CLIENT, SERVER, Protocol
    from websocket_ref.sync.connection import Connection

    a, b = socket.socketpair()
    local = Connection(a, Protocol(CLIENT), close_timeout=1, ping_interval=None)
    remote = Connection(b, Protocol(SERVER), close_timeout=1, ping_interval=None)
    try:
        assert isinstance(local.logger, logging.LoggerAdapter)
        assert local.protocol.logger is local.logger
        with caplog.at_level(logging.INFO):
            local.logger.info("hello")
        assert [r.websocket for r in caplog.records] == [local]  # type: ignore[attr-defined]
    finally:
        local.close()
        remote.close()


@pytest.mark.parametrize(
    ("data", "eof", "cause"),
    [
        (b"", True, "connection closed while reading HTTP status line"),
        (b"HTTP/1.1 101 Switching", True, "connection closed while reading HTTP status line"),
        (
            b"HTTP/1.1 101 Switching Protocols\r\n",
            True,
            "connection closed while reading HTTP headers",
        ),
        (b"220 smtp.invalid\r\n\r\n", False, "invalid HTTP status line: 220 smtp.invalid"),
        (b"220 smtp ok\r\n\r\n", False, "unsupported protocol; expected HTTP/1.1: 220 smtp ok"),
    ],
)
def test_sansio_client_names_what_was_wrong_as_websockets(
    data: bytes, eof: bool, cause: str
) -> None:
    from websocket_ref import ClientProtocol, InvalidMessage

    client = ClientProtocol(parse_uri("ws://example.com/"))
    client.send_request(client.connect())
    client.receive_data(data)
    if eof:
        client.receive_eof()
    assert isinstance(client.handshake_exc, InvalidMessage)
    assert str(client.handshake_exc) == "did not receive a valid HTTP response"
    assert str(client.handshake_exc.__cause__) == cause


def test_header_builders_refuse_what_websockets_refuses() -> None:
    from websocket_ref.headers import build_www_authenticate_basic, validate_subprotocols

    with pytest.raises(ValueError, match="quoted-string"):
        build_www_authenticate_basic("\u0007")
    assert build_www_authenticate_basic('a "b"\t') == 'Basic realm="a \\"b\\"\t", charset="UTF-8"'
    for subprotocols in ({"sip": None}, {"sip"}, "sip"):
        with pytest.raises(TypeError, match=r"^subprotocols must be a list"):
            validate_subprotocols(subprotocols)  # type: ignore[arg-type]
    validate_subprotocols(("sip", "chat"))


@pytest.mark.parametrize(
    ("data", "eof", "cause"),
    [
        (b"", True, "connection closed while reading HTTP request line"),
        (b"GET /test HTTP/1.1\r\n", True, "connection closed while reading HTTP headers"),
        # Refused at the first line, without waiting for the end of a head.
        (
            b"HELO relay.invalid\r\nMAIL FROM: <a@b>\r\n",
            False,
            "invalid HTTP request line: HELO relay.invalid",
        ),
        (b"GET / HTTP/1.1 x\r\n\r\n", False, "invalid HTTP request line: GET / HTTP/1.1 x"),
    ],
)
def test_sansio_server_names_what_was_wrong_as_websockets(
    data: bytes, eof: bool, cause: str
) -> None:
    from websocket_ref import InvalidMessage, ServerProtocol

    server = ServerProtocol()
    server.receive_data(data)
    if eof:
        server.receive_eof()
    assert server.events_received() == []
    assert isinstance(server.handshake_exc, InvalidMessage)
    assert str(server.handshake_exc) == "did not receive a valid HTTP request"
    assert str(server.handshake_exc.__cause__) == cause
    if not eof:  # a 400 that says why
        assert (
            f"did not receive a valid HTTP request: {cause}."
            in b"".join(server.data_to_send()).decode()
        )


def test_sync_close_timeout_is_the_cause_of_connection_closed() -> None:
    from websocket_ref.exceptions import ConnectionClosedError
    from websocket_ref.protocol import CLIENT, Protocol
    from websocket_ref.sync.connection import Connection

    a, b = socket.socketpair()  # b never answers the close frame
    local = Connection(a, Protocol(CLIENT), close_timeout=0.1, ping_interval=None)
    try:
        local.close()
        with pytest.raises(ConnectionClosedError) as raised:
            local.recv()
        assert str(raised.value) == "sent 1000 (OK); no close frame received"
        assert isinstance(raised.value.__cause__, TimeoutError)
    finally:
        b.close()


@pytest.mark.asyncio
async def test_asyncio_close_timeout_is_the_cause_of_connection_closed() -> None:
    import asyncio

    from websocket_ref.asyncio.connection import Connection
    from websocket_ref.exceptions import ConnectionClosedError
    from websocket_ref.protocol import CLIENT, Protocol

    a, b = socket.socketpair()  # b never answers the close frame
    local = Connection(Protocol(CLIENT), close_timeout=0.1, ping_interval=None)
    try:
        await asyncio.get_running_loop().create_connection(lambda: local, sock=a)
        await local.close()
        with pytest.raises(ConnectionClosedError) as raised:
            await local.recv()
        assert str(raised.value) == "sent 1000 (OK); no close frame received"
        assert isinstance(raised.value.__cause__, TimeoutError)
    finally:
        b.close()


def test_payload_too_big_takes_websockets_arguments() -> None:
    import pickle
    import warnings

    from websocket_ref.exceptions import PayloadTooBig

    # websockets' positional form, and its wording
    assert str(PayloadTooBig(None, 4)) == "frame exceeds limit of 4 bytes"
    assert str(PayloadTooBig(8, 4)) == "frame with 8 bytes exceeds limit of 4 bytes"
    exc = PayloadTooBig(8, 4, 12)
    assert (exc.size, exc.max_size, exc.current_size) == (8, 16, 12)
    assert str(exc) == "frame with 8 bytes after reading 12 bytes exceeds limit of 16 bytes"
    exc = PayloadTooBig(8, 4)
    exc.set_current_size(12)
    assert str(exc) == "frame with 8 bytes after reading 12 bytes exceeds limit of 16 bytes"
    # websocket_ref's own words, without a warning
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        exc = PayloadTooBig(9, 8, message="message of more than 8 bytes", rule="RFC 6455 §10.4")
    assert str(exc) == "message of more than 8 bytes (RFC 6455 §10.4)"
    assert exc.close_code == 1009
    assert str(pickle.loads(pickle.dumps(exc))) == str(exc)
    # the form websockets deprecated
    with pytest.warns(DeprecationWarning, match=r"PayloadTooBig\(message\) is deprecated"):
        exc = PayloadTooBig("payload length exceeds limit: 2 > 1 bytes")
    assert str(exc) == "payload length exceeds limit: 2 > 1 bytes"


def test_the_core_raises_payload_too_big_with_sizes() -> None:
    from websocket_ref.exceptions import PayloadTooBig
    from websocket_ref.frames import Frame, Opcode, serialize_frame
    from websocket_ref.protocol import CLIENT, SERVER, Protocol

    server = Protocol(SERVER, max_size=4)
    header, payload = serialize_frame(Frame(Opcode.BINARY, b"12345678"), mask=True)
    server.receive_data(header + payload)
    exc = server.failure_exc
    assert isinstance(exc, PayloadTooBig)
    assert (exc.size, exc.max_size) == (8, 4)
    assert Protocol(CLIENT).failure_exc is None


def test_connection_closed_code_and_reason_are_deprecated() -> None:
    from websocket_ref.exceptions import ConnectionClosed
    from websocket_ref.frames import Close

    exc = ConnectionClosed(Close(1001, "bye"), None)
    with pytest.warns(DeprecationWarning, match=r"ConnectionClosed.code is deprecated"):
        assert exc.code == 1001
    with pytest.warns(DeprecationWarning, match=r"ConnectionClosed.reason is deprecated"):
        assert exc.reason == "bye"
    exc = ConnectionClosed(None, None)
    with pytest.warns(DeprecationWarning):
        assert exc.code == 1006
    with pytest.warns(DeprecationWarning):
        assert exc.reason == ""


def test_invalid_utf8_is_a_unicode_decode_error() -> None:
    import pickle

    from websocket_ref.exceptions import InvalidUTF8
    from websocket_ref.frames import Close
    from websocket_ref.utf8 import Utf8Validator

    # websockets lets the decoder's error through Close.parse(): still caught here
    with pytest.raises(UnicodeDecodeError) as raised:
        Close.parse(b"\x03\xe8ok\xff\xff")
    exc = raised.value
    assert isinstance(exc, InvalidUTF8) and exc.close_code == 1007
    assert (exc.object, exc.start, exc.end) == (b"ok\xff\xff", 2, 3)
    assert str(exc) == "close reason isn't valid UTF-8 (RFC 6455 §5.5.1)"
    assert str(pickle.loads(pickle.dumps(exc))) == str(exc)
    # in a message: only the invalid bytes are kept, not the message
    validator = Utf8Validator()
    with pytest.raises(UnicodeDecodeError) as raised:
        validator.feed(b"a" * 100_000 + b"\xff" + b"b" * 100_000)
    assert raised.value.object == b"\xff"
    assert str(raised.value).startswith("invalid UTF-8 at byte 100000: invalid start byte")


def test_extensions_need_not_inherit_from_extension() -> None:
    # websockets takes any object with name, decode() and encode() (duck typing).
    from websocket_ref.frames import Frame, Opcode, serialize_frame
    from websocket_ref.server import ServerProtocol

    class Reverse:  # not an Extension
        name = "x-reverse"

        def decode(self, frame: Frame, *, max_size: int | None = None) -> Frame:
            return Frame(frame.opcode, bytes(frame.data)[::-1], frame.fin)

        def encode(self, frame: Frame) -> Frame:
            return Frame(frame.opcode, bytes(frame.data)[::-1], frame.fin)

    extension = Reverse()

    class Factory:
        name = "x-reverse"

        def process_request_params(
            self, params: object, accepted_extensions: object
        ) -> tuple[list[tuple[str, str | None]], Reverse]:
            return [], extension

    server = ServerProtocol(extensions=[Factory()])  # type: ignore[list-item]
    server.receive_data(
        b"GET / HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Extensions: x-reverse\r\n\r\n"
    )
    [request] = server.events_received()
    server.send_response(server.accept(request))  # type: ignore[arg-type]
    assert server.state.name == "OPEN"
    assert server.extensions == [extension]  # the application's own object
    header, payload = serialize_frame(Frame(Opcode.TEXT, b"olleh"), mask=True)
    server.receive_data(header + payload)
    [frame] = server.events_received()
    assert frame.data == b"hello"
    b"".join(server.data_to_send())
    server.send_text(b"abc")
    assert b"".join(server.data_to_send()) == b"\x81\x03cba"


def test_invalid_sec_websocket_key_names_the_decoder_error_as_cause() -> None:
    import binascii

    from websocket_ref.exceptions import InvalidHeaderValue
    from websocket_ref.handshake import check_key

    with pytest.raises(InvalidHeaderValue) as raised:
        check_key("<not Base64 data>")
    assert str(raised.value) == "invalid Sec-WebSocket-Key header: <not Base64 data>"
    assert isinstance(raised.value.__cause__, binascii.Error)

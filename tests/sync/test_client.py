"""connect() and unix_connect(): options of the opening handshake, TLS, failures."""

from __future__ import annotations

import logging
import socket
import ssl
from pathlib import Path

import pytest
import trustme

from websocket_ref import (
    ConnectionClosedError,
    InvalidHeaderValue,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
    NegotiationError,
    State,
)
from websocket_ref.client import USER_AGENT
from websocket_ref.sync.client import ClientConnection, connect, unix_connect
from websocket_ref.sync.server import ServerConnection
from websocket_ref.sync.utils import client_extensions

from .utils import FAST, TIMEOUT, accept_handshake, client, raw_server, run_server, uri


def request_headers(ws: ServerConnection) -> None:
    """Reply with the request's headers, then wait for the client to close."""
    assert ws.request is not None
    ws.send(repr(list(ws.request.headers.raw_items())))
    ws.recv()


def headers_of(ws: ClientConnection) -> dict[str, str]:
    raw = ws.recv(timeout=TIMEOUT)
    assert isinstance(raw, str)
    return dict(eval(raw))  # the repr of a list of (str, str)


@pytest.mark.rfc("R6455-4.1-2", "R6455-4.1-11", "R6455-4.1-18")
def test_connect_as_plain_call() -> None:
    with run_server() as server:
        ws = client(server)
        try:
            assert isinstance(ws, ClientConnection)
            assert ws.state is State.OPEN
        finally:
            ws.close()
        assert ws.state is State.CLOSED


def test_context_manager_closes() -> None:
    with run_server() as server:
        with client(server) as ws:
            ws.send("x")
            ws.recv(timeout=TIMEOUT)
        assert ws.state is State.CLOSED
        assert ws.close_code == 1000


@pytest.mark.rfc("R6455-4.1-21")
def test_path_and_query() -> None:
    paths: list[str] = []

    def handler(ws: ServerConnection) -> None:
        assert ws.request is not None
        paths.append(ws.request.path)

    with run_server(handler) as server, client(server, path="/chat?room=1") as ws:
        ws._closed.wait(TIMEOUT)
    assert paths == ["/chat?room=1"]


@pytest.mark.rfc("R6455-4.1-36")
def test_additional_headers_dict_and_list() -> None:
    with run_server(request_headers) as server:
        with client(server, additional_headers={"X-Token": "abc"}) as ws:
            assert headers_of(ws)["X-Token"] == "abc"
        with client(server, additional_headers=[("X-A", "1"), ("X-B", "2")]) as ws:
            headers = headers_of(ws)
            assert (headers["X-A"], headers["X-B"]) == ("1", "2")


def test_user_agent_header() -> None:
    with run_server(request_headers) as server:
        with client(server) as ws:
            assert headers_of(ws)["User-Agent"] == USER_AGENT
        with client(server, user_agent_header="test/1.0") as ws:
            assert headers_of(ws)["User-Agent"] == "test/1.0"
        with client(server, user_agent_header=None) as ws:
            assert "User-Agent" not in headers_of(ws)


@pytest.mark.rfc("R6455-4.1-29")
def test_origin() -> None:
    with run_server(request_headers) as server:
        with client(server, origin="https://example.com") as ws:
            assert headers_of(ws)["Origin"] == "https://example.com"


@pytest.mark.rfc("R6455-4.1-36")
def test_basic_auth_from_uri() -> None:
    with run_server(request_headers) as server:
        host, port = server.socket.getsockname()
        with connect(f"ws://user:pass@{host}:{port}/", **FAST) as ws:
            assert headers_of(ws)["Authorization"] == "Basic dXNlcjpwYXNz"


@pytest.mark.rfc("R6455-4.1-32", "R6455-4.1-43")
def test_subprotocols() -> None:
    with run_server(subprotocols=["chat", "superchat"]) as server:
        with client(server, subprotocols=["superchat", "chat"]) as ws:
            assert ws.subprotocol == "superchat"
        with client(server, subprotocols=["other"]) as ws:
            assert ws.subprotocol is None
        with client(server) as ws:
            assert ws.subprotocol is None


@pytest.mark.rfc("R6455-4.1-43")
def test_subprotocol_not_offered_fails() -> None:
    def respond(sock: socket.socket) -> None:
        from websocket_ref.handshake import accept_key

        request = sock.recv(4096).decode()
        key = request.split("Sec-WebSocket-Key: ")[1].split("\r\n")[0]
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Protocol: rogue\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"
        )

    with raw_server(respond) as ws_uri, pytest.raises(NegotiationError):
        connect(ws_uri, subprotocols=["chat"], **FAST)


@pytest.mark.rfc("R6455-9-1")
def test_compression_none_offers_no_extension() -> None:
    with run_server(request_headers) as server:
        with client(server, compression=None) as ws:
            assert "Sec-WebSocket-Extensions" not in headers_of(ws)
            assert ws.protocol.extensions == []


@pytest.mark.rfc("R6455-9-1", "R6455-9-2", "R6455-9.2-1")
def test_compression_deflate_negotiated() -> None:
    with run_server() as server, client(server) as ws:
        assert ws.response is not None
        assert "permessage-deflate" in ws.response.headers["Sec-WebSocket-Extensions"]
        assert [ext.name for ext in ws.protocol.extensions] == ["permessage-deflate"]
        message = "compressible " * 1000
        ws.send(message)
        assert ws.recv(timeout=TIMEOUT) == message


def test_compression_invalid_value() -> None:
    with pytest.raises(ValueError, match="unsupported compression"):
        client_extensions("brotli", None)
    with run_server() as server, pytest.raises(ValueError, match="unsupported compression"):
        client(server, compression="brotli")


@pytest.mark.rfc("R6455-4.1-4")
def test_invalid_uri() -> None:
    with pytest.raises(InvalidURI):
        connect("http://localhost/")


@pytest.mark.rfc("R6455-10.6-2")
def test_ssl_with_ws_uri() -> None:
    with pytest.raises(ValueError, match="incompatible"):
        connect("ws://localhost/", ssl=ssl.create_default_context())


@pytest.mark.rfc("R6455-4.1-13")
def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(ConnectionRefusedError):
        connect(f"ws://127.0.0.1:{port}/", **FAST)


def test_open_timeout() -> None:
    def respond(sock: socket.socket) -> None:
        while sock.recv(4096):  # never answer the handshake
            pass

    with raw_server(respond) as ws_uri, pytest.raises(TimeoutError):
        connect(ws_uri, open_timeout=0.1, **FAST)


@pytest.mark.rfc("R6455-4.1-38")
def test_server_refuses_with_status() -> None:
    def process_request(ws: ServerConnection, request: object) -> object:
        return ws.respond(403, "Go away\n")

    with (
        run_server(process_request=process_request) as server,
        pytest.raises(InvalidStatus) as exc_info,
    ):
        client(server)
    response = exc_info.value.response
    assert response.status_code == 403
    assert response.body == b"Go away\n"


@pytest.mark.rfc("R6455-4.1-41")
def test_invalid_accept_header() -> None:
    def respond(sock: socket.socket) -> None:
        sock.recv(4096)
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: wrong\r\n\r\n"
        )

    with raw_server(respond) as ws_uri, pytest.raises(InvalidHeaderValue):
        connect(ws_uri, **FAST)


def test_server_closes_during_handshake() -> None:
    def respond(sock: socket.socket) -> None:
        sock.recv(4096)

    with raw_server(respond) as ws_uri, pytest.raises(InvalidMessage):
        connect(ws_uri, **FAST)


def test_sock_argument() -> None:
    with run_server() as server:
        sock = socket.create_connection(server.socket.getsockname())
        with connect(uri(server), sock=sock, **FAST) as ws:
            ws.send("via sock")
            assert ws.recv(timeout=TIMEOUT) == "via sock"
        assert sock.fileno() == -1  # closed with the connection


def test_sock_argument_excludes_socket_options() -> None:
    with socket.socket() as sock, pytest.raises(TypeError):
        connect("ws://localhost/", sock=sock, source_address=("127.0.0.1", 0))


def test_socket_options_passed_to_create_connection() -> None:
    with run_server() as server, client(server, source_address=("127.0.0.1", 0)) as ws:
        assert ws.local_address[0] == "127.0.0.1"


def test_create_connection_subclass() -> None:
    class MyConnection(ClientConnection):
        pass

    with run_server() as server, client(server, create_connection=MyConnection) as ws:
        assert isinstance(ws, MyConnection)


def test_logger_by_name(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="test.client")
    with run_server() as server, client(server, logger="test.client") as ws:
        ws.send("x")
        ws.recv(timeout=TIMEOUT)
    messages = [r.getMessage() for r in caplog.records if r.name == "test.client"]
    assert "> GET / HTTP/1.1" in messages
    assert any(m.startswith("> TEXT") for m in messages)


def test_unix_connect(tmp_path: Path) -> None:
    path = str(tmp_path / "ws.sock")
    with run_server(unix=True, path=path):
        with unix_connect(path, **FAST) as ws:
            assert ws.request is not None
            assert ws.request.headers["Host"] == "localhost"
            ws.send("over unix")
            assert ws.recv(timeout=TIMEOUT) == "over unix"
        with unix_connect(path, uri="ws://example.com/x", **FAST) as ws:
            assert ws.request is not None and ws.request.path == "/x"


# TLS


@pytest.mark.rfc("R6455-4.1-14", "R6455-4.1-16", "R6455-10.6-1")
def test_tls(server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    with run_server(ssl=server_context) as server, client(server, ssl=client_context) as ws:
        assert ws.ssl_object is not None
        assert ws.ssl_object.version() is not None
        for message in ["over TLS", b"x" * 1_000_000]:
            ws.send(message)
            assert ws.recv(timeout=TIMEOUT) == message
    assert ws.close_code == 1000


@pytest.mark.rfc("R6455-4.1-17", "R6455-4.1-15")
def test_tls_server_hostname(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    with run_server(ssl=server_context) as server:
        port = server.socket.getsockname()[1]
        with connect(
            f"wss://localhost:{port}/",
            ssl=client_context,
            server_hostname="localhost",
            source_address=("127.0.0.1", 0),
            **FAST,
        ) as ws:
            ws.send("sni")
            assert ws.recv(timeout=TIMEOUT) == "sni"
        with pytest.raises(ssl.SSLCertVerificationError):
            client(server, ssl=client_context, server_hostname="wrong.example")


@pytest.mark.rfc("R6455-4.1-17")
def test_tls_sends_server_name_indication(
    certificate_authority: trustme.CA, client_context: ssl.SSLContext
) -> None:
    # RFC 6455 §4.1: clients MUST use SNI: the name is the URI's host (or
    # server_hostname); RFC 6066 §3: never a literal IP address.
    names: list[str | None] = []
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate_authority.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    context.sni_callback = lambda sslobj, name, ctx: names.append(name)  # type: ignore[assignment,misc,return-value]
    with run_server(ssl=context) as server:
        port = server.socket.getsockname()[1]
        for target, server_hostname in [
            (f"wss://localhost:{port}/", None),
            (f"wss://127.0.0.1:{port}/", "localhost"),
            (f"wss://127.0.0.1:{port}/", None),
        ]:
            with connect(target, ssl=client_context, server_hostname=server_hostname, **FAST) as ws:
                ws.send("sni")
                assert ws.recv(timeout=TIMEOUT) == "sni"
    assert names == ["localhost", "localhost", None]


@pytest.mark.rfc("R6455-2.1-1")
def test_frames_are_not_delayed() -> None:
    # RFC 6455 §2.1: sending MAY be delayed; the choice here is not to: Nagle's
    # algorithm is off, since frames are written whole.
    with run_server() as server, client(server) as ws:
        sock = ws.transport.sock
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0


@pytest.mark.rfc("R6455-4.1-15")
def test_tls_untrusted_certificate(server_context: ssl.SSLContext) -> None:
    with run_server(ssl=server_context) as server, pytest.raises(ssl.SSLCertVerificationError):
        client(server, ssl=ssl.create_default_context())


def test_tls_concurrent_send_and_recv(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """TLS state isn't shared unsafely between the reader thread and writers."""
    count = 300
    with (
        run_server(ssl=server_context) as server,
        client(server, ssl=client_context, max_queue=None) as ws,
    ):
        import threading

        def send_all() -> None:
            for i in range(count):
                ws.send(f"{i}" * 1000)

        threads = [threading.Thread(daemon=True, target=send_all) for _ in range(3)]
        for thread in threads:
            thread.start()
        received = [ws.recv(timeout=TIMEOUT) for _ in range(3 * count)]
        for thread in threads:
            thread.join(TIMEOUT)
    assert sorted(received) == sorted(f"{i}" * 1000 for i in range(count) for _ in range(3))


def test_tls_keepalive_and_close(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    with (
        run_server(ssl=server_context, ping_interval=0.01) as server,
        client(server, ssl=client_context, ping_interval=0.01) as ws,
    ):
        import time

        deadline = time.monotonic() + TIMEOUT
        while ws.latency == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ws.latency > 0
    assert ws.close_code == 1000


def test_tls_server_vanishes_without_close_notify(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """A TCP EOF without TLS close_notify ends the connection with 1006, without hanging."""

    def respond(sock: socket.socket) -> None:
        tls = server_context.wrap_socket(sock, server_side=True)
        accept_handshake(tls)
        # Close TCP under the TLS layer: no close_notify alert.
        socket.socket.shutdown(tls, socket.SHUT_RDWR)
        tls.close()

    with raw_server(respond) as ws_uri:
        with connect(ws_uri.replace("ws://", "wss://"), ssl=client_context, **FAST) as ws:
            with pytest.raises(ConnectionClosedError):
                ws.recv(timeout=TIMEOUT)
            assert ws.close_code == 1006

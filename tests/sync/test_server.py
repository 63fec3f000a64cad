"""serve() and unix_serve(): handshake hooks, authentication, lifecycle, shutdown."""

from __future__ import annotations

import logging
import re
import signal
import socket
import ssl
import threading
import time
from pathlib import Path

import pytest

from websocket_ref import (
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidStatus,
    Request,
    Response,
    State,
)
from websocket_ref.sync.client import connect
from websocket_ref.sync.server import Server, ServerConnection, basic_auth, serve, unix_serve

from ..utils import client_frame, close_payload, decode_frames
from .utils import FAST, TIMEOUT, client, read_request, run_server, uri


def http_get(server: Server, request: bytes) -> bytes:
    """Send raw bytes to the server; return everything it answers until it closes."""
    with socket.create_connection(server.socket.getsockname(), timeout=TIMEOUT) as sock:
        sock.sendall(request)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
    return data


UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


# Lifecycle


def test_serve_forever_and_shutdown() -> None:
    server = serve(lambda ws: ws.send(ws.recv()), "127.0.0.1", 0, **FAST)
    thread = threading.Thread(daemon=True, target=server.serve_forever)
    thread.start()
    try:
        with client(server) as ws:
            ws.send("up")
            assert ws.recv(timeout=TIMEOUT) == "up"
    finally:
        server.shutdown()
        thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert server.socket.fileno() == -1
    server.shutdown()  # idempotent


def test_shutdown_before_serve_forever() -> None:
    server = serve(lambda ws: None, "127.0.0.1", 0)
    server.shutdown()
    server.serve_forever()  # returns at once


def test_fileno_and_socket() -> None:
    with run_server() as server:
        assert server.fileno() == server.socket.fileno()
        assert server.socket.getsockname()[0] == "127.0.0.1"


def test_shutdown_closes_connections_with_1001() -> None:
    handler_done = threading.Event()

    def handler(ws: ServerConnection) -> None:
        for _ in ws:  # ends with ConnectionClosedOK
            pass
        handler_done.set()

    with run_server(handler) as server:
        clients = [client(server) for _ in range(3)]
        for ws in clients:
            ws.send("ping")  # make sure every handler is running
        while len(server.connections) < 3:
            threading.Event().wait(0.01)
        server.shutdown()
        assert handler_done.is_set()
        for ws in clients:
            with pytest.raises(ConnectionClosedOK) as exc_info:
                ws.recv(timeout=TIMEOUT)
            assert exc_info.value.rcvd.code == 1001
            ws.close()
        assert server.connections == set()


def test_shutdown_from_handler() -> None:
    def handler(ws: ServerConnection) -> None:
        assert ws.server is not None
        ws.server.shutdown()

    with run_server(handler) as server, client(server) as ws:
        with pytest.raises(ConnectionClosedOK) as exc_info:
            ws.recv(timeout=TIMEOUT)
        assert exc_info.value.rcvd.code == 1001


def test_handler_return_closes_with_1000() -> None:
    with run_server(lambda ws: None) as server, client(server) as ws:
        with pytest.raises(ConnectionClosedOK) as exc_info:
            ws.recv(timeout=TIMEOUT)
        assert exc_info.value.rcvd.code == 1000


def test_handler_exception_closes_with_1011(caplog: pytest.LogCaptureFixture) -> None:
    def handler(ws: ServerConnection) -> None:
        raise RuntimeError("bug in handler")

    with run_server(handler) as server, client(server) as ws:
        with pytest.raises(ConnectionClosedError) as exc_info:
            ws.recv(timeout=TIMEOUT)
        assert exc_info.value.rcvd.code == 1011
    assert any("connection handler failed" in r.getMessage() for r in caplog.records)


def test_many_clients() -> None:
    results: list[str | bytes] = []

    def run_client(n: int) -> None:
        with client(server) as ws:
            ws.send(f"client {n}")
            results.append(ws.recv(timeout=TIMEOUT))

    with run_server() as server:
        threads = [threading.Thread(daemon=True, target=run_client, args=(n,)) for n in range(20)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
    assert sorted(results) == sorted(f"client {n}" for n in range(20))


def test_sock_argument() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    with run_server(sock=listener) as server, client(server) as ws:
        assert server.socket is listener
        ws.send("x")
        assert ws.recv(timeout=TIMEOUT) == "x"


def test_sock_argument_excludes_host() -> None:
    # ValueError with websockets' words
    with socket.socket() as sock, pytest.raises(ValueError, match=r"^host is incompatible"):
        serve(lambda ws: None, "127.0.0.1", sock=sock)
    with socket.socket() as sock, pytest.raises(ValueError, match=r"^port is incompatible"):
        serve(lambda ws: None, port=8080, sock=sock)
    with socket.socket() as sock, pytest.raises(TypeError):
        serve(lambda ws: None, sock=sock, backlog=5)


def test_unix_serve(tmp_path: Path) -> None:
    from websocket_ref.sync.client import unix_connect

    path = str(tmp_path / "server.sock")
    server = unix_serve(lambda ws: ws.send(ws.recv()), path, **FAST)
    thread = threading.Thread(daemon=True, target=server.serve_forever)
    thread.start()
    try:
        with unix_connect(path, **FAST) as ws:
            ws.send("unix")
            assert ws.recv(timeout=TIMEOUT) == "unix"
    finally:
        server.shutdown()
        thread.join(TIMEOUT)


def test_unix_serve_requires_path() -> None:
    with pytest.raises(ValueError, match=r"^missing path argument$"):
        unix_serve(lambda ws: None)


@pytest.mark.rfc("R6455-4.2.2-2", "R6455-10.6-1")
def test_tls(server_context: ssl.SSLContext, client_context: ssl.SSLContext) -> None:
    with run_server(ssl=server_context) as server:
        with client(server, ssl=client_context) as ws:
            ws.send("secure")
            assert ws.recv(timeout=TIMEOUT) == "secure"
        # A plain-text client doesn't get through a TLS server.
        with pytest.raises(Exception):  # noqa: B017 - InvalidMessage or a reset
            client(server, open_timeout=1)


@pytest.mark.rfc("R6455-4.2.2-2")
def test_tls_handshake_timeout(server_context: ssl.SSLContext) -> None:
    with (
        run_server(ssl=server_context, open_timeout=0.1) as server,
        socket.create_connection(server.socket.getsockname(), timeout=TIMEOUT) as sock,
    ):
        assert sock.recv(4096) == b""  # the server gave up on the silent client


# The opening handshake


def test_open_timeout_closes_silent_client() -> None:
    with (
        run_server(open_timeout=0.1) as server,
        socket.create_connection(server.socket.getsockname(), timeout=TIMEOUT) as sock,
    ):
        assert sock.recv(4096) == b""


@pytest.mark.rfc("R6455-4.2.1-5")
def test_plain_http_request_gets_426() -> None:
    with run_server() as server:
        response = http_get(server, b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nServer: Python/3 websocket_ref/" in response


def test_garbage_request_gets_400() -> None:
    with run_server() as server:
        response = http_get(server, b"NOT HTTP AT ALL\r\n\r\n")
    assert response.startswith(b"HTTP/1.1 4")


def test_frames_pipelined_after_request() -> None:
    """Frames sent right behind the request, in the same packet, are processed."""
    received: list[str | bytes] = []
    done = threading.Event()

    def handler(ws: ServerConnection) -> None:
        received.extend(ws)
        done.set()

    with run_server(handler) as server:
        response = http_get(
            server,
            UPGRADE + client_frame(0x1, b"early") + client_frame(0x8, close_payload(1000)),
        )
        # Don't shut down before the handler runs: shutting down skips handlers.
        assert done.wait(TIMEOUT)
    head, _, frames = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    [close_frame] = decode_frames(frames)  # the close frame echoed (RFC 6455 §5.5.1)
    assert close_frame.opcode == 0x8 and close_frame.close_code == 1000
    assert received == ["early"]


def test_bad_frame_pipelined_after_request_fails_the_connection() -> None:
    """A frame the server must refuse (unmasked), right behind the request: 1002."""
    with run_server() as server:
        response = http_get(server, UPGRADE + b"\x81\x05early")
    head, _, frames = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 ")
    [close_frame] = decode_frames(frames)
    assert close_frame.opcode == 0x8 and close_frame.close_code == 1002


def test_server_header() -> None:
    with run_server(server_header="MyServer/1.0") as server, client(server) as ws:
        assert ws.response is not None
        assert ws.response.headers["Server"] == "MyServer/1.0"
    with run_server(server_header=None) as server, client(server) as ws:
        assert ws.response is not None
        assert "Server" not in ws.response.headers


def test_process_request_health_check() -> None:
    def process_request(ws: ServerConnection, request: Request) -> Response | None:
        if request.path == "/healthz":
            return ws.respond(200, "OK\n")
        return None

    with run_server(process_request=process_request) as server:
        response = http_get(server, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
        assert response.startswith(b"HTTP/1.1 200 OK\r\n")
        assert response.endswith(b"\r\n\r\nOK\n")
        with client(server) as ws:  # other paths open WebSocket connections
            assert ws.state is State.OPEN


def test_process_request_exception_gives_500(caplog: pytest.LogCaptureFixture) -> None:
    def process_request(ws: ServerConnection, request: Request) -> Response | None:
        raise ValueError("broken hook")

    with (
        run_server(process_request=process_request) as server,
        pytest.raises(InvalidStatus) as exc_info,
    ):
        client(server)
    assert exc_info.value.response.status_code == 500
    assert any("process_request failed" in r.getMessage() for r in caplog.records)


def test_process_response_modifies_response() -> None:
    def process_response(
        ws: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        response.headers["X-Seen-Path"] = request.path
        return None

    with run_server(process_response=process_response) as server, client(server, "/p") as ws:
        assert ws.response is not None
        assert ws.response.headers["X-Seen-Path"] == "/p"


def test_process_response_replaces_response() -> None:
    def process_response(
        ws: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        return ws.respond(503, "Maintenance\n")

    with (
        run_server(process_response=process_response) as server,
        pytest.raises(InvalidStatus) as exc_info,
    ):
        client(server)
    assert exc_info.value.response.status_code == 503


def test_process_response_exception_gives_500() -> None:
    def process_response(
        ws: ServerConnection, request: Request, response: Response
    ) -> Response | None:
        raise ValueError("broken hook")

    with (
        run_server(process_response=process_response) as server,
        pytest.raises(InvalidStatus) as exc_info,
    ):
        client(server)
    assert exc_info.value.response.status_code == 500


def test_origins() -> None:
    origins = ["https://good.example", re.compile(r"https://[a-z]+\.trusted\.example"), None]
    with run_server(origins=origins) as server:
        for origin in ["https://good.example", "https://app.trusted.example", None]:
            with client(server, origin=origin) as ws:
                assert ws.state is State.OPEN
        with pytest.raises(InvalidStatus) as exc_info:
            client(server, origin="https://evil.example")
        assert exc_info.value.response.status_code == 403


def test_subprotocols_and_select_subprotocol() -> None:
    def select(ws: ServerConnection, offered: object) -> str | None:
        assert isinstance(ws, ServerConnection)
        return "second" if "second" in offered else None  # type: ignore[operator]

    with run_server(subprotocols=["first", "second"]) as server:
        with client(server, subprotocols=["second", "first"]) as ws:
            assert ws.subprotocol == "second"
    with run_server(select_subprotocol=select) as server:
        with client(server, subprotocols=["first", "second"]) as ws:
            assert ws.subprotocol == "second"
        with client(server, subprotocols=["first"]) as ws:
            assert ws.subprotocol is None


def test_create_connection_subclass() -> None:
    classes: list[type] = []

    class MyConnection(ServerConnection):
        pass

    def handler(ws: ServerConnection) -> None:
        classes.append(type(ws))

    with run_server(handler, create_connection=MyConnection) as server, client(server) as ws:
        ws._closed.wait(TIMEOUT)
    assert classes == [MyConnection]


def test_logger(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="test.server")
    with run_server(logger="test.server") as server, client(server) as ws:
        ws.send("x")
        ws.recv(timeout=TIMEOUT)
    messages = [r.getMessage() for r in caplog.records if r.name == "test.server"]
    assert "< GET / HTTP/1.1" in messages


# Basic auth


@pytest.mark.parametrize(
    "auth",
    [
        {"credentials": ("alice", "secret")},
        {"credentials": [("bob", "x"), ("alice", "secret")]},
        {"check_credentials": lambda user, password: (user, password) == ("alice", "secret")},
    ],
    ids=["one", "several", "check"],
)
def test_basic_auth(auth: dict[str, object]) -> None:
    usernames: list[str | None] = []

    def handler(ws: ServerConnection) -> None:
        usernames.append(ws.username)

    process_request = basic_auth(realm="test", **auth)
    with run_server(handler, process_request=process_request) as server:
        host, port = server.socket.getsockname()
        with connect(f"ws://alice:secret@{host}:{port}/", **FAST) as ws:
            ws._closed.wait(TIMEOUT)
        for credentials, body in [
            ("", b"Missing credentials\n"),
            ("alice:wrong@", b"Invalid credentials\n"),
            ("mallory:secret@", b"Invalid credentials\n"),
        ]:
            with pytest.raises(InvalidStatus) as exc_info:
                connect(f"ws://{credentials}{host}:{port}/", **FAST)
            response = exc_info.value.response
            assert response.status_code == 401
            assert response.body == body
            assert response.headers["WWW-Authenticate"] == 'Basic realm="test", charset="UTF-8"'
        with pytest.raises(InvalidStatus) as exc_info:
            connect(uri(server), additional_headers={"Authorization": "Bearer x"}, **FAST)
        assert exc_info.value.response.body == b"Unsupported credentials\n"
    assert usernames == ["alice"]


def test_basic_auth_arguments() -> None:
    # The same errors as the asyncio API's basic_auth and websockets': TypeError, for
    # the either/or and for credentials of the wrong shape.
    with pytest.raises(ValueError, match="provide either credentials or check_credentials"):
        basic_auth()
    with pytest.raises(ValueError, match="provide either credentials or check_credentials"):
        basic_auth(credentials=("a", "b"), check_credentials=lambda u, p: True)
    with pytest.raises(TypeError):
        basic_auth(credentials=[("a",)])  # type: ignore[list-item]


def test_raw_request_helper() -> None:
    # read_request returns what a raw peer sent, up to the end of the head.
    a, b = socket.socketpair()
    with a, b:
        a.sendall(UPGRADE)
        assert read_request(b) == UPGRADE


def test_unix_serve_removes_socket_file(tmp_path: Path) -> None:
    path = tmp_path / "gone.sock"
    with run_server(unix=True, path=str(path)):
        assert path.exists()
    assert not path.exists()


@pytest.mark.skipif(not hasattr(signal, "pthread_kill"), reason="needs pthread_kill")
def test_shutdown_from_signal_handler_in_serving_thread() -> None:
    """shutdown() in a signal handler that interrupted serve_forever() doesn't deadlock."""
    server = serve(lambda ws: ws.send(ws.recv()) or ws.recv(), "127.0.0.1", 0, **FAST)
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: server.shutdown())
    codes: list[int] = []

    def trigger() -> None:
        with client(server) as ws:
            ws.send("x")
            ws.recv(timeout=TIMEOUT)
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGUSR1)
            with pytest.raises(ConnectionClosedOK) as exc_info:
                ws.recv(timeout=TIMEOUT)
            codes.append(exc_info.value.rcvd.code)

    thread = threading.Thread(daemon=True, target=trigger)
    try:
        thread.start()
        server.serve_forever()  # returns once the handler shut the server down
        thread.join(TIMEOUT)
    finally:
        signal.signal(signal.SIGUSR1, previous)
        server.shutdown()
    assert codes == [1001]
    assert server.socket.fileno() == -1


def test_shutdown_with_client_that_doesnt_read() -> None:
    """shutdown() is bounded by close_timeout even if a client stops reading."""
    flooding = threading.Event()
    errors: list[BaseException] = []

    def handler(ws: ServerConnection) -> None:
        try:
            while True:
                flooding.set()
                ws.send(bytes(1 << 20))
        except BaseException as exc:
            errors.append(exc)

    with run_server(handler, close_timeout=0.2) as server:
        with socket.create_connection(server.socket.getsockname(), timeout=TIMEOUT) as sock:
            sock.sendall(UPGRADE)
            assert flooding.wait(TIMEOUT)
            threading.Event().wait(0.1)  # let the buffers fill up
            server.shutdown()
    assert len(errors) == 1 and isinstance(errors[0], ConnectionClosedError)


def test_shutdown_drops_connections_in_handshake() -> None:
    """A client that connected but hasn't finished its handshake doesn't delay shutdown."""
    with run_server(open_timeout=TIMEOUT, close_timeout=TIMEOUT) as server:
        with socket.create_connection(server.socket.getsockname(), timeout=TIMEOUT) as sock:
            sock.sendall(UPGRADE[:20])  # an incomplete request
            threading.Event().wait(0.05)  # let the server start reading it
            begin = time.monotonic()
            server.shutdown()
            assert time.monotonic() - begin < TIMEOUT / 2  # a bound for hangs, not a goal
            assert sock.recv(4096) == b""

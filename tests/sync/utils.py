"""Helpers for the tests of the threading API: servers in threads, clients, raw peers."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable, Iterator
from typing import Any

from websocket_ref.sync.client import ClientConnection, connect
from websocket_ref.sync.server import Server, ServerConnection, serve

#: Bound for waits that only end on a bug (not a timing goal).
TIMEOUT = 10.0

#: Options that keep tests quick and quiet: no keepalive, short (but safe) close timeout.
FAST: dict[str, Any] = {"ping_interval": None, "close_timeout": 1.0}


def echo(ws: ServerConnection) -> None:
    for message in ws:
        ws.send(message)


@contextlib.contextmanager
def run_server(
    handler: Callable[[ServerConnection], None] = echo, **kwargs: Any
) -> Iterator[Server]:
    """A server on 127.0.0.1 and a free port, serving in a thread; shut down on exit."""
    for key, value in FAST.items():
        kwargs.setdefault(key, value)
    if "sock" not in kwargs and not kwargs.get("unix"):
        kwargs.setdefault("host", "127.0.0.1")
        kwargs.setdefault("port", 0)
    with serve(handler, **kwargs) as server:
        thread = threading.Thread(
            target=server.serve_forever, name="test-serve-forever", daemon=True
        )
        thread.start()
        try:
            yield server
        finally:
            server.shutdown()
            thread.join(TIMEOUT)
            assert not thread.is_alive()


def uri(server: Server, scheme: str = "ws", path: str = "/") -> str:
    host, port = server.socket.getsockname()[:2]
    return f"{scheme}://{host}:{port}{path}"


def client(server: Server, path: str = "/", **kwargs: Any) -> ClientConnection:
    for key, value in FAST.items():
        kwargs.setdefault(key, value)
    return connect(uri(server, "wss" if "ssl" in kwargs else "ws", path), **kwargs)


@contextlib.contextmanager
def raw_server(
    respond: Callable[[socket.socket], None],
) -> Iterator[str]:
    """A bare TCP server that runs ``respond(sock)`` on one connection: a misbehaving peer."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(TIMEOUT)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            sock, _ = listener.accept()
        except OSError:
            return
        with sock:
            sock.settimeout(TIMEOUT)
            try:
                respond(sock)
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    thread = threading.Thread(daemon=True, target=run, name="test-raw-server")
    thread.start()
    try:
        yield f"ws://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        # Unblock accept() if the client never came.
        with contextlib.suppress(OSError):
            socket.create_connection(listener.getsockname(), timeout=1).close()
        thread.join(TIMEOUT)
        listener.close()
        assert not thread.is_alive()
    if errors:
        raise errors[0]


def read_request(sock: socket.socket) -> bytes:
    """Read an HTTP request head from a raw socket."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def accept_handshake(sock: socket.socket) -> bytes:
    """Answer a client's handshake with a 101 from a raw socket; return the request."""
    from websocket_ref.handshake import accept_key

    request = read_request(sock)
    key = ""
    for line in request.decode().split("\r\n"):
        name, _, value = line.partition(":")
        if name.lower() == "sec-websocket-key":
            key = value.strip()
    sock.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\n"
        b"Upgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept_key(key).encode() + b"\r\n\r\n"
    )
    return request


def read_message_frames(sock: socket.socket) -> list[tuple[int, bytes, bool]]:
    """Read the frames of one message from a raw socket, up to the one with FIN.

    For checking what a client puts on the wire: a receiving core may join small
    fragments that arrive together (RFC 6455 §5.4), so a websocket_ref server can't tell.
    """
    from ..utils import decode_frames

    data = b""
    while True:
        chunk = sock.recv(65536)
        assert chunk, "connection closed before the end of the message"
        data += chunk
        try:
            frames = decode_frames(data)
        except (AssertionError, IndexError):
            continue  # a frame is incomplete
        for index, frame in enumerate(frames):
            if frame.fin and frame.opcode < 0x8:  # the end of the message
                return [(f.opcode, f.payload, f.fin) for f in frames[: index + 1]]

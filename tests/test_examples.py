"""The raw-socket examples: the echo server and client built on the Sans-I/O core.

The example server runs as a subprocess (as its users run it) on 127.0.0.1 and a
free port; clients talk to it: the example client (as a script and as a module),
and `websockets`, an independent implementation. The example client also talks to
a `websockets` server. Edge cases of the server's connection handler are driven
in-process over a socket pair.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from websocket_ref import Close, ConnectionClosedOK, InvalidStatus, ServerProtocol, State

from .utils import RFC_ACCEPT, client_frame, close_payload, decode_frames

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TIMEOUT = 10  # a bound for hangs, not a timing goal


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


echo_server = load("sansio_echo_server")
echo_client = load("sansio_echo_client")


@pytest.fixture(scope="module")
def server_uri() -> Iterator[str]:
    """The example server, running in a subprocess on a free port."""
    process = subprocess.Popen(
        [sys.executable, str(EXAMPLES / "sansio_echo_server.py"), "127.0.0.1", "0"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("Listening on ws://127.0.0.1:"), line
        yield line.split()[-1]
    finally:
        process.terminate()
        try:
            process.wait(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:  # pragma: no cover
            process.kill()
            process.wait()
        assert process.stdout is not None
        process.stdout.close()


# The example client against the example server


def test_client_script_against_server(server_uri: str) -> None:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / "sansio_echo_client.py"), server_uri],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
        env={**os.environ, "PYTHONIOENCODING": "utf-8"},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"Connected to {server_uri}",
        "> 'Hello, world!'",
        "< 'Hello, world!'",
        "> 'κόσμε 🎉'",
        "< 'κόσμε 🎉'",
        "> b'\\x00\\x01\\x02 binary \\xff'",
        "< b'\\x00\\x01\\x02 binary \\xff'",
        "< 'This message arrives in three frames.'",
        "Ping answered.",
        "Closed: code 1000, reason ''",
    ]


def test_client_module_against_server(server_uri: str) -> None:
    connection = echo_client.Connection.connect(server_uri, timeout=TIMEOUT)
    protocol = connection.protocol
    assert protocol.state is State.OPEN
    connection.send("text")
    assert connection.recv() == "text"
    connection.send(b"\x00" * 100_000)  # a 64-bit length on the wire
    assert connection.recv() == b"\x00" * 100_000
    connection.send_fragments(["a", "é", "b"])
    assert connection.recv() == "aéb"
    connection.send("queued during the ping")
    connection.ping(b"1")
    assert connection.recv() == "queued during the ping"  # kept while waiting for the pong
    connection.close(1001, "bye")
    assert protocol.state is State.CLOSED
    # The server echoed the code, then closed TCP first (RFC 6455 §7.1.1).
    assert protocol.close_rcvd == Close(1001, "")
    assert protocol.close_sent == Close(1001, "bye")
    assert type(protocol.close_exc) is ConnectionClosedOK
    with pytest.raises(ConnectionClosedOK):
        connection.recv()


def test_two_clients_at_once(server_uri: str) -> None:
    first = echo_client.Connection.connect(server_uri, timeout=TIMEOUT)
    second = echo_client.Connection.connect(server_uri, timeout=TIMEOUT)
    try:
        first.send("one")
        second.send("two")
        assert second.recv() == "two"
        assert first.recv() == "one"
    finally:
        first.close()
        second.close()
    assert first.protocol.close_code == 1000 and second.protocol.close_code == 1000


def test_client_refused_handshake() -> None:
    # A server that answers 403: the client raises InvalidStatus with the body.
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]

        def refuse() -> None:
            sock, _ = listener.accept()
            with sock:
                sock.recv(65536)
                sock.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 4\r\n\r\nnope")

        thread = threading.Thread(target=refuse)
        thread.start()
        try:
            with pytest.raises(InvalidStatus) as raised:
                echo_client.Connection.connect(f"ws://127.0.0.1:{port}/", timeout=TIMEOUT)
        finally:
            thread.join(TIMEOUT)
        assert not thread.is_alive()
    assert raised.value.response.status_code == 403
    assert raised.value.response.body == b"nope"


def test_client_rejects_wss() -> None:
    with pytest.raises(ValueError):
        echo_client.Connection.connect("wss://127.0.0.1:1/")


# Interoperability with websockets, an independent implementation


def test_server_with_websockets_client(server_uri: str) -> None:
    sync_client = pytest.importorskip("websockets.sync.client")
    with sync_client.connect(server_uri, open_timeout=TIMEOUT, close_timeout=TIMEOUT) as ws:
        ws.send("Hello from websockets")
        assert ws.recv(timeout=TIMEOUT) == "Hello from websockets"
        ws.send(b"\xff\x00")
        assert ws.recv(timeout=TIMEOUT) == b"\xff\x00"
        ws.send(["frag", "mented"])  # a fragmented message
        assert ws.recv(timeout=TIMEOUT) == "fragmented"
        assert ws.ping(b"hi").wait(TIMEOUT)
    assert ws.protocol.close_code == 1000


def test_client_with_websockets_server(capsys: pytest.CaptureFixture[str]) -> None:
    sync_server = pytest.importorskip("websockets.sync.server")

    def echo(ws: object) -> None:
        for message in ws:  # type: ignore[attr-defined]
            ws.send(message)  # type: ignore[attr-defined]

    with sync_server.serve(echo, "127.0.0.1", 0, close_timeout=TIMEOUT) as server:
        port = server.socket.getsockname()[1]
        thread = threading.Thread(target=server.serve_forever)
        thread.start()
        try:
            echo_client.main(["sansio_echo_client.py", f"ws://127.0.0.1:{port}/"])
        finally:
            server.shutdown()
            thread.join(TIMEOUT)
        assert not thread.is_alive()
    output = capsys.readouterr().out
    assert "< 'This message arrives in three frames.'" in output
    assert "Ping answered." in output
    assert output.endswith("Closed: code 1000, reason ''\n")


# The server's connection handler, in-process over a socket pair

REQUEST = (
    b"GET / HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


class Handler:
    """Runs handle_connection() in a thread on one end of a socket pair."""

    def __init__(self, close_timeout: float = TIMEOUT) -> None:
        self.peer, server_end = socket.socketpair()
        self.peer.settimeout(TIMEOUT)
        self.result: list[ServerProtocol] = []
        self.thread = threading.Thread(
            target=lambda: self.result.append(
                echo_server.handle_connection(server_end, close_timeout=close_timeout)
            )
        )
        self.thread.start()

    def read_all(self) -> bytes:
        """Everything the server sends until it closes its side."""
        data = b""
        while chunk := self.peer.recv(65536):
            data += chunk
        return data

    def finish(self) -> ServerProtocol:
        self.thread.join(TIMEOUT)
        self.peer.close()
        assert not self.thread.is_alive()
        [protocol] = self.result
        return protocol


def test_handler_echoes_and_closes_first() -> None:
    handler = Handler()
    # A frame right behind the request, and a ping.
    handler.peer.sendall(REQUEST + client_frame(0x1, b"pipelined") + client_frame(0x9, b"ping"))
    data = b""
    while b"\x8a\x04ping" not in data or b"\x81\x09pipelined" not in data:
        data += handler.peer.recv(65536)
    head, _, frames = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert f"Sec-WebSocket-Accept: {RFC_ACCEPT}".encode() in head
    # The protocol queues the pong as it parses the ping, before the application
    # handles the message and echoes it.
    assert [(f.opcode, f.payload) for f in decode_frames(frames)] == [
        (0xA, b"ping"),
        (0x1, b"pipelined"),
    ]
    handler.peer.sendall(client_frame(0x8, close_payload(1000, "done")))
    data = handler.read_all()  # returns at the server's EOF: it closed first
    assert [(f.opcode, f.payload) for f in decode_frames(data)] == [(0x8, close_payload(1000))]
    handler.peer.shutdown(socket.SHUT_WR)
    protocol = handler.finish()
    assert protocol.state is State.CLOSED
    assert (protocol.close_code, protocol.close_reason) == (1000, "done")


def test_handler_drops_messages_that_arrive_with_the_close() -> None:
    # The protocol answers the close frame as soon as it parses it; a message parsed in
    # the same read can't be echoed anymore: the server may not send data after a close.
    handler = Handler()
    handler.peer.sendall(
        REQUEST + client_frame(0x1, b"too late") + client_frame(0x8, close_payload(1000))
    )
    frames = decode_frames(handler.read_all().partition(b"\r\n\r\n")[2])
    assert [(f.opcode, f.payload) for f in frames] == [(0x8, close_payload(1000))]
    handler.peer.shutdown(socket.SHUT_WR)
    assert handler.finish().state is State.CLOSED


def test_handler_refuses_bad_handshake() -> None:
    handler = Handler()
    handler.peer.sendall(REQUEST.replace(b"13", b"8"))
    data = handler.read_all()
    assert data.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"Sec-WebSocket-Version: 13\r\n" in data
    handler.peer.shutdown(socket.SHUT_WR)
    protocol = handler.finish()
    assert protocol.handshake_exc is not None
    assert protocol.state is State.CLOSED


def test_handler_fails_invalid_frame() -> None:
    handler = Handler()
    handler.peer.sendall(REQUEST + client_frame(0x3, b""))  # reserved opcode
    data = handler.read_all()
    [close] = decode_frames(data.partition(b"\r\n\r\n")[2])
    assert close.close_code == 1002
    handler.peer.shutdown(socket.SHUT_WR)
    protocol = handler.finish()
    assert protocol.failure_exc is not None


def test_handler_stops_waiting_for_eof_after_close_timeout() -> None:
    # The client completes the closing handshake but never closes TCP.
    handler = Handler(close_timeout=0.1)
    handler.peer.sendall(REQUEST + client_frame(0x8, close_payload(1000)))
    handler.read_all()
    protocol = handler.finish()  # returns although the client kept its side open
    assert protocol.state is State.CLOSING
    assert protocol.close_rcvd == Close(1000, "")


def test_handler_client_vanishes() -> None:
    handler = Handler()
    handler.peer.sendall(REQUEST)
    handler.peer.recv(65536)
    handler.peer.close()  # no closing handshake
    protocol = handler.finish()
    assert protocol.state is State.CLOSED
    assert protocol.close_code == 1006


def test_handler_stops_waiting_for_a_handshake_after_open_timeout() -> None:
    peer, server_end = socket.socketpair()
    with peer:
        peer.sendall(REQUEST[:20])  # then nothing
        protocol = echo_server.handle_connection(server_end, open_timeout=0.1)
        assert protocol.state is State.CONNECTING
        assert peer.recv(1) == b""  # the server closed the connection

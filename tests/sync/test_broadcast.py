"""broadcast() of the threading API, text=, prepared frames; send(compress=False)."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
import threading

import pytest

from websocket_ref.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websocket_ref.sync.client import connect
from websocket_ref.sync.server import ServerConnection, broadcast

from .utils import FAST, TIMEOUT, accept_handshake, client, raw_server, run_server, uri

websockets_client = pytest.importorskip("websockets.sync.client")

MESSAGE = "All work and no play makes Jack a dull boy. " * 50

NO_TAKEOVER = {
    "extensions": [
        ServerPerMessageDeflateFactory(server_no_context_takeover=True, server_max_window_bits=12)
    ]
}


def wait_for(predicate: object) -> None:
    event = threading.Event()
    for _ in range(1000):
        if predicate():  # type: ignore[operator]
            return
        event.wait(0.01)
    raise AssertionError("condition not reached in time")


def test_broadcast_to_every_open_connection() -> None:
    with run_server(lambda ws: ws.recv()) as server, contextlib.ExitStack() as stack:
        clients = [stack.enter_context(websockets_client.connect(uri(server))) for _ in range(5)]
        wait_for(lambda: len(server.connections) == 5)
        broadcast(server.connections, "to all")
        broadcast(server.connections, b"bytes")
        broadcast(server.connections, b"bytes as text", text=True)
        broadcast(server.connections, "text as bytes", text=False)
        for ws in clients:
            assert ws.recv(timeout=TIMEOUT) == "to all"
            assert ws.recv(timeout=TIMEOUT) == b"bytes"
            assert ws.recv(timeout=TIMEOUT) == "bytes as text"
            assert ws.recv(timeout=TIMEOUT) == b"text as bytes"
        with pytest.raises(TypeError):
            broadcast(server.connections, 42)  # type: ignore[arg-type]


def test_broadcast_shares_one_compressed_frame() -> None:
    with run_server(lambda ws: ws.recv(), **NO_TAKEOVER) as server, contextlib.ExitStack() as stack:
        clients = [stack.enter_context(websockets_client.connect(uri(server))) for _ in range(4)]
        wait_for(lambda: len(server.connections) == 4)
        sent: list[bytes] = []
        lock = threading.Lock()
        for connection in server.connections:
            real = connection.transport.write

            def spy(chunks, deadline=None, real=real):  # type: ignore[no-untyped-def]
                with lock:
                    sent.extend(chunks)
                real(chunks, deadline)

            connection.transport.write = spy  # type: ignore[method-assign]
        broadcast(server.connections, MESSAGE)
        for ws in clients:
            assert ws.recv(timeout=TIMEOUT) == MESSAGE
        assert len(sent) == 4
        assert all(chunk is sent[0] for chunk in sent)
        assert len(sent[0]) < len(MESSAGE) // 5


def test_broadcast_skips_closed_and_busy_connections(caplog: pytest.LogCaptureFixture) -> None:
    gate = threading.Event()
    connections: list[ServerConnection] = []

    def chunks() -> object:
        yield "start-"
        gate.wait(TIMEOUT)
        yield "end"

    def handler(ws: ServerConnection) -> None:
        connections.append(ws)
        if len(connections) == 1:
            ws.send(chunks())  # type: ignore[arg-type]
        ws.recv()

    with run_server(handler) as server:
        busy = client(server)
        wait_for(lambda: len(connections) == 1)
        closed = client(server)
        wait_for(lambda: len(connections) == 2)
        wait_for(lambda: connections[0]._fragmented_send is not None)
        closed.close()
        wait_for(lambda: connections[1].state.name == "CLOSED")
        with caplog.at_level(logging.WARNING):
            broadcast(connections, "skipped")
        assert any("skipped broadcast" in r.getMessage() for r in caplog.records)
        if sys.version_info >= (3, 11):
            with pytest.raises(ExceptionGroup) as info:  # noqa: F821
                broadcast(connections, "skipped", raise_exceptions=True)
            assert len(info.value.exceptions) == 1
        gate.set()
        assert busy.recv(timeout=TIMEOUT) == "start-end"
        busy.close()


def test_send_compress_false() -> None:
    def handler(ws: ServerConnection) -> None:
        message = ws.recv()
        ws.send(message, compress=False)
        ws.send(message)
        ws.send([message[:10], message[10:]], compress=False)
        ws.recv()

    with run_server(handler, **NO_TAKEOVER) as server:
        with websockets_client.connect(uri(server)) as ws:
            raw: list[bytes] = []
            real = ws.protocol.receive_data
            ws.protocol.receive_data = lambda data: (raw.append(data), real(data))  # type: ignore[method-assign,func-returns-value]
            ws.send(MESSAGE)
            for _ in range(3):
                assert ws.recv(timeout=TIMEOUT) == MESSAGE
        wire = b"".join(raw)
        assert wire.count(MESSAGE[20:200].encode()) >= 2


def test_client_send_compress_false() -> None:
    frames: list[bytes] = []

    def handler(ws: ServerConnection) -> None:
        real = ws.protocol.receive_data

        def spy(data: bytes) -> None:
            frames.append(bytes(data))
            real(data)

        ws.protocol.receive_data = spy  # type: ignore[method-assign]
        ws.send("ready")  # the reader thread may only read the client's data from now
        ws.send(ws.recv())
        ws.send(ws.recv())

    with run_server(handler) as server, client(server, **FAST) as ws:
        assert ws.recv(timeout=TIMEOUT) == "ready"
        ws.send(MESSAGE, compress=False)
        assert ws.recv(timeout=TIMEOUT) == MESSAGE
        ws.send(MESSAGE)
        assert ws.recv(timeout=TIMEOUT) == MESSAGE
    # The first message arrived with RSV1 clear and its full length; the second
    # compressed (masked payloads: compare sizes and bits only).
    first, second = frames[0], frames[1]
    assert first[0] & 0x40 == 0 and len(first) > len(MESSAGE)
    assert second[0] & 0x40 and len(second) < len(MESSAGE) // 5


def test_broadcast_reports_a_write_that_fails(caplog: pytest.LogCaptureFixture) -> None:
    # websockets' words: "failed to write message", caused by the socket's error.
    done = threading.Event()

    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        while sock.recv(4096):  # until the client's EOF; then stay open until done
            pass
        done.wait(TIMEOUT)

    with raw_server(respond) as ws_uri, connect(ws_uri, **FAST) as ws:
        ws.socket.shutdown(socket.SHUT_WR)
        with caplog.at_level(logging.WARNING):
            broadcast([ws], "lost")
        assert [r.getMessage() for r in caplog.records] == [
            "skipped broadcast: failed to write message: BrokenPipeError: [Errno 32] Broken pipe"
        ]
        done.set()

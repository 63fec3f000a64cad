"""End-to-end behaviour of a connection: messages, fragmentation, pings, closing, limits.

Most tests run a real server and client of the threading API over loopback TCP; tests of
error handling use a raw socket as a misbehaving peer.
"""

from __future__ import annotations

import ast
import contextlib
import errno
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator

import pytest

from websocket_ref import (
    ConcurrencyError,
    ConnectionClosedError,
    ConnectionClosedOK,
    InvalidFrame,
    InvalidUTF8,
    State,
)
from websocket_ref.frames import Close
from websocket_ref.sync.client import connect
from websocket_ref.sync.server import ServerConnection

from ..utils import close_payload, decode_frames, server_frame
from .utils import (
    FAST,
    TIMEOUT,
    accept_handshake,
    client,
    raw_server,
    read_message_frames,
    run_server,
)

# Sending and receiving


@pytest.mark.parametrize(
    "message",
    ["hello", "", "café ☕" * 100, b"\x00\x01\xff", b"", bytes(100_000)],
    ids=["text", "empty-text", "unicode", "binary", "empty-binary", "100k"],
)
def test_echo(message: str | bytes) -> None:
    with run_server() as server, client(server) as ws:
        ws.send(message)
        assert ws.recv(timeout=TIMEOUT) == message


def test_send_bytes_like() -> None:
    with run_server() as server, client(server) as ws:
        ws.send(bytearray(b"ba"))
        assert ws.recv(timeout=TIMEOUT) == b"ba"
        ws.send(memoryview(b"mv"))
        assert ws.recv(timeout=TIMEOUT) == b"mv"


def test_send_text_argument_overrides_type() -> None:
    with run_server() as server, client(server) as ws:
        ws.send(b"utf-8 bytes", text=True)
        assert ws.recv(timeout=TIMEOUT) == "utf-8 bytes"
        ws.send("a str", text=False)
        assert ws.recv(timeout=TIMEOUT) == b"a str"


@pytest.mark.rfc("R6455-5.6-1")
def test_send_invalid_utf8_as_text_is_refused() -> None:
    with run_server() as server, client(server) as ws:
        with pytest.raises(ValueError, match=r"RFC 6455 §5\.6"):
            ws.send(b"\xff\xfe", text=True)
        with pytest.raises(ValueError, match=r"RFC 6455 §5\.6"):
            ws.send([b"ok", b"\xc3"], text=True)
        # The refused fragment failed the fragmented message; nothing invalid was sent.


def test_recv_decode_argument() -> None:
    with run_server() as server, client(server) as ws:
        ws.send("text")
        assert ws.recv(timeout=TIMEOUT, decode=False) == b"text"
        ws.send(b"binary")
        assert ws.recv(timeout=TIMEOUT, decode=True) == "binary"


@pytest.mark.parametrize("message", [42, None, 1.5, {"a": "b"}])
def test_send_unsupported_type(message: object) -> None:
    with run_server() as server, client(server) as ws:
        with pytest.raises(TypeError):
            ws.send(message)
        ws.send("still open")
        assert ws.recv(timeout=TIMEOUT) == "still open"


def test_recv_timeout_then_message() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.recv()
        ws.send("late")
        ws.recv()  # until the client closes

    with run_server(handler) as server, client(server) as ws:
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.01)
        ws.send("go")
        assert ws.recv(timeout=TIMEOUT) == "late"


def test_iteration_ends_on_normal_close() -> None:
    def handler(ws: ServerConnection) -> None:
        for i in range(3):
            ws.send(str(i))

    with run_server(handler) as server, client(server) as ws:
        assert list(ws) == ["0", "1", "2"]
        assert ws.close_code == 1000


def test_iteration_raises_on_error_close() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send("one")
        ws.close(1011, "oops")

    with run_server(handler) as server, client(server) as ws:
        received = []
        with pytest.raises(ConnectionClosedError) as exc_info:
            for message in ws:
                received.append(message)
        assert received == ["one"]
        assert exc_info.value.rcvd.code == 1011
        assert exc_info.value.rcvd.reason == "oops"
        assert (ws.close_code, ws.close_reason) == (1011, "oops")


def test_messages_received_before_close_are_delivered() -> None:
    done = threading.Event()

    def handler(ws: ServerConnection) -> None:
        for i in range(3):
            ws.send(str(i))
        done.set()

    with run_server(handler) as server, client(server) as ws:
        assert done.wait(TIMEOUT)
        ws._closed.wait(TIMEOUT)  # the server closed the connection meanwhile
        assert ws.state is State.CLOSED
        assert [ws.recv(), ws.recv(), ws.recv()] == ["0", "1", "2"]
        with pytest.raises(ConnectionClosedOK):
            ws.recv()


def test_recv_and_send_after_close() -> None:
    with run_server() as server:
        ws = client(server)
        ws.close()
        assert ws.state is State.CLOSED
        assert (ws.close_code, ws.close_reason) == (1000, "")
        with pytest.raises(ConnectionClosedOK) as exc_info:
            ws.recv()
        assert exc_info.value.rcvd.code == 1000
        with pytest.raises(ConnectionClosedOK):
            ws.send("too late")
        with pytest.raises(ConnectionClosedOK):
            ws.ping()
        with pytest.raises(ConnectionClosedOK):
            ws.pong()
        ws.close()  # closing again does nothing


def test_close_with_code_and_reason_reaches_server() -> None:
    seen: list[tuple[int | None, str | None]] = []

    def handler(ws: ServerConnection) -> None:
        with pytest.raises(ConnectionClosedOK):
            ws.recv()
        seen.append((ws.close_code, ws.close_reason))

    with run_server(handler) as server:
        ws = client(server)
        ws.close(1001, "bye")
        assert (ws.close_code, ws.close_reason) == (1001, "")  # the echo has the code only
    assert seen == [(1001, "bye")]


def test_close_invalid_code_raises() -> None:
    with run_server() as server, client(server) as ws:
        with pytest.raises(Exception, match="1006"):
            ws.close(1006)
        assert ws.state is State.OPEN


def test_recv_unblocked_by_close_from_another_thread() -> None:
    with run_server() as server:
        ws = client(server)
        errors: list[BaseException] = []

        def reader() -> None:
            try:
                ws.recv()
            except BaseException as exc:
                errors.append(exc)

        thread = threading.Thread(daemon=True, target=reader)
        thread.start()
        time.sleep(0.01)
        ws.close()
        thread.join(TIMEOUT)
        assert len(errors) == 1 and isinstance(errors[0], ConnectionClosedOK)


def test_connection_attributes() -> None:
    with run_server() as server, client(server) as ws:
        assert ws.state is State.OPEN
        assert ws.local_address[0] == "127.0.0.1"
        assert ws.remote_address == server.socket.getsockname()
        assert ws.request is not None and ws.request.path == "/"
        assert ws.response is not None and ws.response.status_code == 101
        assert ws.subprotocol is None
        assert ws.close_code is None and ws.close_reason is None
        assert ws.ssl_object is None
        assert ws.id == ws.protocol.id


# Fragmentation (RFC 6455 §5.4)


def fragment_counter(ws: ServerConnection) -> None:
    """Reply to each message with its fragments, as received."""
    while True:
        try:
            fragments = list(ws.recv_streaming())
        except ConnectionClosedOK:
            return
        ws.send(repr(fragments))


def send_and_capture(message: Iterable[str] | Iterable[bytes]) -> list[tuple[int, bytes, bool]]:
    """Send ``message`` to a raw server; return the frames as they were on the wire."""
    frames: list[tuple[int, bytes, bool]] = []

    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        frames.extend(read_message_frames(sock))

    with raw_server(respond) as ws_uri, connect(ws_uri, ping_interval=None) as ws:
        ws.send(message)
        ws.close_timeout = 0.2
    return frames


def test_send_fragmented_text() -> None:
    # One frame per chunk (RFC 6455 §5.4), then an empty final frame.
    assert send_and_capture(["caf", "é", ""]) == [
        (0x1, b"caf", False),
        (0x0, "é".encode(), False),
        (0x0, b"", False),
        (0x0, b"", True),
    ]
    with run_server(fragment_counter) as server, client(server) as ws:
        ws.send(["caf", "é", ""])
        assert "".join(ast.literal_eval(ws.recv(timeout=TIMEOUT))) == "café"


def test_send_fragmented_binary_from_generator() -> None:
    assert send_and_capture(bytes([i]) for i in range(3)) == [
        (0x2, b"\x00", False),
        (0x0, b"\x01", False),
        (0x0, b"\x02", False),
        (0x0, b"", True),
    ]


def test_send_fragmented_text_argument() -> None:
    with run_server() as server, client(server) as ws:
        ws.send([b"a", bytearray(b"b")], text=True)
        assert ws.recv(timeout=TIMEOUT) == "ab"
        ws.send(["a", "b"], text=False)
        assert ws.recv(timeout=TIMEOUT) == b"ab"


def test_send_empty_iterable_sends_nothing() -> None:
    with run_server() as server, client(server) as ws:
        ws.send([])
        ws.send("after")
        assert ws.recv(timeout=TIMEOUT) == "after"


def test_send_fragmented_unsupported_first_fragment() -> None:
    with run_server() as server, client(server) as ws:
        with pytest.raises(TypeError):
            ws.send([1, 2])  # type: ignore[list-item]
        ws.send("still open")
        assert ws.recv(timeout=TIMEOUT) == "still open"


def test_send_fragmented_mixed_types_closes_with_1011() -> None:
    with run_server() as server, client(server) as ws:
        with pytest.raises(TypeError):
            ws.send(["text", b"bytes"])  # type: ignore[list-item]
        assert ws.state is State.CLOSED
        assert ws.protocol.close_sent is not None and ws.protocol.close_sent.code == 1011


@pytest.mark.rfc("R6455-5.4-1", "R6455-7.4.1-1")
def test_close_during_a_fragmented_send_fails_with_1011() -> None:
    # A choice, websockets': the message can't be finished, so close() (here from another
    # thread) doesn't claim a normal closure; it fails the connection with 1011.
    wire: list[tuple[int, bytes]] = []

    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        data = b""
        while not any(opcode == 0x8 for opcode, _ in wire):
            chunk = sock.recv(4096)
            if not chunk:
                return
            data += chunk
            with contextlib.suppress(AssertionError, IndexError):  # a frame is incomplete
                wire[:] = [(frame.opcode, frame.payload) for frame in decode_frames(data)]
        # Then close TCP without a close frame: the failing client doesn't wait for one.

    first_sent = threading.Event()
    closed = threading.Event()

    def fragments() -> Iterator[str]:
        yield "cut "
        first_sent.set()
        closed.wait(TIMEOUT)
        yield "never sent"

    with raw_server(respond) as ws_uri:
        with connect(ws_uri, **{**FAST, "close_timeout": 2}) as ws:

            def closer() -> None:
                first_sent.wait(TIMEOUT)
                ws.close(1000, "bye")
                closed.set()

            thread = threading.Thread(target=closer)
            thread.start()
            with pytest.raises(ConnectionClosedError) as exc_info:
                ws.send(fragments())
            thread.join(TIMEOUT)
            assert str(exc_info.value) == (
                "sent 1011 (internal error) close during fragmented message; "
                "no close frame received"
            )
            assert exc_info.value.__cause__ is None
    assert wire == [
        (0x1, b"cut "),
        (0x8, (1011).to_bytes(2, "big") + b"close during fragmented message"),
    ]


def test_send_fragmented_iterator_error_closes_with_1011() -> None:
    def fragments() -> Iterator[str]:
        yield "one"
        raise RuntimeError("boom")

    with run_server() as server, client(server) as ws:
        with pytest.raises(RuntimeError, match="boom"):
            ws.send(fragments())
        assert ws.state is State.CLOSED
        # The message can't be finished: the connection is failed (RFC 6455 §7.1.7).
        assert ws.protocol.close_sent == Close(1011, "error in fragmented message")


def test_send_from_fragment_generator_raises_concurrency_error() -> None:
    with run_server() as server, client(server) as ws:

        def fragments() -> Iterator[str]:
            yield "a"
            ws.send("nested")
            yield "b"  # pragma: no cover

        with pytest.raises(ConcurrencyError):
            ws.send(fragments())


def test_recv_streaming() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send(["one", "two"])
        ws.send(b"whole")
        ws.recv()

    with run_server(handler) as server, client(server) as ws:
        # Small fragments that arrive together may come out joined (RFC 6455 §5.4).
        assert "".join(ws.recv_streaming()) == "onetwo"
        assert list(ws.recv_streaming()) == [b"whole"]


def test_recv_streaming_after_close_raises() -> None:
    with run_server() as server:
        ws = client(server)
        ws.close()
        with pytest.raises(ConnectionClosedOK):
            list(ws.recv_streaming())


def test_fragmented_message_not_interleaved_with_other_threads() -> None:
    """A thread sending whole messages waits while another sends a fragmented one."""
    release = threading.Event()
    first_sent = threading.Event()

    def fragments() -> Iterator[str]:
        yield "frag1-"
        first_sent.set()
        release.wait(TIMEOUT)
        yield "frag2"

    with run_server() as server, client(server) as ws:
        fragmenter = threading.Thread(daemon=True, target=ws.send, args=(fragments(),))
        fragmenter.start()
        assert first_sent.wait(TIMEOUT)
        sender = threading.Thread(daemon=True, target=ws.send, args=("whole",))
        sender.start()
        time.sleep(0.02)
        release.set()
        fragmenter.join(TIMEOUT)
        sender.join(TIMEOUT)
        assert [ws.recv(timeout=TIMEOUT), ws.recv(timeout=TIMEOUT)] == ["frag1-frag2", "whole"]


# Threads


def test_concurrent_recv_raises_concurrency_error() -> None:
    with run_server() as server, client(server) as ws:
        errors: list[BaseException] = []
        thread = threading.Thread(daemon=True, target=lambda: ws.recv(timeout=TIMEOUT))
        thread.start()
        try:
            for _ in range(1000):
                try:
                    ws.recv(timeout=0.001)
                except TimeoutError:
                    continue
                except ConcurrencyError as exc:
                    errors.append(exc)
                    break
        finally:
            ws.send("unblock")
            thread.join(TIMEOUT)
        assert errors


def test_send_from_many_threads() -> None:
    """Messages sent concurrently arrive whole and each thread's in its order."""
    threads_count, messages_count = 4, 200

    with run_server() as server, client(server, max_queue=None) as ws:

        def send_all(n: int) -> None:
            for i in range(messages_count):
                ws.send(f"{n}:{i}:" + "x" * (i % 50))

        threads = [
            threading.Thread(daemon=True, target=send_all, args=(n,)) for n in range(threads_count)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(TIMEOUT)
        received = [ws.recv(timeout=TIMEOUT) for _ in range(threads_count * messages_count)]
    for n in range(threads_count):
        mine = [m for m in received if isinstance(m, str) and m.startswith(f"{n}:")]
        assert mine == [f"{n}:{i}:" + "x" * (i % 50) for i in range(messages_count)]


# Pings and pongs (RFC 6455 §5.5.2, §5.5.3)


def test_ping_pong() -> None:
    with run_server() as server, client(server) as ws:
        event = ws.ping()
        assert event.wait(TIMEOUT)
        assert ws.latency > 0
        assert ws.ping("text data").wait(TIMEOUT)
        assert ws.ping(b"\x00\x01").wait(TIMEOUT)


def test_ping_and_pong_reject_unsupported_data() -> None:
    with run_server() as server, client(server) as ws:
        with pytest.raises(TypeError):
            ws.ping(5)  # type: ignore[arg-type]
        with pytest.raises(TypeError):
            ws.pong(5)  # type: ignore[arg-type]
        with pytest.raises(InvalidFrame):
            ws.ping(bytes(126))  # RFC 6455 §5.5: control frames carry 125 bytes at most
        assert ws.ping(bytes(125)).wait(TIMEOUT)


def test_ping_duplicate_data_raises_concurrency_error() -> None:
    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        while sock.recv(4096):  # pings are never answered
            pass  # until the client closes

    with raw_server(respond) as ws_uri:
        with connect(ws_uri, ping_interval=None, close_timeout=0.2) as ws:
            ws.ping(b"same")
            with pytest.raises(ConcurrencyError):
                ws.ping(b"same")


@pytest.mark.rfc("R6455-5.5.3-1")
def test_pong_acknowledges_earlier_pings() -> None:
    """RFC 6455 §5.5.3: a pong for the latest ping acknowledges the earlier ones."""

    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        data = b""
        # Two masked pings: 2 + 4 + 5 and 2 + 4 + 6 bytes. (Counting 0x89 octets would
        # also count random mask and payload octets.)
        while len(data) < 23:
            data += sock.recv(4096)
        assert [(f.opcode, f.payload) for f in decode_frames(data)] == [
            (0x9, b"first"),
            (0x9, b"second"),
        ]
        sock.sendall(server_frame(0xA, b"second"))
        sock.recv(4096)

    with raw_server(respond) as ws_uri:
        with connect(ws_uri, ping_interval=None, close_timeout=0.2) as ws:
            first = ws.ping(b"first")
            second = ws.ping(b"second")
            assert second.wait(TIMEOUT)
            assert first.is_set()


def test_ping_ack_on_close() -> None:
    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        while sock.recv(4096):  # pings are never answered
            pass

    with raw_server(respond) as ws_uri:
        ws = connect(ws_uri, ping_interval=None, close_timeout=0.2)
        acked = ws.ping(b"a", ack_on_close=True)
        not_acked = ws.ping(b"b")
        ws.close()
        assert acked.is_set()
        assert not not_acked.is_set()


def test_unsolicited_pong() -> None:
    received: list[bytes] = []

    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
        received.extend(frame.payload for frame in decode_frames(data))

    with raw_server(respond) as ws_uri:
        with connect(ws_uri, ping_interval=None, close_timeout=0.2) as ws:
            ws.pong(b"heartbeat")
    assert received[:1] == [b"heartbeat"]


def test_keepalive_pings() -> None:
    with run_server() as server, client(server, ping_interval=0.02, ping_timeout=TIMEOUT) as ws:
        deadline = time.monotonic() + TIMEOUT
        while ws.latency == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ws.latency > 0
        ws.send("still works")
        assert ws.recv(timeout=TIMEOUT) == "still works"


def test_keepalive_timeout_fails_connection() -> None:
    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        while sock.recv(4096):  # read pings and close frames, never answer
            pass

    with raw_server(respond) as ws_uri:
        ws = connect(ws_uri, ping_interval=0.02, ping_timeout=0.05, close_timeout=0.2)
        with pytest.raises(ConnectionClosedError):
            ws.recv(timeout=TIMEOUT)
        assert ws.protocol.close_sent is not None
        assert ws.protocol.close_sent.code == 1011
        assert ws.protocol.close_sent.reason == "keepalive ping timeout"
        assert ws.close_code == 1006
        ws.close()


def test_server_keepalive() -> None:
    latencies: list[float] = []

    def handler(ws: ServerConnection) -> None:
        deadline = time.monotonic() + TIMEOUT
        while ws.latency == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        latencies.append(ws.latency)

    with run_server(handler, ping_interval=0.02) as server, client(server) as ws:
        with pytest.raises(ConnectionClosedOK):
            ws.recv(timeout=TIMEOUT)
    assert latencies and latencies[0] > 0


# Closing: timeouts and abnormal closures


def test_close_timeout_when_peer_doesnt_answer() -> None:
    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        while sock.recv(4096):  # never answer the close frame
            pass

    with raw_server(respond) as ws_uri:
        ws = connect(ws_uri, ping_interval=None, close_timeout=0.2)
        start = time.monotonic()
        ws.close()
        assert time.monotonic() - start >= 0.2
        assert ws.state is State.CLOSED
        assert ws.close_code == 1006
        with pytest.raises(ConnectionClosedError):
            ws.recv()


def test_client_waits_for_server_eof_after_close_handshake() -> None:
    """RFC 6455 §7.1.1: the client waits (bounded) for the server to close TCP."""

    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        data = b""
        while b"\x88" not in data:
            data += sock.recv(4096)
        sock.sendall(server_frame(0x8, close_payload(1000)))
        while sock.recv(4096):  # keep TCP open until the client gives up
            pass

    with raw_server(respond) as ws_uri:
        ws = connect(ws_uri, ping_interval=None, close_timeout=0.2)
        ws.close()
        assert ws.state is State.CLOSED
        assert ws.close_code == 1000  # the closing handshake itself completed
        with pytest.raises(ConnectionClosedOK):
            ws.recv()


def test_server_disappears() -> None:
    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        sock.sendall(server_frame(0x1, b"last words"))

    with raw_server(respond) as ws_uri:
        with connect(ws_uri, ping_interval=None, close_timeout=0.2) as ws:
            assert ws.recv(timeout=TIMEOUT) == "last words"
            with pytest.raises(ConnectionClosedError) as exc_info:
                ws.recv(timeout=TIMEOUT)
            assert exc_info.value.rcvd is None  # 1006: no close frame
            with pytest.raises(ConnectionClosedError):
                ws.send("nobody listens")


def test_server_reset_while_client_sends() -> None:
    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")

    with raw_server(respond) as ws_uri:
        with connect(ws_uri, ping_interval=None, close_timeout=0.2) as ws:
            with pytest.raises(ConnectionClosedError):
                for _ in range(1000):
                    ws.send(bytes(65536))
            assert ws.state is State.CLOSED


def half_closed_peer(
    ping_after_eof: bool,
) -> tuple[Callable[[socket.socket], None], threading.Event]:
    """A raw server's handler that reads until the client's EOF, then (optionally) sends a
    ping, and keeps its side open until ``done`` is set: the client's writes fail, its
    reads don't end."""
    done = threading.Event()

    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        while sock.recv(4096):
            pass
        if ping_after_eof:
            sock.sendall(server_frame(0x9, b"ping"))
        done.wait(TIMEOUT)

    return respond, done


@pytest.mark.parametrize("writer", ["send", "reader"])
def test_a_failed_write_is_the_cause_of_connection_closed(writer: str) -> None:
    # As in websockets: the ConnectionClosedError carries the write's own OSError, be it
    # a write of pong() or of the reader answering the peer's ping (then recv() raises).
    respond, done = half_closed_peer(ping_after_eof=writer == "reader")
    with raw_server(respond) as ws_uri:
        with connect(ws_uri, **{**FAST, "close_timeout": 0.2}) as ws:
            ws.socket.shutdown(socket.SHUT_WR)
            with pytest.raises(ConnectionClosedError) as exc_info:
                if writer == "send":
                    ws.pong()
                else:
                    ws.recv(timeout=TIMEOUT)
            cause = exc_info.value.__cause__
            assert isinstance(cause, BrokenPipeError)
            assert cause.errno == errno.EPIPE
            assert ws.state is State.CLOSED
        done.set()


@pytest.mark.parametrize(
    ("frame", "code", "cause"),
    [
        (server_frame(0x3, b""), 1002, InvalidFrame),  # reserved opcode
        (server_frame(0x1, b"\xff"), 1007, InvalidUTF8),
        (server_frame(0x1, b"a", rsv=0x40), 1002, InvalidFrame),  # RSV1 not negotiated
    ],
    ids=["reserved-opcode", "invalid-utf8", "rsv1"],
)
def test_protocol_error_from_server(frame: bytes, code: int, cause: type[Exception]) -> None:
    sent: list[bytes] = []

    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        sock.sendall(frame)
        data = b""
        while chunk := sock.recv(4096):
            data += chunk
            if b"\x88" in data[:1] or len(data) >= 8:
                break
        sent.append(data)

    with raw_server(respond) as ws_uri:
        with connect(ws_uri, ping_interval=None, close_timeout=0.2) as ws:
            with pytest.raises(ConnectionClosedError) as exc_info:
                ws.recv(timeout=TIMEOUT)
            assert isinstance(exc_info.value.__cause__, cause)
            assert exc_info.value.sent is not None and exc_info.value.sent.code == code
    [close_frame] = decode_frames(sent[0])
    assert close_frame.close_code == code


def responding_101_then(frames: bytes) -> Callable[[socket.socket], None]:
    """A raw server's handler: a valid 101 with ``frames`` in the same write, then read
    until the client closes."""

    def respond(sock: socket.socket) -> None:
        from websocket_ref.handshake import accept_key

        request = b""
        while b"\r\n\r\n" not in request:
            request += sock.recv(4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in request.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key")
        )
        sock.sendall(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(key.decode()).encode() + b"\r\n\r\n" + frames
        )
        while sock.recv(4096):
            pass

    return respond


def test_frames_pipelined_after_handshake_response() -> None:
    frames = server_frame(0x1, b"early") + server_frame(0x8, close_payload(1000))
    with raw_server(responding_101_then(frames)) as ws_uri:
        with connect(ws_uri, ping_interval=None, close_timeout=0.2) as ws:
            assert ws.recv(timeout=TIMEOUT) == "early"
            with pytest.raises(ConnectionClosedOK):
                ws.recv(timeout=TIMEOUT)


def test_bad_frame_pipelined_after_handshake_response_fails_the_connection() -> None:
    frames = server_frame(0x1, b"masked", mask=b"abcd")  # RFC 6455 §5.1: refused
    with raw_server(responding_101_then(frames)) as ws_uri:
        with connect(ws_uri, ping_interval=None, close_timeout=0.2) as ws:
            with pytest.raises(ConnectionClosedError) as raised:
                ws.recv(timeout=TIMEOUT)
            assert raised.value.sent is not None and raised.value.sent.code == 1002


# Limits


def test_max_size_client() -> None:
    def handler(ws: ServerConnection) -> None:
        ws.send("x" * 2000)
        ws.recv()

    with run_server(handler) as server, client(server, max_size=1000) as ws:
        with pytest.raises(ConnectionClosedError) as exc_info:
            ws.recv(timeout=TIMEOUT)
        assert exc_info.value.sent is not None and exc_info.value.sent.code == 1009
        # RFC 6455 §7.1.7: failing the connection doesn't wait for the peer's close frame.
        assert ws.close_code == 1006


def test_max_size_server() -> None:
    codes: list[int] = []

    def handler(ws: ServerConnection) -> None:
        with pytest.raises(ConnectionClosedError) as exc_info:
            ws.recv()
        assert exc_info.value.sent is not None
        codes.append(exc_info.value.sent.code)

    with run_server(handler, max_size=1000) as server, client(server) as ws:
        ws.send(b"x" * 1001)
        with pytest.raises(ConnectionClosedError) as exc_info:
            ws.recv(timeout=TIMEOUT)
        assert exc_info.value.rcvd.code == 1009
    assert codes == [1009]


def test_max_size_none_allows_large_messages() -> None:
    message = bytes(range(256)) * 12_000  # 3 MB
    with (
        run_server(max_size=None) as server,
        client(server, max_size=None) as ws,
    ):
        ws.send(message)
        assert ws.recv(timeout=TIMEOUT) == message


def _small_buffers_listener() -> socket.socket:
    """A listening socket whose accepted sockets have a small send buffer."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    return listener


@pytest.mark.parametrize("max_queue", [4, None])
def test_max_queue_flow_control(max_queue: int | None) -> None:
    """With max_queue, the client stops reading when its queue is full, so the server
    can't send everything; without it, the client buffers everything."""
    total, size = 400, 16384
    sent: list[int] = []
    finished = threading.Event()

    def handler(ws: ServerConnection) -> None:
        for i in range(total):
            ws.send(bytes(size))
            sent.append(i)
        finished.set()
        ws.recv()

    listener = _small_buffers_listener()
    # No compression: the zeros would shrink to nothing and never fill a buffer.
    with run_server(handler, sock=listener, host=None, port=None, compression=None) as server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.connect(server.socket.getsockname())
        host, port = server.socket.getsockname()
        with connect(
            f"ws://{host}:{port}/",
            sock=sock,
            max_queue=max_queue,
            ping_interval=None,
            compression=None,
        ) as ws:
            if max_queue is None:
                assert finished.wait(TIMEOUT)
            else:
                assert not finished.wait(0.2)
                assert len(sent) < total // 2
            for _ in range(total):
                assert ws.recv(timeout=TIMEOUT) == bytes(size)
            assert finished.wait(TIMEOUT)


def test_close_while_reader_paused_by_flow_control() -> None:
    """close() works even when the queue is full and the reader stopped reading."""

    def handler(ws: ServerConnection) -> None:
        try:
            while True:
                ws.send(bytes(16384))
        except ConnectionClosedOK:
            pass

    with run_server(handler) as server:
        ws = client(server, max_queue=2)
        ws.recv(timeout=TIMEOUT)
        ws.close()
        assert ws.state is State.CLOSED
        assert ws.close_code == 1000


def test_keepalive_tolerates_backpressure() -> None:
    """While the reader is paused by flow control, a late pong doesn't fail the connection."""
    total = 50

    def handler(ws: ServerConnection) -> None:
        for _ in range(total):
            ws.send(bytes(65536))
        ws.recv()

    # Without compression: the zeros must fill the socket buffers, not shrink to nothing.
    with run_server(
        handler, sock=_small_buffers_listener(), host=None, port=None, compression=None
    ) as server:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8192)
        sock.connect(server.socket.getsockname())
        host, port = server.socket.getsockname()
        with connect(
            f"ws://{host}:{port}/",
            sock=sock,
            max_queue=1,
            ping_interval=None,
            close_timeout=1,
            compression=None,
        ) as ws:
            deadline = time.monotonic() + TIMEOUT
            while not ws.recv_messages.paused and time.monotonic() < deadline:
                time.sleep(0.01)
            assert ws.recv_messages.paused
            # Keepalive with timeouts short enough to expire several times during the pause;
            # started now that the reader is paused, so that no healthy pong can be late.
            ws.ping_interval, ws.ping_timeout = 0.02, 0.05
            ws.start_keepalive()
            time.sleep(0.2)
            assert ws.state is State.OPEN
            ws.ping_timeout = None  # reading resumes: don't time healthy pongs on a busy machine
            for _ in range(total):
                assert ws.recv(timeout=TIMEOUT) == bytes(65536)
            assert ws.state is State.OPEN


def test_close_while_another_thread_is_blocked_writing() -> None:
    """close() returns (bounded by close_timeout) even when a writer is stuck on a peer
    that stopped reading; the writer then gets ConnectionClosedError."""
    stop = threading.Event()

    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        stop.wait(TIMEOUT)  # never read again

    errors: list[BaseException] = []
    with raw_server(respond) as ws_uri:
        ws = connect(ws_uri, ping_interval=None, close_timeout=0.2)
        blocked = threading.Event()

        def flood() -> None:
            try:
                while True:
                    blocked.set()
                    ws.send(bytes(1 << 20))
            except BaseException as exc:
                errors.append(exc)

        writer = threading.Thread(daemon=True, target=flood)
        writer.start()
        assert blocked.wait(TIMEOUT)
        time.sleep(0.1)  # let the socket buffers fill up
        try:
            ws.close()
            assert ws.state is State.CLOSED
            writer.join(TIMEOUT)
            assert not writer.is_alive()
        finally:
            stop.set()
    assert len(errors) == 1 and isinstance(errors[0], ConnectionClosedError)


# A bad frame right after good messages: the messages are answered before the failure.


def _read_all(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def test_client_answers_messages_before_failing_on_a_bad_frame() -> None:
    received: list[bytes] = []

    def respond(sock: socket.socket) -> None:
        accept_handshake(sock)
        # Autobahn case 4.1.3: messages, then a reserved opcode, then a ping; in one write.
        sock.sendall(server_frame(0x1, b"one") + server_frame(0x2, b"two") + server_frame(0x5))
        received.append(_read_all(sock))

    with raw_server(respond) as ws_uri:
        with connect(ws_uri, ping_interval=None, close_timeout=0.5) as ws:
            assert ws.recv() == "one"
            ws.send("reply one")
            assert ws.recv() == b"two"
            ws.send("reply two")
            with pytest.raises(ConnectionClosedError) as raised:
                ws.recv()
            assert raised.value.sent is not None and raised.value.sent.code == 1002
    frames = decode_frames(received[0])
    assert [(f.opcode, f.payload) for f in frames[:2]] == [(0x1, b"reply one"), (0x1, b"reply two")]
    # RFC 6455 §7.1.7: the close frame of the failure comes after the replies.
    assert [f.opcode for f in frames] == [0x1, 0x1, 0x8]
    assert frames[2].close_code == 1002


def test_server_echoes_messages_before_failing_on_a_bad_frame() -> None:
    from ..utils import RSV2, client_frame

    with run_server() as server:
        port = server.socket.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
            sock.sendall(
                b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                b"Sec-WebSocket-Version: 13\r\n\r\n"
            )
            sock.sendall(
                client_frame(0x1, b"Hello")
                + client_frame(0x1, b"bad", rsv=RSV2)
                + client_frame(0x9, b"p")
            )
            data = _read_all(sock)
    head, _, rest = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101")
    frames = decode_frames(rest)
    assert [(f.opcode, f.payload) for f in frames[:1]] == [(0x1, b"Hello")]
    assert [f.opcode for f in frames] == [0x1, 0x8]
    assert frames[1].close_code == 1002


def test_server_fails_after_close_timeout_when_the_handler_does_not_read() -> None:
    release = threading.Event()

    def idle(ws: ServerConnection) -> None:
        release.wait(TIMEOUT)

    from ..utils import client_frame

    with run_server(idle, close_timeout=0.1) as server:
        port = server.socket.getsockname()[1]
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
                sock.sendall(
                    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    b"Sec-WebSocket-Version: 13\r\n\r\n"
                    + client_frame(0x1, b"unread")
                    + client_frame(0x3)
                )
                data = _read_all(sock)
        finally:
            release.set()
    frames = decode_frames(data.partition(b"\r\n\r\n")[2])
    assert [f.opcode for f in frames] == [0x8]
    assert frames[0].close_code == 1002

"""The selector thread that reads for every connection (websocket_ref.sync.selector).

Bounds here are counts (threads, queued frames, sockets in the selector), never times.
"""

from __future__ import annotations

import select
import selectors
import socket
import ssl
import threading
import time
from collections.abc import Callable

import pytest

from websocket_ref.frames import Opcode
from websocket_ref.protocol import Protocol, Side
from websocket_ref.sync.client import ClientConnection
from websocket_ref.sync.connection import Connection
from websocket_ref.sync.selector import EpollPoller, Poller, new_poller, selector_thread
from websocket_ref.sync.server import Server, ServerConnection

from .utils import TIMEOUT, client, echo, run_server

_needs_epoll = pytest.mark.skipif(not hasattr(select, "epoll"), reason="no epoll")


def wait_until(predicate: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def thread_names() -> list[str]:
    return [thread.name for thread in threading.enumerate()]


def watched(server: Server, connection: ServerConnection) -> bool:
    """Whether the server's selector watches the connection's socket."""
    reactor = server._selector_thread._reactor
    assert reactor is not None
    return reactor.watches(connection.socket)


def test_threads_do_not_grow_with_connections() -> None:
    """Beyond one handler thread per connection, the thread count stays the same."""
    clients: list[ClientConnection] = []
    before = set(threading.enumerate())

    def others() -> int:
        """Threads started since the test began, but handlers and the timer thread (which
        runs while any connection of the process has a timer)."""
        return sum(
            1
            for thread in threading.enumerate()
            if thread not in before
            and thread.name not in ("websocket_ref-connection", "websocket_ref-timers")
        )

    def open_until(count: int) -> None:
        while len(clients) < count:
            ws = client(server)
            clients.append(ws)
            ws.send("hello")  # a round trip: both sides are reading
            assert ws.recv(TIMEOUT) == "hello"

    with run_server(echo) as server:
        try:
            open_until(5)
            few = others()
            assert thread_names().count("websocket_ref-connection") == 5
            open_until(50)
            assert thread_names().count("websocket_ref-connection") == 50
            assert others() == few
            # One selector thread for the server, one for the process's clients.
            assert thread_names().count("websocket_ref-server-selector") == 1
            assert thread_names().count("websocket_ref-selector") == 1
            assert not [name for name in thread_names() if name.startswith("websocket_ref-reader")]
        finally:
            for ws in clients:
                ws.close()


def test_threads_stop_after_shutdown() -> None:
    names = ("websocket_ref-server-selector", "websocket_ref-selector")
    assert wait_until(lambda: not any(name in names for name in thread_names()))
    with run_server(echo) as server:
        clients = [client(server) for _ in range(10)]
        for ws in clients:
            ws.send("hello")
            assert ws.recv(TIMEOUT) == "hello"
        assert all(thread_names().count(name) == 1 for name in names)
    # shutdown() closed every connection (1001): the server's selector thread ended...
    assert wait_until(lambda: "websocket_ref-server-selector" not in thread_names())
    assert server._selector_thread._reactor is None
    # ...and the clients' one, once they noticed.
    for ws in clients:
        ws.close()
        assert ws.close_code == 1001
    assert wait_until(lambda: "websocket_ref-selector" not in thread_names())
    assert selector_thread._reactor is None


def test_backpressure_stops_reading() -> None:
    """A full queue (max_queue) takes the socket out of the selector until it's drained."""
    connections: list[ServerConnection] = []
    go = threading.Event()
    received: list[str] = []

    def handler(ws: ServerConnection) -> None:
        connections.append(ws)
        go.wait(TIMEOUT)
        for _ in range(100):
            received.append(str(ws.recv(TIMEOUT)))
        ws.send("done")

    with run_server(handler, max_queue=4) as server, client(server) as ws:
        for index in range(100):
            ws.send(str(index))  # 100 small frames: the socket's buffers hold them all
        assert wait_until(lambda: bool(connections) and connections[0].recv_messages.paused)
        connection = connections[0]
        assert wait_until(lambda: not watched(server, connection))
        # Not read any further: the queue holds what the reads before the pause brought.
        queued = len(connection.recv_messages._frames)
        assert 4 <= queued < 100
        assert not watched(server, connection)
        go.set()
        # Draining the queue put the socket back: every message arrived.
        assert ws.recv(TIMEOUT) == "done"
        assert received == [str(index) for index in range(100)]
        assert connection.recv_messages.pauses >= 1


def test_blocked_handler_does_not_stop_other_connections() -> None:
    """A handler that never returns and never reads doesn't hold up the selector thread."""
    release = threading.Event()
    blocked: list[ServerConnection] = []

    def handler(ws: ServerConnection) -> None:
        if ws.request is not None and ws.request.path == "/blocked":
            blocked.append(ws)
            release.wait()  # until the end of the test: no recv(), no return
        else:
            echo(ws)

    with run_server(handler, max_queue=4) as server:
        try:
            with client(server, "/blocked") as stuck:
                assert wait_until(lambda: bool(blocked))
                # Its socket is read all the same: pings are answered...
                assert stuck.ping().wait(TIMEOUT)
                # ...until the queue is full: then only that connection stops reading.
                for index in range(50):
                    stuck.send(str(index))
                assert wait_until(lambda: blocked[0].recv_messages.paused)
                with client(server) as other:
                    for index in range(20):
                        other.send(str(index))
                        assert other.recv(TIMEOUT) == str(index)
                    assert other.ping().wait(TIMEOUT)
        finally:
            release.set()


def test_recv_waiting_does_not_block_reading() -> None:
    """A handler waiting in recv() holds no lock the selector thread needs."""
    waiting = threading.Event()

    def handler(ws: ServerConnection) -> None:
        waiting.set()
        ws.recv()  # until the client closes

    with run_server(handler) as server, client(server) as ws:
        assert waiting.wait(TIMEOUT)
        for _ in range(5):
            assert ws.ping().wait(TIMEOUT)  # the server's core answers each one


def test_tls_connections_are_read_by_the_selector(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    connections: list[ServerConnection] = []

    def handler(ws: ServerConnection) -> None:
        connections.append(ws)
        echo(ws)

    with run_server(handler, ssl=server_context) as server:
        with client(server, ssl=client_context) as ws:
            big = "x" * 300_000  # several TLS records per read
            ws.send(big)
            assert ws.recv(TIMEOUT) == big
            assert ws._reader is None and ws._reactor is not None
            assert connections[0]._reader is None and connections[0]._reactor is not None


def test_connection_on_an_ssl_socket_keeps_a_reader_thread(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext
) -> None:
    """An ssl.SSLSocket may hold decrypted bytes unseen by a selector: a thread reads it."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []

    def accept() -> None:
        sock, _ = listener.accept()
        accepted.append(server_context.wrap_socket(sock, server_side=True))

    acceptor = threading.Thread(target=accept)
    acceptor.start()
    raw = socket.create_connection(listener.getsockname(), timeout=TIMEOUT)
    tls = client_context.wrap_socket(raw, server_hostname="127.0.0.1")
    acceptor.join(TIMEOUT)
    listener.close()
    server_sock = accepted[0]
    server_sock.settimeout(TIMEOUT)
    connection = Connection(tls, Protocol(Side.CLIENT), ping_interval=None, close_timeout=0.5)
    try:
        assert connection._reactor is None and connection._reader is not None
        assert connection._reader.name.startswith("websocket_ref-reader")
        # An unmasked server frame, sent in two TLS records at once.
        server_sock.sendall(b"\x81\x05hel")
        server_sock.sendall(b"lo")
        assert connection.recv(TIMEOUT) == "hello"
        connection.send("bye")
        # The close frame is written within close_timeout: with flags an SSLSocket
        # refuses (ValueError), before. The peer doesn't answer: aborted at close_timeout.
        connection.close()
        assert server_sock.recv(4096)[:1] == b"\x81"  # "bye"
    finally:
        server_sock.close()
    assert connection._closed.wait(TIMEOUT)
    assert connection._reader is not None
    connection._reader.join(TIMEOUT)
    assert not connection._reader.is_alive()


def test_tcp_close_awaited_at_most_close_timeout() -> None:
    """After the closing handshake, a peer that keeps the TCP connection open is cut off
    at close_timeout by the selector thread, without anyone calling close()."""
    ours, theirs = socket.socketpair()
    theirs.settimeout(TIMEOUT)
    connection = Connection(ours, Protocol(Side.SERVER), ping_interval=None, close_timeout=0.2)
    try:
        assert connection._reactor is not None
        # The client's close frame (masked with a zero key): 1000.
        theirs.sendall(bytes([0x80 | Opcode.CLOSE, 0x82, 0, 0, 0, 0, 0x03, 0xE8]))
        reply = b""
        while True:
            data = theirs.recv(4096)
            if not data:
                break  # the server closed the TCP connection first (RFC 6455 §7.1.1)
            reply += data
        assert reply[:1] == bytes([0x80 | Opcode.CLOSE])
        # We never close our end: the server waits close_timeout for it, then aborts.
        assert connection._closed.wait(TIMEOUT)
        assert connection.close_code == 1000
        # The cause of ConnectionClosed, as in websockets.
        assert isinstance(connection._recv_exc, TimeoutError)
    finally:
        theirs.close()


@pytest.mark.parametrize(
    "poller_class",
    [Poller, pytest.param(EpollPoller, marks=_needs_epoll)],
)
def test_pollers_report_the_same_events(poller_class: type[Poller]) -> None:
    """EpollPoller (epoll directly) answers like Poller (selectors, the reference)."""
    reference = Poller()
    poller = poller_class()
    left, right = socket.socketpair()
    try:

        def callback(mask: int) -> None:
            pass

        def both(action: Callable[[Poller], object]) -> None:
            action(reference)
            action(poller)

        def ready() -> list[tuple[object, int]]:
            # Nothing blocks here: every step below has a ready socket.
            answers = [sorted(p.ready(), key=lambda pair: pair[1]) for p in (reference, poller)]
            assert answers[0] == answers[1]
            return answers[0]

        both(lambda p: p.watch(left, selectors.EVENT_READ | selectors.EVENT_WRITE, callback))
        assert ready() == [(callback, selectors.EVENT_WRITE)]
        right.send(b"x")
        assert ready() == [(callback, selectors.EVENT_READ | selectors.EVENT_WRITE)]
        both(lambda p: p.watch(left, selectors.EVENT_READ, callback))
        assert ready() == [(callback, selectors.EVENT_READ)]
        assert reference.watches(left.fileno()) and poller.watches(left.fileno())
        both(lambda p: p.watch(left, 0, callback))
        assert not reference.watches(left.fileno()) and not poller.watches(left.fileno())
        both(lambda p: p.watch(left, selectors.EVENT_READ, callback))
        left.recv(1)
        right.close()  # hang-up: readable (EOF), reported for what's watched only
        assert ready() == [(callback, selectors.EVENT_READ)]
        both(lambda p: p.forget(left))
        assert not reference.watches(left.fileno()) and not poller.watches(left.fileno())
        both(lambda p: p.forget(left))  # forgetting twice is harmless
    finally:
        left.close()
        right.close()
        reference.close()
        poller.close()


def test_new_poller_uses_epoll_where_available(monkeypatch: pytest.MonkeyPatch) -> None:
    expected = EpollPoller if hasattr(select, "epoll") else Poller
    for value in (None, "", "0"):  # unset, empty or 0: the switch is off
        if value is None:
            monkeypatch.delenv("WEBSOCKET_REF_NO_EPOLL", raising=False)
        else:
            monkeypatch.setenv("WEBSOCKET_REF_NO_EPOLL", value)
        poller = new_poller()
        assert type(poller) is expected
        poller.close()
    monkeypatch.setenv("WEBSOCKET_REF_NO_EPOLL", "1")
    poller = new_poller()
    assert type(poller) is Poller
    poller.close()


def test_selector_thread_works_with_the_reference_poller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBSOCKET_REF_NO_EPOLL", "1")
    with run_server(echo) as server, client(server) as ws:
        for index in range(10):
            ws.send(f"hello {index}")
            assert ws.recv(TIMEOUT) == f"hello {index}"
        # Looked at once the server echoed: the 101 reaches the client before the
        # server's thread hands the connection to the selector thread, which then
        # starts (CI saw None here when it looked right after the handshake).
        reactor = server._selector_thread._reactor
        assert reactor is not None
        assert type(reactor._poller) is Poller

"""The thread waiting in ``recv()`` reads its socket itself (``Connection._read_self()``).

On a plain socket and the epoll poller, a ``recv()`` that finds nothing queued reads the
socket in its own thread while the poller leaves it alone (``suspend_reading()``), instead
of being woken by the selector thread. ``WEBSOCKET_REF_NO_RECV_READS=1`` keeps the
selector thread reading, the reference. Every scenario below runs both ways (the whole of
``tests/sync`` does too: see conftest.py) and must end the same; the ``direct`` runs also
check that the thread did read itself, so that they test what they claim.
"""

from __future__ import annotations

import select
import selectors
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from websocket_ref import ConcurrencyError, ConnectionClosedError, ConnectionClosedOK
from websocket_ref.frames import Frame, Opcode
from websocket_ref.protocol import Protocol, Side
from websocket_ref.sync.connection import Connection
from websocket_ref.sync.messages import Assembler
from websocket_ref.sync.selector import EpollPoller, selector_thread

from ..utils import close_payload, decode_frames, server_frame
from .utils import TIMEOUT, client, run_server

pytestmark = pytest.mark.skipif(not hasattr(select, "epoll"), reason="no epoll")


@pytest.fixture
def self_reads(monkeypatch: pytest.MonkeyPatch, recv_reads: bool) -> Iterator[list[int]]:
    """Count the reads of threads in ``recv()`` (``_read_here()`` calls)."""
    calls: list[int] = []
    original = Connection._read_here

    def counting(self: Connection, sock: socket.socket, timeout: float | None) -> bool:
        calls.append(threading.get_ident())
        return original(self, sock, timeout)

    monkeypatch.setattr(Connection, "_read_here", counting)
    yield calls
    if not recv_reads:
        assert calls == []


def wait_until(predicate: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + TIMEOUT
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def suspended(connection: Connection) -> bool:
    """Whether the poller lent the connection's socket to a thread in ``recv()``."""
    assert connection._reactor is not None
    poller = connection._reactor._poller
    return isinstance(poller, EpollPoller) and connection.socket.fileno() in poller._suspended


def in_self_read(connection: Connection, calls: list[int], before: int) -> Callable[[], bool]:
    """Predicate: a thread in ``recv()`` holds the socket, after ``before`` reads."""
    return lambda: len(calls) > before and suspended(connection)


class Peer:
    """A raw server end of a socket pair, and a client Connection on the other end."""

    def __init__(self, **kwargs: Any) -> None:
        self.ours, self.theirs = socket.socketpair()
        self.theirs.settimeout(TIMEOUT)
        kwargs.setdefault("ping_interval", None)
        kwargs.setdefault("close_timeout", 1.0)
        self.connection = Connection(self.ours, Protocol(Side.CLIENT), **kwargs)

    def send(self, opcode: int, payload: bytes = b"") -> None:
        self.theirs.sendall(server_frame(opcode, payload))

    def read_until_close(self) -> list[Any]:
        """The frames the client wrote, up to its close frame."""
        data = b""
        while chunk := self.theirs.recv(65536):
            data += chunk
            try:
                frames = decode_frames(data)
            except AssertionError:  # a frame is cut short: read on
                continue
            if frames[-1].opcode == Opcode.CLOSE:
                return frames
        raise AssertionError("no close frame")

    def close(self) -> None:
        self.theirs.close()  # first: the client then ends at once
        self.connection.close()


def in_thread(target: Callable[[], object]) -> tuple[threading.Thread, list[object]]:
    """Run ``target`` in a thread; its result or exception lands in the list."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(target())
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def test_switch(recv_reads: bool) -> None:
    with run_server() as server, client(server) as ws:
        assert ws._reads_self is recv_reads
        assert (ws.recv_messages.read_self is not None) is recv_reads
        ws.send("the server connection is started once it echoes")
        ws.recv(timeout=TIMEOUT)
        (server_ws,) = server.connections
        assert server_ws._reads_self is recv_reads


def test_echo_reads_in_recv(recv_reads: bool, self_reads: list[int]) -> None:
    # recv() without and with a timeout, recv_streaming(), fragmented and large messages.
    sizes = [0, 1, 125, 126, 65535, 65536, 300_000]
    with run_server() as server, client(server) as ws:
        for size in sizes:
            message = bytes([size % 251]) * size
            ws.send(message)
            assert ws.recv() == message
            ws.send(message)
            assert ws.recv(timeout=TIMEOUT) == message
        ws.send(["frag", "mented"])
        assert ws.recv() == "fragmented"
        ws.send([b"a", b"b", b"c"])
        assert b"".join(ws.recv_streaming()) == b"abc"  # echoed as one frame
        if recv_reads:
            me = threading.get_ident()
            assert me in self_reads
            # The server's handler thread echoes from its own reads too.
            assert any(ident != me for ident in self_reads)


def test_recv_before_the_socket_is_registered(recv_reads: bool, self_reads: list[int]) -> None:
    """The race a first prototype lost: recv() runs before the selector thread has
    registered the socket; it waits for the selector thread then, and nothing fails."""
    gate = threading.Event()
    reactor = selector_thread.attach()  # keeps the process's selector thread running
    reactor.call_soon(lambda: gate.wait(TIMEOUT))  # hold the selector thread up
    peer = Peer()
    try:
        ws = peer.connection
        assert ws._reactor is reactor
        assert not reactor.watches(ws.socket)
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.05)
        thread, outcome = in_thread(ws.recv)
        peer.send(Opcode.TEXT, b"first")
        assert not reactor.watches(ws.socket)
        gate.set()
        thread.join(TIMEOUT)
        assert outcome == ["first"]
        assert self_reads == []  # the selector thread read it: the socket wasn't lent
        # Once registered, recv() reads itself.
        assert wait_until(lambda: reactor.watches(ws.socket))
        thread, outcome = in_thread(ws.recv)
        if recv_reads:
            assert wait_until(in_self_read(ws, self_reads, 0))
        peer.send(Opcode.TEXT, b"second")
        thread.join(TIMEOUT)
        assert outcome == ["second"]
        assert (len(self_reads) > 0) is recv_reads
    finally:
        gate.set()
        peer.close()
        reactor.call_soon(lambda: selector_thread.detach(reactor))


def test_ping_answered_without_blocking_recv(recv_reads: bool, self_reads: list[int]) -> None:
    """Pings arrive while recv() reads; the peer doesn't read the pongs. recv() never
    waits for the socket to take them: the selector thread writes them when it can."""
    peer = Peer()
    try:
        ws = peer.connection
        peer.ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
        assert wait_until(lambda: ws._reactor is not None and ws._reactor.watches(ws.socket))
        thread, outcome = in_thread(ws.recv)
        if recv_reads:
            assert wait_until(in_self_read(ws, self_reads, 0))
        count = 2000
        for i in range(count):
            peer.send(Opcode.PING, i.to_bytes(4, "big") * 31)
        peer.send(Opcode.TEXT, b"after the pings")
        thread.join(TIMEOUT)
        assert outcome == ["after the pings"]
        if recv_reads:
            assert self_reads
        # Meanwhile nothing read the pongs: some waited for room, and coalesced.
        assert wait_until(lambda: bool(ws._pending) or ws._want_write)
        peer.send(Opcode.CLOSE, close_payload(1000))
        frames = peer.read_until_close()
        pongs = [frame.payload for frame in frames if frame.opcode == Opcode.PONG]
        assert 0 < len(pongs) < count
        assert pongs[-1] == (count - 1).to_bytes(4, "big") * 31
        peer.theirs.shutdown(socket.SHUT_WR)  # the server closes TCP first
        assert ws._closed.wait(TIMEOUT)
        with pytest.raises(ConnectionClosedOK):
            ws.recv()
    finally:
        peer.close()


def test_recv_timeout_gives_the_socket_back(recv_reads: bool, self_reads: list[int]) -> None:
    """recv(timeout) expires while its thread reads; then the selector thread reads
    again: a ping is answered while nobody is in recv()."""
    peer = Peer()
    try:
        ws = peer.connection
        assert wait_until(lambda: ws._reactor is not None and ws._reactor.watches(ws.socket))
        for _ in range(2):
            with pytest.raises(TimeoutError):
                ws.recv(timeout=0.05)
            assert not suspended(ws)
            assert not ws._read_lock.locked()
        assert (len(self_reads) > 0) is recv_reads
        reads = len(self_reads)
        peer.send(Opcode.PING, b"anyone?")
        data = peer.theirs.recv(4096)
        (pong,) = decode_frames(data)
        assert (pong.opcode, pong.payload) == (Opcode.PONG, b"anyone?")
        assert len(self_reads) == reads  # the selector thread read that ping
        peer.send(Opcode.TEXT, b"later")
        assert ws.recv(timeout=TIMEOUT) == "later"
        assert ws.state.name == "OPEN"
    finally:
        peer.close()


def test_concurrent_recv_is_refused(recv_reads: bool, self_reads: list[int]) -> None:
    peer = Peer()
    try:
        ws = peer.connection
        assert wait_until(lambda: ws._reactor is not None and ws._reactor.watches(ws.socket))
        thread, outcome = in_thread(ws.recv)
        if recv_reads:
            assert wait_until(in_self_read(ws, self_reads, 0))
        else:
            assert wait_until(lambda: ws.recv_messages._reading)
        with pytest.raises(ConcurrencyError):
            ws.recv(timeout=TIMEOUT)
        with pytest.raises(ConcurrencyError):
            next(iter(ws.recv_streaming()))
        peer.send(Opcode.TEXT, b"for the first")
        thread.join(TIMEOUT)
        assert outcome == ["for the first"]
    finally:
        peer.close()


def ended(peer: Peer, end: Callable[[], None], recv_reads: bool, calls: list[int]) -> Any:
    """Let a thread wait in recv() (reading itself if it does), ``end()`` the
    connection; return what recv() raised, once the connection is closed."""
    ws = peer.connection
    assert wait_until(lambda: ws._reactor is not None and ws._reactor.watches(ws.socket))
    thread, outcome = in_thread(ws.recv)
    if recv_reads:
        assert wait_until(in_self_read(ws, calls, 0))
    else:
        assert wait_until(lambda: ws.recv_messages._app_waiting)
    end()
    thread.join(TIMEOUT)
    assert not thread.is_alive()
    assert ws._closed.is_set()
    assert ws.socket.fileno() == -1  # closed, after the reading thread gave it back
    assert not suspended(ws)
    assert not ws._read_lock.locked()
    (exc,) = outcome
    return exc


def test_close_timer_ends_the_connection_during_a_read(
    recv_reads: bool, self_reads: list[int]
) -> None:
    peer = Peer()
    try:
        # What the close timer calls after close_timeout (_step() sets it).
        exc = ended(peer, peer.connection._close_timed_out, recv_reads, self_reads)
        assert isinstance(exc, ConnectionClosedError)
        assert exc.rcvd is None and exc.sent is None
        assert isinstance(exc.__cause__, TimeoutError)
    finally:
        peer.close()


def test_eof_during_a_read(recv_reads: bool, self_reads: list[int]) -> None:
    peer = Peer()
    try:
        exc = ended(peer, peer.theirs.close, recv_reads, self_reads)
        assert isinstance(exc, ConnectionClosedError)
        assert exc.rcvd is None and exc.sent is None
        assert exc.__cause__ is None
    finally:
        peer.close()


def test_tcp_reset_during_a_read(recv_reads: bool, self_reads: list[int]) -> None:
    """A TCP RST while the thread reads: the same exception and cause as the selector's."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        ours = socket.create_connection(listener.getsockname()[:2], timeout=TIMEOUT)
        theirs, _ = listener.accept()
    finally:
        listener.close()
    ours.settimeout(None)
    peer = Peer.__new__(Peer)
    peer.ours, peer.theirs = ours, theirs
    peer.connection = Connection(ours, Protocol(Side.CLIENT), ping_interval=None)

    def reset() -> None:
        theirs.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        theirs.close()

    try:
        exc = ended(peer, reset, recv_reads, self_reads)
        assert isinstance(exc, ConnectionClosedError)
        assert exc.rcvd is None and exc.sent is None
        assert isinstance(exc.__cause__, ConnectionResetError)
    finally:
        peer.close()


def test_close_from_another_thread_during_a_read(recv_reads: bool, self_reads: list[int]) -> None:
    """close() in another thread: the peer's close frame reaches the reading thread."""
    with run_server() as server, client(server) as ws:
        assert wait_until(lambda: ws._reactor is not None and ws._reactor.watches(ws.socket))
        thread, outcome = in_thread(ws.recv)
        if recv_reads:
            assert wait_until(in_self_read(ws, self_reads, 0))
        else:
            assert wait_until(lambda: ws.recv_messages._app_waiting)
        ws.close()
        thread.join(TIMEOUT)
        (exc,) = outcome
        assert isinstance(exc, ConnectionClosedOK)
        assert ws.close_code == 1000
        assert ws.socket.fileno() == -1
        assert not ws._read_lock.locked()


def test_max_queue_pauses_reading(recv_reads: bool, self_reads: list[int]) -> None:
    """Backpressure is unchanged: frames read in recv() beyond max_queue stop reading."""
    peer = Peer(max_queue=4)
    try:
        ws = peer.connection
        assert wait_until(lambda: ws._reactor is not None and ws._reactor.watches(ws.socket))
        thread, outcome = in_thread(ws.recv)
        if recv_reads:
            assert wait_until(in_self_read(ws, self_reads, 0))
        # One write: all the frames arrive in one read.
        peer.theirs.sendall(b"".join(server_frame(Opcode.BINARY, bytes([i])) for i in range(20)))
        thread.join(TIMEOUT)
        assert outcome == [b"\x00"]
        assert wait_until(lambda: ws.recv_messages.paused)
        assert wait_until(lambda: ws._reactor is not None and not ws._reactor.watches(ws.socket))
        for i in range(1, 20):
            assert ws.recv(timeout=TIMEOUT) == bytes([i])
        assert wait_until(lambda: ws._reactor is not None and ws._reactor.watches(ws.socket))
    finally:
        peer.close()


def test_reference_poller_keeps_the_selector_thread_reading(
    monkeypatch: pytest.MonkeyPatch, recv_reads: bool
) -> None:
    monkeypatch.setenv("WEBSOCKET_REF_NO_EPOLL", "1")
    with run_server() as server, client(server) as ws:
        ws.send("hi")
        assert ws.recv(timeout=TIMEOUT) == "hi"
        # The server's selector thread started with this test (the process's client
        # one may still run from a previous test, with epoll).
        (server_ws,) = server.connections
        assert not server_ws._reads_self


def test_tls_keeps_the_selector_thread_reading(
    server_context: Any, client_context: Any, recv_reads: bool
) -> None:
    with run_server(ssl=server_context) as server, client(server, ssl=client_context) as ws:
        assert not ws._reads_self
        (server_ws,) = server.connections
        assert not server_ws._reads_self
        ws.send("hi")
        assert ws.recv(timeout=TIMEOUT) == "hi"


def test_frames_put_while_read_self_declines_are_not_missed(recv_reads: bool) -> None:
    """The reader may queue frames while the application thread is in read_self()
    (not waiting, so not woken); read_self() then declines: get() must see them."""
    assembler = Assembler()

    def read_self(timeout: float | None) -> bool:
        assembler.put([Frame(Opcode.TEXT, b"meanwhile")])
        return False

    assembler.read_self = read_self
    assert assembler.get(timeout=TIMEOUT) == "meanwhile"
    assembler.close()
    with pytest.raises(EOFError):
        assembler.get(timeout=TIMEOUT)


def test_streaming_is_left_to_the_selector_thread(recv_reads: bool, self_reads: list[int]) -> None:
    """After a read that brought several messages (they arrive faster than they're
    taken), the next recv() that finds nothing queued waits for the selector thread;
    after a read of one message, recv() reads itself again."""
    peer = Peer()
    try:
        ws = peer.connection
        assert wait_until(lambda: ws._reactor is not None and ws._reactor.watches(ws.socket))
        thread, outcome = in_thread(lambda: [ws.recv(), ws.recv(), ws.recv()])
        if recv_reads:
            assert wait_until(in_self_read(ws, self_reads, 0))
        peer.theirs.sendall(server_frame(Opcode.TEXT, b"1") + server_frame(Opcode.TEXT, b"2"))
        # The third recv() waits for the selector thread.
        assert wait_until(lambda: ws._last_batch == 2 and ws.recv_messages._app_waiting)
        reads = len(self_reads)
        peer.send(Opcode.TEXT, b"3")
        thread.join(TIMEOUT)
        assert outcome == [["1", "2", "3"]]
        assert len(self_reads) == reads
        assert ws._last_batch == 1
        thread, outcome = in_thread(ws.recv)
        if recv_reads:
            assert wait_until(in_self_read(ws, self_reads, reads))
        peer.send(Opcode.TEXT, b"4")
        thread.join(TIMEOUT)
        assert outcome == ["4"]
        assert (len(self_reads) > reads) is recv_reads
    finally:
        peer.close()


def test_large_messages_are_left_to_the_selector_thread(
    recv_reads: bool, self_reads: list[int]
) -> None:
    """After a read that brought a large data frame, the next recv() that finds nothing
    queued waits for the selector thread (which reads the next message while the
    application works on this one); after a read of a small one, recv() reads itself."""
    peer = Peer()
    try:
        ws = peer.connection
        assert wait_until(lambda: ws._reactor is not None and ws._reactor.watches(ws.socket))
        large = bytes(range(256)) * 256  # 64 KiB
        peer.send(Opcode.BINARY, large)
        assert ws.recv(timeout=TIMEOUT) == large
        assert ws._last_large
        reads = len(self_reads)
        thread, outcome = in_thread(ws.recv)
        assert wait_until(lambda: ws.recv_messages._app_waiting)
        peer.send(Opcode.TEXT, b"small")
        thread.join(TIMEOUT)
        assert outcome == ["small"]
        assert len(self_reads) == reads  # the selector thread read it
        assert not ws._last_large
        thread, outcome = in_thread(ws.recv)
        if recv_reads:
            assert wait_until(in_self_read(ws, self_reads, reads))
        peer.send(Opcode.TEXT, b"again")
        thread.join(TIMEOUT)
        assert outcome == ["again"]
        assert (len(self_reads) > reads) is recv_reads
    finally:
        peer.close()


def test_poller_suspends_and_resumes_reading(recv_reads: bool) -> None:
    """EpollPoller: what the selector thread watches for, without reading while a
    socket is lent; events only for what's registered."""
    poller = EpollPoller()
    ours, theirs = socket.socketpair()
    lock = threading.Lock()
    try:
        theirs.sendall(b"readable")

        def ready() -> list[int]:
            # Readable (and writable) now: epoll_wait returns at once when registered.
            poller.watch(theirs, selectors.EVENT_WRITE, None)  # always ready: never blocks
            return [mask for callback, mask in poller.ready() if callback is not None]

        assert not poller.suspend_reading(ours)  # not watched yet: nothing to lend
        poller.watch(ours, selectors.EVENT_READ, lambda mask: None)
        assert ready() == [selectors.EVENT_READ]
        assert poller.suspend_reading(ours)
        assert poller._masks.get(ours.fileno()) is None  # out of epoll
        poller.watch(ours, selectors.EVENT_READ | selectors.EVENT_WRITE, lambda mask: None)
        assert poller._masks[ours.fileno()] == select.EPOLLOUT
        poller.resume_reading(ours)
        assert poller._masks[ours.fileno()] == select.EPOLLIN | select.EPOLLOUT
        poller.watch(ours, selectors.EVENT_READ, lambda mask: None)
        # The selector thread suspends only while another thread holds the lock.
        poller.suspend_while(ours, lock)
        assert ours.fileno() not in poller._suspended
        with lock:
            poller.suspend_while(ours, lock)
            assert ours.fileno() in poller._suspended
            assert poller.suspend_reading(ours)  # the lock's holder takes it over
        poller.resume_reading(ours)
        assert ready() == [selectors.EVENT_READ]
        # Pausing (watch 0) while lent ends the suspension; resuming is then a no-op.
        assert poller.suspend_reading(ours)
        poller.watch(ours, 0, None)
        assert not poller._suspended and not poller.watches(ours.fileno())
        poller.resume_reading(ours)
        assert ours.fileno() not in poller._masks
        assert ready() == []
        # forget() too.
        poller.watch(ours, selectors.EVENT_READ, lambda mask: None)
        assert poller.suspend_reading(ours)
        poller.forget(ours)
        assert not poller._suspended and ours.fileno() not in poller._masks
    finally:
        poller.close()
        ours.close()
        theirs.close()


class RecordingSocket(socket.socket):
    """Records whether it was closed while a thread was inside ``recv()``; lingers
    a little after each ``recv()`` to make that visible if it happens."""

    inside = 0
    closed_while_reading = False

    def recv(self, bufsize: int, flags: int = 0) -> bytes:
        self.inside += 1
        try:
            return super().recv(bufsize, flags)
        finally:
            threading.Event().wait(0.2)  # widens the window; no bound on anything
            self.inside -= 1

    def close(self) -> None:
        if self.inside:
            self.closed_while_reading = True
        super().close()


def test_socket_closed_only_after_the_reading_thread_gave_it_back(
    recv_reads: bool, self_reads: list[int]
) -> None:
    """_end() while a thread reads in recv(): the socket is woken up (shut down) and
    closed only once that thread is out of its read."""
    pair, theirs = socket.socketpair()
    ours = RecordingSocket(pair.family, pair.type, fileno=pair.detach())
    peer = Peer.__new__(Peer)
    peer.ours, peer.theirs = ours, theirs
    peer.connection = Connection(ours, Protocol(Side.CLIENT), ping_interval=None)
    try:
        exc = ended(peer, peer.connection._close_timed_out, recv_reads, self_reads)
        assert isinstance(exc, ConnectionClosedError)
        assert isinstance(exc.__cause__, TimeoutError)
        assert not ours.closed_while_reading
    finally:
        peer.close()

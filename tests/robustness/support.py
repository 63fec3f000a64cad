"""What the robustness tests share: servers of both APIs in a thread, a raw attacking
client, and measurements of memory (tracemalloc) and of what the handlers saw.

Every attack runs against a real server of the asyncio API and of the threading API,
with the library's defaults unless a test says otherwise. The attacker is a blocking
raw socket in the test's thread, writing frames byte by byte as RFC 6455 §5.2 lays them
out (``tests/utils.py``), so that it can break every rule and never reads unless told.
Bounds are on memory and on counts, never on time: ``bench/robustness.py`` runs the
same attacks at full size and reports the figures the README quotes.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import socket
import ssl
import struct
import threading
import tracemalloc
from collections.abc import Callable, Iterator
from typing import Any

from websocket_ref.exceptions import ConnectionClosed

from ..utils import client_frame

__all__ = [
    "APIS",
    "TIMEOUT",
    "Handlers",
    "running_server",
    "handshake",
    "client_frame",
    "reset",
    "read_close_code",
    "traced_peak",
    "wait_until",
    "WarningCounter",
]

APIS = ["asyncio", "sync"]

#: Bound for waits that only end on a bug (not a timing goal).
TIMEOUT = 20.0

#: What the ``blast`` handler sends, again and again.
BLAST = b"x" * 65536

#: Messages the ``ticker`` handler sends before it gives up waiting for send() to raise.
TICKS = 1_000_000


class Handlers:
    """Server handlers that count what happens to their connections."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.handled = 0
        self.closed: list[ConnectionClosed] = []
        self.errors: list[BaseException] = []
        self.messages = 0
        self.sending = 0  # send() calls started by the "blast" handler
        self.connections: list[Any] = []
        self.loop: asyncio.AbstractEventLoop | None = None  # the asyncio server's

    def call(self, function: Callable[[], Any]) -> Any:
        """Call ``function`` where the server's connections live (the event loop's
        thread for asyncio) and return its result."""
        if self.loop is None:
            return function()

        async def run() -> Any:
            return function()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(TIMEOUT)

    def blocked_in_send(self) -> bool:
        """Whether the "blast" handler's send() waits (its count stops moving)."""
        with self.lock:
            before = self.sending
        threading.Event().wait(0.2)
        with self.lock:
            return self.sending > 1 and self.sending == before

    def _record(self, exc: BaseException) -> None:
        with self.lock:
            if isinstance(exc, ConnectionClosed):
                self.closed.append(exc)
            else:
                self.errors.append(exc)

    # asyncio

    async def async_handler(self, kind: str, ws: Any) -> None:
        with self.lock:
            self.handled += 1
            self.connections.append(ws)
            self.loop = asyncio.get_running_loop()
        try:
            if kind == "hello":  # sends one message, then reads until the end
                await ws.send("ok")
                async for _ in ws:
                    pass
                await ws.recv()
            elif kind == "idle":  # never reads
                await ws.wait_closed()
                await ws.recv()
            elif kind == "echo":
                while True:
                    message = await ws.recv()
                    with self.lock:
                        self.messages += 1
                    await ws.send(message)
            elif kind == "blast":  # sends until it blocks, then waits in send()
                await ws.recv()
                while True:
                    with self.lock:
                        self.sending += 1
                    await ws.send(BLAST)
            elif kind == "flood-then-read":  # fills the write buffer, then only reads
                from websocket_ref.asyncio.server import broadcast

                await ws.recv()
                broadcast([ws], BLAST * 128)  # 8 MiB, written without waiting
                while True:
                    await ws.recv()
                    with self.lock:
                        self.messages += 1
            elif kind == "ticker":  # sends, without pausing, until send() raises
                await ws.recv()
                for _ in range(TICKS):
                    await ws.send("tick")
                raise AssertionError(f"send() returned {TICKS} times")
            else:  # read
                while True:
                    await ws.recv()
                    with self.lock:
                        self.messages += 1
        except BaseException as exc:
            self._record(exc)

    # threading

    def sync_handler(self, kind: str, ws: Any) -> None:
        with self.lock:
            self.handled += 1
            self.connections.append(ws)
        try:
            if kind == "hello":
                ws.send("ok")
                for _ in ws:
                    pass
                ws.recv()
            elif kind == "idle":
                ws._closed.wait(TIMEOUT)
                ws.recv()
            elif kind == "echo":
                while True:
                    message = ws.recv()
                    with self.lock:
                        self.messages += 1
                    ws.send(message)
            elif kind == "blast":
                ws.recv()
                while True:
                    with self.lock:
                        self.sending += 1
                    ws.send(BLAST)
            elif kind == "ticker":
                ws.recv()
                for _ in range(TICKS):
                    ws.send("tick")
                raise AssertionError(f"send() returned {TICKS} times")
            else:
                while True:
                    ws.recv()
                    with self.lock:
                        self.messages += 1
        except BaseException as exc:
            self._record(exc)


@contextlib.contextmanager
def running_server(api: str, kind: str = "read", **options: Any) -> Iterator[tuple[int, Handlers]]:
    """A server of ``api`` on 127.0.0.1 in a thread of its own; yields (port, handlers).

    Keepalive is off unless ``ping_interval`` is given, so that it can't end an attack
    early. Shut down, and its thread joined, on exit.
    """
    options.setdefault("ping_interval", None)
    handlers = Handlers()
    if api == "asyncio":
        with _asyncio_server(handlers, kind, options) as port:
            yield port, handlers
    else:
        with _sync_server(handlers, kind, options) as port:
            yield port, handlers


@contextlib.contextmanager
def _asyncio_server(handlers: Handlers, kind: str, options: dict[str, Any]) -> Iterator[int]:
    from websocket_ref.asyncio.server import serve

    loop = asyncio.new_event_loop()
    started = threading.Event()
    stop: asyncio.Future[None] | None = None
    port = 0
    error: list[BaseException] = []

    async def main() -> None:
        nonlocal stop, port
        stop = loop.create_future()

        async def handler(ws: Any) -> None:
            await handlers.async_handler(kind, ws)

        try:
            server = serve(handler, "127.0.0.1", 0, **options)
        except BaseException as exc:  # e.g. an invalid option: raised in the test
            error.append(exc)
            started.set()
            return
        async with server as running:
            port = running.sockets[0].getsockname()[1]
            started.set()
            await stop

    thread = threading.Thread(target=loop.run_until_complete, args=(main(),), daemon=True)
    thread.start()
    try:
        assert started.wait(TIMEOUT)
        if error:
            raise error[0]
        yield port
    finally:
        if stop is not None:
            loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(TIMEOUT)
        assert not thread.is_alive()
        loop.close()


@contextlib.contextmanager
def _sync_server(handlers: Handlers, kind: str, options: dict[str, Any]) -> Iterator[int]:
    from websocket_ref.sync.server import serve

    def handler(ws: Any) -> None:
        handlers.sync_handler(kind, ws)

    options.setdefault("close_timeout", 2)
    with serve(handler, "127.0.0.1", 0, **options) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.socket.getsockname()[1]
        finally:
            server.shutdown()
            thread.join(TIMEOUT)
            assert not thread.is_alive()


def handshake(
    port: int, *, extra: bytes = b"", ssl_context: ssl.SSLContext | None = None
) -> socket.socket:
    """Open a WebSocket connection by hand; return the blocking socket, after the 101."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    if ssl_context is not None:
        sock = ssl_context.wrap_socket(sock, server_hostname="localhost")
    key = base64.b64encode(os.urandom(16))
    sock.sendall(
        b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: " + key + b"\r\nSec-WebSocket-Version: 13\r\n" + extra + b"\r\n"
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(1)  # byte by byte: nothing after the head is consumed
        assert chunk, "connection closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 "), head
    return sock


def reset(sock: socket.socket) -> None:
    """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def read_close_code(sock: socket.socket) -> int | None:
    """Read the server's frames until a close frame or EOF; its close code, if any."""
    data = bytearray()
    pos = 0
    while True:
        # Parse what arrived (server frames are unmasked).
        while len(data) - pos >= 2:
            opcode, length = data[pos] & 0x0F, data[pos + 1] & 0x7F
            start = pos + 2
            if length == 126:
                start += 2
            elif length == 127:
                start += 8
            if len(data) < start:
                break
            if length == 126:
                (length,) = struct.unpack_from("!H", data, pos + 2)
            elif length == 127:
                (length,) = struct.unpack_from("!Q", data, pos + 2)
            if len(data) < start + length:
                break
            if opcode == 0x8:
                payload = bytes(data[start : start + length])
                return int.from_bytes(payload[:2], "big") if payload else 1005
            pos = start + length
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            raise  # the server is slow (a loaded machine), not gone: say so
        except OSError:
            return None
        if not chunk:
            return None
        data += chunk


@contextlib.contextmanager
def traced_peak() -> Iterator[Callable[[], int]]:
    """Trace memory allocations; the callable returns the peak growth so far, in bytes.

    The baseline is what was allocated when tracing started, so what the test set up
    before (e.g. the bytes it will send) doesn't count.
    """
    tracemalloc.start()
    try:
        baseline, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()

        def peak() -> int:
            return tracemalloc.get_traced_memory()[1] - baseline

        yield peak
    finally:
        tracemalloc.stop()


def wait_until(predicate: Callable[[], bool], timeout: float = TIMEOUT) -> bool:
    """Poll ``predicate`` until it's true (True) or ``timeout`` elapses (False)."""
    event = threading.Event()
    waited = 0.0
    while not predicate():
        if waited >= timeout:
            return False
        event.wait(0.02)
        waited += 0.02
    return True


class WarningCounter(logging.Handler):
    """Collects records of level WARNING and above from every logger while installed."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> WarningCounter:
        logging.getLogger().addHandler(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        logging.getLogger().removeHandler(self)

"""Helpers for the end-to-end tests of websocket_ref.asyncio.

Servers bind 127.0.0.1 on port 0. The raw peers here speak WebSocket by hand, byte by
byte, so that tests can misbehave on purpose (never answer a close, never answer a
ping, send an invalid frame) and look at exactly what the library wrote.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from websocket_ref.asyncio import ClientConnection, Server, ServerConnection, connect, serve

from ..utils import RFC_KEY, RawFrame

#: Options that keep tests fast: short timeouts, no keepalive unless a test wants it.
FAST: dict[str, Any] = {
    "close_timeout": 0.2,
    "open_timeout": 2,
    "ping_interval": None,
}

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def unmask(data: bytes, mask: bytes) -> bytes:
    """RFC 6455 §5.3 masking, byte by byte."""
    return bytes(byte ^ mask[i % 4] for i, byte in enumerate(data))


def accept_for(key: str) -> str:
    """Sec-WebSocket-Accept for ``key`` (RFC 6455 §4.2.2), computed independently."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


async def echo(ws: ServerConnection) -> None:
    """Send every message back."""
    async for message in ws:
        await ws.send(message)


def port_of(server: Server) -> int:
    port: int = server.sockets[0].getsockname()[1]
    return port


def uri_of(server: Server, path: str = "/", scheme: str = "ws") -> str:
    return f"{scheme}://127.0.0.1:{port_of(server)}{path}"


@contextlib.asynccontextmanager
async def run_server(
    handler: Callable[[ServerConnection], Awaitable[None]] = echo, **kwargs: Any
) -> AsyncIterator[Server]:
    """Run a server on 127.0.0.1 with :data:`FAST` options; close it on exit."""
    options = {**FAST, **kwargs}
    async with serve(handler, "127.0.0.1", 0, **options) as server:
        yield server


async def read_head(reader: asyncio.StreamReader) -> tuple[str, dict[str, str]]:
    """Read an HTTP head; return its first line and its headers (last value wins)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


async def read_frame(reader: asyncio.StreamReader) -> RawFrame:
    """Read one frame, written from RFC 6455 §5.2 independently of the library."""
    first, second = await reader.readexactly(2)
    length = second & 0x7F
    if length == 126:
        length = int.from_bytes(await reader.readexactly(2), "big")
    elif length == 127:
        length = int.from_bytes(await reader.readexactly(8), "big")
    masked = bool(second & 0x80)
    mask = await reader.readexactly(4) if masked else None
    payload = await reader.readexactly(length)
    if mask is not None:
        payload = unmask(payload, mask)
    return RawFrame(first & 0x0F, payload, bool(first & 0x80), first & 0x70, masked)


class RawServer:
    """A TCP server whose connections the test drives by hand."""

    def __init__(self) -> None:
        self.accepted: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = (
            asyncio.Queue()
        )
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def _on_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self.writers.append(writer)
        await self.accepted.put((reader, writer))

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._on_connection, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        for writer in self.writers:
            writer.transport.abort()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def port(self) -> int:
        assert self.server is not None
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    @property
    def uri(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    async def accept(
        self, *, response: bytes | None = None
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter, dict[str, str]]:
        """Take the next connection, read its request, answer 101 (or ``response``)."""
        reader, writer = await asyncio.wait_for(self.accepted.get(), 5)
        _, headers = await read_head(reader)
        if response is None:
            response = (
                "HTTP/1.1 101 Switching Protocols\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Accept: {accept_for(headers['sec-websocket-key'])}\r\n\r\n"
            ).encode()
        writer.write(response)
        return reader, writer, headers


@contextlib.asynccontextmanager
async def client_of_raw_server(
    **kwargs: Any,
) -> AsyncIterator[
    tuple[ClientConnection, asyncio.StreamReader, asyncio.StreamWriter, dict[str, str]]
]:
    """A client connected to a :class:`RawServer`: the test plays the server by hand."""
    async with RawServer() as raw:
        options = {**FAST, **kwargs}
        task = asyncio.create_task(connect(raw.uri, **options).__aenter__())
        reader, writer, headers = await raw.accept()
        ws = await task
        try:
            yield ws, reader, writer, headers
        finally:
            ws.transport.abort()
            await ws.wait_closed()


@contextlib.asynccontextmanager
async def raw_client(
    port: int, path: str = "/", extra: str = ""
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter, str, dict[str, str]]]:
    """Open a connection and send a handshake request by hand; yield the response head."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {RFC_KEY}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
            ).encode()
        )
        status, headers = await read_head(reader)
        yield reader, writer, status, headers
    finally:
        writer.transport.abort()


async def wait_for_condition(
    predicate: Callable[[], bool], timeout: float = 5, interval: float = 0.005
) -> None:
    """Poll ``predicate`` until it's true; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(interval)


def tls_contexts(ca: Any, names: tuple[str, ...]) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a certificate for ``names`` and a client context trusting it."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(*names).configure_cert(server_context)
    client_context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH)
    ca.configure_trust(client_context)
    return server_context, client_context

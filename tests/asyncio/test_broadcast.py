"""broadcast() with text= and prepared (compressed-once) frames; send(compress=False).

The clients are websockets' (the real peer users have) and ours; the server's frames
are checked on the wire through a raw socket where the bytes matter.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import zlib

import pytest

from websocket_ref.asyncio.client import connect
from websocket_ref.asyncio.server import ServerConnection, broadcast
from websocket_ref.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websocket_ref.prepared import prepare

from ..utils import decode_frames
from .helpers import FAST, read_frame, run_server, uri_of, wait_for_condition

websockets_client = pytest.importorskip("websockets.asyncio.client")

pytestmark = pytest.mark.asyncio

MESSAGE = "All work and no play makes Jack a dull boy. " * 50

NO_TAKEOVER = {
    "extensions": [
        ServerPerMessageDeflateFactory(server_no_context_takeover=True, server_max_window_bits=12)
    ]
}


async def test_broadcast_text_argument() -> None:
    async with run_server(**NO_TAKEOVER) as server:
        async with websockets_client.connect(uri_of(server), ping_interval=None) as ws:
            await wait_for_condition(lambda: len(server.connections) == 1)
            broadcast(server.connections, b"bytes as text", text=True)
            broadcast(server.connections, "text as bytes", text=False)
            broadcast(server.connections, bytearray(b"plain bytes"))
            assert await ws.recv() == "bytes as text"
            assert await ws.recv() == b"text as bytes"
            assert await ws.recv() == b"plain bytes"


async def test_broadcast_compresses_once_for_many_websockets_clients() -> None:
    sent: list[bytes] = []
    async with run_server(**NO_TAKEOVER) as server:
        clients = [
            await websockets_client.connect(uri_of(server), ping_interval=None) for _ in range(10)
        ]
        try:
            await wait_for_condition(lambda: len(server.connections) == 10)
            for connection in server.connections:
                real_write = connection.transport.write

                def spy(data: bytes, real_write=real_write) -> None:  # type: ignore[no-untyped-def]
                    sent.append(data)
                    real_write(data)

                connection.transport.write = spy  # type: ignore[method-assign]
                connection._sock = None  # every byte through write(), not the socket shortcut
            broadcast(server.connections, MESSAGE)
            # One compressed frame, written as the same bytes object to every client.
            assert len(sent) == 10
            assert all(data is sent[0] for data in sent)
            assert len(sent[0]) < len(MESSAGE) // 5
            for ws in clients:
                assert await ws.recv() == MESSAGE
        finally:
            for ws in clients:
                await ws.close()


async def test_broadcast_compress_false() -> None:
    async with run_server(**NO_TAKEOVER) as server:
        async with websockets_client.connect(uri_of(server), ping_interval=None) as ws:
            await wait_for_condition(lambda: len(server.connections) == 1)
            [connection] = server.connections
            written: list[bytes] = []
            real_write = connection.transport.write
            connection.transport.write = lambda data: (written.append(data), real_write(data))  # type: ignore[method-assign,func-returns-value]
            connection._sock = None  # every byte through write(), not the socket shortcut
            broadcast(server.connections, MESSAGE, compress=False)
            assert await ws.recv() == MESSAGE
            assert written[0][0] & 0x40 == 0  # RSV1 clear: not compressed
            assert len(written[0]) > len(MESSAGE)


async def test_broadcast_mixes_shared_and_own_frames() -> None:
    # A server with context takeover: each connection compresses the message itself.
    async with run_server() as server:
        clients = [await connect(uri_of(server), **FAST) for _ in range(3)]
        clients.append(await connect(uri_of(server), compression=None, **FAST))
        try:
            await wait_for_condition(lambda: len(server.connections) == 4)
            for _ in range(3):
                broadcast(server.connections, MESSAGE)
            for ws in clients:
                for _ in range(3):
                    assert await ws.recv() == MESSAGE
        finally:
            for ws in clients:
                await ws.close()


# send(compress=False)


async def test_send_compress_false_reaches_websockets() -> None:
    received: asyncio.Queue[bytes] = asyncio.Queue()

    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            assert isinstance(message, str)
            await ws.send(message, compress=False)
            await ws.send(message)
            await ws.send([message[:10], message[10:]], compress=False)

    async with run_server(handler) as server:
        async with websockets_client.connect(uri_of(server), ping_interval=None) as ws:
            transport = ws.transport
            real = ws.protocol.receive_data

            def spy(data: bytes) -> None:
                received.put_nowait(data)
                real(data)

            ws.protocol.receive_data = spy  # type: ignore[method-assign]
            await ws.send(MESSAGE)
            for _ in range(3):
                assert await ws.recv() == MESSAGE
            assert transport is not None
    wire = b""
    while not received.empty():
        wire += received.get_nowait()
    # The uncompressed messages came through with their text whole on the wire.
    assert wire.count(MESSAGE[20:200].encode()) >= 2


async def test_client_send_compress_false_on_the_wire() -> None:
    # Our client against a raw server: RSV1 clear, payload as is (once unmasked).
    from .helpers import client_of_raw_server

    async with client_of_raw_server() as (ws, reader, _, headers):
        assert "permessage-deflate" in headers["sec-websocket-extensions"]
        # The raw server didn't accept the extension: compress=False is a no-op then.
        await ws.send(MESSAGE, compress=False)
        frame = await read_frame(reader)
        assert frame.payload == MESSAGE.encode() and frame.rsv == 0


async def test_prepared_frame_inflates() -> None:
    # What broadcast() writes is a regular compressed frame (RFC 7692 §7.2.1).
    async with run_server(**NO_TAKEOVER) as server:
        async with connect(uri_of(server), **FAST) as ws:
            await wait_for_condition(lambda: len(server.connections) == 1)
            [connection] = server.connections
            prepared = prepare(MESSAGE)
            connection.protocol.send_prepared(prepared)
            connection._send_data()
            assert await ws.recv() == MESSAGE
            [wire] = prepared.frames.values()
            [frame] = decode_frames(wire)
            payload = frame.payload
            inflated = zlib.decompressobj(wbits=-12).decompress(payload + b"\x00\x00\xff\xff")
            assert inflated == MESSAGE.encode()


async def test_broadcast_reports_a_write_that_raises(caplog: pytest.LogCaptureFixture) -> None:
    # websockets' words: "failed to write message", caused by the transport's error;
    # the other connections get the message.
    async with run_server() as server:
        async with connect(uri_of(server), **FAST) as first, connect(uri_of(server), **FAST):
            await wait_for_condition(lambda: len(server.connections) == 2)
            healthy = next(c for c in server.connections if c.remote_address == first.local_address)
            broken = next(c for c in server.connections if c is not healthy)
            broken.transport.write_eof()
            with caplog.at_level(logging.WARNING, logger="websocket_ref"):
                broadcast([broken, healthy], "one")
            assert [r.getMessage() for r in caplog.records] == [
                "skipped broadcast: failed to write message: "
                "RuntimeError: Cannot call write() after write_eof()"
            ]
            assert await first.recv() == "one"
            await broken.wait_closed()  # the write's failure aborted it

            if sys.version_info < (3, 11):
                return
            async with connect(uri_of(server), **FAST):
                await wait_for_condition(lambda: len(server.connections) == 2)
                broken = next(c for c in server.connections if c is not healthy)
                broken.transport.write_eof()
                with pytest.raises(ExceptionGroup) as raised:  # noqa: F821 - Python 3.11+
                    broadcast([broken, healthy], "two", raise_exceptions=True)
                [failure] = raised.value.exceptions
                assert type(failure) is RuntimeError
                assert str(failure) == "failed to write message"
                assert isinstance(failure.__cause__, RuntimeError)
                assert await first.recv() == "two"

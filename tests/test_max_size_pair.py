"""``max_size=(message, frame)``: separate limits for messages and frames (as websockets).

RFC 6455 §10.4 leaves limits to the implementation; a server expecting long messages in
short frames sets a large message limit and a small frame limit, so that no single
frame can make it buffer much.
"""

from __future__ import annotations

import asyncio

import pytest

from websocket_ref import Opcode, PayloadTooBig
from websocket_ref.asyncio.client import connect
from websocket_ref.asyncio.server import ServerConnection, serve
from websocket_ref.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websocket_ref.protocol import split_max_size

from .utils import client_frame, connected_pair, open_server, written


def test_split_max_size() -> None:
    assert split_max_size(100) == (100, None)
    assert split_max_size(None) == (None, None)
    assert split_max_size((100, 10)) == (100, 10)
    assert split_max_size((None, 10)) == (None, 10)
    for bad in (0, (0, 1), (1, -1), (True, 1)):
        with pytest.raises(ValueError):
            split_max_size(bad)  # type: ignore[arg-type]


def test_long_message_in_short_frames() -> None:
    server = open_server(max_size=(10_000, 100))
    assert (server.max_size, server.max_frame_size) == (10_000, 100)
    for index in range(50):
        opcode = Opcode.BINARY if index == 0 else Opcode.CONT
        server.receive_data(client_frame(opcode, b"x" * 100, fin=index == 49))
    frames = server.events_received()
    # Small fragments received together may come out joined: count the bytes.
    assert sum(len(frame.data) for frame in frames) == 5000  # type: ignore[union-attr]
    assert server.failure_exc is None


def test_frame_over_the_frame_limit_fails_with_1009() -> None:
    server = open_server(max_size=(10_000, 100))
    server.receive_data(client_frame(Opcode.BINARY, b"x" * 101))
    assert isinstance(server.failure_exc, PayloadTooBig)
    assert written(server).close_codes == [1009]


def test_message_limit_still_applies() -> None:
    server = open_server(max_size=(150, 100))
    server.receive_data(client_frame(Opcode.BINARY, b"x" * 100, fin=False))
    server.receive_data(client_frame(Opcode.CONT, b"x" * 100))
    assert isinstance(server.failure_exc, PayloadTooBig)
    assert written(server).close_codes == [1009]


def test_frame_limit_applies_to_decompressed_frames() -> None:
    # A small compressed frame that inflates past the frame limit fails, bounded.
    client, server = connected_pair(
        client_kwargs={"extensions": [ClientPerMessageDeflateFactory()]},
        server_kwargs={
            "extensions": [ServerPerMessageDeflateFactory()],
            "max_size": (2**20, 1000),
        },
    )
    client.send_binary(b"\x00" * 999)
    client.send_binary(b"\x00" * 1001)
    for chunk in client.data_to_send():
        server.receive_data(chunk)
    events = server.events_received()
    assert [len(e.data) for e in events] == [999]  # type: ignore[union-attr]
    assert isinstance(server.failure_exc, PayloadTooBig)
    assert "1000 bytes" in str(server.failure_exc)


@pytest.mark.asyncio
async def test_asyncio_api_passes_the_pair() -> None:
    async def handler(ws: ServerConnection) -> None:
        message = await ws.recv()
        await ws.send(str(len(message)))

    async with serve(
        handler, "127.0.0.1", 0, max_size=(100_000, 1000), ping_interval=None
    ) as server:
        port = server.sockets[0].getsockname()[1]
        async with connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
            await ws.send(["y" * 1000] * 50)  # 50 frames of 1000 bytes: one message
            assert await asyncio.wait_for(ws.recv(), 10) == "50000"

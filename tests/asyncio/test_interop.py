"""Interoperability with independent implementations: ``websockets`` and ``aiohttp``.

Each library plays the peer in both directions: our client against their server, their
client against our server. Messages of every kind go through, fragmented ones
included, and closing codes survive the trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import aiohttp
import pytest
import pytest_asyncio
import websockets
from aiohttp import web
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve

from websocket_ref import ConnectionClosedError, ConnectionClosedOK
from websocket_ref.asyncio import ServerConnection, connect

from .helpers import FAST, echo, port_of, run_server, uri_of

MESSAGES: list[str | bytes] = ["hello", "ünïcødé ☕", "", b"\x00\xff" * 1000, "x" * 70_000]

# websockets' options for fast tests, as ours.
WS_FAST = {"close_timeout": 0.5, "ping_interval": None}


# websockets


@pytest_asyncio.fixture
async def websockets_echo_server() -> AsyncIterator[str]:
    async def handler(ws: websockets.asyncio.server.ServerConnection) -> None:
        try:
            async for message in ws:
                if message == "close 4000":
                    await ws.close(4000, "as asked")
                    return
                await ws.send(message)
        except websockets.exceptions.ConnectionClosed:
            pass

    async with ws_serve(handler, "127.0.0.1", 0, **WS_FAST) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/"


@pytest.mark.asyncio
@pytest.mark.parametrize("compression", ["deflate", None])
async def test_client_against_websockets_server(
    websockets_echo_server: str, compression: str | None
) -> None:
    async with connect(websockets_echo_server, compression=compression, **FAST) as ws:
        for message in MESSAGES:
            await ws.send(message)
            assert await ws.recv() == message
        await ws.send(["frag", "mented"])
        assert await ws.recv() == "fragmented"
        latency = await (await ws.ping())
        assert latency > 0
    assert ws.close_code == 1000


@pytest.mark.asyncio
async def test_client_receives_close_code_from_websockets_server(
    websockets_echo_server: str,
) -> None:
    async with connect(websockets_echo_server, **FAST) as ws:
        await ws.send("close 4000")
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4000, "as asked")


@pytest.mark.asyncio
@pytest.mark.parametrize("compression", ["deflate", None])
async def test_websockets_client_against_server(compression: str | None) -> None:
    async with run_server(compression=compression) as server:
        async with ws_connect(uri_of(server), compression=compression, **WS_FAST) as ws:
            for message in MESSAGES:
                await ws.send(message)
                assert await ws.recv() == message
            await ws.send([b"frag", b"mented"])
            assert await ws.recv() == b"fragmented"
            latency = await (await ws.ping())
            assert latency > 0
        assert ws.close_code == 1000


@pytest.mark.asyncio
async def test_websockets_client_sees_server_close_codes() -> None:
    async def handler(ws: ServerConnection) -> None:
        message = await ws.recv()
        if message == "raise":
            raise RuntimeError("handler failure")

    async with run_server(handler) as server:
        async with ws_connect(uri_of(server), **WS_FAST) as ws:
            await ws.send("return")
            with pytest.raises(websockets.exceptions.ConnectionClosedOK):
                await ws.recv()
        assert ws.close_code == 1000
        async with ws_connect(uri_of(server), **WS_FAST) as ws:
            await ws.send("raise")
            with pytest.raises(websockets.exceptions.ConnectionClosedError):
                await ws.recv()
        assert ws.close_code == 1011


@pytest.mark.asyncio
async def test_websockets_client_closing_with_code() -> None:
    closed: asyncio.Future[tuple[int | None, str | None]] = (
        asyncio.get_running_loop().create_future()
    )

    async def handler(ws: ServerConnection) -> None:
        try:
            await ws.recv()
        except ConnectionClosedOK:
            closed.set_result((ws.close_code, ws.close_reason))

    async with run_server(handler) as server:
        async with ws_connect(uri_of(server), **WS_FAST) as ws:
            await ws.close(1001, "leaving")
        assert await asyncio.wait_for(closed, 5) == (1001, "leaving")


# aiohttp


async def aiohttp_echo(request: web.Request) -> web.WebSocketResponse:
    ws = web.WebSocketResponse()
    await ws.prepare(request)
    async for message in ws:
        if message.type is aiohttp.WSMsgType.TEXT:
            if message.data == "close 4001":
                await ws.close(code=4001, message=b"aiohttp says bye")
                break
            await ws.send_str(message.data)
        elif message.type is aiohttp.WSMsgType.BINARY:
            await ws.send_bytes(message.data)
    return ws


@pytest_asyncio.fixture
async def aiohttp_echo_server() -> AsyncIterator[str]:
    app = web.Application()
    app.router.add_get("/", aiohttp_echo)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        host, port = runner.addresses[0][:2]
        yield f"ws://{host}:{port}/"
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
@pytest.mark.parametrize("compression", ["deflate", None])
async def test_client_against_aiohttp_server(
    aiohttp_echo_server: str, compression: str | None
) -> None:
    async with connect(aiohttp_echo_server, compression=compression, **FAST) as ws:
        for message in MESSAGES:
            await ws.send(message)
            assert await ws.recv() == message
        await ws.send(["frag", "mented"])
        assert await ws.recv() == "fragmented"
        assert await (await ws.ping()) > 0
    assert ws.close_code == 1000


@pytest.mark.asyncio
async def test_client_receives_close_code_from_aiohttp_server(aiohttp_echo_server: str) -> None:
    async with connect(aiohttp_echo_server, **FAST) as ws:
        await ws.send("close 4001")
        with pytest.raises(ConnectionClosedError) as info:
            await ws.recv()
    assert info.value.rcvd is not None
    assert (info.value.rcvd.code, info.value.rcvd.reason) == (4001, "aiohttp says bye")


@pytest.mark.asyncio
@pytest.mark.parametrize("compress", [15, 0])
async def test_aiohttp_client_against_server(compress: int) -> None:
    async with run_server(echo) as server:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(uri_of(server), compress=compress) as ws:
                for message in MESSAGES:
                    if isinstance(message, str):
                        await ws.send_str(message)
                        assert await ws.receive_str(timeout=5) == message
                    else:
                        await ws.send_bytes(message)
                        assert await ws.receive_bytes(timeout=5) == message
                await ws.ping(b"ping")  # answered by the core; aiohttp handles the pong
                await ws.send_str("after ping")
                assert await ws.receive_str(timeout=5) == "after ping"
                await ws.close(code=4002, message=b"done")
            assert ws.close_code == 4002  # echoed by the server (RFC 6455 §5.5.1)


@pytest.mark.asyncio
async def test_aiohttp_client_sees_server_close() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.send("only message")
        await ws.close(1001, "going away")

    async with run_server(handler) as server:
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(uri_of(server)) as ws:
                assert await ws.receive_str(timeout=5) == "only message"
                message = await ws.receive(timeout=5)
                assert message.type is aiohttp.WSMsgType.CLOSE
                assert message.data == 1001
                assert message.extra == "going away"
        assert port_of(server) > 0

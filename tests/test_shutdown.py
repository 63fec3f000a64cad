"""Graceful shutdown with a code and a reason, or leaving connections open, on both APIs.

The clients are websockets', as in a real deployment being ported.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

import pytest

from websocket_ref.asyncio.server import ServerConnection, serve
from websocket_ref.sync.server import ServerConnection as SyncServerConnection
from websocket_ref.sync.server import serve as sync_serve

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect as ws_connect  # noqa: E402
from websockets.sync.client import connect as ws_sync_connect  # noqa: E402

FAST = {"ping_interval": None, "close_timeout": 1, "open_timeout": 5}


@pytest.mark.asyncio
async def test_asyncio_close_with_code_and_reason() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.wait_closed()

    server = await serve(handler, "127.0.0.1", 0, **FAST)
    port = server.sockets[0].getsockname()[1]
    clients = [await ws_connect(f"ws://127.0.0.1:{port}/", ping_interval=None) for _ in range(3)]
    for _ in range(500):
        if len(server.connections) == 3:
            break
        await asyncio.sleep(0.01)
    server.close(code=1012, reason="restarting")
    await asyncio.wait_for(server.wait_closed(), 10)
    for ws in clients:
        await ws.wait_closed()
        assert ws.close_code == 1012
        assert ws.close_reason == "restarting"


@pytest.mark.asyncio
async def test_asyncio_close_leaving_connections_open() -> None:
    async def handler(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    server = await serve(handler, "127.0.0.1", 0, **FAST)
    port = server.sockets[0].getsockname()[1]
    async with ws_connect(f"ws://127.0.0.1:{port}/", ping_interval=None) as ws:
        server.close(close_connections=False)
        await ws.send("still here")
        assert await ws.recv() == "still here"
        waiting = asyncio.ensure_future(server.wait_closed())
        await asyncio.sleep(0)
        assert not waiting.done()
    await asyncio.wait_for(waiting, 10)


def test_sync_shutdown_with_code_and_reason() -> None:
    def handler(ws: SyncServerConnection) -> None:
        for _ in ws:
            pass

    server = sync_serve(handler, "127.0.0.1", 0, **FAST)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.socket.getsockname()[:2]
    with contextlib.ExitStack() as stack:
        clients = [stack.enter_context(ws_sync_connect(f"ws://{host}:{port}/")) for _ in range(3)]
        for _ in range(500):
            if len(server.connections) == 3:
                break
            threading.Event().wait(0.01)
        server.shutdown(code=1012, reason="restarting")
        thread.join(10)
        assert not thread.is_alive()
        for ws in clients:
            with pytest.raises(websockets.ConnectionClosed) as info:
                ws.recv(timeout=10)
            assert info.value.rcvd is not None
            assert (info.value.rcvd.code, info.value.rcvd.reason) == (1012, "restarting")


def test_sync_shutdown_leaving_connections_open() -> None:
    done = threading.Event()

    def handler(ws: SyncServerConnection) -> None:
        for message in ws:
            ws.send(message)
        done.set()

    server = sync_serve(handler, "127.0.0.1", 0, **FAST)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.socket.getsockname()[:2]
    with ws_sync_connect(f"ws://{host}:{port}/") as ws:
        for _ in range(500):
            if len(server.connections) == 1:
                break
            threading.Event().wait(0.01)
        server.shutdown(close_connections=False)
        thread.join(10)
        assert not thread.is_alive()
        ws.send("still here")
        assert ws.recv(timeout=10) == "still here"
        with pytest.raises(OSError):
            ws_sync_connect(f"ws://{host}:{port}/", open_timeout=2).__enter__()
    assert done.wait(10)

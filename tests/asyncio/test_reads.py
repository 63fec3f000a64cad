"""How the asyncio connection reads: into one buffer per thread, with few calls per message.

Counts, not timings: each test bounds how often something costly happens per message.
"""

from __future__ import annotations

import asyncio

import pytest

from websocket_ref.asyncio import connect
from websocket_ref.asyncio import connection as connection_module
from websocket_ref.asyncio import messages as messages_module

from .helpers import FAST, run_server, uri_of


@pytest.mark.asyncio
async def test_connections_read_into_one_buffer_per_thread() -> None:
    # Both ends of both connections are in this event loop: they take turns with one
    # buffer, and every message arrives intact.
    async with run_server() as server:
        async with (
            connect(uri_of(server), **FAST) as one,
            connect(uri_of(server), **FAST) as two,
        ):
            assert isinstance(one, asyncio.BufferedProtocol)
            assert one.get_buffer(-1) is two.get_buffer(-1)
            for i in range(50):
                await one.send(f"one {i}")
                await two.send(bytes([i]) * (i * 1000))
            for i in range(50):
                assert await one.recv() == f"one {i}"
                assert await two.recv() == bytes([i]) * (i * 1000)


@pytest.mark.asyncio
async def test_recv_asks_for_the_event_loop_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # asyncio.get_running_loop() makes a getpid() system call: not once per message.
    calls = 0
    original = asyncio.get_running_loop

    def counting() -> asyncio.AbstractEventLoop:
        nonlocal calls
        calls += 1
        return original()

    async with run_server() as server, connect(uri_of(server), **FAST) as ws:
        monkeypatch.setattr(messages_module.asyncio, "get_running_loop", counting)
        for i in range(100):
            await ws.send(str(i))
            assert await ws.recv() == str(i)
    assert calls <= 1
    assert connection_module._READ_SIZE >= 65536

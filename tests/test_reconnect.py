"""Reconnection, on both APIs: delays as arguments, and RFC 6455 §7.2.3's random delay
before the first reconnect after a connection that was dropped.

Delays are recorded, never waited for: each test passes ``reconnect_delays`` yielding
zeros and counts how many delays the loop drew, and when.
"""

from __future__ import annotations

import functools
import itertools
import random
import threading
import unittest.mock
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
from hypothesis import strategies as st

from websocket_ref import ConnectionClosed, InvalidStatus, InvalidURI
from websocket_ref.asyncio.client import connect
from websocket_ref.asyncio.server import ServerConnection, serve
from websocket_ref.client import backoff
from websocket_ref.sync.client import reconnect
from websocket_ref.sync.server import Server
from websocket_ref.sync.server import ServerConnection as SyncServerConnection
from websocket_ref.sync.server import serve as sync_serve

FAST = {"ping_interval": None, "close_timeout": 1, "open_timeout": 5}


class Delays:
    """A ``reconnect_delays`` that records each series it starts and each delay drawn."""

    def __init__(self) -> None:
        self.series = 0
        self.drawn: list[tuple[int, int]] = []  # (series, position in it)

    def __call__(self) -> Iterator[float]:
        self.series += 1
        series = self.series
        for position in itertools.count():
            self.drawn.append((series, position))
            yield 0.0


# backoff()


@pytest.mark.rfc("R6455-7.2.3-4")
def test_backoff_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(random, "random", lambda: 0.0)
    delays = list(itertools.islice(backoff(initial_delay=2, min_delay=1, max_delay=8, factor=2), 7))
    assert delays == [0, 1, 2, 4, 8, 8, 8]


@pytest.mark.rfc("R6455-7.2.3-4")
def test_backoff_second_delay_is_longer_than_a_long_random_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # RFC 6455 §7.2.3: "increasingly longer" -- a random first delay of 1.5 s is not
    # followed by the schedule's 1 s: the steps not longer than it are skipped.
    monkeypatch.setattr(random, "random", lambda: 0.75)
    delays = list(itertools.islice(backoff(initial_delay=2, min_delay=1, max_delay=8, factor=2), 5))
    assert delays == [1.5, 2, 4, 8, 8]
    # With the defaults (as in websockets: 0-5 s, then 3.1 x 1.618^n up to 90).
    monkeypatch.setattr(random, "random", lambda: 0.8)
    delays = list(itertools.islice(backoff(), 4))
    assert delays[0] == 4.0
    assert delays[1:] == pytest.approx([3.1 * 1.618, 3.1 * 1.618**2, 3.1 * 1.618**3])
    # A first delay beyond max_delay is cut to it; the rest stay at the cap.
    delays = list(itertools.islice(backoff(initial_delay=20, min_delay=1, max_delay=8), 3))
    assert delays == [8, 8, 8]


@pytest.mark.rfc("R6455-7.2.3-4")
def test_backoff_skips_short_steps_at_once_with_a_factor_barely_above_1() -> None:
    # Stepping through the schedule up to the random first delay took ~10**13
    # multiplications here (hypothesis found it): the steps are now skipped in one go.
    with unittest.mock.patch.object(random, "random", lambda: 0.99):
        gen = backoff(initial_delay=100, min_delay=0.001, max_delay=1000, factor=1 + 1e-12)
        first, second, third = itertools.islice(gen, 3)
    assert first == 99.0
    assert first < second < third < 1000


@pytest.mark.rfc("R6455-7.2.3-4")
@hypothesis.given(
    drawn=st.floats(0, 1, exclude_max=True),
    initial_delay=st.floats(0, 100),
    min_delay=st.floats(0.001, 50),
    extra=st.floats(0, 100),
    factor=st.one_of(st.just(1.0), st.floats(1, 4)),
)
def test_backoff_never_gets_shorter(
    drawn: float, initial_delay: float, min_delay: float, extra: float, factor: float
) -> None:
    with unittest.mock.patch.object(random, "random", lambda: drawn):
        gen = backoff(initial_delay, min_delay, min_delay + extra, factor)
        delays = list(itertools.islice(gen, 40))
    assert delays[0] == min(drawn * initial_delay, min_delay + extra)
    assert delays == sorted(delays)
    if factor > 1:  # strictly longer until the cap
        below_cap = [d for d in delays[1:] if d < min_delay + extra]
        assert all(a < b for a, b in itertools.pairwise([delays[0], *below_cap]))


@pytest.mark.rfc("R6455-7.2.3-2", "R6455-7.2.3-3")
def test_backoff_first_delay_is_random() -> None:
    # RFC 6455 §7.2.3: "delayed by a random amount of time" -- not the same every time.
    firsts = {next(backoff(initial_delay=5)) for _ in range(20)}
    assert len(firsts) > 1
    assert all(0 <= delay <= 5 for delay in firsts)
    assert next(backoff(initial_delay=0)) == 0


@pytest.mark.parametrize(
    "kwargs",
    [{"initial_delay": -1}, {"min_delay": 0}, {"min_delay": 9, "max_delay": 8}, {"factor": 0.5}],
)
def test_backoff_refuses_nonsense(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        next(backoff(**kwargs))


# asyncio


async def closing_handler(ws: ServerConnection) -> None:
    """Greet, then close: from the client's side, the server dropped the connection."""
    await ws.send("hello")
    await ws.close(1012, "restart")


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-7.2.3-1", "R6455-7.2.3-2")
async def test_asyncio_random_delay_after_the_server_closes() -> None:
    delays = Delays()
    async with serve(closing_handler, "127.0.0.1", 0, **FAST) as server:
        port = server.sockets[0].getsockname()[1]
        count = 0
        async for ws in connect(f"ws://127.0.0.1:{port}/", reconnect_delays=delays, **FAST):
            assert await ws.recv() == "hello"
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            count += 1
            if count == 3:
                break
        await ws.close()
    # Before the 2nd and the 3rd connection: the first delay of a new series each time.
    assert delays.drawn == [(1, 0), (2, 0)]


@pytest.mark.asyncio
async def test_asyncio_no_delay_after_the_client_closes() -> None:
    delays = Delays()

    async def echo(ws: ServerConnection) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", 0, **FAST) as server:
        port = server.sockets[0].getsockname()[1]
        count = 0
        async for ws in connect(f"ws://127.0.0.1:{port}/", reconnect_delays=delays, **FAST):
            count += 1
            if count == 1:
                await ws.close()  # closed by the application: reconnect at once
            elif count == 2:
                continue  # left open: the loop closes it, at once too
            else:
                break
        await ws.close()
    assert delays.drawn == []


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-7.2.3-1", "R6455-7.2.3-4")
async def test_asyncio_failed_reconnects_grow_within_one_series() -> None:
    delays = Delays()
    attempts = 0

    def process_request(connection: ServerConnection, request: object) -> object:
        nonlocal attempts
        attempts += 1
        if attempts in (2, 3):
            return connection.respond(503, "busy\n")
        return None

    async with serve(
        closing_handler, "127.0.0.1", 0, process_request=process_request, **FAST
    ) as server:
        port = server.sockets[0].getsockname()[1]
        count = 0
        async for ws in connect(f"ws://127.0.0.1:{port}/", reconnect_delays=delays, **FAST):
            count += 1
            assert await ws.recv() == "hello"
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            if count == 2:
                break
        await ws.close()
    # Dropped: random first delay; then two 503s: the 2nd and 3rd delays of that series.
    assert delays.drawn == [(1, 0), (1, 1), (1, 2)]


@pytest.mark.asyncio
async def test_asyncio_default_delays_can_be_shaped() -> None:
    # What a user passes: backoff with their own numbers.
    shaped = functools.partial(backoff, initial_delay=0, min_delay=0.001, max_delay=0.002)
    async with serve(closing_handler, "127.0.0.1", 0, **FAST) as server:
        port = server.sockets[0].getsockname()[1]
        connections = []
        async for ws in connect(f"ws://127.0.0.1:{port}/", reconnect_delays=shaped, **FAST):
            connections.append(ws)
            if len(connections) == 2:
                break
        await connections[-1].close()


# sync


def sync_closing_handler(ws: SyncServerConnection) -> None:
    ws.send("hello")
    ws.close(1012, "restart")


def run_sync_server(handler: Any, **kwargs: Any) -> tuple[Server, threading.Thread, str]:
    server = sync_serve(handler, "127.0.0.1", 0, **FAST, **kwargs)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.socket.getsockname()[:2]
    return server, thread, f"ws://{host}:{port}/"


@pytest.mark.rfc("R6455-7.2.3-1", "R6455-7.2.3-2")
def test_sync_random_delay_after_the_server_closes() -> None:
    delays = Delays()
    server, thread, uri = run_sync_server(sync_closing_handler)
    try:
        for count, ws in enumerate(reconnect(uri, reconnect_delays=delays, **FAST), 1):
            assert ws.recv(timeout=5) == "hello"
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=5)
            if count == 3:
                break
        assert ws.state.name == "CLOSED"
    finally:
        server.shutdown()
        thread.join(5)
    assert delays.drawn == [(1, 0), (2, 0)]


@pytest.mark.rfc("R6455-7.2.3-1", "R6455-7.2.3-4")
def test_sync_no_delay_after_the_client_closes_and_failures_back_off() -> None:
    delays = Delays()
    attempts = 0

    def process_request(connection: SyncServerConnection, request: object) -> object:
        nonlocal attempts
        attempts += 1
        if attempts == 2:
            return connection.respond(503, "busy\n")
        return None

    def echo(ws: SyncServerConnection) -> None:
        for message in ws:
            ws.send(message)

    server, thread, uri = run_sync_server(echo, process_request=process_request)
    try:
        for count, ws in enumerate(reconnect(uri, reconnect_delays=delays, **FAST), 1):
            ws.send("x")
            assert ws.recv(timeout=5) == "x"
            if count == 1:
                ws.close()
            if count == 2:
                break
        # Leaving the loop closes the generator (at once on CPython), which closes it.
        assert ws.state.name == "CLOSED"
    finally:
        server.shutdown()
        thread.join(5)
    assert delays.drawn == [(1, 0)]  # one 503, nothing for the client's own close


def test_sync_fatal_errors_are_raised() -> None:
    def refuse(connection: SyncServerConnection, request: object) -> object:
        return connection.respond(404, "no\n")

    server, thread, uri = run_sync_server(lambda ws: None, process_request=refuse)
    try:
        with pytest.raises(InvalidStatus):
            for _ in reconnect(uri, **FAST):
                pytest.fail("no connection expected")
    finally:
        server.shutdown()
        thread.join(5)


def test_sync_invalid_uri_fails_at_once() -> None:
    with pytest.raises(InvalidURI):
        reconnect("http://example.com/")


@pytest.mark.asyncio
@pytest.mark.rfc("R6455-7.2.3-2")
async def test_asyncio_random_delay_after_a_websockets_server_drops_us() -> None:
    # The same with websockets' server as the peer: it closes each connection at once.
    websockets_server = pytest.importorskip("websockets.asyncio.server")
    delays = Delays()

    async def drop(ws: Any) -> None:
        await ws.send("hello")
        await ws.close(1012)

    async with websockets_server.serve(drop, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        connections = []
        async for ws in connect(f"ws://127.0.0.1:{port}/", reconnect_delays=delays, **FAST):
            connections.append(ws)
            assert await ws.recv() == "hello"
            await ws.wait_closed()  # dropped by the server before the loop goes on
            if len(connections) == 2:
                break
    assert delays.drawn == [(1, 0)]

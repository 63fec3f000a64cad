"""Cross tests: the threading API against other implementations.

* the sync client against asyncio servers, and asyncio clients against the sync server,
  both for :mod:`websocket_ref.asyncio` and the ``websockets`` library's asyncio API;
* the sync client and server against the ``websockets`` library's sync API.

``websockets`` is an independent implementation (a test-only dependency): agreeing with
it on the wire is evidence that both read RFC 6455 the same way.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib
import threading
from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any

import pytest

from websocket_ref import ConnectionClosedError, ConnectionClosedOK, State
from websocket_ref.sync.client import connect
from websocket_ref.sync.server import ServerConnection

from .utils import FAST, TIMEOUT, client, run_server, uri

websockets = pytest.importorskip("websockets")
from websockets.sync.client import connect as websockets_connect  # noqa: E402
from websockets.sync.server import serve as websockets_serve  # noqa: E402

MESSAGES: list[str | bytes] = ["hello", "", "café ☕", b"\x00\xff" * 10, bytes(200_000)]


def asyncio_api(name: str) -> tuple[ModuleType, ModuleType]:
    """The server and client modules of an asyncio API: ``websockets`` or ``websocket_ref``."""
    try:
        server = importlib.import_module(f"{name}.asyncio.server")
        client = importlib.import_module(f"{name}.asyncio.client")
    except ImportError as exc:  # pragma: no cover - while websocket_ref.asyncio is missing
        pytest.skip(f"{name}.asyncio isn't available yet: {exc}")
    return server, client


ASYNCIO_APIS = ["websocket_ref", "websockets"]


# asyncio servers in a background event loop


async def async_echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


async def async_close_with(ws: Any) -> None:
    message = await ws.recv()
    code, _, reason = message.partition(" ")
    await ws.close(int(code), reason)


@contextlib.contextmanager
def asyncio_server(
    serve: Callable[..., Any], handler: Callable[[Any], Any], **kwargs: Any
) -> Iterator[str]:
    """Run an asyncio server in a thread; yield its ws:// URI; stop it on exit."""
    loop = asyncio.new_event_loop()
    ready: concurrent.futures.Future[tuple[int, asyncio.Future[None]]] = concurrent.futures.Future()

    async def main() -> None:
        try:
            async with serve(handler, "127.0.0.1", 0, ping_interval=None, **kwargs) as server:
                stop = loop.create_future()
                ready.set_result((server.sockets[0].getsockname()[1], stop))
                await stop
        except BaseException as exc:
            if not ready.done():
                ready.set_exception(exc)
            raise

    thread = threading.Thread(daemon=True, target=loop.run_until_complete, args=(main(),))
    thread.start()
    try:
        port, stop = ready.result(TIMEOUT)
        yield f"ws://127.0.0.1:{port}/"
    finally:
        if ready.done() and not ready.exception():
            loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(TIMEOUT)
        loop.close()
        assert not thread.is_alive()


@pytest.mark.parametrize("api", ASYNCIO_APIS)
def test_sync_client_asyncio_server_echo(api: str) -> None:
    server_module, _ = asyncio_api(api)
    with (
        asyncio_server(server_module.serve, async_echo) as ws_uri,
        connect(ws_uri, **FAST) as ws,
    ):
        for message in MESSAGES:
            ws.send(message)
            assert ws.recv(timeout=TIMEOUT) == message
        ws.send(["frag", "mented"])
        assert ws.recv(timeout=TIMEOUT) == "fragmented"
        assert ws.ping().wait(TIMEOUT)
    assert ws.close_code == 1000


@pytest.mark.parametrize("api", ASYNCIO_APIS)
@pytest.mark.parametrize(("code", "error"), [(1001, False), (4000, True)])
def test_sync_client_asyncio_server_closes(api: str, code: int, error: bool) -> None:
    server_module, _ = asyncio_api(api)
    with (
        asyncio_server(server_module.serve, async_close_with) as ws_uri,
        connect(ws_uri, **FAST) as ws,
    ):
        ws.send(f"{code} see you")
        expected = ConnectionClosedError if error else ConnectionClosedOK
        with pytest.raises(expected) as exc_info:
            ws.recv(timeout=TIMEOUT)
        assert (exc_info.value.rcvd.code, exc_info.value.rcvd.reason) == (code, "see you")
        assert ws.state is State.CLOSED


@pytest.mark.parametrize("api", ASYNCIO_APIS)
def test_asyncio_client_sync_server(api: str) -> None:
    _, client_module = asyncio_api(api)
    received: list[Any] = []

    async def talk(ws_uri: str) -> tuple[Any, Any]:
        async with client_module.connect(ws_uri, ping_interval=None) as ws:
            for message in MESSAGES:
                await ws.send(message)
                received.append(await ws.recv())
            await ws.send(["frag", "mented"])
            received.append(await ws.recv())
            pong = await ws.ping()
            await asyncio.wait_for(pong, TIMEOUT)
        return ws.close_code, ws.close_reason

    with run_server() as server:
        close = asyncio.run(talk(uri(server)))
    assert received == [*MESSAGES, "fragmented"]
    assert close == (1000, "")


@pytest.mark.parametrize("api", ASYNCIO_APIS)
def test_asyncio_client_sync_server_closes(api: str) -> None:
    _, client_module = asyncio_api(api)

    def handler(ws: ServerConnection) -> None:
        ws.close(4001, "bye")

    async def talk(ws_uri: str) -> tuple[int, str]:
        async with client_module.connect(ws_uri, ping_interval=None) as ws:
            try:
                await ws.recv()
            except Exception as exc:
                return exc.rcvd.code, exc.rcvd.reason  # type: ignore[attr-defined]
        raise AssertionError("recv() didn't raise")  # pragma: no cover

    with run_server(handler) as server:
        assert asyncio.run(talk(uri(server))) == (4001, "bye")


@pytest.mark.parametrize("api", ASYNCIO_APIS)
def test_compression_with_asyncio(api: str) -> None:
    server_module, client_module = asyncio_api(api)
    message = "compressible " * 1000
    with (
        asyncio_server(server_module.serve, async_echo, compression="deflate") as ws_uri,
        connect(ws_uri, **FAST) as ws,
    ):
        assert ws.protocol.extensions
        ws.send(message)
        assert ws.recv(timeout=TIMEOUT) == message

    async def talk(ws_uri: str) -> Any:
        async with client_module.connect(ws_uri, ping_interval=None) as ws:
            await ws.send(message)
            return await ws.recv()

    with run_server() as server:
        assert asyncio.run(talk(uri(server))) == message


# websockets' sync API


@contextlib.contextmanager
def websockets_sync_server(handler: Callable[[Any], None], **kwargs: Any) -> Iterator[str]:
    with websockets_serve(handler, "127.0.0.1", 0, ping_interval=None, **kwargs) as server:
        thread = threading.Thread(daemon=True, target=server.serve_forever)
        thread.start()
        try:
            yield f"ws://127.0.0.1:{server.socket.getsockname()[1]}/"
        finally:
            server.shutdown()
            thread.join(TIMEOUT)


def websockets_echo(ws: Any) -> None:
    for message in ws:
        ws.send(message)


def test_sync_client_websockets_sync_server() -> None:
    with (
        websockets_sync_server(websockets_echo) as ws_uri,
        connect(ws_uri, **FAST) as ws,
    ):
        for message in MESSAGES:
            ws.send(message)
            assert ws.recv(timeout=TIMEOUT) == message
        ws.send([b"frag", b"mented"])
        assert ws.recv(timeout=TIMEOUT) == b"fragmented"
        assert ws.ping(b"ping").wait(TIMEOUT)
    assert ws.close_code == 1000


def test_sync_client_websockets_server_fragments_and_subprotocol() -> None:
    def handler(ws: Any) -> None:
        ws.send(["a", "b", "c"])
        ws.recv()

    with (
        websockets_sync_server(handler, subprotocols=["chat"]) as ws_uri,
        connect(ws_uri, subprotocols=["chat"], **FAST) as ws,
    ):
        assert ws.subprotocol == "chat"
        # Small fragments that arrive together may come out joined (RFC 6455 §5.4).
        assert "".join(ws.recv_streaming()) == "abc"


def test_sync_client_websockets_server_max_size() -> None:
    def handler(ws: Any) -> None:
        ws.send(bytes(2000))
        ws.recv()

    with (
        websockets_sync_server(handler) as ws_uri,
        connect(ws_uri, max_size=1000, **FAST) as ws,
    ):
        with pytest.raises(ConnectionClosedError) as exc_info:
            ws.recv(timeout=TIMEOUT)
        assert exc_info.value.sent is not None and exc_info.value.sent.code == 1009


def test_websockets_sync_client_sync_server() -> None:
    with (
        run_server() as server,
        websockets_connect(uri(server), close_timeout=1) as ws,
    ):
        for message in MESSAGES:
            ws.send(message)
            assert ws.recv(TIMEOUT) == message
        ws.send(["frag", "mented"])
        assert ws.recv(TIMEOUT) == "fragmented"
        assert ws.ping().wait(TIMEOUT)
    assert ws.close_code == 1000


def test_websockets_sync_client_sync_server_shutdown() -> None:
    with run_server() as server, websockets_connect(uri(server), close_timeout=1) as ws:
        ws.send("hold on")
        assert ws.recv(TIMEOUT) == "hold on"
        server.shutdown()
        with pytest.raises(websockets.ConnectionClosedOK) as exc_info:
            ws.recv(TIMEOUT)
        assert exc_info.value.rcvd is not None and exc_info.value.rcvd.code == 1001


def test_compression_with_websockets_sync() -> None:
    message = "compressible " * 1000
    with (
        websockets_sync_server(websockets_echo, compression="deflate") as ws_uri,
        connect(ws_uri, **FAST) as ws,
    ):
        assert ws.protocol.extensions
        ws.send(message)
        assert ws.recv(timeout=TIMEOUT) == message
    with run_server() as server, websockets_connect(uri(server)) as ws2:
        ws2.send(message)
        assert ws2.recv(TIMEOUT) == message


def test_client_helper_against_itself() -> None:
    # Sanity check of the helpers used above: the sync API talks to itself.
    with run_server() as server, client(server) as ws:
        ws.send("self")
        assert ws.recv(timeout=TIMEOUT) == "self"

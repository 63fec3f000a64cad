"""route(): werkzeug routing in front of the threading server, with real werkzeug."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from websocket_ref import InvalidStatus
from websocket_ref.sync.client import connect, unix_connect
from websocket_ref.sync.router import Router, route, unix_route
from websocket_ref.sync.server import Server, ServerConnection

from .utils import FAST, TIMEOUT

routing = pytest.importorskip("werkzeug.routing")
Map, Rule = routing.Map, routing.Rule


def echo_name(ws: ServerConnection, name: str) -> None:
    ws.send(f"room {name}: {ws.recv(timeout=TIMEOUT)}")


def echo_id(ws: ServerConnection, id: int) -> None:
    ws.send(repr(id + 1))


def root(ws: ServerConnection) -> None:
    ws.send("root")


URL_MAP = Map(
    [
        Rule("/", endpoint=root),
        Rule("/rooms/<name>", endpoint=echo_name),
        Rule("/numbers/<int:id>", endpoint=echo_id),
        Rule("/dir/", endpoint=root),
    ]
)


@contextmanager
def running(server: Server) -> Iterator[str]:
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        host, port = server.socket.getsockname()[:2]
        yield f"ws://{host}:{port}"
    finally:
        server.shutdown()
        thread.join(TIMEOUT)
        assert not thread.is_alive()


def serving(**kwargs: Any) -> Server:
    return route(URL_MAP, "127.0.0.1", 0, **{**FAST, **kwargs})


def test_path_parameters_reach_the_handler() -> None:
    with running(serving()) as base:
        with connect(f"{base}/rooms/lobby", **FAST) as ws:
            ws.send("hi")
            assert ws.recv(timeout=TIMEOUT) == "room lobby: hi"
        with connect(f"{base}/numbers/41", **FAST) as ws:
            assert ws.recv(timeout=TIMEOUT) == "42"
        with connect(f"{base}/", **FAST) as ws:
            assert ws.recv(timeout=TIMEOUT) == "root"


@pytest.mark.parametrize("path", ["/nope", "/rooms/", "/numbers/abc"])
def test_unknown_path_is_404(path: str) -> None:
    with running(serving()) as base:
        with pytest.raises(InvalidStatus) as raised:
            connect(f"{base}{path}", **FAST)
        assert raised.value.response.status_code == 404


def test_redirect_is_followed() -> None:
    # werkzeug redirects /dir to /dir/ with a 302; the client follows it.
    with running(serving()) as base:
        with connect(f"{base}/dir", **FAST) as ws:
            assert ws.recv(timeout=TIMEOUT) == "root"
            assert ws.request is not None and ws.request.path == "/dir/"


def test_process_request_runs_first() -> None:
    def refuse(ws: ServerConnection, request: object) -> object:
        return ws.respond(403, "no\n")

    with running(serving(process_request=refuse)) as base:
        with pytest.raises(InvalidStatus) as raised:
            connect(f"{base}/", **FAST)
        assert raised.value.response.status_code == 403


def test_custom_router() -> None:
    class Teapot(Router):
        def not_found(self, connection: ServerConnection) -> object:  # type: ignore[override]
            return connection.respond(418, "teapot\n")

    with running(serving(create_router=Teapot)) as base:
        with pytest.raises(InvalidStatus) as raised:
            connect(f"{base}/nope", **FAST)
        assert raised.value.response.status_code == 418


def test_websockets_client() -> None:
    websockets_client = pytest.importorskip("websockets.sync.client")
    with running(serving()) as base:
        with websockets_client.connect(f"{base}/rooms/x") as ws:
            ws.send("y")
            assert ws.recv(timeout=TIMEOUT) == "room x: y"


def test_unix_route(tmp_path: Path) -> None:
    path = str(tmp_path / "ws.sock")
    with running(unix_route(URL_MAP, path, **FAST)):
        with unix_connect(path, "ws://localhost/rooms/u", **FAST) as ws:
            ws.send("v")
            assert ws.recv(timeout=TIMEOUT) == "room u: v"

"""route(): werkzeug routing in front of the asyncio server, with real werkzeug."""

from __future__ import annotations

import pytest

from websocket_ref import InvalidStatus
from websocket_ref.asyncio.client import connect
from websocket_ref.asyncio.router import Router, route, unix_route
from websocket_ref.asyncio.server import ServerConnection

from .helpers import FAST, port_of

routing = pytest.importorskip("werkzeug.routing")
Map, Rule = routing.Map, routing.Rule

pytestmark = pytest.mark.asyncio


async def echo_name(ws: ServerConnection, name: str) -> None:
    await ws.send(f"room {name}: {await ws.recv()}")


async def echo_id(ws: ServerConnection, id: int) -> None:
    await ws.send(repr(id + 1))


async def root(ws: ServerConnection) -> None:
    await ws.send("root")


URL_MAP = Map(
    [
        Rule("/", endpoint=root),
        Rule("/rooms/<name>", endpoint=echo_name),
        Rule("/numbers/<int:id>", endpoint=echo_id),
        Rule("/dir/", endpoint=root),
    ]
)


async def test_path_parameters_reach_the_handler() -> None:
    async with route(URL_MAP, "127.0.0.1", 0, **FAST) as server:
        base = f"ws://127.0.0.1:{port_of(server)}"
        async with connect(f"{base}/rooms/lobby", **FAST) as ws:
            await ws.send("hi")
            assert await ws.recv() == "room lobby: hi"
        async with connect(f"{base}/numbers/41", **FAST) as ws:
            assert await ws.recv() == "42"  # converted by the rule: an int
        async with connect(f"{base}/", **FAST) as ws:
            assert await ws.recv() == "root"


async def test_percent_encoded_path() -> None:
    async with route(URL_MAP, "127.0.0.1", 0, **FAST) as server:
        async with connect(f"ws://127.0.0.1:{port_of(server)}/rooms/caf%C3%A9", **FAST) as ws:
            await ws.send("x")
            assert await ws.recv() == "room café: x"


@pytest.mark.parametrize("path", ["/nope", "/rooms/", "/numbers/abc"])
@pytest.mark.rfc("R6455-4.2.2-8")
async def test_unknown_path_is_404(path: str) -> None:
    async with route(URL_MAP, "127.0.0.1", 0, **FAST) as server:
        with pytest.raises(InvalidStatus) as raised:
            await connect(f"ws://127.0.0.1:{port_of(server)}{path}", **FAST)
        assert raised.value.response.status_code == 404
        assert raised.value.response.body == b"Not Found\n"


@pytest.mark.rfc("R6455-4.2.2-3", "R6455-4.1-38")
async def test_redirect_is_followed() -> None:
    # werkzeug redirects /dir to /dir/; the client follows the 302 Location.
    async with route(URL_MAP, "127.0.0.1", 0, **FAST) as server:
        async with connect(f"ws://127.0.0.1:{port_of(server)}/dir", **FAST) as ws:
            assert await ws.recv() == "root"
            assert ws.request is not None and ws.request.path == "/dir/"


async def test_process_request_runs_first() -> None:
    def refuse(ws: ServerConnection, request: object) -> object:
        return ws.respond(403, "no\n")

    async with route(URL_MAP, "127.0.0.1", 0, process_request=refuse, **FAST) as server:
        with pytest.raises(InvalidStatus) as raised:
            await connect(f"ws://127.0.0.1:{port_of(server)}/", **FAST)
        assert raised.value.response.status_code == 403


async def test_custom_router() -> None:
    class Teapot(Router):
        def not_found(self, connection: ServerConnection) -> object:  # type: ignore[override]
            return connection.respond(418, "teapot\n")

    async with route(URL_MAP, "127.0.0.1", 0, create_router=Teapot, **FAST) as server:
        with pytest.raises(InvalidStatus) as raised:
            await connect(f"ws://127.0.0.1:{port_of(server)}/nope", **FAST)
        assert raised.value.response.status_code == 418


async def test_server_name_and_host_rules() -> None:
    url_map = Map(
        [
            Rule("/", host="a.example", endpoint=root),
            Rule("/", host="b.example", endpoint=lambda ws: ws.send("b")),
        ],
        host_matching=True,
    )
    async with route(url_map, "127.0.0.1", 0, server_name="b.example", **FAST) as server:
        async with connect(f"ws://127.0.0.1:{port_of(server)}/", **FAST) as ws:
            assert await ws.recv() == "b"


async def test_websockets_client(tmp_path: object) -> None:
    websockets_client = pytest.importorskip("websockets.asyncio.client")
    async with route(URL_MAP, "127.0.0.1", 0, **FAST) as server:
        async with websockets_client.connect(
            f"ws://127.0.0.1:{port_of(server)}/rooms/x", ping_interval=None
        ) as ws:
            await ws.send("y")
            assert await ws.recv() == "room x: y"


async def test_unix_route(tmp_path: object) -> None:
    from pathlib import Path

    from websocket_ref.asyncio.client import unix_connect

    path = str(Path(str(tmp_path)) / "ws.sock")
    async with unix_route(URL_MAP, path, **FAST):
        async with unix_connect(path, "ws://localhost/rooms/u", **FAST) as ws:
            await ws.send("v")
            assert await ws.recv() == "room u: v"

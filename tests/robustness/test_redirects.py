"""Credentials and redirects: what a client sends where a server tells it to go.

A redirect to another origin (scheme, host or port) must not carry the credentials
meant for the first one: the ``Authorization``, ``Cookie`` and ``Proxy-Authorization``
headers given in ``additional_headers``, and the user and password of the URI (sent
as ``Authorization: Basic``). A redirect within the origin keeps them. A redirect from
``wss://`` to ``ws://`` is refused (RFC 6455 §10.6: TLS isn't dropped silently).
The threading client doesn't follow redirects at all: nothing to leak there.
"""

from __future__ import annotations

import base64

import pytest

from websocket_ref import Request, Response
from websocket_ref.asyncio import ServerConnection, connect

from ..asyncio.helpers import FAST, run_server, uri_of

CREDENTIALS = ("Authorization", "Cookie", "Proxy-Authorization")


def redirect_to(location: str) -> object:
    def process_request(connection: ServerConnection, request: Request) -> Response:
        response = connection.respond(302, "moved\n")
        response.headers["Location"] = location
        return response

    return process_request


class Target:
    """A server that records the requests it accepts."""

    def __init__(self) -> None:
        self.requests: list[Request] = []

    async def handler(self, ws: ServerConnection) -> None:
        assert ws.request is not None
        self.requests.append(ws.request)
        await ws.send("ok")


@pytest.mark.asyncio
async def test_cross_origin_redirect_drops_every_credential() -> None:
    target = Target()
    async with run_server(target.handler) as target_server:
        location = uri_of(target_server, "/there")
        async with run_server(process_request=redirect_to(location)) as origin:
            uri = uri_of(origin).replace("ws://", "ws://alice:secret@")
            headers = {
                "Cookie": "session=1",
                "Proxy-Authorization": "Basic cHJveHk6cGFzcw==",
                "X-Kept": "yes",
            }
            async with connect(uri, additional_headers=headers, **FAST) as ws:
                assert await ws.recv() == "ok"
    [request] = target.requests
    assert request.path == "/there"
    for name in CREDENTIALS:
        assert name not in request.headers, name
    assert request.headers["X-Kept"] == "yes"


@pytest.mark.asyncio
async def test_same_origin_redirect_keeps_credentials() -> None:
    target = Target()

    def process_request(connection: ServerConnection, request: Request) -> Response | None:
        if request.path == "/start":
            response = connection.respond(302, "moved\n")
            response.headers["Location"] = "/there"
            return response
        return None

    async with run_server(target.handler, process_request=process_request) as server:
        uri = uri_of(server, "/start").replace("ws://", "ws://alice:secret@")
        async with connect(uri, additional_headers={"Cookie": "session=1"}, **FAST) as ws:
            assert await ws.recv() == "ok"
    [request] = target.requests
    assert request.path == "/there"
    expected = "Basic " + base64.b64encode(b"alice:secret").decode()
    assert request.headers["Authorization"] == expected
    assert request.headers["Cookie"] == "session=1"

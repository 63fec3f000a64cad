"""Credentials and redirects: what a client sends where a server tells it to go.

A redirect to another origin (scheme, host or port) must not carry the credentials
meant for the first one: the ``Authorization``, ``Cookie`` and ``Proxy-Authorization``
headers given in ``additional_headers``, and the user and password of the URI (sent
as ``Authorization: Basic``). A redirect within the origin keeps them. A redirect from
``wss://`` to ``ws://`` is refused (RFC 6455 §10.6: TLS isn't dropped silently; see
tests/asyncio/test_client.py). Both clients follow redirects the same way.
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

from websocket_ref import Request, Response
from websocket_ref.asyncio.client import connect as asyncio_connect
from websocket_ref.sync.client import connect as sync_connect

from .support import APIS, TIMEOUT, running_server

CREDENTIALS = ("Authorization", "Cookie", "Proxy-Authorization")


def fetch(api: str, uri: str, **kwargs: Any) -> None:
    """Connect to ``uri`` with the client of ``api``, receive one message, close."""
    if api == "asyncio":

        async def main() -> None:
            async with asyncio_connect(uri, open_timeout=TIMEOUT, **kwargs) as ws:
                assert await ws.recv() == "ok"

        asyncio.run(main())
    else:
        with sync_connect(uri, open_timeout=TIMEOUT, **kwargs) as ws:
            assert ws.recv(TIMEOUT) == "ok"


def redirecting(location: str) -> Any:
    def process_request(connection: Any, request: Request) -> Response | None:
        if request.path != "/start":
            return None
        response: Response = connection.respond(302, "moved\n")
        response.headers["Location"] = location
        return response

    return process_request


@pytest.mark.parametrize("api", APIS)
def test_cross_origin_redirect_drops_every_credential(api: str) -> None:
    with running_server("asyncio", "hello") as (target_port, target):
        location = f"ws://127.0.0.1:{target_port}/there"
        with running_server("sync", process_request=redirecting(location)) as (port, _):
            headers = {
                "Cookie": "session=1",
                "Proxy-Authorization": "Basic cHJveHk6cGFzcw==",
                "X-Kept": "yes",
            }
            fetch(api, f"ws://alice:secret@127.0.0.1:{port}/start", additional_headers=headers)
    [ws] = target.connections
    assert ws.request.path == "/there"
    for name in CREDENTIALS:
        assert name not in ws.request.headers, name
    assert ws.request.headers["X-Kept"] == "yes"


@pytest.mark.parametrize("api", APIS)
def test_same_origin_redirect_keeps_credentials(api: str) -> None:
    with running_server("asyncio", "hello", process_request=redirecting("/there")) as (
        port,
        handlers,
    ):
        fetch(api, f"ws://alice:secret@127.0.0.1:{port}/start", additional_headers={"Cookie": "1"})
    [ws] = handlers.connections
    assert ws.request.path == "/there"
    expected = "Basic " + base64.b64encode(b"alice:secret").decode()
    assert ws.request.headers["Authorization"] == expected
    assert ws.request.headers["Cookie"] == "1"

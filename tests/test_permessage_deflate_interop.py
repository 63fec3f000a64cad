"""permessage-deflate against an independent implementation: the ``websockets`` library.

Both directions: our client against a ``websockets`` server, and a ``websockets`` client
against our server, with each side's settings varied: context takeover or not, small
windows (9 bits, and 8 bits, which zlib can only honour through a 9-bit encoder), several
offers. Every test checks what was agreed from both sides' point of view, and that
messages of every kind survive the trip in both directions, including references across
messages right at the edge of the window.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import ServerConnection as WsServerConnection
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed as WsConnectionClosed
from websockets.extensions import permessage_deflate as ws_deflate
from websockets.version import version as websockets_version

from websocket_ref.asyncio import connect
from websocket_ref.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    PerMessageDeflate,
    ServerPerMessageDeflateFactory,
)

from .asyncio.helpers import FAST, run_server, uri_of

WS_FAST: dict[str, Any] = {"close_timeout": 0.5, "ping_interval": None}

_rng = random.Random(7692)
_BLOCK = _rng.randbytes(600)
MESSAGES: list[str | bytes] = [
    "hello",
    "",
    b"",
    "ünïcødé ☕ " * 200,
    b"\x00\xff" * 5000,
    _rng.randbytes(20_000),
    "x" * 70_000,
    # References 600 bytes back within a message, then across messages: beyond a 9-bit
    # window, so an encoder that ignored the agreement would break the peer's decoder.
    _BLOCK * 2,
    _BLOCK[:300],
    _BLOCK[:300],
]
FRAGMENTS = ["frag", "mented ", "and ", "compressed " * 50]


async def talk(ws: Any) -> None:
    """Send every message, whole and fragmented, and check the echo."""
    for message in MESSAGES:
        await ws.send(message)
        assert await ws.recv() == message
    await ws.send(FRAGMENTS)
    assert await ws.recv() == "".join(FRAGMENTS)
    await ws.send([f.encode() for f in FRAGMENTS])
    assert await ws.recv() == "".join(FRAGMENTS).encode()


def agreed(ext: Any) -> tuple[bool, bool, int, int]:
    """(remote no context takeover, local no context takeover, remote bits, local bits)."""
    return (
        ext.remote_no_context_takeover,
        ext.local_no_context_takeover,
        ext.remote_max_window_bits,
        ext.local_max_window_bits,
    )


# Our client, their server


@pytest_asyncio.fixture
async def websockets_server(request: pytest.FixtureRequest) -> AsyncIterator[tuple[str, list[Any]]]:
    """A websockets echo server with the extensions in the test's parameter."""
    extensions = request.param
    negotiated: list[Any] = []

    async def handler(ws: WsServerConnection) -> None:
        negotiated.append(ws.protocol.extensions)
        try:
            async for message in ws:
                await ws.send(message)
        except WsConnectionClosed:
            pass

    options = {"compression": "deflate"} if extensions is None else {"extensions": extensions}
    async with ws_serve(handler, "127.0.0.1", 0, **options, **WS_FAST) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        yield f"ws://127.0.0.1:{port}/", negotiated


CLIENT_CASES = [
    # (their server's extensions or None for their defaults, our client's factories,
    #  what our client agrees to)
    pytest.param(None, None, (False, False, 12, 12), id="defaults"),
    pytest.param(
        [ws_deflate.ServerPerMessageDeflateFactory(True, True)],
        None,
        (True, True, 15, 15),
        id="server-requires-no-context-takeover",
    ),
    pytest.param(
        None,
        [
            ClientPerMessageDeflateFactory(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=9,
                client_max_window_bits=9,
            )
        ],
        (True, True, 9, 9),
        id="client-asks-no-context-takeover-and-9-bits",
    ),
    pytest.param(
        [ws_deflate.ServerPerMessageDeflateFactory(server_max_window_bits=9)],
        [ClientPerMessageDeflateFactory(client_max_window_bits=9)],
        (False, False, 9, 9),
        id="9-bit-windows",
    ),
    pytest.param(
        # websockets can decode but not encode with 8 bits: it limits our window to 8
        # and we compress with zlib's 9-bit encoder, whose distances fit 8 bits.
        [ws_deflate.ServerPerMessageDeflateFactory(client_max_window_bits=8)],
        None,
        (False, False, 15, 8),
        id="client-window-8-bits",
    ),
    pytest.param(
        # websockets declines server_max_window_bits=8 (it can't encode with it): the
        # fallback offer is accepted.
        None,
        [
            ClientPerMessageDeflateFactory(server_max_window_bits=8),
            ClientPerMessageDeflateFactory(server_max_window_bits=10),
        ],
        (False, False, 10, 12),
        id="several-offers",
        # websockets before 17.0 accepts the 8-bit offer, then fails to build its
        # encoder (zlib refuses wbits=8) and answers 500: its bug, not the offer's.
        marks=pytest.mark.skipif(
            int(websockets_version.split(".")[0]) < 17,
            reason="websockets < 17 accepts server_max_window_bits=8 and crashes",
        ),
    ),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("websockets_server", "factories", "expected"), CLIENT_CASES, indirect=["websockets_server"]
)
async def test_client_against_websockets_server(
    websockets_server: tuple[str, list[Any]],
    factories: list[ClientPerMessageDeflateFactory] | None,
    expected: tuple[bool, bool, int, int],
) -> None:
    uri, negotiated = websockets_server
    options: dict[str, Any] = {} if factories is None else {"extensions": factories}
    async with connect(uri, **options, **FAST) as ws:
        [ours] = ws.protocol.extensions
        assert isinstance(ours, PerMessageDeflate)
        assert agreed(ours) == expected
        await talk(ws)
    assert ws.close_code == 1000
    # Their side agreed to the mirror image.
    [[theirs]] = negotiated
    remote_nct, local_nct, remote_bits, local_bits = expected
    assert agreed(theirs) == (local_nct, remote_nct, local_bits, remote_bits)


# Their client, our server


SERVER_CASES = [
    # (their client's extensions or None for their defaults, our server's factories,
    #  what our server agrees to)
    pytest.param(None, None, (False, False, 12, 12), id="defaults"),
    pytest.param(
        [
            ws_deflate.ClientPerMessageDeflateFactory(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=9,
                client_max_window_bits=9,
            )
        ],
        None,
        (True, True, 9, 9),
        id="client-asks-no-context-takeover-and-9-bits",
    ),
    pytest.param(
        None,
        [
            ServerPerMessageDeflateFactory(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                client_max_window_bits=9,
                require_client_max_window_bits=True,
            )
        ],
        (True, True, 9, 15),
        id="server-requires-no-context-takeover",
    ),
    pytest.param(
        # We encode for an 8-bit window (with zlib's 9-bit encoder); websockets decodes.
        None,
        [ServerPerMessageDeflateFactory(server_max_window_bits=8)],
        (False, False, 15, 8),
        id="server-window-8-bits",
    ),
    pytest.param(
        [ws_deflate.ClientPerMessageDeflateFactory(client_max_window_bits=None)],
        [ServerPerMessageDeflateFactory(server_max_window_bits=11, client_max_window_bits=10)],
        (False, False, 15, 11),
        id="client-window-not-offered",
    ),
]


@pytest.mark.asyncio
@pytest.mark.parametrize(("extensions", "factories", "expected"), SERVER_CASES)
async def test_websockets_client_against_server(
    extensions: list[Any] | None,
    factories: list[ServerPerMessageDeflateFactory] | None,
    expected: tuple[bool, bool, int, int],
) -> None:
    negotiated: list[Any] = []

    async def handler(ws: Any) -> None:
        negotiated.append(ws.protocol.extensions)
        async for message in ws:
            await ws.send(message)

    server_options: dict[str, Any] = {} if factories is None else {"extensions": factories}
    client_options: dict[str, Any] = (
        {"compression": "deflate"} if extensions is None else {"extensions": extensions}
    )
    async with run_server(handler, **server_options) as server:
        async with ws_connect(uri_of(server), **client_options, **WS_FAST) as ws:
            [theirs] = ws.protocol.extensions
            await talk(ws)
        assert ws.close_code == 1000
    [[ours]] = negotiated
    assert isinstance(ours, PerMessageDeflate)
    assert agreed(ours) == expected
    remote_nct, local_nct, remote_bits, local_bits = expected
    assert agreed(theirs) == (local_nct, remote_nct, local_bits, remote_bits)


@pytest.mark.asyncio
async def test_websockets_client_without_client_max_window_bits_is_declined() -> None:
    # require_client_max_window_bits: an offer that can't limit the client's window is
    # declined; the connection opens without compression.
    factory = ServerPerMessageDeflateFactory(
        client_max_window_bits=10, require_client_max_window_bits=True
    )
    offer = ws_deflate.ClientPerMessageDeflateFactory(client_max_window_bits=None)
    async with run_server(extensions=[factory]) as server:
        async with ws_connect(uri_of(server), extensions=[offer], **WS_FAST) as ws:
            assert ws.protocol.extensions == []
            await ws.send("uncompressed")
            assert await ws.recv() == "uncompressed"

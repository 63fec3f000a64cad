"""Testee: client on websocket_ref.asyncio.client.connect, compression on."""

from __future__ import annotations

import asyncio
import sys

from conformance.testees._common import MAX_SIZE, client_args, importing, run_client_cases

with importing():
    from websocket_ref.asyncio.client import connect


async def fetch_text(uri: str) -> str:
    async with connect(uri, max_size=MAX_SIZE, compression="deflate") as ws:
        message = await ws.recv()
    return message if isinstance(message, str) else message.decode()


async def echo(uri: str) -> None:
    """Echo every message; ConnectionClosedError ends the loop when wstest fails the case."""
    async with connect(uri, max_size=MAX_SIZE, compression="deflate") as ws:
        async for message in ws:
            await ws.send(message)


if __name__ == "__main__":
    args = client_args()
    # One event loop per connection keeps the shared driver synchronous and simple.
    sys.exit(
        run_client_cases(
            args.url,
            args.agent,
            lambda uri: asyncio.run(fetch_text(uri)),
            lambda uri: asyncio.run(echo(uri)),
        )
    )

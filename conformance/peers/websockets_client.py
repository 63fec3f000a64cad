"""Peer: client on websockets (asyncio), compression on (its default)."""

from __future__ import annotations

import asyncio
import sys

from conformance.testees._common import MAX_SIZE, client_args, importing, run_client_cases

with importing():
    from websockets.asyncio.client import connect


async def fetch_text(uri: str) -> str:
    async with connect(uri, max_size=MAX_SIZE) as ws:
        message = await ws.recv()
    return message if isinstance(message, str) else message.decode()


async def echo(uri: str) -> None:
    async with connect(uri, max_size=MAX_SIZE) as ws:
        async for message in ws:
            await ws.send(message)


if __name__ == "__main__":
    args = client_args()
    sys.exit(
        run_client_cases(
            args.url,
            args.agent,
            lambda uri: asyncio.run(fetch_text(uri)),
            lambda uri: asyncio.run(echo(uri)),
        )
    )

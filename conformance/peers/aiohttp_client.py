"""Peer: client on aiohttp's ClientSession.ws_connect, compression on."""

from __future__ import annotations

import asyncio
import sys

from conformance.testees._common import MAX_SIZE, client_args, importing, run_client_cases

with importing():
    import aiohttp


async def fetch_text(uri: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(uri, compress=15, max_msg_size=MAX_SIZE) as ws,
    ):
        message = await ws.receive_str()
    return message if isinstance(message, str) else message.decode()


async def echo(uri: str) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.ws_connect(uri, compress=15, max_msg_size=MAX_SIZE) as ws,
    ):
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                await ws.send_str(msg.data)
            elif msg.type is aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(msg.data)


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

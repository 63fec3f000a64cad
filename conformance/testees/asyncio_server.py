"""Testee: echo server on websocket_ref.asyncio.server.serve, compression on."""

from __future__ import annotations

import asyncio
from typing import Any

from conformance.testees._common import MAX_SIZE, announce_port, importing, server_args

with importing():
    from websocket_ref.asyncio.server import serve


async def echo(ws: Any) -> None:
    """Echo every message; the library handles pings, closing and its errors."""
    async for message in ws:
        await ws.send(message)


async def main() -> None:
    args = server_args()
    async with serve(
        echo, args.host, args.port, max_size=MAX_SIZE, compression="deflate"
    ) as server:
        announce_port(next(iter(server.sockets)).getsockname()[1])
        await asyncio.get_running_loop().create_future()  # until the harness kills us


if __name__ == "__main__":
    asyncio.run(main())

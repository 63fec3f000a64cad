"""Peer: echo server on websockets (asyncio), compression on (its default)."""

from __future__ import annotations

import asyncio
from typing import Any

from conformance.testees._common import MAX_SIZE, announce_port, importing, server_args

with importing():
    from websockets.asyncio.server import serve


async def echo(ws: Any) -> None:
    async for message in ws:
        await ws.send(message)


async def main() -> None:
    args = server_args()
    async with serve(echo, args.host, args.port, max_size=MAX_SIZE) as server:
        announce_port(next(iter(server.sockets)).getsockname()[1])
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())

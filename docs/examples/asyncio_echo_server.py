#!/usr/bin/env python3
"""An echo server on the asyncio API: every message comes back to its sender."""

import asyncio
import sys

from websocket_ref.asyncio import ServerConnection, serve


async def echo(websocket: ServerConnection) -> None:
    # Iterating over a connection yields its messages until the client closes it.
    async for message in websocket:
        await websocket.send(message)


async def main(port: int) -> None:
    async with serve(echo, "127.0.0.1", port) as server:
        host, port = server.sockets[0].getsockname()[:2]
        print(f"Listening on ws://{host}:{port}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8765))

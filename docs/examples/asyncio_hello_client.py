#!/usr/bin/env python3
"""A client on the asyncio API: send a greeting, print the answer."""

import asyncio
import sys

from websocket_ref.asyncio import connect


async def hello(uri: str) -> None:
    # The connection closes (with code 1000) when the block exits.
    async with connect(uri) as websocket:
        await websocket.send("Hello, world!")
        reply = await websocket.recv()
        print(f"< {reply}")


if __name__ == "__main__":
    asyncio.run(hello(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/"))

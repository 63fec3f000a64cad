#!/usr/bin/env python3
"""A chat room: every message a client sends goes to every connected client.

The set of connections is the room; broadcast() writes to each of them without waiting,
so one slow client can't hold the others up.
"""

import asyncio
import sys

from websocket_ref.asyncio import ServerConnection, broadcast, serve

ROOM: set[ServerConnection] = set()


async def chat(websocket: ServerConnection) -> None:
    ROOM.add(websocket)
    try:
        broadcast(ROOM, f"{len(ROOM)} in the room")
        async for message in websocket:
            broadcast(ROOM, message)
    finally:
        ROOM.discard(websocket)
        broadcast(ROOM, f"{len(ROOM)} in the room")


async def main(port: int) -> None:
    async with serve(chat, "127.0.0.1", port) as server:
        host, port = server.sockets[0].getsockname()[:2]
        print(f"Listening on ws://{host}:{port}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8765))

#!/usr/bin/env python3
"""A chat room that spans processes: python redis_chat.py PORT [REDIS_URL]

Run it as many times as you like, behind a load balancer: each process keeps the
connections it accepted; Redis pub/sub carries every message to every process, which
broadcasts it to its own clients. Needs ``pip install redis``.
"""

import asyncio
import sys

import redis.asyncio as redis

from websocket_ref.asyncio import ServerConnection, broadcast, serve

CHANNEL = "chat"
CLIENTS: set[ServerConnection] = set()


async def relay(r: redis.Redis) -> None:
    """Broadcast what any process published to this process's clients."""
    async with r.pubsub() as pubsub:
        await pubsub.subscribe(CHANNEL)
        print("Subscribed", flush=True)
        async for item in pubsub.listen():
            if item["type"] == "message":
                broadcast(CLIENTS, item["data"].decode())


async def main(port: int, redis_url: str) -> None:
    r = redis.Redis.from_url(redis_url)

    async def chat(websocket: ServerConnection) -> None:
        CLIENTS.add(websocket)
        try:
            async for message in websocket:
                # To every process, this one included: ordering is Redis's.
                await r.publish(CHANNEL, message)
        finally:
            CLIENTS.discard(websocket)

    relaying = asyncio.create_task(relay(r))
    try:
        async with serve(chat, "127.0.0.1", port) as server:
            host, port = server.sockets[0].getsockname()[:2]
            print(f"Listening on ws://{host}:{port}/", flush=True)
            await server.serve_forever()
    finally:
        relaying.cancel()
        await r.aclose()


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    asyncio.run(main(port, sys.argv[2] if len(sys.argv) > 2 else "redis://127.0.0.1:6379"))

#!/usr/bin/env python3
"""A wss:// client that trusts one CA: python tls_client.py URI CA_FILE"""

import asyncio
import ssl
import sys

from websocket_ref.asyncio import connect


async def hello(uri: str, ca_file: str) -> None:
    # wss:// URIs use TLS with the system's CAs by default; pass a context to trust
    # another CA (here: one that signed a development certificate).
    context = ssl.create_default_context(cafile=ca_file)
    async with connect(uri, ssl=context) as websocket:
        await websocket.send("Hello over TLS")
        print(f"< {await websocket.recv()}")


if __name__ == "__main__":
    asyncio.run(hello(sys.argv[1], sys.argv[2]))

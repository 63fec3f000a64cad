#!/usr/bin/env python3
"""An echo server over TLS (wss://): python tls_echo_server.py CERT KEY [PORT]

CERT is the certificate chain in PEM (the server's certificate first), KEY its private key.
"""

import asyncio
import ssl
import sys

from websocket_ref.asyncio import ServerConnection, serve


async def echo(websocket: ServerConnection) -> None:
    async for message in websocket:
        await websocket.send(message)


async def main(cert: str, key: str, port: int) -> None:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    async with serve(echo, "127.0.0.1", port, ssl=context) as server:
        host, port = server.sockets[0].getsockname()[:2]
        print(f"Listening on wss://{host}:{port}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 8765))

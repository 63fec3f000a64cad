#!/usr/bin/env python3
"""Two ways to authenticate WebSocket clients before the handshake completes.

* ``/basic``: HTTP Basic authentication (RFC 7617), for clients that can send headers.
* ``/token``: a token in the query string, for browsers (their WebSocket API can't set
  an Authorization header); the token is checked in ``process_request``.

A refused request gets an HTTP error response; no WebSocket connection is opened.
"""

import asyncio
import http
import secrets
import sys
import urllib.parse

from websocket_ref import Request, Response
from websocket_ref.asyncio import ServerConnection, basic_auth, serve

USERS = {"alice": "correct horse"}
TOKENS = {"3f1e0c9a": "alice"}  # issued by your login page; one-time tokens are better


def check_password(username: str, password: str) -> bool:
    expected = USERS.get(username)
    return expected is not None and secrets.compare_digest(expected, password)


basic = basic_auth(realm="example", check_credentials=check_password)


async def authenticate(connection: ServerConnection, request: Request) -> Response | None:
    url = urllib.parse.urlsplit(request.path)
    if url.path == "/basic":
        return await basic(connection, request)  # sets connection.username
    if url.path == "/token":
        token = urllib.parse.parse_qs(url.query).get("token", [""])[0]
        username = TOKENS.get(token)
        if username is None:
            return connection.respond(http.HTTPStatus.UNAUTHORIZED, "Invalid token\n")
        connection.username = username
        return None  # go on with the handshake
    return connection.respond(http.HTTPStatus.NOT_FOUND, "Not found\n")


async def greet(websocket: ServerConnection) -> None:
    await websocket.send(f"Hello {websocket.username}!")


async def main(port: int) -> None:
    async with serve(greet, "127.0.0.1", port, process_request=authenticate) as server:
        host, port = server.sockets[0].getsockname()[:2]
        print(f"Listening on ws://{host}:{port}/", flush=True)
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 8765))

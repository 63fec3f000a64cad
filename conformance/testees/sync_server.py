"""Testee: echo server on websocket_ref.sync.server.serve (threads), compression on."""

from __future__ import annotations

from typing import Any

from conformance.testees._common import MAX_SIZE, announce_port, importing, server_args

with importing():
    from websocket_ref.sync.server import serve


def echo(ws: Any) -> None:
    """Echo every message; the library handles pings, closing and its errors."""
    for message in ws:
        ws.send(message)


def main() -> None:
    args = server_args()
    with serve(echo, args.host, args.port, max_size=MAX_SIZE, compression="deflate") as server:
        announce_port(server.socket.getsockname()[1])
        server.serve_forever()


if __name__ == "__main__":
    main()

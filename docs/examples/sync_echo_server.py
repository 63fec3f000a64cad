#!/usr/bin/env python3
"""An echo server on the threading API: a thread per connection, blocking calls."""

import contextlib
import sys

from websocket_ref.sync.server import ServerConnection, serve


def echo(websocket: ServerConnection) -> None:
    for message in websocket:
        websocket.send(message)


def main(port: int) -> None:
    with serve(echo, "127.0.0.1", port) as server:
        host, port = server.socket.getsockname()[:2]
        print(f"Listening on ws://{host}:{port}/", flush=True)
        server.serve_forever()  # until Ctrl-C, or server.shutdown() from another thread


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main(int(sys.argv[1]) if len(sys.argv) > 1 else 8765)

#!/usr/bin/env python3
"""A client on the threading API: send a greeting, print the answer."""

import sys

from websocket_ref.sync.client import connect


def hello(uri: str) -> None:
    with connect(uri) as websocket:
        websocket.send("Hello, world!")
        reply = websocket.recv(timeout=10)  # raises TimeoutError after 10 s
        print(f"< {reply}")


if __name__ == "__main__":
    hello(sys.argv[1] if len(sys.argv) > 1 else "ws://127.0.0.1:8765/")

"""Testee: client on websocket_ref.sync.client.connect (blocking), compression on."""

from __future__ import annotations

import sys

from conformance.testees._common import MAX_SIZE, client_args, importing, run_client_cases

with importing():
    from websocket_ref.sync.client import connect


def fetch_text(uri: str) -> str:
    with connect(uri, max_size=MAX_SIZE, compression="deflate") as ws:
        message = ws.recv()
    return message if isinstance(message, str) else message.decode()


def echo(uri: str) -> None:
    """Echo every message; ConnectionClosedError ends the loop when wstest fails the case."""
    with connect(uri, max_size=MAX_SIZE, compression="deflate") as ws:
        for message in ws:
            ws.send(message)


if __name__ == "__main__":
    args = client_args()
    sys.exit(run_client_cases(args.url, args.agent, fetch_text, echo))

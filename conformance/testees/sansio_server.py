"""Testee: echo server on the bare Sans-I/O ServerProtocol, one thread per connection."""

from __future__ import annotations

import socket
import threading
from typing import Any

from conformance.testees._common import (
    MAX_SIZE,
    EchoMessages,
    announce_port,
    deflate_factories,
    importing,
    pump,
    server_args,
)

with importing():
    from websocket_ref import Request, ServerProtocol


class OnEvents:
    """Accept the handshake, then echo; the core answers pings and closes by itself."""

    def __init__(self) -> None:
        self.echo = EchoMessages()

    def __call__(self, protocol: Any, events: list[Any]) -> None:
        for event in events:
            if isinstance(event, Request):
                protocol.send_response(protocol.accept(event))
        self.echo(protocol, events)


EXTENSIONS = deflate_factories("server")


def handle(sock: socket.socket) -> None:
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    protocol = ServerProtocol(extensions=EXTENSIONS, max_size=MAX_SIZE)
    pump(sock, protocol, OnEvents())


def main() -> None:
    args = server_args()
    listener = socket.create_server((args.host, args.port), backlog=128)
    announce_port(listener.getsockname()[1])
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=handle, args=(sock,), daemon=True).start()


if __name__ == "__main__":
    main()
